package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Registries ferry pulls from by default.
const (
	OllamaRegistry = "https://registry.ollama.ai"
	HuggingFace    = "https://huggingface.co"
)

// PullProgress reports a pull: a status line, and for downloads the digest
// with bytes done of total.
type PullProgress func(status, digest string, completed, total int64)

// Puller downloads models into a store.
type Puller struct {
	Store  *Store
	Client *http.Client
	// Base URLs (tests point them at a loopback server).
	OllamaBase string
	HFBase     string
	// HFToken is sent as a bearer token to Hugging Face (HF_TOKEN).
	HFToken string
}

// NewPuller returns a puller for s with the public registries.
func NewPuller(s *Store) *Puller {
	return &Puller{Store: s, Client: &http.Client{Timeout: 0}, OllamaBase: OllamaRegistry, HFBase: HuggingFace, HFToken: os.Getenv("HF_TOKEN")}
}

// Pull fetches name: "hf.co/ORG/REPO[:QUANT]" (or huggingface.co/...) from
// Hugging Face (a GGUF file chosen by quantization), anything else from the
// Ollama registry ("llama3.2", "ollama.com/library/llama3.2:1b",
// "namespace/model:tag"). Downloads resume from a partial file, every blob
// is verified against its sha256 before it enters the store, and the
// manifest is written last, atomically.
func (p *Puller) Pull(ctx context.Context, name string, progress PullProgress) (*Model, error) {
	if progress == nil {
		progress = func(string, string, int64, int64) {}
	}
	name = strings.TrimPrefix(strings.TrimPrefix(name, "https://"), "http://")
	for _, pre := range []string{"hf.co/", "huggingface.co/"} {
		if rest, ok := strings.CutPrefix(name, pre); ok {
			return p.pullHF(ctx, rest, progress)
		}
	}
	return p.pullOllama(ctx, name, progress)
}

func (p *Puller) get(ctx context.Context, u string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %w (%s)", u, ErrNotFound, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// download fetches u into the blob for digest (sha256:<hex>), resuming a
// partial download and verifying the hash. An existing blob is kept.
func (p *Puller) download(ctx context.Context, u, digest string, size int64, hdr map[string]string, progress PullProgress) error {
	bp, err := p.Store.BlobPath(digest)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bp); err == nil && (size <= 0 || st.Size() == size) {
		progress("pulling "+shortHex(digest), digest, st.Size(), st.Size())
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return err
	}
	partial := bp + "-partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier attempt fetched
	if err != nil {
		return err
	}
	if size > 0 && have > size {
		have = 0
		h.Reset()
		f.Truncate(0)
		f.Seek(0, io.SeekStart)
	}
	if size <= 0 || have < size {
		rh := map[string]string{}
		for k, v := range hdr {
			rh[k] = v
		}
		if have > 0 {
			rh["Range"] = fmt.Sprintf("bytes=%d-", have)
		}
		resp, err := p.get(ctx, u, rh)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if have > 0 && resp.StatusCode != http.StatusPartialContent {
			// The server ignored the range: start over.
			have = 0
			h.Reset()
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		total := size
		if total <= 0 && resp.ContentLength > 0 {
			total = have + resp.ContentLength
		}
		w := io.MultiWriter(f, h)
		buf := make([]byte, 1<<20)
		last := time.Time{}
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return err
				}
				have += int64(n)
				if size > 0 && have > size {
					return fmt.Errorf("%s: server sent more than the %d bytes expected", u, size)
				}
				if time.Since(last) > 200*time.Millisecond {
					progress("pulling "+shortHex(digest), digest, have, total)
					last = time.Now()
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("%s: download interrupted at %d bytes (run pull again to resume): %w", u, have, rerr)
			}
		}
		progress("pulling "+shortHex(digest), digest, have, total)
	}
	if size > 0 && have != size {
		return fmt.Errorf("%s: got %d bytes, expected %d (run pull again to resume)", u, have, size)
	}
	progress("verifying sha256 digest", digest, have, have)
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		f.Close()
		os.Remove(partial)
		return fmt.Errorf("%s: sha256 mismatch: got %s, expected %s (the partial download was deleted)", u, got, digest)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	return os.Rename(partial, bp)
}

func shortHex(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func (p *Puller) pullOllama(ctx context.Context, name string, progress PullProgress) (*Model, error) {
	ref := strings.TrimPrefix(name, "ollama.com/")
	n, err := ParseName(ref)
	if err != nil {
		return nil, err
	}
	if n.Host != DefaultHost && n.Host != ollamaHost {
		return nil, fmt.Errorf("pull %s: unknown registry %q (ferry pulls from the Ollama registry and hf.co)", name, n.Host)
	}
	base := strings.TrimRight(p.OllamaBase, "/")
	progress("pulling manifest", "", 0, 0)
	resp, err := p.get(ctx, fmt.Sprintf("%s/v2/%s/%s/manifests/%s", base, n.Namespace, n.Model, n.Tag), map[string]string{"Accept": MediaManifest})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var mf Manifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("pull %s: bad manifest: %v", name, err)
	}
	hasModel := false
	for _, l := range append([]Layer{mf.Config}, mf.Layers...) {
		if l.Digest == "" {
			continue
		}
		if l.MediaType == MediaModel {
			hasModel = true
		}
		if l.MediaType == MediaAdapter || l.MediaType == MediaProjector {
			return nil, fmt.Errorf("pull %s: layer %s (%s) is not supported yet", name, l.Digest, l.MediaType)
		}
		u := fmt.Sprintf("%s/v2/%s/%s/blobs/%s", base, n.Namespace, n.Model, l.Digest)
		if err := p.download(ctx, u, l.Digest, l.Size, nil, progress); err != nil {
			return nil, fmt.Errorf("pull %s: %w", name, err)
		}
	}
	if !hasModel {
		return nil, fmt.Errorf("pull %s: manifest has no model layer", name)
	}
	progress("writing manifest", "", 0, 0)
	local := n.Model + ":" + n.Tag
	if n.Namespace != DefaultNamespace {
		local = n.Namespace + "/" + local
	}
	if err := p.Store.WriteManifest(local, &mf); err != nil {
		return nil, err
	}
	progress("success", "", 0, 0)
	return p.Store.Get(local)
}

// hfFile is a repo file as the Hub API lists it.
type hfFile struct {
	Name string `json:"rfilename"`
	Size int64  `json:"size"`
	LFS  *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

func (p *Puller) pullHF(ctx context.Context, ref string, progress PullProgress) (*Model, error) {
	repo, quant, _ := strings.Cut(ref, ":")
	if strings.Count(repo, "/") != 1 || !validPart(strings.Split(repo, "/")[0]) || !validPart(strings.Split(repo, "/")[1]) {
		return nil, fmt.Errorf("pull hf.co/%s: expected hf.co/ORG/REPO[:QUANT]", ref)
	}
	base := strings.TrimRight(p.HFBase, "/")
	hdr := map[string]string{}
	if p.HFToken != "" {
		hdr["Authorization"] = "Bearer " + p.HFToken
	}
	progress("pulling manifest", "", 0, 0)
	resp, err := p.get(ctx, fmt.Sprintf("%s/api/models/%s/revision/main?blobs=true", base, repo), hdr)
	if err != nil {
		return nil, fmt.Errorf("pull hf.co/%s: %w", repo, err)
	}
	var info struct {
		Siblings []hfFile `json:"siblings"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&info)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("pull hf.co/%s: bad model info: %v", repo, err)
	}
	var ggufs []hfFile
	for _, f := range info.Siblings {
		if strings.HasSuffix(strings.ToLower(f.Name), ".gguf") && !strings.Contains(strings.ToLower(f.Name), "mmproj") {
			ggufs = append(ggufs, f)
		}
	}
	if len(ggufs) == 0 {
		return nil, fmt.Errorf("pull hf.co/%s: the repo has no GGUF file (pulling safetensors/MLX repos is not supported yet)", repo)
	}
	var pick *hfFile
	want := strings.ToUpper(quant)
	if want == "" {
		want = "Q4_K_M"
	}
	var avail []string
	for i, f := range ggufs {
		q := QuantFromFilename(f.Name)
		avail = append(avail, q)
		if q == want || strings.EqualFold(f.Name, quant) {
			pick = &ggufs[i]
			break
		}
	}
	if pick == nil {
		if quant != "" {
			return nil, fmt.Errorf("pull hf.co/%s: no GGUF for %s (the repo has %s)", repo, quant, strings.Join(avail, ", "))
		}
		pick = &ggufs[0]
	}
	if strings.Contains(pick.Name, "-of-0") {
		return nil, fmt.Errorf("pull hf.co/%s: %s is split into shards, which is not supported yet", repo, pick.Name)
	}
	if pick.LFS == nil || len(pick.LFS.SHA256) != 64 {
		return nil, fmt.Errorf("pull hf.co/%s: %s has no sha256 in the Hub's listing, so it cannot be verified", repo, pick.Name)
	}
	digest := "sha256:" + strings.ToLower(pick.LFS.SHA256)
	u := fmt.Sprintf("%s/%s/resolve/main/%s", base, repo, (&url.URL{Path: pick.Name}).EscapedPath())
	if err := p.download(ctx, u, digest, pick.LFS.Size, hdr, progress); err != nil {
		return nil, fmt.Errorf("pull hf.co/%s: %w", repo, err)
	}
	bp, _ := p.Store.BlobPath(digest)
	if !isGGUFFile(bp) {
		return nil, fmt.Errorf("pull hf.co/%s: %s is not a GGUF file", repo, pick.Name)
	}
	tag := QuantFromFilename(pick.Name)
	if tag == "" {
		tag = DefaultTag
	}
	local := "hf.co/" + repo + ":" + tag
	cfg, _ := json.Marshal(map[string]any{"model_format": "gguf", "source": u})
	cl, err := p.Store.AddBlobBytes(cfg)
	if err != nil {
		return nil, err
	}
	cl.MediaType = MediaConfig
	progress("writing manifest", "", 0, 0)
	mf := &Manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: cl, Layers: []Layer{{MediaType: MediaModel, Digest: digest, Size: pick.LFS.Size}}}
	if err := p.Store.WriteManifest(local, mf); err != nil {
		return nil, err
	}
	progress("success", "", 0, 0)
	return p.Store.Get(local)
}
