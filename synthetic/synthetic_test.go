package synthetic

import (
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
