package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

// TestInspectCommand runs `ferry inspect` on a GGUF in both output modes.
func TestInspectCommand(t *testing.T) {
	p := testdata.Path(t, "models", "llama-2-tiny-random.gguf")
	run := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		rootCmd.SetOut(&stdout)
		rootCmd.SetErr(&stderr)
		rootCmd.SetArgs(append([]string{"inspect", p}, args...))
		defer rootCmd.SetArgs(nil)
		if err := rootCmd.Execute(); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		return stdout.String()
	}
	g, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	var rep struct {
		Format  string
		Tensors []struct{ Name string }
		Memory  struct{ Context int }
	}
	if err := json.Unmarshal([]byte(run("--json", "--tensors", "--ctx", "128")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Format != "gguf" || len(rep.Tensors) != len(g.Tensors) || rep.Memory.Context != 128 {
		t.Fatalf("%+v", rep)
	}
	text := run("--json=false", "--tensors=false", "--ctx", "0")
	if !strings.Contains(text, "format           gguf (GGUF v3)") || !strings.Contains(text, "next: ferry run ") {
		t.Fatalf("text output:\n%s", text)
	}
}
