package synthetic_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
	"github.com/ferryhq/ferry/tokenizer"
)

// tiny has every optional feature of the presets at a test-friendly size.
var tiny = synthetic.Preset{Name: "tiny", Arch: "qwen3moe", Embd: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64,
	Vocab: 2000, Tied: false, Context: 512, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, QKVBias: true,
	Experts: 4, ExpertsUse: 2, ExpertFFN: 512, Family: "qwen"}

func TestGenerateDeterministicAndLoadable(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range synthetic.Types {
		a, b := filepath.Join(dir, typ+"-a.gguf"), filepath.Join(dir, typ+"-b.gguf")
		if err := synthetic.Generate(tiny, typ, a); err != nil {
			t.Fatal(err)
		}
		if err := synthetic.Generate(tiny, typ, b); err != nil {
			t.Fatal(err)
		}
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		if !bytes.Equal(da, db) || len(da) == 0 {
			t.Fatalf("%s: two generations differ", typ)
		}
		m, err := model.Open(a)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := m.Tensor("blk.1.ffn_down_exps.weight"); got == nil || got.Shape[0] != 512 || got.Shape[1] != 256 || got.Shape[2] != 4 {
			t.Fatalf("%s: ffn_down_exps %+v", typ, got)
		}
		if typ == "q4_k_m" {
			// blk.1 is a "more bits" layer of a 2-layer model: ffn_down Q6_K.
			if got := m.Tensor("blk.1.ffn_down_exps.weight").Type; got != quant.Q6_K {
				t.Errorf("q4_k_m ffn_down_exps type %v, want Q6_K", got)
			}
			if got := m.Tensor("output.weight").Type; got != quant.Q6_K {
				t.Errorf("q4_k_m output type %v", got)
			}
		}
		tok, err := tokenizer.FromMetadata(&m.Metadata)
		if err != nil {
			t.Fatalf("%s: tokenizer: %v", typ, err)
		}
		text := "Hello world, the synthetic vocabulary still round-trips: ünïcödé 123!"
		ids, err := tok.Encode(text, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Decode(ids); got != text {
			t.Fatalf("round trip: %q -> %v -> %q", text, ids, got)
		}
		if len(ids) >= len(text) {
			t.Errorf("merges never applied: %d ids for %d bytes", len(ids), len(text))
		}
		m.Close()
	}
}

// TestModelOpenResolvesSynthetic checks the model.Open hook: a synthetic
// name resolves through $FERRY_CACHE (a tiny model is placed under the
// name's cache file so the test does not write half a gigabyte) and opens
// like any GGUF; an unknown preset is a clear error.
func TestModelOpenResolvesSynthetic(t *testing.T) {
	t.Setenv("FERRY_CACHE", t.TempDir())
	path, err := synthetic.CachePath("synthetic:qwen2.5-0.5b:q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := synthetic.Generate(tiny, "q8_0", path); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open("synthetic:qwen2.5-0.5b:q8_0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch() != "qwen3moe" || m.Tensor("blk.1.attn_q.bias") == nil {
		t.Fatalf("unexpected model: arch %q", m.Arch())
	}
	if _, err := model.Open("synthetic:nope"); err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Fatalf("unknown preset: %v", err)
	}
}
