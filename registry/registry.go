// Package registry pulls models into ferry's store from the Ollama
// registry (ollama.com/library/NAME:TAG: a distribution-spec manifest whose
// layers are blobs addressed by sha256) and from Hugging Face
// (hf.co/ORG/REPO[:QUANT]: a GGUF file picked by its quantization name, or
// a whole safetensors/MLX repo).
//
// Downloads resume from a ".partial" file with an HTTP Range request, are
// verified (sha256, or git's object id for small Hugging Face files) before
// they are renamed into place, and are safe against concurrent pulls of the
// same file (a lock file next to it). Progress is reported with the fields
// of Ollama's /api/pull stream.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/ferryhq/ferry/store"
)

// Default registry endpoints, overridden by FERRY_OLLAMA_REGISTRY and
// HF_ENDPOINT (the variable huggingface_hub reads) or by Options.
const (
	DefaultOllamaBase = "https://registry.ollama.ai"
	DefaultHFBase     = "https://huggingface.co"
)

// Progress is one status update, with the fields of Ollama's /api/pull
// progress stream: Status alone for steps ("pulling manifest", "verifying
// sha256 digest", "writing manifest", "success"), and Digest, Total and
// Completed (bytes) while a file downloads.
type Progress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// Options configures a pull. The zero value pulls into store.Default()
// from the endpoints the environment names.
type Options struct {
	Store      *store.Store     // destination; store.Default() when nil
	Client     *http.Client     // http.DefaultClient's transport when nil
	OllamaBase string           // FERRY_OLLAMA_REGISTRY or DefaultOllamaBase when ""
	HFBase     string           // HF_ENDPOINT or DefaultHFBase when ""
	HFToken    string           // HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) when ""
	Progress   func(p Progress) // optional; called from the pulling goroutine
}

// Result says what a pull installed.
type Result struct {
	Name   string // the name to use with `ferry run`, the API, `ferry list`
	Path   string // the GGUF file or model folder to load
	Format string // "gguf", "safetensors" or "mlx"
	Files  int    // files downloaded or already present
	Bytes  int64  // their total size
}

// Ref is a parsed pull reference.
type Ref struct {
	Kind      string // "ollama" or "hf"
	Host      string // registry host as typed ("registry.ollama.ai", "hf.co", ...)
	Namespace string // Ollama namespace ("library") or Hugging Face org
	Repo      string // Ollama model name or Hugging Face repo name
	Tag       string // Ollama tag, or the Hugging Face quant ("" = default choice)
}

// ParseRef parses the names `ferry pull` accepts:
//
//	llama3.2, llama3.2:1b, library/llama3.2:1b, ollama.com/library/llama3.2:1b,
//	registry.ollama.ai/library/llama3.2:1b, hf.co/ORG/REPO[:QUANT],
//	huggingface.co/ORG/REPO[:QUANT], and the same with an https:// prefix.
func ParseRef(s string) (Ref, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return Ref{}, errors.New("model name is empty")
	}
	tag := ""
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		tag = s[i+1:]
		s = s[:i]
		if tag == "" {
			return Ref{}, fmt.Errorf("invalid model name %q: empty tag after ':'", orig)
		}
	}
	parts := strings.Split(s, "/")
	r := Ref{Kind: "ollama", Host: "registry.ollama.ai", Namespace: "library", Tag: tag}
	switch {
	case len(parts) >= 1 && isHFHost(parts[0]):
		if len(parts) != 3 {
			return Ref{}, fmt.Errorf("invalid Hugging Face name %q: expected hf.co/ORG/REPO[:QUANT]", orig)
		}
		r = Ref{Kind: "hf", Host: parts[0], Namespace: parts[1], Repo: parts[2], Tag: tag}
		if strings.EqualFold(r.Tag, "latest") {
			r.Tag = ""
		}
	case len(parts) == 1:
		r.Repo = parts[0]
	case len(parts) == 2:
		r.Namespace, r.Repo = parts[0], parts[1]
	case len(parts) == 3:
		r.Host, r.Namespace, r.Repo = parts[0], parts[1], parts[2]
	default:
		return Ref{}, fmt.Errorf("invalid model name %q: expected [host/][namespace/]name[:tag] or hf.co/ORG/REPO[:QUANT]", orig)
	}
	if r.Kind == "ollama" && r.Tag == "" {
		r.Tag = "latest"
	}
	for _, p := range []string{r.Host, r.Namespace, r.Repo} {
		if !validPart(p) {
			return Ref{}, fmt.Errorf("invalid model name %q: name parts use letters, digits, '.', '_' and '-'", orig)
		}
	}
	if r.Tag != "" && !validPart(r.Tag) {
		return Ref{}, fmt.Errorf("invalid model name %q: the tag uses letters, digits, '.', '_' and '-'", orig)
	}
	return r, nil
}

func isHFHost(h string) bool {
	h = strings.ToLower(h)
	return h == "hf.co" || h == "huggingface.co" || h == "www.huggingface.co"
}

func isOllamaHost(h string) bool {
	h = strings.ToLower(h)
	return h == "registry.ollama.ai" || h == "ollama.com" || h == "www.ollama.com"
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

// IsRemote reports whether name is something Pull can fetch (as opposed
// to a local path).
func IsRemote(name string) bool {
	if _, err := os.Stat(name); err == nil {
		return false
	}
	_, err := ParseRef(name)
	return err == nil
}

// Pull downloads the model ref names into the store and installs it so
// that store.Resolve finds it under Result.Name.
func Pull(ctx context.Context, ref string, opts Options) (*Result, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	c := newClient(opts)
	if r.Kind == "hf" {
		return c.pullHF(ctx, r)
	}
	return c.pullOllama(ctx, r)
}

type client struct {
	st         *store.Store
	hc         *http.Client
	ollamaBase string
	hfBase     string
	hfToken    string
	progress   func(Progress)
}

func newClient(o Options) *client {
	c := &client{st: o.Store, ollamaBase: o.OllamaBase, hfBase: o.HFBase, hfToken: o.HFToken, progress: o.Progress}
	if c.st == nil {
		c.st = store.Default()
	}
	if c.ollamaBase == "" {
		c.ollamaBase = os.Getenv("FERRY_OLLAMA_REGISTRY")
	}
	if c.ollamaBase == "" {
		c.ollamaBase = DefaultOllamaBase
	}
	if c.hfBase == "" {
		c.hfBase = os.Getenv("HF_ENDPOINT")
	}
	if c.hfBase == "" {
		c.hfBase = DefaultHFBase
	}
	c.ollamaBase = strings.TrimSuffix(c.ollamaBase, "/")
	c.hfBase = strings.TrimSuffix(c.hfBase, "/")
	if c.hfToken == "" {
		c.hfToken = os.Getenv("HF_TOKEN")
	}
	if c.hfToken == "" {
		c.hfToken = os.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	base := o.Client
	if base == nil {
		base = http.DefaultClient
	}
	c.hc = base
	if c.progress == nil {
		c.progress = func(Progress) {}
	}
	return c
}

// do sends req, following up to 10 redirects and showing each redirect
// response to onRedir. Go drops Authorization when a redirect leaves the
// original host, so tokens never reach a CDN.
func (c *client) do(req *http.Request, onRedir func(*http.Response)) (*http.Response, error) {
	hc := *c.hc
	prev := hc.CheckRedirect
	hc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if onRedir != nil && r.Response != nil {
			onRedir(r.Response)
		}
		if prev != nil {
			return prev(r, via)
		}
		return nil
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ferry")
	}
	return hc.Do(req)
}

// getJSON fetches a small JSON document into v.
func (c *client) getJSON(ctx context.Context, url string, hdr http.Header, label string, v any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.do(req, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp, httpError(resp, label)
	}
	const maxJSON = 32 << 20
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON+1))
	if err != nil {
		return resp, fmt.Errorf("%s: %w", label, err)
	}
	if len(data) > maxJSON {
		return resp, fmt.Errorf("%s: response larger than %d bytes", label, maxJSON)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return resp, fmt.Errorf("%s: invalid JSON: %v", label, err)
	}
	return resp, nil
}

// HTTPError is a registry's non-success answer.
type HTTPError struct {
	Status  int
	What    string // what was being fetched
	Message string // the server's error text, if any
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.What, http.StatusText(e.Status))
	if e.Status == 0 {
		msg = e.What
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// httpError turns a failed response into a permanent error for 4xx codes
// (a retry cannot help) and a retryable one for 5xx.
func httpError(resp *http.Response, what string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &HTTPError{Status: resp.StatusCode, What: what, Message: errorText(body)}
	if code := resp.Header.Get("X-Error-Code"); code != "" && e.Message == "" {
		e.Message = code
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &permanentError{e}
	}
	return e
}

// errorText extracts a message from the error bodies registries send:
// {"errors":[{"code":..,"message":..}]} (distribution spec), {"error":..}
// (Hugging Face, Ollama) or plain text.
func errorText(body []byte) string {
	var ds struct {
		Errors []struct{ Code, Message string } `json:"errors"`
		Error  any                              `json:"error"`
	}
	if json.Unmarshal(body, &ds) == nil {
		if len(ds.Errors) > 0 {
			e := ds.Errors[0]
			if e.Message != "" {
				return e.Message
			}
			return e.Code
		}
		if s, ok := ds.Error.(string); ok {
			return s
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 || strings.HasPrefix(s, "<") || strings.HasPrefix(s, "{") {
		return ""
	}
	return s
}

// statusOf returns the HTTP status behind err, or 0.
func statusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}
