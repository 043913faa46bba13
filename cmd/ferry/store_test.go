package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/server"
	"github.com/ferryhq/ferry/store"
)

// storeCLI runs ferry in-process. Cobra keeps flag values between runs,
// so tests pass every boolean flag they rely on explicitly.
func storeCLI(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestStoreCommandsAndServer(t *testing.T) {
	gguf := filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf")
	tmp := t.TempDir()
	t.Setenv("FERRY_MODELS", filepath.Join(tmp, "models"))
	t.Setenv("FERRY_NO_DISCOVERY", "1")
	mf := filepath.Join(tmp, "Modelfile")
	os.WriteFile(mf, []byte("FROM "+gguf+"\nPARAMETER temperature 0\nPARAMETER num_predict 8\nSYSTEM tell a story\n"), 0o644)

	out := storeCLI(t, "create", "tiny", "-f", mf)
	if !strings.Contains(out, "created tiny:latest") {
		t.Fatalf("create: %s", out)
	}
	if out := storeCLI(t, "list", "--all=false", "--json=false"); !strings.Contains(out, "tiny:latest") {
		t.Fatalf("list: %s", out)
	}
	if out := storeCLI(t, "show", "tiny", "--modelfile=true"); !strings.Contains(out, "FROM ") || !strings.Contains(out, "PARAMETER temperature 0") {
		t.Fatalf("show --modelfile: %s", out)
	}
	if out := storeCLI(t, "show", "tiny", "--modelfile=false", "--json=false"); !strings.Contains(out, "architecture       llama") || !strings.Contains(out, "tell a story") {
		t.Fatalf("show: %s", out)
	}
	storeCLI(t, "cp", "tiny", "tiny2")
	var rows []struct{ Name, Source string }
	if err := json.Unmarshal([]byte(storeCLI(t, "list", "--json=true", "--all=false")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("list --json: %v %v", rows, err)
	}
	if out := storeCLI(t, "rm", "tiny2"); !strings.Contains(out, "deleted 'tiny2'") {
		t.Fatalf("rm: %s", out)
	}

	// ps / stop talk to a running server (FERRY_HOST).
	s := server.New(server.Config{Store: store.Default(), Loader: &server.EngineLoader{Threads: 1}, Version: "test"})
	ts := httptest.NewServer(s.Handler())
	defer func() { ts.Close(); s.Close() }()
	t.Setenv("FERRY_HOST", strings.TrimPrefix(ts.URL, "http://"))
	resp, err := http.Post(ts.URL+"/api/generate", "application/json", strings.NewReader(`{"model":"tiny","prompt":"Once upon a time","stream":false}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("generate: %v %v", err, resp)
	}
	var g struct {
		EvalCount int `json:"eval_count"`
	}
	json.NewDecoder(resp.Body).Decode(&g)
	resp.Body.Close()
	if g.EvalCount != 8 {
		t.Fatalf("the Modelfile's num_predict 8 was not applied: %d tokens", g.EvalCount)
	}
	if out := storeCLI(t, "ps", "--json=false"); !strings.Contains(out, "tiny:latest") {
		t.Fatalf("ps: %s", out)
	}
	storeCLI(t, "stop", "tiny")
	if out := storeCLI(t, "ps", "--json=false"); strings.Contains(out, "tiny:latest") {
		t.Fatalf("ps after stop: %s", out)
	}
}
