package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

func TestDefaultConvertOutput(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "model.gguf")
	os.WriteFile(f, nil, 0o644)
	if got, want := defaultOutput(f, "q8_0", ".gguf"), filepath.Join(dir, "model-q8_0.gguf"); got != want {
		t.Errorf("file: %s, want %s", got, want)
	}
	hf := filepath.Join(dir, "Llama-3-8B")
	os.Mkdir(hf, 0o755)
	if got, want := defaultOutput(hf+"/", "bf16", ".gguf"), filepath.Join(dir, "Llama-3-8B-bf16.gguf"); got != want {
		t.Errorf("folder: %s, want %s", got, want)
	}
	if got, want := defaultOutput(hf, "mlx-q4", ""), filepath.Join(dir, "Llama-3-8B-mlx-q4"); got != want {
		t.Errorf("mlx: %s, want %s", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("probe file left behind: %v", ents)
	}
}

// TestConvertCommand runs `ferry convert --json` end to end on the HF
// stories260K folder and checks the report and the file.
func TestConvertCommand(t *testing.T) {
	src := testdata.Path(t, "models", "stories260K-hf")
	out := filepath.Join(t.TempDir(), "s.gguf")
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs([]string{"convert", src, "-o", out, "--type", "f16", "--json"})
	defer rootCmd.SetArgs(nil)
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var rep struct {
		Output, Type, Format string
		Tensors              int
		Bytes                int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	st, err := os.Stat(out)
	if err != nil || rep.Output != out || rep.Type != "f16" || rep.Format != "gguf" || rep.Tensors != 47 || rep.Bytes != st.Size() {
		t.Errorf("report %+v, file %v", rep, err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ft, _ := f.Uint("general.file_type"); ft != 1 {
		t.Errorf("general.file_type %d", ft)
	}
}
