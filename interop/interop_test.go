package interop

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// TestFindNotInstalled: a folder without node modules is reported as not
// installed, with the command that fixes it.
func TestFindNotInstalled(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "llama.mjs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Find(dir)
	if err == nil {
		t.Fatal("Find succeeded without node_modules")
	}
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("error %v does not wrap ErrNotInstalled", err)
	}
	t.Log(err)
}

// TestTruncatedGGUF: a damaged file gives llama.cpp's load error (or a
// clear error from the bridge), never a hang.
func TestTruncatedGGUF(t *testing.T) {
	l := findLlama(t)
	src, err := os.ReadFile(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "truncated.gguf")
	if err := os.WriteFile(p, src[:len(src)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := l.Run(t.Context(), p, 1, 256, Job{Op: "info"})
	switch {
	case err != nil:
		t.Logf("bridge error: %v", err)
	case resp.LoadError != "":
		t.Logf("llama.cpp: %s %v", resp.LoadError, resp.Logs)
	default:
		t.Fatal("llama.cpp loaded a truncated GGUF")
	}
}
