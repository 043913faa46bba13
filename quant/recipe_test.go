package quant

import (
	"fmt"
	"testing"
)

func llamaShapes(embd, ff, vocab uint64, kvDim uint64) map[string][]uint64 {
	return map[string][]uint64{
		"attn_q": {embd, embd}, "attn_k": {embd, kvDim}, "attn_v": {embd, kvDim}, "attn_output": {embd, embd},
		"ffn_gate": {embd, ff}, "ffn_up": {embd, ff}, "ffn_down": {ff, embd}, "attn_norm": {embd},
	}
}

// TestRecipeLlama2_7B checks ChooseType against the tensor types of
// llama.cpp's published Llama-2-7B quantizations (32 layers, no GQA).
func TestRecipeLlama2_7B(t *testing.T) {
	mi := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, HeadsKV: 32, HasOutput: true}
	shapes := llamaShapes(4096, 11008, 32000, 4096)
	more := map[int]bool{}
	for _, l := range []int{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31} {
		more[l] = true
	}
	check := func(ft FileType, name string, shape []uint64, want Type) {
		t.Helper()
		got, err := ChooseType(ft, name, TensorContext{Model: mi, Shape: shape, Type: F32})
		if err != nil || got != want {
			t.Errorf("%s %s: got %s (%v), want %s", ft, name, got, err, want)
		}
	}
	for l := 0; l < 32; l++ {
		b := fmt.Sprintf("blk.%d.", l)
		q4km := Q4_K
		if more[l] {
			q4km = Q6_K
		}
		check(FileMostlyQ4_K_M, b+"attn_v.weight", shapes["attn_v"], q4km)
		check(FileMostlyQ4_K_M, b+"ffn_down.weight", shapes["ffn_down"], q4km)
		check(FileMostlyQ4_K_M, b+"attn_q.weight", shapes["attn_q"], Q4_K)
		check(FileMostlyQ4_K_M, b+"ffn_up.weight", shapes["ffn_up"], Q4_K)
		check(FileMostlyQ4_K_M, b+"attn_norm.weight", shapes["attn_norm"], F32)
		q3v, q3d := Q4_K, Q4_K
		if l < 2 {
			q3v, q3d = Q5_K, Q5_K
		}
		check(FileMostlyQ3_K_M, b+"attn_v.weight", shapes["attn_v"], q3v)
		check(FileMostlyQ3_K_M, b+"ffn_down.weight", shapes["ffn_down"], q3d)
		check(FileMostlyQ3_K_M, b+"attn_output.weight", shapes["attn_output"], Q4_K)
		check(FileMostlyQ3_K_M, b+"ffn_gate.weight", shapes["ffn_gate"], Q3_K)
		check(FileMostlyQ2_K, b+"attn_v.weight", shapes["attn_v"], Q3_K)
		check(FileMostlyQ2_K, b+"ffn_down.weight", shapes["ffn_down"], Q3_K)
		check(FileMostlyQ2_K, b+"attn_output.weight", shapes["attn_output"], Q3_K)
		check(FileMostlyQ2_K, b+"attn_q.weight", shapes["attn_q"], Q2_K)
		q4ks := Q4_K
		if l < 4 {
			q4ks = Q5_K
		}
		check(FileMostlyQ4_K_S, b+"attn_v.weight", shapes["attn_v"], q4ks)
		check(FileMostlyQ4_K_S, b+"ffn_down.weight", shapes["ffn_down"], q4ks)
		check(FileMostlyQ5_K_S, b+"ffn_down.weight", shapes["ffn_down"], Q5_K)
		check(FileMostlyQ6_K, b+"attn_v.weight", shapes["attn_v"], Q6_K)
		check(FileMostlyQ8_0, b+"ffn_down.weight", shapes["ffn_down"], Q8_0)
		check(FileMostlyF16, b+"ffn_down.weight", shapes["ffn_down"], F16)
		check(FileMostlyF16, b+"attn_norm.weight", shapes["attn_norm"], F32)
	}
	for _, ft := range []FileType{FileMostlyQ4_K_M, FileMostlyQ2_K, FileMostlyQ4_0, FileMostlyIQ4XS} {
		check(ft, "output.weight", []uint64{4096, 32000}, Q6_K)
		check(ft, "token_embd.weight", []uint64{4096, 32000}, ft.DefaultType())
	}
	check(FileMostlyQ8_0, "output.weight", []uint64{4096, 32000}, Q8_0)
	// --pure: no mixture, output included.
	got, _ := ChooseType(FileMostlyQ4_K_M, "output.weight", TensorContext{Model: mi, Shape: []uint64{4096, 32000}, Options: Options{Pure: true}})
	if got != Q4_K {
		t.Errorf("--pure output.weight: %s", got)
	}
	got, _ = ChooseType(FileMostlyQ4_K_M, "output.weight", TensorContext{Model: mi, Shape: []uint64{4096, 32000}, Type: F16, Options: Options{LeaveOutput: true}})
	if got != F16 {
		t.Errorf("--leave-output-tensor: %s", got)
	}
	got, _ = ChooseType(FileMostlyQ4_K_M, "token_embd.weight", TensorContext{Model: mi, Shape: []uint64{4096, 32000}, Options: Options{HasTokenEmbdType: true, TokenEmbdType: Q8_0}})
	if got != Q8_0 {
		t.Errorf("--token-embedding-type: %s", got)
	}
	// Tied embeddings: token_embd gets the output rule.
	tied := mi
	tied.HasOutput = false
	got, _ = ChooseType(FileMostlyQ4_K_M, "token_embd.weight", TensorContext{Model: tied, Shape: []uint64{4096, 32000}})
	if got != Q6_K {
		t.Errorf("tied token_embd: %s", got)
	}
}

func TestRecipeGQAAndMoE(t *testing.T) {
	l3 := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, HeadsKV: 8, HasOutput: true} // Llama 3 8B
	ct := func(mi ModelInfo, ft FileType, name string, shape []uint64) Type {
		t.Helper()
		got, err := ChooseType(ft, name, TensorContext{Model: mi, Shape: shape})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ct(l3, FileMostlyQ2_K, "blk.5.attn_v.weight", []uint64{4096, 1024}); got != Q4_K {
		t.Errorf("Q2_K GQA 4 attn_v: %s", got)
	}
	if got := ct(l3, FileMostlyIQ4XS, "blk.5.attn_v.weight", []uint64{4096, 1024}); got != Q5_K {
		t.Errorf("IQ4_XS GQA 4 attn_v: %s", got)
	}
	if got := ct(l3, FileMostlyIQ4XS, "blk.3.ffn_down.weight", []uint64{14336, 4096}); got != Q5_K {
		t.Errorf("IQ4_XS first-eighth ffn_down: %s", got)
	}
	if got := ct(l3, FileMostlyIQ4XS, "blk.4.ffn_down.weight", []uint64{14336, 4096}); got != IQ4_XS {
		t.Errorf("IQ4_XS ffn_down layer 4: %s", got)
	}
	l70 := ModelInfo{Arch: "llama", Layers: 80, Heads: 64, HeadsKV: 8, HasOutput: true}
	if got := ct(l70, FileMostlyQ3_K_S, "blk.40.attn_v.weight", []uint64{8192, 1024}); got != Q5_K {
		t.Errorf("70B Q3_K_S attn_v: %s", got)
	}
	if got := ct(l70, FileMostlyQ4_K_M, "blk.11.attn_v.weight", []uint64{8192, 1024}); got != Q5_K {
		t.Errorf("70B Q4_K_M attn_v (not more-bits layer): %s", got)
	}
	mx := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, HeadsKV: 8, Experts: 8, HasOutput: true} // Mixtral 8x7B
	for name, want := range map[string]Type{
		"blk.7.attn_v.weight": Q8_0, "blk.7.attn_k.weight": Q8_0, "blk.7.attn_output.weight": Q5_K,
		"blk.7.attn_q.weight": Q4_K, "blk.7.ffn_gate_inp.weight": F32,
	} {
		shape := []uint64{4096, 1024}
		if got := ct(mx, FileMostlyQ4_K_M, name, shape); got != want && !(want == F32 && got == 0) {
			t.Errorf("Mixtral Q4_K_M %s: %s, want %s", name, got, want)
		}
	}
	// Expert tensors: layer from the name, 3-D shape.
	if got := ct(mx, FileMostlyQ4_K_M, "blk.31.ffn_down_exps.weight", []uint64{14336, 4096, 8}); got != Q6_K {
		t.Errorf("Mixtral last-layer ffn_down_exps: %s", got)
	}
	if _, err := ChooseType(FileMostlyQ4_K_M, "ffn_down_exps.weight", TensorContext{Model: mx, Shape: []uint64{14336, 4096, 8}}); err == nil {
		t.Error("MoE ffn_down without a layer number accepted")
	}
	// Fallbacks.
	fb := []struct {
		ft   FileType
		cols uint64
		want Type
	}{{FileMostlyQ4_K_M, 64, Q5_0}, {FileMostlyQ5_K_S, 96, Q5_1}, {FileMostlyQ6_K, 64, Q8_0}, {FileMostlyQ2_K, 64, Q4_0},
		{FileMostlyQ3_K_S, 64, Q4_0}, {FileMostlyIQ4XS, 64, IQ4_NL}, {FileMostlyQ4_K_S, 172, F16}}
	for _, c := range fb {
		got, fell, err := ChooseTypeFallback(c.ft, "blk.0.attn_q.weight", TensorContext{Model: l3, Shape: []uint64{c.cols, 64}})
		if err != nil || got != c.want || !fell {
			t.Errorf("%s with rows of %d: %s fallback=%v err=%v, want %s", c.ft, c.cols, got, fell, err, c.want)
		}
	}
	if _, err := ChooseType(FileMostlyQ8_0, "blk.0.attn_q.weight", TensorContext{Model: l3, Shape: []uint64{172, 64}}); err == nil {
		t.Error("Q8_0 with rows of 172 accepted (llama.cpp has no fallback)")
	}
}

func TestParseFileType(t *testing.T) {
	for _, s := range []string{"q4_k_m", "Q4_K_M", "15"} {
		if ft, err := ParseFileType(s); err != nil || ft != FileMostlyQ4_K_M {
			t.Errorf("ParseFileType(%q) = %v, %v", s, ft, err)
		}
	}
	if _, err := ParseFileType("IQ2_XXS"); err == nil {
		t.Error("IQ2_XXS accepted although ferry cannot quantize it")
	}
	if _, err := ParseFileType("Q9_K"); err == nil {
		t.Error("unknown recipe accepted")
	}
}

func TestTensorTypeOverride(t *testing.T) {
	mi := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, HeadsKV: 32, HasOutput: true}
	o1, err := ParseTensorTypeOverride("attn_v=q8_0")
	if err != nil {
		t.Fatal(err)
	}
	o2, err := ParseTensorTypeOverride(`blk\.[0-3]\.ffn_down=Q6_K`)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{TensorTypes: []TensorTypeOverride{o1, o2}}
	for name, want := range map[string]Type{
		"blk.9.attn_v.weight": Q8_0, "blk.2.ffn_down.weight": Q6_K, "blk.9.ffn_down.weight": Q6_K /* recipe: more bits */, "blk.10.ffn_down.weight": Q4_K,
		"blk.10.attn_q.weight": Q4_K,
	} {
		got, err := ChooseType(FileMostlyQ4_K_M, name, TensorContext{Model: mi, Shape: []uint64{4096, 4096}, Options: opt})
		if err != nil || got != want {
			t.Errorf("%s: %s (%v), want %s", name, got, err, want)
		}
	}
	for _, bad := range []string{"attn_v", "=q8_0", "attn_v=q9", "([=q8_0"} {
		if _, err := ParseTensorTypeOverride(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
