package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// registry is a loopback server speaking the Ollama registry protocol
// (/v2/<ns>/<model>/manifests/<tag>, /v2/<ns>/<model>/blobs/<digest>) and
// the Hugging Face Hub's (/api/models/<repo>/revision/main, /<repo>/resolve/main/<file>).
type registry struct {
	blobs   map[string][]byte
	served  atomic.Int64 // blob bytes sent
	corrupt bool
}

func (r *registry) handler(t *testing.T, manifest []byte, hfInfo []byte, hfFile string, hfData []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/library/tiny/manifests/latest", func(w http.ResponseWriter, req *http.Request) {
		w.Write(manifest)
	})
	mux.HandleFunc("GET /v2/library/tiny/blobs/{digest}", func(w http.ResponseWriter, req *http.Request) {
		b, ok := r.blobs[req.PathValue("digest")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if r.corrupt {
			b = bytes.ToUpper(b)
		}
		cw := &countingWriter{ResponseWriter: w, n: &r.served}
		http.ServeContent(cw, req, "", time.Time{}, bytes.NewReader(b)) // honours Range
	})
	mux.HandleFunc("GET /api/models/org/Tiny-GGUF/revision/main", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("blobs") != "true" {
			t.Error("Hub listing asked without blobs=true")
		}
		w.Write(hfInfo)
	})
	mux.HandleFunc("GET /org/Tiny-GGUF/resolve/main/"+hfFile, func(w http.ResponseWriter, req *http.Request) {
		cw := &countingWriter{ResponseWriter: w, n: &r.served}
		http.ServeContent(cw, req, "", time.Time{}, bytes.NewReader(hfData))
	})
	return mux
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.ResponseWriter.Write(b)
}

func TestPullOllamaAndHFResumeVerify(t *testing.T) {
	weights := append([]byte("GGUF"), bytes.Repeat([]byte("w"), 100000)...)
	tmpl := []byte("{{ .Prompt }}")
	params := []byte(`{"temperature":0.3}`)
	reg := &registry{blobs: map[string][]byte{digestOf(weights): weights, digestOf(tmpl): tmpl, digestOf(params): params, digestOf([]byte("{}")): []byte("{}")}}
	mf := Manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: Layer{MediaType: MediaConfig, Digest: digestOf([]byte("{}")), Size: 2},
		Layers: []Layer{{MediaType: MediaModel, Digest: digestOf(weights), Size: int64(len(weights))}, {MediaType: MediaTemplate, Digest: digestOf(tmpl), Size: int64(len(tmpl))}, {MediaType: MediaParams, Digest: digestOf(params), Size: int64(len(params))}}}
	mfData, _ := json.Marshal(mf)
	hfData := append([]byte("GGUF"), bytes.Repeat([]byte("h"), 50000)...)
	hfName := "tiny-Q4_K_M.gguf"
	sum := sha256.Sum256(hfData)
	hfInfo := []byte(fmt.Sprintf(`{"siblings":[{"rfilename":"README.md"},{"rfilename":"tiny-Q8_0.gguf","lfs":{"sha256":"%s","size":1}},{"rfilename":"%s","lfs":{"sha256":"%s","size":%d}}]}`,
		strings.Repeat("0", 64), hfName, hex.EncodeToString(sum[:]), len(hfData)))
	ts := httptest.NewServer(reg.handler(t, mfData, hfInfo, hfName, hfData))
	defer ts.Close()

	s := testStore(t)
	p := &Puller{Store: s, Client: ts.Client(), OllamaBase: ts.URL, HFBase: ts.URL}
	ctx := context.Background()

	// A previous attempt left half of the weights behind: the pull resumes.
	bp, _ := s.BlobPath(digestOf(weights))
	os.MkdirAll(s.Dir+"/blobs", 0o755)
	os.WriteFile(bp+"-partial", weights[:60000], 0o644)
	var statuses []string
	m, err := p.Pull(ctx, "ollama.com/library/tiny", func(status, digest string, done, total int64) {
		if len(statuses) == 0 || statuses[len(statuses)-1] != status {
			statuses = append(statuses, status)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "tiny:latest" || m.Template != "{{ .Prompt }}" || m.Params["temperature"] != 0.3 {
		t.Fatalf("%+v", m)
	}
	if got := reg.served.Load(); got >= int64(len(weights)) {
		t.Fatalf("resume re-downloaded everything: %d bytes served", got)
	}
	if b, _ := os.ReadFile(m.Path); !bytes.Equal(b, weights) {
		t.Fatal("pulled weights differ")
	}
	if statuses[0] != "pulling manifest" || statuses[len(statuses)-1] != "success" {
		t.Fatalf("progress: %v", statuses)
	}
	if _, _, err := s.Resolve("tiny"); err != nil {
		t.Fatal(err)
	}

	// Hugging Face: the file is picked by quantization and verified.
	m, err = p.Pull(ctx, "hf.co/org/Tiny-GGUF:q4_k_m", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "hf.co/org/Tiny-GGUF:Q4_K_M" {
		t.Fatalf("%+v", m)
	}
	if b, _ := os.ReadFile(m.Path); !bytes.Equal(b, hfData) {
		t.Fatal("HF weights differ")
	}
	if _, err := p.Pull(ctx, "hf.co/org/Tiny-GGUF:Q2_K", nil); err == nil || !strings.Contains(err.Error(), "Q8_0") {
		t.Fatalf("missing quant: %v", err)
	}
	// Q8_0 is listed but its download fails: nothing enters the store.
	if _, err := p.Pull(ctx, "hf.co/org/Tiny-GGUF:Q8_0", nil); err == nil {
		t.Fatal("a download with the wrong size/hash was accepted")
	}

	// A registry serving corrupted bytes: sha256 mismatch, no blob.
	s2 := testStore(t)
	reg.corrupt = true
	p2 := &Puller{Store: s2, Client: ts.Client(), OllamaBase: ts.URL, HFBase: ts.URL}
	if _, err := p2.Pull(ctx, "tiny", nil); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("corrupt blob: %v", err)
	}
	if s2.HasBlob(digestOf(weights)) {
		t.Fatal("a corrupt download entered the store")
	}
	if _, err := p2.Pull(ctx, "missing", nil); err == nil {
		t.Fatal("pulling a missing model succeeded")
	}
}
