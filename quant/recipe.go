package quant

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FileType is llama.cpp's llama_ftype: the recipe a whole GGUF file was
// quantized with, stored as general.file_type.
type FileType uint32

// llama.cpp's file type ids (general.file_type values).
const (
	FileAllF32       FileType = 0
	FileMostlyF16    FileType = 1
	FileMostlyQ4_0   FileType = 2
	FileMostlyQ4_1   FileType = 3
	FileMostlyQ8_0   FileType = 7
	FileMostlyQ5_0   FileType = 8
	FileMostlyQ5_1   FileType = 9
	FileMostlyQ2_K   FileType = 10
	FileMostlyQ3_K_S FileType = 11
	FileMostlyQ3_K_M FileType = 12
	FileMostlyQ3_K_L FileType = 13
	FileMostlyQ4_K_S FileType = 14
	FileMostlyQ4_K_M FileType = 15
	FileMostlyQ5_K_S FileType = 16
	FileMostlyQ5_K_M FileType = 17
	FileMostlyQ6_K   FileType = 18
	FileMostlyIQ2XXS FileType = 19
	FileMostlyIQ2XS  FileType = 20
	FileMostlyQ2_K_S FileType = 21
	FileMostlyIQ3XS  FileType = 22
	FileMostlyIQ3XXS FileType = 23
	FileMostlyIQ1S   FileType = 24
	FileMostlyIQ4NL  FileType = 25
	FileMostlyIQ3S   FileType = 26
	FileMostlyIQ3M   FileType = 27
	FileMostlyIQ2S   FileType = 28
	FileMostlyIQ2M   FileType = 29
	FileMostlyIQ4XS  FileType = 30
	FileMostlyIQ1M   FileType = 31
	FileMostlyBF16   FileType = 32
	FileMostlyTQ1_0  FileType = 36
	FileMostlyTQ2_0  FileType = 37
	FileMostlyMXFP4  FileType = 38
)

// QuantizationVersion is ggml's GGML_QNT_VERSION, written as
// general.quantization_version by llama.cpp's quantizer.
const QuantizationVersion = 2

type fileTypeInfo struct {
	name        string // llama-quantize's name for it
	def         Type   // llama_ftype_get_default_type
	ferryCanRun bool   // ferry can produce this recipe
}

var fileTypes = map[FileType]fileTypeInfo{
	FileAllF32:       {"F32", F32, true},
	FileMostlyF16:    {"F16", F16, true},
	FileMostlyBF16:   {"BF16", BF16, true},
	FileMostlyQ4_0:   {"Q4_0", Q4_0, true},
	FileMostlyQ4_1:   {"Q4_1", Q4_1, true},
	FileMostlyQ5_0:   {"Q5_0", Q5_0, true},
	FileMostlyQ5_1:   {"Q5_1", Q5_1, true},
	FileMostlyQ8_0:   {"Q8_0", Q8_0, true},
	FileMostlyQ2_K:   {"Q2_K", Q2_K, true},
	FileMostlyQ2_K_S: {"Q2_K_S", Q2_K, true},
	FileMostlyQ3_K_S: {"Q3_K_S", Q3_K, true},
	FileMostlyQ3_K_M: {"Q3_K_M", Q3_K, true},
	FileMostlyQ3_K_L: {"Q3_K_L", Q3_K, true},
	FileMostlyQ4_K_S: {"Q4_K_S", Q4_K, true},
	FileMostlyQ4_K_M: {"Q4_K_M", Q4_K, true},
	FileMostlyQ5_K_S: {"Q5_K_S", Q5_K, true},
	FileMostlyQ5_K_M: {"Q5_K_M", Q5_K, true},
	FileMostlyQ6_K:   {"Q6_K", Q6_K, true},
	FileMostlyIQ4NL:  {"IQ4_NL", IQ4_NL, true},
	FileMostlyIQ4XS:  {"IQ4_XS", IQ4_XS, true},
	FileMostlyTQ1_0:  {"TQ1_0", TQ1_0, true},
	FileMostlyTQ2_0:  {"TQ2_0", TQ2_0, true},
	FileMostlyMXFP4:  {"MXFP4_MOE", MXFP4, true},
	FileMostlyIQ2XXS: {"IQ2_XXS", IQ2_XXS, false},
	FileMostlyIQ2XS:  {"IQ2_XS", IQ2_XS, false},
	FileMostlyIQ2S:   {"IQ2_S", IQ2_XS, false},
	FileMostlyIQ2M:   {"IQ2_M", IQ2_S, false},
	FileMostlyIQ3XS:  {"IQ3_XS", IQ3_S, false},
	FileMostlyIQ3XXS: {"IQ3_XXS", IQ3_XXS, false},
	FileMostlyIQ3S:   {"IQ3_S", IQ3_S, false},
	FileMostlyIQ3M:   {"IQ3_M", IQ3_S, false},
	FileMostlyIQ1S:   {"IQ1_S", IQ1_S, false},
	FileMostlyIQ1M:   {"IQ1_M", IQ1_M, false},
}

// String is llama-quantize's name for the recipe ("Q4_K_M").
func (f FileType) String() string {
	if i, ok := fileTypes[f]; ok {
		return i.name
	}
	return fmt.Sprintf("filetype(%d)", uint32(f))
}

// DefaultType is the tensor type most weights get under recipe f
// (llama_ftype_get_default_type).
func (f FileType) DefaultType() Type { return fileTypes[f].def }

// ParseFileType maps a recipe name ("q4_k_m", "Q8_0", "f16") or its
// numeric id to a FileType that ferry can produce.
func ParseFileType(s string) (FileType, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if i, ok := fileTypes[FileType(n)]; ok && i.ferryCanRun {
			return FileType(n), nil
		}
		return 0, fmt.Errorf("unknown or unsupported file type %d", n)
	}
	for f, i := range fileTypes {
		if strings.EqualFold(i.name, s) {
			if !i.ferryCanRun {
				return 0, fmt.Errorf("file type %s is not supported yet: ferry cannot quantize to %s", i.name, i.def)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown file type %q (try Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, IQ4_XS, F16, BF16, F32)", s)
}

// FileTypes lists the recipes ferry can produce, in id order.
func FileTypes() []FileType {
	var out []FileType
	for f := FileType(0); f < 64; f++ {
		if i, ok := fileTypes[f]; ok && i.ferryCanRun {
			out = append(out, f)
		}
	}
	return out
}

// ModelInfo is what the recipe rules need to know about the whole model.
type ModelInfo struct {
	Arch    string // general.architecture
	Layers  int    // block_count
	Heads   int    // attention.head_count
	HeadsKV int    // attention.head_count_kv (0: same as Heads)
	Experts int    // expert_count (0 or 1: dense)
	// HasOutput is false when the model ties its output projection to
	// token_embd (no output.weight): token_embd then gets the output rules.
	HasOutput bool
	// AttnV is the number of attn_v / attn_qkv / attn_kv_b tensors
	// (n_attention_wv); 0 means Layers.
	AttnV      int
	HasImatrix bool
}

func (m ModelInfo) gqa() int {
	kv := m.HeadsKV
	if kv == 0 {
		kv = m.Heads
	}
	if kv == 0 {
		return 1
	}
	return m.Heads / kv
}

// Options are llama-quantize's switches that change tensor types.
type Options struct {
	Pure             bool // every quantizable tensor gets the default type
	LeaveOutput      bool // --leave-output-tensor: keep output.weight as is
	OutputType       Type // --output-tensor-type (valid when HasOutputType)
	HasOutputType    bool
	TokenEmbdType    Type // --token-embedding-type (valid when HasTokenEmbdType)
	HasTokenEmbdType bool
	// TensorTypes are --tensor-type overrides: the first pattern found in
	// a tensor's name sets its type instead of the recipe's rules (the
	// fallbacks still apply).
	TensorTypes []TensorTypeOverride
}

// TensorTypeOverride is one --tensor-type PATTERN=TYPE option.
type TensorTypeOverride struct {
	Pattern *regexp.Regexp
	Type    Type
}

// ParseTensorTypeOverride parses llama-quantize's "PATTERN=TYPE" (the
// pattern is lower-cased and searched for anywhere in the tensor name, as
// llama.cpp does, e.g. "attn_v=q8_0" or "blk\\.[0-3]\\.ffn_down=q6_k").
func ParseTensorTypeOverride(s string) (TensorTypeOverride, error) {
	name, typ, ok := strings.Cut(s, "=")
	if !ok || name == "" || typ == "" {
		return TensorTypeOverride{}, fmt.Errorf("tensor type override %q: want PATTERN=TYPE", s)
	}
	re, err := regexp.Compile(strings.ToLower(name))
	if err != nil {
		return TensorTypeOverride{}, fmt.Errorf("tensor type override %q: %v", s, err)
	}
	t, err := ParseType(typ)
	if err != nil {
		return TensorTypeOverride{}, fmt.Errorf("tensor type override %q: %v", s, err)
	}
	return TensorTypeOverride{re, t}, nil
}

// TensorContext describes one tensor for ChooseType.
type TensorContext struct {
	Model   ModelInfo
	Options Options
	Shape   []uint64 // GGUF order: Shape[0] is the row length
	Type    Type     // the tensor's current type
}

// AllowsQuantization reports whether llama.cpp would quantize a tensor with
// this name and shape at all (tensor_allows_quantization): only 2-D and 3-D
// tensors whose names end in "weight", never norms, MoE router weights,
// position embeddings and a few small special tensors.
func AllowsQuantization(name string, shape []uint64, opt Options) bool {
	nd := len(shape)
	for nd > 1 && shape[nd-1] == 1 {
		nd-- // ggml_n_dims ignores trailing 1s
	}
	if nd < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	if opt.LeaveOutput && name == "output.weight" {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
		"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
		"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
		"time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
		"time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
		"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
		".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return name != "position_embd.weight" && name != "token_types.weight"
}

type category int

const (
	catOther category = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

func tensorCategory(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"):
		return catAttnQKV
	case strings.Contains(name, "attn_kv_b.weight"):
		return catAttnKVB
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

// IsAttnV reports whether the tensor counts as an attention-V tensor for the
// recipes (attn_v, fused attn_qkv, attn_kv_b); callers use it to fill
// ModelInfo.AttnV.
func IsAttnV(name string) bool {
	c := tensorCategory(name)
	return c == catAttnV || c == catAttnQKV || c == catAttnKVB
}

// layerOf parses N from "blk.N.".
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:i])
	return n, err == nil && n >= 0
}

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// ChooseType is llama.cpp's llama_tensor_get_type: the type a tensor gets
// under recipe ft. It returns the tensor's current type for tensors that
// are never quantized. Counters that llama.cpp keeps while walking the
// tensors in layer order (i_attention_wv, i_ffn_down) are taken from the
// block number in the name, which is the same for the models it handles.
func ChooseType(ft FileType, name string, tc TensorContext) (Type, error) {
	t, _, err := ChooseTypeFallback(ft, name, tc)
	return t, err
}

// ChooseTypeFallback is ChooseType that also reports whether the recipe's
// type had to be replaced because the row length is not a whole number of
// its blocks (llama.cpp's tensor_type_fallback).
func ChooseTypeFallback(ft FileType, name string, tc TensorContext) (Type, bool, error) {
	if !AllowsQuantization(name, tc.Shape, tc.Options) {
		return tc.Type, false, nil
	}
	cat := tensorCategory(name)
	opt := tc.Options
	if opt.HasTokenEmbdType && cat == catTokenEmbd {
		return opt.TokenEmbdType, false, nil
	}
	if opt.HasOutputType && cat == catOutput {
		return opt.OutputType, false, nil
	}
	def := ft.DefaultType()
	if !isQuantized(def) {
		return def, false, nil
	}
	t := def
	manual := false
	for _, o := range opt.TensorTypes {
		if o.Pattern.MatchString(name) {
			t, manual = o.Type, true
			break
		}
	}
	if !manual && !opt.Pure {
		var err error
		t, err = recipeType(ft, t, name, cat, tc)
		if err != nil {
			return 0, false, err
		}
	}
	ft2, err := fallbackType(t, tc.Shape)
	return ft2, err == nil && ft2 != t, err
}

func isQuantized(t Type) bool {
	switch t {
	case F32, F16, BF16, F64, I8, I16, I32, I64:
		return false
	}
	return true
}

// fallbackType is llama.cpp's tensor_type_fallback for rows that are not a
// whole number of blocks.
func fallbackType(t Type, shape []uint64) (Type, error) {
	ncols := shape[0]
	if ncols%uint64(t.BlockSize()) == 0 {
		return t, nil
	}
	var r Type
	switch t {
	case IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_XS:
		r = IQ4_NL
	case Q2_K, Q3_K, TQ1_0, TQ2_0:
		r = Q4_0
	case Q4_K:
		r = Q5_0
	case Q5_K:
		r = Q5_1
	case Q6_K:
		r = Q8_0
	default:
		return 0, fmt.Errorf("no tensor type fallback is defined for type %s (row length %d)", t, ncols)
	}
	if ncols%uint64(r.BlockSize()) != 0 {
		r = F16
	}
	return r, nil
}

func recipeType(ft FileType, t Type, name string, cat category, tc TensorContext) (Type, error) {
	m := tc.Model
	nExpert := max(1, m.Experts)
	gqa := m.gqa()
	nLayer := m.Layers
	nAttnV := m.AttnV
	if nAttnV == 0 {
		nAttnV = nLayer
	}
	layer, hasLayer := layerOf(name)
	layerInfo := func() (int, error) {
		if !hasLayer {
			if nExpert > 1 {
				return 0, fmt.Errorf("failed to determine layer for tensor %s", name)
			}
			return 0, nil
		}
		if layer >= nLayer {
			return 0, fmt.Errorf("bad layer %d for tensor %s: must be in [0, %d)", layer, name, nLayer)
		}
		return layer, nil
	}
	is := func(fts ...FileType) bool {
		for _, f := range fts {
			if ft == f {
				return true
			}
		}
		return false
	}
	falcon := m.Arch == "falcon"
	is70B := m.Arch == "llama" && nLayer == 80 && m.Heads != m.HeadsKV && m.HeadsKV != 0

	switch {
	case cat == catOutput || (!m.HasOutput && cat == catTokenEmbd):
		nx := tc.Shape[0]
		switch {
		case ft == FileMostlyMXFP4:
			t = Q8_0
		case falcon || nx%uint64(t.BlockSize()) != 0:
			t = Q8_0
		case is(FileMostlyIQ2XXS, FileMostlyIQ2XS, FileMostlyIQ3XXS, FileMostlyIQ1S, FileMostlyIQ2S, FileMostlyIQ2M, FileMostlyIQ1M):
			t = Q5_K
		case t != Q8_0:
			t = Q6_K
		}
	case ft == FileMostlyMXFP4:
		if len(tc.Shape) > 2 && tc.Shape[2] > 1 {
			t = MXFP4
		} else {
			t = Q8_0
		}
	case cat == catTokenEmbd:
		switch {
		case is(FileMostlyIQ2XXS, FileMostlyIQ2XS, FileMostlyIQ1S, FileMostlyIQ1M):
			t = Q2_K
		case is(FileMostlyIQ2S, FileMostlyIQ2M, FileMostlyIQ3XXS):
			t = IQ3_S
		case is(FileMostlyTQ1_0, FileMostlyTQ2_0):
			t = Q4_K
		}
	case is(FileMostlyIQ2XXS, FileMostlyIQ2XS, FileMostlyIQ1S, FileMostlyIQ2S, FileMostlyIQ2M, FileMostlyIQ1M):
		iq2s := is(FileMostlyIQ2S, FileMostlyIQ2M)
		switch {
		case cat == catAttnV || cat == catAttnQKV || cat == catAttnKVB:
			if gqa >= 4 || m.Experts >= 4 {
				t = Q4_K
			} else if iq2s {
				t = IQ3_S
			} else {
				t = Q2_K
			}
		case m.Experts == 8 && cat == catAttnK:
			t = Q4_K
		case cat == catFFNDown:
			if layer < nLayer/8 {
				if iq2s {
					t = IQ3_S
				} else {
					t = Q2_K
				}
			}
		case cat == catAttnOutput:
			if m.Experts == 8 {
				t = Q5_K
			} else if is(FileMostlyIQ1S, FileMostlyIQ1M) {
				t = IQ2_XXS
			} else if iq2s {
				t = IQ3_S
			}
		}
	case cat == catAttnV || cat == catAttnQKV || cat == catAttnKVB:
		i := layer
		switch {
		case ft == FileMostlyQ2_K:
			if gqa >= 4 {
				t = Q4_K
			} else {
				t = Q3_K
			}
		case ft == FileMostlyQ2_K_S && gqa >= 4:
			t = Q4_K
		case ft == FileMostlyIQ3XXS:
			if gqa >= 4 {
				t = Q4_K
			} else if !m.HasImatrix {
				t = IQ3_S
			} else {
				t = IQ3_XXS
			}
		case is(FileMostlyIQ3XS, FileMostlyIQ3S) && gqa >= 4:
			t = Q4_K
		case ft == FileMostlyIQ3M:
			t = Q4_K
		case ft == FileMostlyQ3_K_M:
			if i < 2 {
				t = Q5_K
			} else {
				t = Q4_K
			}
		case ft == FileMostlyQ3_K_L:
			t = Q5_K
		case is(FileMostlyIQ4NL, FileMostlyIQ4XS) && gqa >= 4:
			t = Q5_K
		case is(FileMostlyQ4_K_M, FileMostlyQ5_K_M) && useMoreBits(i, nAttnV):
			t = Q6_K
		case ft == FileMostlyQ4_K_S && i < 4:
			t = Q5_K
		}
		if is70B && (t == Q3_K || t == Q4_K) {
			t = Q5_K
		}
		if m.Experts == 8 {
			t = Q8_0
		}
	case cat == catAttnK:
		switch {
		case m.Experts == 8:
			t = Q8_0
		case ft == FileMostlyIQ3XS:
			t = IQ3_XXS
		case ft == FileMostlyIQ3XXS:
			t = IQ2_S
		}
	case cat == catAttnQ:
		switch ft {
		case FileMostlyIQ3XS:
			t = IQ3_XXS
		case FileMostlyIQ3XXS:
			t = IQ2_S
		}
	case cat == catFFNDown:
		i, err := layerInfo()
		if err != nil {
			return 0, err
		}
		n := nLayer
		switch {
		case ft == FileMostlyQ2_K:
			t = Q3_K
		case ft == FileMostlyQ2_K_S:
			if i < n/8 {
				t = Q4_K
			}
		case ft == FileMostlyIQ3XXS && !m.HasImatrix:
			if i < n/8 {
				t = Q4_K
			} else {
				t = Q3_K
			}
		case ft == FileMostlyQ3_K_M:
			if i < n/16 {
				t = Q5_K
			} else if !falcon || useMoreBits(i, n) {
				t = Q4_K
			} else {
				t = Q3_K
			}
		case ft == FileMostlyIQ3M && (i < n/8 || (m.Experts == 8 && useMoreBits(i, n))):
			t = Q4_K
		case ft == FileMostlyQ3_K_L:
			if falcon {
				t = Q4_K
			} else {
				t = Q5_K
			}
		case ft == FileMostlyQ4_K_M:
			if falcon {
				if i < n/16 {
					t = Q6_K
				} else if useMoreBits(i, n) {
					t = Q5_K
				} else {
					t = Q4_K
				}
			} else if useMoreBits(i, n) {
				t = Q6_K
			}
		case i < n/8 && is(FileMostlyIQ4NL, FileMostlyIQ4XS) && !m.HasImatrix:
			t = Q5_K
		case ft == FileMostlyQ5_K_M && useMoreBits(i, n):
			t = Q6_K
		case ft == FileMostlyQ4_K_S && !falcon && i < n/8:
			t = Q5_K
		case is(FileMostlyQ4_0, FileMostlyQ5_0) && m.HasImatrix && i < n/8:
			if ft == FileMostlyQ4_0 {
				t = Q4_1
			} else {
				t = Q5_1
			}
		}
	case cat == catAttnOutput:
		if !falcon {
			if m.Experts == 8 {
				if is(FileMostlyQ2_K, FileMostlyIQ3XS, FileMostlyIQ3XXS, FileMostlyQ3_K_S, FileMostlyQ3_K_M, FileMostlyIQ4NL,
					FileMostlyQ4_K_S, FileMostlyQ4_K_M, FileMostlyIQ3S, FileMostlyIQ3M, FileMostlyIQ4XS) {
					t = Q5_K
				}
			} else {
				switch ft {
				case FileMostlyQ2_K:
					t = Q3_K
				case FileMostlyIQ3XXS:
					t = IQ3_S
				case FileMostlyQ3_K_M:
					t = Q4_K
				case FileMostlyQ3_K_L:
					t = Q5_K
				case FileMostlyIQ3M:
					t = Q4_K
				}
			}
		} else if ft == FileMostlyQ3_K_L {
			t = Q4_K
		}
	case cat == catAttnQKV:
		switch ft {
		case FileMostlyQ3_K_M, FileMostlyQ3_K_L, FileMostlyIQ3M:
			t = Q4_K
		case FileMostlyQ4_K_M:
			t = Q5_K
		case FileMostlyQ5_K_M:
			t = Q6_K
		}
	case cat == catFFNGate || cat == catFFNUp:
		i, err := layerInfo()
		if err != nil {
			return 0, err
		}
		if ft == FileMostlyIQ3XS && i >= nLayer/8 && i < 7*nLayer/8 {
			t = IQ3_XXS
		}
	}
	return t, nil
}

// LookupFileType reports whether f is a recipe ferry can produce and its
// default tensor type.
func LookupFileType(f FileType) (Type, bool) {
	i, ok := fileTypes[f]
	if !ok || !i.ferryCanRun {
		return 0, false
	}
	return i.def, true
}
