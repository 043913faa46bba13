package synthetic

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/tokenizer"
)

// tiny has every optional feature of the presets at a test-friendly size.
var tiny = Preset{Name: "tiny", Arch: "qwen3moe", Embd: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64,
	Vocab: 2000, Tied: false, Context: 512, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, QKVBias: true,
	Experts: 4, ExpertsUse: 2, ExpertFFN: 512, Family: "qwen"}

func TestGenerateDeterministicAndLoadable(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range Types {
		a, b := filepath.Join(dir, typ+"-a.gguf"), filepath.Join(dir, typ+"-b.gguf")
		if err := Generate(tiny, typ, a); err != nil {
			t.Fatal(err)
		}
		if err := Generate(tiny, typ, b); err != nil {
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

func TestPresetShapes(t *testing.T) {
	p, typ, err := Parse("synthetic:llama3.2-1b:q4_0")
	if err != nil || typ != "q4_0" {
		t.Fatal(err, typ)
	}
	specs, err := tensorSpecs(p, typ)
	if err != nil {
		t.Fatal(err)
	}
	var params uint64
	types := map[string]quant.Type{}
	for _, s := range specs {
		n := uint64(1)
		for _, d := range s.shape {
			n *= d
		}
		params += n
		types[s.name] = s.typ
	}
	// Llama 3.2 1B has 1,235,814,400 parameters (+32 rope_freqs here).
	if params != 1235814400+32 {
		t.Errorf("llama3.2-1b: %d parameters", params)
	}
	if types["token_embd.weight"] != quant.Q6_K || types["blk.3.ffn_down.weight"] != quant.Q4_0 || types["output_norm.weight"] != quant.F32 {
		t.Errorf("q4_0 recipe: %v %v %v", types["token_embd.weight"], types["blk.3.ffn_down.weight"], types["output_norm.weight"])
	}
	for _, name := range Presets() {
		p, _ := Lookup(name)
		for _, typ := range Types {
			if _, err := tensorSpecs(p, typ); err != nil {
				t.Errorf("%s:%s: %v", name, typ, err)
			}
		}
		if p.Vocab < 40000 { // the large vocabularies take a second each
			if v, err := buildVocab(p.Vocab, p.Family, 1); err != nil || len(v.tokens) != p.Vocab {
				t.Errorf("%s vocab: %v", name, err)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"llama", "synthetic:", "synthetic:nope", "synthetic:llama3.2-1b:q3_x", "synthetic:a:b:c"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "synthetic") {
			t.Errorf("Parse(%q): unclear error %v", bad, err)
		}
	}
}

func TestResolveUsesCache(t *testing.T) {
	t.Setenv("FERRY_CACHE", t.TempDir())
	dir, _ := CacheDir()
	// A file already in the cache is returned as is, without generating.
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "qwen2.5-0.5b-f16-v1.gguf")
	os.WriteFile(path, []byte("cached"), 0o644)
	got, err := Resolve("synthetic:qwen2.5-0.5b:f16")
	if err != nil || got != path {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if _, err := gguf.Open(got); err == nil {
		t.Fatal("fake cache file parsed as GGUF")
	}
}
