package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// TestPullThenRun pulls stories260K from a loopback registry that speaks
// the Ollama protocol, then runs it by name as a user would.
func TestPullThenRun(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	data, err := os.ReadFile(filepath.Join(dir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	mf, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"layers":        []map[string]any{{"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": len(data)}},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/library/stories/manifests/260k", func(w http.ResponseWriter, r *http.Request) { w.Write(mf) })
	mux.HandleFunc("GET /v2/library/stories/blobs/"+digest, func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	t.Setenv("FERRY_MODELS", t.TempDir())
	t.Setenv("FERRY_NO_DISCOVERY", "1")
	t.Setenv("FERRY_OLLAMA_REGISTRY", srv.URL)

	out, _ := runCmd(t, "pull", "stories:260k", "--json")
	var res struct{ Name, Format string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Name != "stories:260k" || res.Format != "gguf" {
		t.Fatalf("pull output %q (%v)", out, err)
	}
	out, _ = runCmd(t, "run", "stories:260k", "Once upon a time", "--temperature", "0", "--repeat-penalty", "1", "--num-predict", "8", "--threads", "1", "--format", "")
	var g struct {
		Greedy struct {
			GeneratedText string `json:"generated_text"`
		} `json:"greedy"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "golden.json"))
	json.Unmarshal(b, &g)
	if got := strings.TrimSuffix(out, "\n"); got == "" || !strings.HasPrefix(g.Greedy.GeneratedText, got) {
		t.Errorf("run after pull printed %q, not a prefix of the reference %q", got, g.Greedy.GeneratedText)
	}
}
