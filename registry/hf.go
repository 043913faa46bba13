package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/store"
)

// hfFile is one entry of GET /api/models/{repo}/tree/{rev}.
type hfFile struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"` // git blob sha1
	LFS  *struct {
		OID  string `json:"oid"` // sha256 of the content
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// hfInfo is the part of GET /api/models/{repo} ferry uses.
type hfInfo struct {
	ID       string `json:"id"`
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
	} `json:"siblings"`
}

func (r Ref) hfRepo() string { return r.Namespace + "/" + r.Repo }

func (c *client) hfHeader() http.Header {
	h := http.Header{}
	if c.hfToken != "" {
		h.Set("Authorization", "Bearer "+c.hfToken)
	}
	return h
}

// hfErr words a Hugging Face API failure the way a user can act on it.
func (c *client) hfErr(repo string, err error) error {
	switch statusOf(err) {
	case http.StatusUnauthorized, http.StatusForbidden:
		if c.hfToken == "" {
			return fmt.Errorf("pull hf.co/%s: access denied: the repo is gated, private or does not exist; set HF_TOKEN to a token that can read it (%v)", repo, err)
		}
		return fmt.Errorf("pull hf.co/%s: access denied with the HF_TOKEN given: accept the repo's terms on huggingface.co or use another token (%v)", repo, err)
	case http.StatusNotFound:
		return fmt.Errorf("pull hf.co/%s: repository, revision or file not found (%v): %w", repo, err, store.ErrNotFound)
	}
	return fmt.Errorf("pull hf.co/%s: %w", repo, err)
}

// hfTree lists every file of the repo at rev, following the API's
// Link: <...>; rel="next" pagination.
func (c *client) hfTree(ctx context.Context, repo, rev string) ([]hfFile, error) {
	next := fmt.Sprintf("%s/api/models/%s/tree/%s?recursive=true", c.hfBase, repo, url.PathEscape(rev))
	var all []hfFile
	for page := 0; next != "" && page < 1000; page++ {
		var files []hfFile
		resp, err := c.getJSON(ctx, next, c.hfHeader(), "file list of "+repo, &files)
		if err != nil {
			return nil, err
		}
		all = append(all, files...)
		next = nextLink(resp.Header.Get("Link"))
	}
	return all, nil
}

var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

func nextLink(h string) string {
	if m := linkNext.FindStringSubmatch(h); m != nil {
		return m[1]
	}
	return ""
}

var splitGGUF = regexp.MustCompile(`(?i)^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// defaultQuants is the order of preference when no quant is named.
var defaultQuants = []string{"Q4_K_M", "Q4_0"}

// chooseGGUF picks the GGUF file(s) for quant from a repo's files: the
// file whose quantization (or, failing that, name) matches quant, with
// every part of a split set. It returns nil when the repo has no GGUF.
func chooseGGUF(files []hfFile, quant string) ([]hfFile, error) {
	var ggufs []hfFile
	for _, f := range files {
		low := strings.ToLower(f.Path)
		if f.Type != "directory" && strings.HasSuffix(low, ".gguf") && !strings.Contains(path.Base(low), "mmproj") {
			ggufs = append(ggufs, f)
		}
	}
	if len(ggufs) == 0 {
		return nil, nil
	}
	sort.Slice(ggufs, func(i, j int) bool { return ggufs[i].Path < ggufs[j].Path })
	match := func(q string) *hfFile {
		uq := strings.ToUpper(q)
		for i, f := range ggufs {
			if store.QuantFromFilename(path.Base(f.Path)) == uq {
				return &ggufs[i]
			}
		}
		for i, f := range ggufs {
			if strings.Contains(strings.ToUpper(f.Path), uq) {
				return &ggufs[i]
			}
		}
		return nil
	}
	var pick *hfFile
	if quant != "" {
		if pick = match(quant); pick == nil {
			var have []string
			seen := map[string]bool{}
			for _, f := range ggufs {
				q := store.QuantFromFilename(path.Base(f.Path))
				if q == "" {
					q = path.Base(f.Path)
				}
				if !seen[q] {
					seen[q] = true
					have = append(have, q)
				}
			}
			return nil, fmt.Errorf("no GGUF file matching %q; the repo has: %s", quant, strings.Join(have, ", "))
		}
	} else {
		for _, q := range defaultQuants {
			if pick = match(q); pick != nil {
				break
			}
		}
		if pick == nil {
			pick = &ggufs[0]
		}
	}
	m := splitGGUF.FindStringSubmatch(pick.Path)
	if m == nil {
		return []hfFile{*pick}, nil
	}
	var set []hfFile
	for _, f := range ggufs {
		if fm := splitGGUF.FindStringSubmatch(f.Path); fm != nil && fm[1] == m[1] && fm[3] == m[3] {
			set = append(set, f)
		}
	}
	return set, nil
}

// hfFolderFile says whether a repo file belongs to a safetensors/MLX
// model folder: weights, their index, configs and tokenizer files.
func hfFolderFile(p string) bool {
	if strings.Contains(p, "/") {
		return false
	}
	low := strings.ToLower(p)
	switch low {
	case "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
		"tokenizer.model", "special_tokens_map.json", "added_tokens.json", "vocab.json",
		"merges.txt", "chat_template.jinja", "chat_template.json", "preprocessor_config.json":
		return true
	}
	return strings.HasSuffix(low, ".safetensors") || strings.HasSuffix(low, ".safetensors.index.json")
}

// pullHF installs a GGUF from a Hugging Face repo as a store manifest, or
// downloads a safetensors/MLX repo as a folder in the Hugging Face cache
// layout (see docs/pull.md).
func (c *client) pullHF(ctx context.Context, r Ref) (*Result, error) {
	repo := r.hfRepo()
	c.progress(Progress{Status: "pulling manifest"})
	var info hfInfo
	if _, err := c.getJSON(ctx, fmt.Sprintf("%s/api/models/%s", c.hfBase, repo), c.hfHeader(), "model info of "+repo, &info); err != nil {
		return nil, c.hfErr(repo, err)
	}
	rev := "main"
	files, err := c.hfTree(ctx, repo, rev)
	if err != nil && !(statusOf(err) == http.StatusNotFound && len(info.Siblings) > 0) {
		return nil, c.hfErr(repo, err)
	}
	if len(files) == 0 {
		// Older mirrors answer only /api/models/{repo}: use its sibling list
		// (no sizes or hashes; every download is then hashed as it lands).
		for _, s := range info.Siblings {
			files = append(files, hfFile{Type: "file", Path: s.RFilename, Size: -1})
		}
	}
	for _, f := range files {
		if f.Type != "directory" && !safeRepoPath(f.Path) {
			return nil, fmt.Errorf("pull hf.co/%s: the file list names an unsafe path %q", repo, f.Path)
		}
	}
	ggufs, err := chooseGGUF(files, r.Tag)
	if err != nil {
		return nil, fmt.Errorf("pull hf.co/%s: %v", repo, err)
	}
	if len(ggufs) == 1 {
		return c.pullHFGGUF(ctx, r, rev, ggufs[0])
	}
	var want []hfFile
	format := "safetensors"
	if len(ggufs) > 1 {
		want, format = ggufs, "gguf"
	} else {
		if r.Tag != "" {
			return nil, fmt.Errorf("pull hf.co/%s: the repo has no GGUF files, so the quant %q cannot be chosen; pull hf.co/%s for its safetensors", repo, r.Tag, repo)
		}
		hasST := false
		for _, f := range files {
			if f.Type != "directory" && hfFolderFile(f.Path) {
				want = append(want, f)
				hasST = hasST || strings.HasSuffix(strings.ToLower(f.Path), ".safetensors")
			}
		}
		if !hasST {
			return nil, fmt.Errorf("pull hf.co/%s: the repo has neither GGUF nor safetensors files", repo)
		}
	}
	return c.pullHFFolder(ctx, r, rev, info.SHA, want, format)
}

// safeRepoPath rejects file names that would escape the download folder.
func safeRepoPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || strings.ContainsRune(p, 0) {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

func (c *client) resolveURL(repo, rev, file string) string {
	segs := strings.Split(file, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return fmt.Sprintf("%s/%s/resolve/%s/%s", c.hfBase, repo, url.PathEscape(rev), strings.Join(segs, "/"))
}

// linkedEtag captures the sha256 Hugging Face announces for an LFS file in
// X-Linked-Etag on the redirect to its CDN.
func linkedEtag(dst *string) func(*http.Response) {
	return func(resp *http.Response) {
		e := strings.Trim(strings.TrimPrefix(resp.Header.Get("X-Linked-Etag"), "W/"), `"`)
		if len(e) == 64 && isHex(e) {
			*dst = strings.ToLower(e)
		}
	}
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func fileSHA(f hfFile) string {
	if f.LFS != nil && len(f.LFS.OID) == 64 && isHex(f.LFS.OID) {
		return strings.ToLower(f.LFS.OID)
	}
	return ""
}

func fileSize(f hfFile) int64 {
	if f.LFS != nil && f.LFS.Size > 0 {
		return f.LFS.Size
	}
	if f.Size > 0 || f.Size == 0 && f.OID != "" {
		return f.Size
	}
	return -1
}

// pullHFGGUF downloads one GGUF file into the store's blobs and writes a
// manifest named hf.co/ORG/REPO:TAG for it.
func (c *client) pullHFGGUF(ctx context.Context, r Ref, rev string, f hfFile) (*Result, error) {
	repo := r.hfRepo()
	tag := r.Tag
	if tag == "" {
		tag = store.DefaultTag
	}
	name := "hf.co/" + repo + ":" + tag
	want := fileSHA(f)
	size := fileSize(f)
	var dst string
	if want != "" {
		bp, _ := c.st.BlobPath("sha256:" + want)
		dst = bp
	} else {
		// Unknown digest: download under a name of its own, then move it
		// to its content address.
		dst = filepath.Join(c.st.Dir, "blobs", "download-"+strings.ReplaceAll(repo, "/", "--")+"--"+strings.ReplaceAll(f.Path, "/", "--"))
	}
	digestLabel := "sha256:" + want
	status := "pulling " + path.Base(f.Path)
	if want != "" {
		status = "pulling " + want[:12]
	}
	c.progress(Progress{Status: status, Digest: digestLabel, Total: max(size, 0)})
	etag := ""
	sum, err := c.download(ctx, fileSpec{
		url:     c.resolveURL(repo, rev, f.Path),
		dst:     dst,
		sha256:  want,
		gitOID:  gitOIDFor(f),
		size:    size,
		label:   f.Path,
		header:  c.hfHeader(),
		onRedir: linkedEtag(&etag),
	}, func(done, total int64) {
		c.progress(Progress{Status: status, Digest: digestLabel, Total: total, Completed: done})
	})
	if err != nil {
		return nil, c.hfErr(repo, err)
	}
	if want == "" {
		if etag != "" && etag != sum {
			os.Remove(dst)
			return nil, fmt.Errorf("pull hf.co/%s: %s: sha256 mismatch: got %s, the server's X-Linked-Etag says %s (the download was deleted)", repo, f.Path, sum, etag)
		}
		bp, _ := c.st.BlobPath("sha256:" + sum)
		if err := os.Rename(dst, bp); err != nil {
			return nil, err
		}
		dst = bp
	}
	st, err := os.Stat(dst)
	if err != nil {
		return nil, err
	}
	c.progress(Progress{Status: "verifying sha256 digest"})
	c.progress(Progress{Status: "writing manifest"})
	quant := store.QuantFromFilename(path.Base(f.Path))
	cfg, _ := json.Marshal(map[string]any{
		"model_format": "gguf",
		"file_type":    quant,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sum}},
	})
	cl, err := c.st.AddBlobBytes(cfg)
	if err != nil {
		return nil, err
	}
	cl.MediaType = store.MediaConfig
	mf := &store.Manifest{
		SchemaVersion: 2,
		MediaType:     store.MediaManifest,
		Config:        cl,
		Layers:        []store.Layer{{MediaType: store.MediaModel, Digest: "sha256:" + sum, Size: st.Size(), From: "hf.co/" + repo + "/" + f.Path}},
	}
	if err := c.st.WriteManifest(name, mf); err != nil {
		return nil, fmt.Errorf("pull %s: writing manifest: %w", name, err)
	}
	c.progress(Progress{Status: "success"})
	return &Result{Name: name, Path: dst, Format: "gguf", Files: 1, Bytes: st.Size()}, nil
}

func gitOIDFor(f hfFile) string {
	if f.LFS == nil && len(f.OID) == 40 && isHex(f.OID) {
		return strings.ToLower(f.OID)
	}
	return ""
}

// HFFolder is where a Hugging Face repo's files are kept: the Hugging Face
// cache layout (hub/models--ORG--REPO/snapshots/REV/), in the hub folder
// the store discovers (HF_HUB_CACHE, HF_HOME/hub or
// ~/.cache/huggingface/hub), so huggingface_hub, transformers and mlx-lm
// share the same copy, or <store>/hub when discovery is off.
func HFFolder(st *store.Store, repo string) string {
	hub := st.HFHubDir
	if hub == "" {
		hub = filepath.Join(st.Dir, "hub")
	}
	return filepath.Join(hub, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// pullHFFolder downloads files into the repo's snapshot folder.
func (c *client) pullHFFolder(ctx context.Context, r Ref, rev, commit string, files []hfFile, format string) (*Result, error) {
	repo := r.hfRepo()
	root := HFFolder(c.st, repo)
	snapName := commit
	if len(snapName) != 40 || !isHex(snapName) {
		snapName = rev
	}
	snap := filepath.Join(root, "snapshots", snapName)
	res := &Result{Format: format}
	for _, f := range files {
		want := fileSHA(f)
		size := fileSize(f)
		digest := ""
		if want != "" {
			digest = "sha256:" + want
		}
		status := "pulling " + f.Path
		c.progress(Progress{Status: status, Digest: digest, Total: max(size, 0)})
		etag := ""
		dst := filepath.Join(snap, filepath.FromSlash(f.Path))
		sum, err := c.download(ctx, fileSpec{
			url:     c.resolveURL(repo, rev, f.Path),
			dst:     dst,
			sha256:  want,
			gitOID:  gitOIDFor(f),
			size:    size,
			label:   f.Path,
			header:  c.hfHeader(),
			onRedir: linkedEtag(&etag),
		}, func(done, total int64) {
			c.progress(Progress{Status: status, Digest: digest, Total: total, Completed: done})
		})
		if err != nil {
			return nil, c.hfErr(repo, err)
		}
		if want == "" && etag != "" && sum != "" && etag != sum {
			os.Remove(dst)
			return nil, fmt.Errorf("pull hf.co/%s: %s: sha256 mismatch: got %s, the server's X-Linked-Etag says %s (the download was deleted)", repo, f.Path, sum, etag)
		}
		if st, err := os.Stat(dst); err == nil {
			res.Bytes += st.Size()
		}
		res.Files++
	}
	c.progress(Progress{Status: "writing manifest"})
	if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(root, "refs", rev), []byte(snapName)); err != nil {
		return nil, err
	}
	res.Path = snap
	res.Name = "hf.co/" + repo
	if format == "gguf" {
		// A split GGUF set: the first part names the model.
		res.Path = filepath.Join(snap, filepath.FromSlash(files[0].Path))
		if q := store.QuantFromFilename(path.Base(files[0].Path)); q != "" {
			res.Name += ":" + q
		}
	}
	if m, err := c.st.Get(res.Name); err == nil {
		res.Path = m.Path
		res.Format = m.Format
	} else {
		// Discovery is off (or a split set sits in a subfolder): the
		// download is usable by path.
		res.Name = res.Path
	}
	c.progress(Progress{Status: "success"})
	return res, nil
}
