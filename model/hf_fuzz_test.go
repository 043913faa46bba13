package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// FuzzHFConfig loads the llama2 oracle weights under arbitrary config.json
// contents: any config must give a model or an error, never a panic or a
// runaway allocation.
func FuzzHFConfig(f *testing.F) {
	dir, ok := testdata.Find()
	if !ok {
		f.Skip("no test data")
	}
	weights := filepath.Join(dir, "oracle", "llama2", "model.safetensors")
	for _, name := range []string{"llama2", "llama3", "gemma3", "phi3", "mixtral", "qwen3moe"} {
		if b, err := os.ReadFile(filepath.Join(dir, "oracle", name, "config.json")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"num_hidden_layers":2,"num_attention_heads":0,"hidden_size":64}`))
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"num_hidden_layers":2,"head_dim":-8,"rope_scaling":{"rope_type":"llama3","low_freq_factor":4,"high_freq_factor":4}}`))
	f.Fuzz(func(t *testing.T, cfg []byte) {
		d := t.TempDir()
		if err := os.Symlink(weights, filepath.Join(d, "model.safetensors")); err != nil {
			t.Skip(err)
		}
		os.WriteFile(filepath.Join(d, "config.json"), cfg, 0o644)
		m, err := Open(d)
		if err == nil {
			m.Close()
		}
	})
}
