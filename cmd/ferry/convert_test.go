package main

import (
	"os"
	"path/filepath"
	"testing"
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
