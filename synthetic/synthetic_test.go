package synthetic

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/quant"
)

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
	// A file already in the cache is returned as is, without generating.
	path, err := CachePath("synthetic:qwen2.5-0.5b:f16")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte("cached"), 0o644)
	got, err := Resolve("synthetic:qwen2.5-0.5b:f16")
	if err != nil || got != path {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if _, err := gguf.Open(got); err == nil {
		t.Fatal("fake cache file parsed as GGUF")
	}
}

// TestFillBlocksScales guards against zero tensors: every type's blocks
// must dequantize to values with roughly the requested spread.
func TestFillBlocksScales(t *testing.T) {
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
		quant.Q8_0, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.IQ4_NL, quant.IQ4_XS} {
		const n = 4096
		buf := make([]byte, n/typ.BlockSize()*typ.BytesPerBlock())
		if err := FillBlocks(typ, buf, rand.New(rand.NewPCG(1, 2)), 0.02); err != nil {
			t.Fatal(err)
		}
		vals := make([]float32, n)
		if err := quant.Dequantize(typ, buf, vals); err != nil {
			t.Fatal(err)
		}
		var ss float64
		for _, v := range vals {
			ss += float64(v) * float64(v)
		}
		rms := math.Sqrt(ss / n)
		if rms < 0.002 || rms > 0.2 || math.IsNaN(rms) {
			t.Errorf("%v: rms %g, want about 0.02", typ, rms)
		}
	}
}
