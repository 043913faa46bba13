// Package store is ferry's model store: a content-addressed directory laid
// out like Ollama's (blobs/sha256-<hex> plus JSON manifests under
// manifests/<host>/<namespace>/<name>/<tag>), and the discovery of models
// that other tools already keep on the machine (Ollama's store, the Hugging
// Face cache, LM Studio's folders, MLX folders), which are used in place.
//
// The CLI and the server share it: a name such as "llama3.2", "mymodel:q4"
// or "hf.co/org/repo:Q4_K_M" resolves to a file or folder to load plus the
// template, system prompt and parameters that come with it.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/atomicfile"
)

// Media types of manifest layers, the same strings Ollama uses so that a
// ferry store and an Ollama store can be read by the same code.
const (
	MediaModel     = "application/vnd.ollama.image.model"
	MediaTemplate  = "application/vnd.ollama.image.template"
	MediaSystem    = "application/vnd.ollama.image.system"
	MediaParams    = "application/vnd.ollama.image.params"
	MediaLicense   = "application/vnd.ollama.image.license"
	MediaMessages  = "application/vnd.ollama.image.messages"
	MediaAdapter   = "application/vnd.ollama.image.adapter"
	MediaProjector = "application/vnd.ollama.image.projector"
	MediaConfig    = "application/vnd.docker.container.image.v1+json"
	MediaManifest  = "application/vnd.docker.distribution.manifest.v2+json"
)

// DefaultHost and DefaultNamespace complete short names ("llama3" ->
// "ferry.local/library/llama3:latest") in ferry's own store.
const (
	DefaultHost      = "ferry.local"
	DefaultNamespace = "library"
	DefaultTag       = "latest"
	ollamaHost       = "registry.ollama.ai"
)

// Layer is one blob of a manifest.
type Layer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	From      string `json:"from,omitempty"`
}

// Manifest lists a model's blobs.
type Manifest struct {
	SchemaVersion int     `json:"schemaVersion"`
	MediaType     string  `json:"mediaType"`
	Config        Layer   `json:"config"`
	Layers        []Layer `json:"layers"`
}

// Message is a MESSAGE line of a Modelfile (a canned conversation turn).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Source says where a model was found.
type Source string

// Sources.
const (
	SourceFerry       Source = "ferry"
	SourceOllama      Source = "ollama"
	SourceHuggingFace Source = "huggingface"
	SourceLMStudio    Source = "lmstudio"
	SourcePath        Source = "path"
)

// Model is a model the store knows: where its weights are and what comes
// with them.
type Model struct {
	Name       string    // canonical name, e.g. "llama3.2:latest"
	Source     Source    // where it was found
	Path       string    // the GGUF file, or the model folder (HF/MLX)
	Format     string    // "gguf", "safetensors" or "mlx"
	Size       int64     // bytes of weights
	Digest     string    // "sha256:..." of the manifest, or of the weights when known
	ModifiedAt time.Time // manifest (or file) time
	Manifest   *Manifest // nil for models without one
	Template   string
	System     string
	License    string
	Params     map[string]any
	Messages   []Message
}

// Store is a ferry model directory plus the places discovery looks at.
// The zero value is not usable; call Open or Default.
type Store struct {
	Dir string // ferry's own store (blobs/, manifests/)

	// Discovery roots; empty disables that source.
	OllamaDir   string   // ~/.ollama/models or OLLAMA_MODELS
	HFHubDir    string   // ~/.cache/huggingface/hub, HF_HUB_CACHE, HF_HOME/hub
	LMStudioDir []string // ~/.lmstudio/models, ~/.cache/lm-studio/models
}

// Default returns the store the environment points at: FERRY_MODELS or
// ~/.ferry/models, with discovery of Ollama (OLLAMA_MODELS or
// ~/.ollama/models), the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub or
// ~/.cache/huggingface/hub) and LM Studio (~/.lmstudio/models,
// ~/.cache/lm-studio/models). FERRY_NO_DISCOVERY=1 turns discovery off.
func Default() *Store {
	home, _ := os.UserHomeDir()
	s := &Store{Dir: os.Getenv("FERRY_MODELS")}
	if s.Dir == "" {
		s.Dir = filepath.Join(home, ".ferry", "models")
	}
	if os.Getenv("FERRY_NO_DISCOVERY") != "" {
		return s
	}
	s.OllamaDir = os.Getenv("OLLAMA_MODELS")
	if s.OllamaDir == "" && home != "" {
		s.OllamaDir = filepath.Join(home, ".ollama", "models")
	}
	switch {
	case os.Getenv("HF_HUB_CACHE") != "":
		s.HFHubDir = os.Getenv("HF_HUB_CACHE")
	case os.Getenv("HF_HOME") != "":
		s.HFHubDir = filepath.Join(os.Getenv("HF_HOME"), "hub")
	case home != "":
		s.HFHubDir = filepath.Join(home, ".cache", "huggingface", "hub")
	}
	if home != "" {
		s.LMStudioDir = []string{filepath.Join(home, ".lmstudio", "models"), filepath.Join(home, ".cache", "lm-studio", "models")}
	}
	return s
}

// Name is a parsed model reference host/namespace/model:tag.
type Name struct {
	Host, Namespace, Model, Tag string
}

// ParseName completes a short name: "llama3" is
// ferry.local/library/llama3:latest, "me/m:q4" is ferry.local/me/m:q4.
func ParseName(s string) (Name, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Name{}, errors.New("model name is empty")
	}
	n := Name{Host: DefaultHost, Namespace: DefaultNamespace, Tag: DefaultTag}
	rest := s
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		n.Tag = rest[i+1:]
		rest = rest[:i]
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		n.Model = parts[0]
	case 2:
		n.Namespace, n.Model = parts[0], parts[1]
	case 3:
		n.Host, n.Namespace, n.Model = parts[0], parts[1], parts[2]
	default:
		return Name{}, fmt.Errorf("invalid model name %q: expected [host/][namespace/]model[:tag]", s)
	}
	for _, p := range []string{n.Host, n.Namespace, n.Model, n.Tag} {
		if !validPart(p) {
			return Name{}, fmt.Errorf("invalid model name %q: parts may use letters, digits, '.', '_' and '-'", s)
		}
	}
	return n, nil
}

func validPart(p string) bool {
	if p == "" || len(p) > 200 || p == "." || p == ".." {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// String is the short display form: defaults are left out, the tag kept.
func (n Name) String() string {
	s := n.Model + ":" + n.Tag
	if n.Namespace != DefaultNamespace || n.Host != DefaultHost && n.Host != ollamaHost {
		s = n.Namespace + "/" + s
	}
	if n.Host != DefaultHost && n.Host != ollamaHost {
		s = n.Host + "/" + s
	}
	return s
}

func (s *Store) manifestPath(n Name) string {
	return filepath.Join(s.Dir, "manifests", n.Host, n.Namespace, n.Model, n.Tag)
}

// BlobPath is where the blob with digest "sha256:<hex>" lives.
func (s *Store) BlobPath(digest string) (string, error) { return blobPath(s.Dir, digest) }

func blobPath(dir, digest string) (string, error) {
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		hexd, ok = strings.CutPrefix(digest, "sha256-")
	}
	if !ok || len(hexd) != 64 {
		return "", fmt.Errorf("invalid digest %q: expected sha256:<64 hex digits>", digest)
	}
	if _, err := hex.DecodeString(hexd); err != nil {
		return "", fmt.Errorf("invalid digest %q: %v", digest, err)
	}
	return filepath.Join(dir, "blobs", "sha256-"+strings.ToLower(hexd)), nil
}

// ErrNotFound is returned (wrapped) when a name resolves to nothing.
var ErrNotFound = errors.New("model not found")

// Resolve finds a model by name, or by path to a GGUF file or model folder.
// It returns the path to load and the model's description. The ferry store
// is searched first, then Ollama's store, the HF cache and LM Studio.
func (s *Store) Resolve(name string) (string, *Model, error) {
	m, err := s.Get(name)
	if err != nil {
		return "", nil, err
	}
	return m.Path, m, nil
}

// Resolve resolves name in the default store; `ferry run` uses it.
func Resolve(name string) (string, *Model, error) { return Default().Resolve(name) }

// Get is Resolve returning only the model.
func (s *Store) Get(name string) (*Model, error) {
	if name == "" {
		return nil, errors.New("model name is empty")
	}
	if st, err := os.Stat(name); err == nil && (strings.ContainsAny(name, `/\`) || strings.HasSuffix(strings.ToLower(name), ".gguf")) {
		return pathModel(name, st)
	}
	if n, err := ParseName(name); err == nil {
		if m, err := s.readFerry(n); err == nil {
			return m, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if s.OllamaDir != "" {
			on := n
			if on.Host == DefaultHost {
				on.Host = ollamaHost
			}
			if m, err := readOllama(s.OllamaDir, on); err == nil {
				return m, nil
			}
		}
	}
	// Discovered models by their listed names (hf.co/..., lmstudio/...).
	want := strings.TrimSuffix(name, ":"+DefaultTag)
	for _, m := range s.discoverFolders() {
		if m.Name == name || strings.TrimSuffix(m.Name, ":"+DefaultTag) == want {
			return m, nil
		}
	}
	return nil, fmt.Errorf("model %q not found, try pulling it first: %w", name, ErrNotFound)
}

func pathModel(p string, st fs.FileInfo) (*Model, error) {
	abs, _ := filepath.Abs(p)
	m := &Model{Name: abs, Source: SourcePath, Path: abs, ModifiedAt: st.ModTime()}
	if st.IsDir() {
		m.Format = folderFormat(abs)
		m.Size = dirSize(abs)
	} else {
		m.Format = "gguf"
		m.Size = st.Size()
	}
	return m, nil
}

func (s *Store) readFerry(n Name) (*Model, error) {
	m, err := readManifestModel(s.Dir, s.manifestPath(n))
	if err != nil {
		return nil, err
	}
	m.Name = n.String()
	m.Source = SourceFerry
	return m, nil
}

func readOllama(dir string, n Name) (*Model, error) {
	m, err := readManifestModel(dir, filepath.Join(dir, "manifests", n.Host, n.Namespace, n.Model, n.Tag))
	if err != nil {
		return nil, err
	}
	m.Name = n.String()
	m.Source = SourceOllama
	return m, nil
}

// maxManifest bounds manifest and small-layer reads: they are metadata.
const maxManifest = 4 << 20

// readManifestModel reads a manifest and its small layers (template,
// system, params, license, messages) from the store rooted at dir.
func readManifestModel(dir, path string) (*Model, error) {
	data, st, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	var mf Manifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	}
	sum := sha256.Sum256(data)
	m := &Model{Manifest: &mf, ModifiedAt: st.ModTime(), Digest: "sha256:" + hex.EncodeToString(sum[:]), Format: "gguf"}
	for _, l := range mf.Layers {
		bp, err := blobPath(dir, l.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %v", path, err)
		}
		switch l.MediaType {
		case MediaModel:
			m.Path = bp
			m.Size += l.Size
		case MediaTemplate, MediaSystem, MediaLicense:
			b, _, err := readSmall(bp)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: layer %s: %v", path, l.Digest, err)
			}
			switch l.MediaType {
			case MediaTemplate:
				m.Template = string(b)
			case MediaSystem:
				m.System = string(b)
			default:
				if m.License != "" {
					m.License += "\n"
				}
				m.License += string(b)
			}
		case MediaParams:
			b, _, err := readSmall(bp)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: layer %s: %v", path, l.Digest, err)
			}
			if err := json.Unmarshal(b, &m.Params); err != nil {
				return nil, fmt.Errorf("manifest %s: params layer: %v", path, err)
			}
		case MediaMessages:
			b, _, err := readSmall(bp)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: layer %s: %v", path, l.Digest, err)
			}
			if err := json.Unmarshal(b, &m.Messages); err != nil {
				return nil, fmt.Errorf("manifest %s: messages layer: %v", path, err)
			}
		}
	}
	if m.Path == "" {
		return nil, fmt.Errorf("manifest %s has no model layer", path)
	}
	return m, nil
}

func readSmall(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > maxManifest {
		return nil, nil, fmt.Errorf("%s: %d bytes is too large for a manifest or metadata layer", path, st.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifest))
	return b, st, err
}

// List returns the models in ferry's store, and with all also those
// discovered elsewhere, sorted by name within each source.
func (s *Store) List(all bool) ([]*Model, error) {
	var out []*Model
	ms, err := listManifests(s.Dir, DefaultHost)
	if err != nil {
		return nil, err
	}
	for _, n := range ms {
		if m, err := s.readFerry(n); err == nil {
			out = append(out, m)
		}
	}
	if !all {
		return out, nil
	}
	if s.OllamaDir != "" {
		ns, _ := listManifests(s.OllamaDir, ollamaHost)
		for _, n := range ns {
			if m, err := readOllama(s.OllamaDir, n); err == nil {
				out = append(out, m)
			}
		}
	}
	out = append(out, s.discoverFolders()...)
	return out, nil
}

// listManifests walks manifests/<host>/<ns>/<model>/<tag>.
func listManifests(dir, _ string) ([]Name, error) {
	root := filepath.Join(dir, "manifests")
	var names []Name
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return nil
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 {
			return nil
		}
		names = append(names, Name{Host: parts[0], Namespace: parts[1], Model: parts[2], Tag: parts[3]})
		return nil
	})
	sort.Slice(names, func(i, j int) bool { return names[i].String() < names[j].String() })
	return names, err
}

// WriteManifest stores mf under name, atomically.
func (s *Store) WriteManifest(name string, mf *Manifest) error {
	n, err := ParseName(name)
	if err != nil {
		return err
	}
	data, err := json.Marshal(mf)
	if err != nil {
		return err
	}
	p := s.manifestPath(n)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, data)
}

// Delete removes a model from ferry's store and then every blob no
// manifest refers to any more. Discovered models belong to other tools and
// are not deleted.
func (s *Store) Delete(name string) error {
	n, err := ParseName(name)
	if err != nil {
		return err
	}
	p := s.manifestPath(n)
	if _, err := os.Stat(p); err != nil {
		if m, gerr := s.Get(name); gerr == nil && m.Source != SourceFerry {
			return fmt.Errorf("model %q belongs to %s (%s); remove it with that tool", name, m.Source, m.Path)
		}
		return fmt.Errorf("model %q not found: %w", name, ErrNotFound)
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	// Tidy empty directories up to manifests/.
	for d := filepath.Dir(p); d != filepath.Join(s.Dir, "manifests"); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return s.prune()
}

// prune deletes unreferenced blobs.
func (s *Store) prune() error {
	used := map[string]bool{}
	names, err := listManifests(s.Dir, DefaultHost)
	if err != nil {
		return err
	}
	for _, n := range names {
		data, _, err := readSmall(s.manifestPath(n))
		if err != nil {
			continue
		}
		var mf Manifest
		if json.Unmarshal(data, &mf) != nil {
			// An unreadable manifest: keep every blob rather than guess.
			return nil
		}
		for _, l := range append(mf.Layers, mf.Config) {
			if bp, err := s.BlobPath(l.Digest); err == nil {
				used[bp] = true
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir, "blobs"))
	for _, e := range ents {
		p := filepath.Join(s.Dir, "blobs", e.Name())
		// Only complete blobs: temp files and resumable partial
		// downloads have longer names.
		if strings.HasPrefix(e.Name(), "sha256-") && len(e.Name()) == len("sha256-")+64 && !used[p] {
			os.Remove(p)
		}
	}
	return nil
}

// Copy makes dst name the same model as src. A model found outside
// ferry's store is imported (its blobs linked, not copied, when possible).
func (s *Store) Copy(src, dst string) error {
	if _, err := ParseName(dst); err != nil {
		return err
	}
	m, err := s.Get(src)
	if err != nil {
		return err
	}
	if m.Source == SourceFerry {
		return s.WriteManifest(dst, m.Manifest)
	}
	_, err = s.Create(dst, &Modelfile{From: src}, "", nil)
	return err
}

// AddBlob stores the file at path as a blob, linking it when the store is
// on the same file system and copying otherwise. It returns the digest.
func (s *Store) AddBlob(path string) (Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Layer{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Layer{}, fmt.Errorf("%s: %v", path, err)
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	bp, _ := s.BlobPath(digest)
	if st, err := os.Stat(bp); err == nil && st.Size() == n {
		return Layer{Digest: digest, Size: n}, nil
	}
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return Layer{}, err
	}
	// A hard link shares the bytes; the file is content-addressed by what
	// it held when hashed, so a later edit of the original (which rename-
	// based tools never do in place) is the one risk, accepted as Ollama
	// does for its own create.
	if err := os.Link(path, bp); err == nil {
		return Layer{Digest: digest, Size: n}, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Layer{}, err
	}
	out, err := atomicfile.Create(bp)
	if err != nil {
		return Layer{}, err
	}
	defer out.Abort()
	h2 := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h2), f); err != nil {
		return Layer{}, err
	}
	if got := "sha256:" + hex.EncodeToString(h2.Sum(nil)); got != digest {
		return Layer{}, fmt.Errorf("%s changed while being copied into the store", path)
	}
	return Layer{Digest: digest, Size: n}, out.Commit()
}

// AddBlobBytes stores data as a blob.
func (s *Store) AddBlobBytes(data []byte) (Layer, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	bp, _ := s.BlobPath(digest)
	if st, err := os.Stat(bp); err == nil && st.Size() == int64(len(data)) {
		return Layer{Digest: digest, Size: int64(len(data))}, nil
	}
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return Layer{}, err
	}
	return Layer{Digest: digest, Size: int64(len(data))}, atomicfile.WriteFile(bp, data)
}

// AddBlobReader stores r as a blob whose digest must equal want
// (sha256:<hex>); a mismatch leaves nothing behind. /api/blobs uses it.
func (s *Store) AddBlobReader(r io.Reader, want string) (Layer, error) {
	bp, err := s.BlobPath(want)
	if err != nil {
		return Layer{}, err
	}
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return Layer{}, err
	}
	out, err := atomicfile.Create(bp)
	if err != nil {
		return Layer{}, err
	}
	defer out.Abort()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err != nil {
		return Layer{}, err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != strings.Replace(strings.ToLower(want), "sha256-", "sha256:", 1) {
		return Layer{}, fmt.Errorf("digest mismatch: got %s, expected %s", got, want)
	}
	return Layer{Digest: want, Size: n}, out.Commit()
}

// HasBlob reports whether the blob exists.
func (s *Store) HasBlob(digest string) bool {
	bp, err := s.BlobPath(digest)
	if err != nil {
		return false
	}
	_, err = os.Stat(bp)
	return err == nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := os.Stat(p); err == nil { // follow HF cache symlinks
				n += st.Size()
			}
		}
		return nil
	})
	return n
}
