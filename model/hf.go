package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
	"github.com/ferryhq/ferry/tokenizer"
)

// The Hugging Face loader maps a transformers checkpoint folder (config.json
// + safetensors) to what llama.cpp's convert_hf_to_gguf.py would write:
// the same metadata keys and values and the same tensor names, with shapes
// in GGUF order. Tensor bytes stay in the file mapping (HF's row-major
// [out, in] is GGUF's {in, out}) except for:
//   - Gemma norm weights: llama.cpp stores 1+w; computed into a new F32 tensor
//     (rounded through the source dtype first, as PyTorch's add does).
//   - MoE experts: one 2-D tensor per expert on disk, one stacked 3-D
//     tensor (ffn_*_exps) in GGUF; the experts are copied into one buffer
//     (memory: the size of the expert weights).
//   - generated tensors: rope_freqs.weight (Llama 3 rope scaling) and Phi-3
//     rope_factors_long/short.
// Llama-family q/k projections are left in HF's rotate-half layout and
// Model.RopeNeoX is set; the GGUF converter applies llama.cpp's permutation.

func init() {
	register(FormatSafetensors, isHFDir, openHF)
}

// hfArchs maps a transformers architecture class to llama.cpp's
// architecture name. Mistral and Mixtral are "llama" in llama.cpp.
var hfArchs = map[string]string{
	"LlamaForCausalLM":               "llama",
	"LLaMAForCausalLM":               "llama",
	"MistralForCausalLM":             "llama",
	"MixtralForCausalLM":             "llama",
	"Qwen2ForCausalLM":               "qwen2",
	"Qwen3ForCausalLM":               "qwen3",
	"Qwen3MoeForCausalLM":            "qwen3moe",
	"GemmaForCausalLM":               "gemma",
	"Gemma2ForCausalLM":              "gemma2",
	"Gemma3ForCausalLM":              "gemma3",
	"Gemma3ForConditionalGeneration": "gemma3",
	"Phi3ForCausalLM":                "phi3",
}

// hfModelTypes is the fallback when "architectures" is missing.
var hfModelTypes = map[string]string{
	"llama": "llama", "mistral": "llama", "mixtral": "llama",
	"qwen2": "qwen2", "qwen3": "qwen3", "qwen3_moe": "qwen3moe",
	"gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "gemma3_text": "gemma3",
	"phi3": "phi3",
}

// isHFDir: a folder with config.json and safetensors weights that is not an
// MLX quantized folder.
func isHFDir(path string) bool {
	return isConfigDir(path) && safetensors.HasWeights(path) && !isMLXDir(path)
}

// isConfigDir: a folder with a config.json, which every transformers-style
// format (safetensors, MLX, pytorch_model.bin) has.
func isConfigDir(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, "config.json"))
	return err == nil
}

// HFArchitecture resolves the llama.cpp architecture of a config.json; it
// returns the transformers class name too, for messages.
func HFArchitecture(dir string) (arch, hfClass string, err error) {
	cfg, err := readHFConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", "", err
	}
	return hfArch(dir, cfg)
}

func hfArch(dir string, cfg hfConfig) (string, string, error) {
	classes := cfg.strings("architectures")
	for _, c := range classes {
		if a, ok := hfArchs[c]; ok {
			return a, c, nil
		}
	}
	mt := cfg.str("model_type")
	if len(classes) == 0 {
		if a, ok := hfModelTypes[mt]; ok {
			return a, mt, nil
		}
	}
	name := strings.Join(classes, ", ")
	if name == "" {
		name = "model_type " + strconv.Quote(mt)
	}
	supported := make([]string, 0, len(hfArchs))
	for k := range hfArchs {
		supported = append(supported, k)
	}
	sort.Strings(supported)
	return "", name, fmt.Errorf("%s: unsupported architecture %s (ferry converts: %s)", filepath.Join(dir, "config.json"), name, strings.Join(supported, ", "))
}

// hasTokenizer reports whether a folder ships tokenizer files; a folder
// with weights only still loads, without a vocabulary.
func hasTokenizer(dir string) bool {
	for _, n := range []string{"tokenizer.json", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

func openHF(dir string) (*Model, error) { return openHFWith(dir, false) }

func openHFWith(dir string, lazy bool) (*Model, error) {
	return openHFFolder(dir, FormatSafetensors, lazy, func(m *Model, _ hfConfig) ([]srcTensor, error) {
		set, err := safetensors.OpenDir(dir)
		if err != nil {
			return nil, err
		}
		m.OnClose(set.Close)
		return hfSources(set)
	})
}

// openHFFolder loads a transformers-style folder: config.json plus weights
// that sources opens (registering their closers on m) and lists. The
// formats stored that way (safetensors, MLX, pytorch_model.bin) differ only
// in that step; naming and hyperparameters are mapped the same.
func openHFFolder(dir string, format Format, lazy bool, sources func(m *Model, raw hfConfig) ([]srcTensor, error)) (*Model, error) {
	raw, err := readHFConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	arch, hfClass, err := hfArch(dir, raw)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: dir, Format: format}
	src, err := sources(m, raw)
	if err != nil {
		m.Close()
		return nil, err
	}
	cfg := raw.flatten()
	l := &hfLoader{dir: dir, arch: arch, hfClass: hfClass, cfg: cfg, rope: cfg.ropeParams(), m: m, src: src, lazy: lazy}
	if err := l.load(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// OpenLazy is Open for converters: tensors that Open assembles in memory
// (the stacked experts of Hugging Face MoE checkpoints) are left to be
// assembled one at a time through Tensor.Load, so converting a large MoE
// model needs memory for one tensor, not for all its experts. Read tensors
// of such a model with Tensor.Bytes.
func OpenLazy(path string) (*Model, error) {
	if isHFDir(path) {
		return openHFWith(path, true)
	}
	return Open(path)
}

type hfLoader struct {
	dir, arch, hfClass string
	cfg, rope          hfConfig
	m                  *Model
	src                []srcTensor
	blocks             int64
	bad                error // first out-of-range hyperparameter
	lazy               bool  // stack experts on demand (OpenLazy)
}

func (l *hfLoader) errf(format string, a ...any) error {
	return fmt.Errorf("%s: %s", l.dir, fmt.Sprintf(format, a...))
}

func (l *hfLoader) set32(key string, v any) {
	switch x := v.(type) {
	case int64:
		if x < 0 || x > math.MaxUint32 {
			if l.bad == nil {
				l.bad = l.errf("config.json: value %d for %s is out of range", x, key)
			}
			return
		}
		l.m.Set(key, uint32(x))
	case float64:
		l.m.Set(key, float32(x))
	default:
		l.m.Set(key, v)
	}
}

// need reads a required integer hyperparameter.
func (l *hfLoader) need(keys ...string) (int64, error) {
	v, ok := l.cfg.int(keys...)
	if !ok || v < 0 || v > math.MaxUint32 {
		return 0, l.errf("config.json: missing or invalid %s", strings.Join(keys, "/"))
	}
	return v, nil
}

func (l *hfLoader) load() error {
	m, a := l.m, l.arch
	var err error
	if l.blocks, err = l.need("n_layers", "num_hidden_layers", "n_layer", "num_layers"); err != nil {
		return err
	}
	if l.blocks == 0 || l.blocks > 1<<16 {
		return l.errf("config.json: implausible layer count %d", l.blocks)
	}
	m.Set("general.architecture", a)
	m.Set("general.type", "model")
	m.Set("general.name", filepath.Base(filepath.Clean(l.dir)))
	switch a {
	case "gemma", "gemma2":
		err = l.gemmaParams()
	case "gemma3":
		err = l.gemma3Params()
	case "phi3":
		err = l.phi3Params()
	default:
		err = l.textParams()
	}
	if err != nil {
		return err
	}
	if l.bad != nil {
		return l.bad
	}
	if err := l.tensors(); err != nil {
		return err
	}
	m.Set("general.file_type", uint32(guessFileType(m)))
	if hasTokenizer(l.dir) {
		kvs, err := tokenizer.HFMetadata(l.dir)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			m.SetKV(kv)
		}
		if a == "gemma3" {
			l.trimEmbeddings()
		}
	}
	return nil
}

// trimEmbeddings drops token_embd rows past the tokenizer's vocabulary, as
// Gemma3Model.modify_tensors does. The rows are a prefix, so the data stays
// in the mapping.
func (l *hfLoader) trimEmbeddings() {
	n := uint64(len(l.m.Strings("tokenizer.ggml.tokens")))
	t := l.m.Tensor("token_embd.weight")
	if t == nil || n == 0 || len(t.Shape) != 2 || n >= t.Shape[1] {
		return
	}
	rowBytes := uint64(len(t.Data)) / t.Shape[1]
	t.Shape = []uint64{t.Shape[0], n}
	t.Data = t.Data[:n*rowBytes]
}

// textParams mirrors TextModel.set_gguf_parameters plus the additions of
// LlamaModel and Qwen2MoeModel.
func (l *hfLoader) textParams() error {
	cfg, p := l.cfg, l.arch+"."
	l.set32(p+"block_count", l.blocks)
	if v, ok := cfg.int("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"); ok {
		l.set32(p+"context_length", v)
	}
	if v, ok := cfg.int("hidden_size", "n_embd", "dim"); ok {
		l.set32(p+"embedding_length", v)
	}
	if v, ok := cfg.int("intermediate_size", "n_inner", "hidden_dim"); ok {
		l.set32(p+"feed_forward_length", v)
	}
	if v, ok := cfg.int("num_attention_heads", "n_head", "n_heads"); ok {
		l.set32(p+"attention.head_count", v)
	}
	if v, ok := cfg.int("num_key_value_heads", "n_kv_heads"); ok {
		l.set32(p+"attention.head_count_kv", v)
	}
	rp := l.rope.fullRope()
	switch rt := strings.ToLower(rp.str("rope_type")); rt {
	case "", "default", "llama3", "dynamic":
	case "linear":
		if f, ok := rp.float("factor"); ok {
			l.m.Set(p+"rope.scaling.type", "linear")
			l.set32(p+"rope.scaling.factor", f)
		}
	case "yarn":
		if f, ok := rp.float("factor"); ok {
			l.m.Set(p+"rope.scaling.type", "yarn")
			l.set32(p+"rope.scaling.factor", f)
			if v, ok := rp.int("original_max_position_embeddings"); ok {
				l.set32(p+"rope.scaling.original_context_length", v)
			}
			if v, ok := rp.float("extrapolation_factor"); ok {
				l.set32(p+"rope.scaling.yarn_ext_factor", v)
			}
			if v, ok := rp.float("attention_factor", "attn_factor"); ok {
				l.set32(p+"rope.scaling.yarn_attn_factor", v)
			}
			if v, ok := rp.float("beta_fast"); ok {
				l.set32(p+"rope.scaling.yarn_beta_fast", v)
			}
			if v, ok := rp.float("beta_slow"); ok {
				l.set32(p+"rope.scaling.yarn_beta_slow", v)
			}
		}
	case "su", "longrope":
		l.m.Set(p+"rope.scaling.type", "longrope")
	default:
		return l.errf("config.json: unsupported rope_type %q", rt)
	}
	if v, ok := rp.float("rope_theta"); ok {
		l.set32(p+"rope.freq_base", v)
	}
	if v, ok := l.rope.obj("sliding_attention").float("rope_theta"); ok {
		l.set32(p+"rope.freq_base_swa", v)
	}
	if v, ok := cfg.float("rms_norm_eps", "norm_eps"); ok {
		l.set32(p+"attention.layer_norm_rms_epsilon", v)
	}
	if v, ok := cfg.float("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"); ok {
		l.set32(p+"attention.layer_norm_epsilon", v)
	}
	if v, ok := cfg.int("num_local_experts", "num_experts"); ok {
		l.set32(p+"expert_count", v)
	}
	if v, ok := cfg.int("num_experts_per_tok", "num_experts_per_token", "top_k_experts"); ok {
		l.set32(p+"expert_used_count", v)
	}
	if v, ok := cfg.int("head_dim"); ok {
		l.set32(p+"attention.key_length", v)
		l.set32(p+"attention.value_length", v)
	}
	switch l.arch {
	case "llama":
		v, err := l.need("vocab_size")
		if err != nil {
			return err
		}
		l.set32(p+"vocab_size", v)
		dim, err := l.headDim()
		if err != nil {
			return err
		}
		l.set32(p+"rope.dimension_count", dim)
	case "qwen3moe":
		if v, ok := cfg.int("moe_intermediate_size"); ok {
			l.set32(p+"expert_feed_forward_length", v)
		}
		if v, ok := cfg.int("shared_expert_intermediate_size"); ok {
			l.set32(p+"expert_shared_feed_forward_length", v)
		}
	}
	return nil
}

func (l *hfLoader) headDim() (int64, error) {
	if v, ok := l.cfg.int("head_dim"); ok {
		return v, nil
	}
	h, err := l.need("hidden_size")
	if err != nil {
		return 0, err
	}
	n, err := l.need("num_attention_heads")
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, l.errf("config.json: num_attention_heads is 0")
	}
	return h / n, nil
}

// gemmaParams mirrors GemmaModel/Gemma2Model.set_gguf_parameters (which do
// not call the generic one: no rope keys).
func (l *hfLoader) gemmaParams() error {
	cfg, p := l.cfg, l.arch+"."
	req := func(key string, keys ...string) error {
		v, err := l.need(keys...)
		if err == nil {
			l.set32(p+key, v)
		}
		return err
	}
	if err := req("context_length", "max_position_embeddings"); err != nil {
		return err
	}
	if err := req("embedding_length", "hidden_size"); err != nil {
		return err
	}
	l.set32(p+"block_count", l.blocks)
	if err := req("feed_forward_length", "intermediate_size"); err != nil {
		return err
	}
	if err := req("attention.head_count", "num_attention_heads"); err != nil {
		return err
	}
	if err := req("attention.head_count_kv", "num_key_value_heads", "num_attention_heads"); err != nil {
		return err
	}
	if v, ok := cfg.float("rms_norm_eps"); ok {
		l.set32(p+"attention.layer_norm_rms_epsilon", v)
	}
	hd, err := l.headDim()
	if err != nil {
		return err
	}
	l.set32(p+"attention.key_length", hd)
	l.set32(p+"attention.value_length", hd)
	if l.arch == "gemma2" {
		if v, ok := cfg.float("attn_logit_softcapping"); ok {
			l.set32(p+"attn_logit_softcapping", v)
		}
		if v, ok := cfg.float("final_logit_softcapping"); ok {
			l.set32(p+"final_logit_softcapping", v)
		}
		if v, ok := cfg.int("sliding_window"); ok {
			l.set32(p+"attention.sliding_window", v)
		}
	}
	return nil
}

// gemma3Params mirrors Gemma3Model.set_gguf_parameters. The rope base of
// the global layers comes from rope_parameters.full_attention in the newer
// config form. ferry also records the per-layer sliding/full pattern from
// layer_types (llama.cpp assumes every 6th layer is global), so a model
// whose layer_types differ still runs as transformers runs it.
func (l *hfLoader) gemma3Params() error {
	cfg, p := l.cfg, "gemma3."
	ctx, ok := cfg.int("max_position_embeddings")
	if !ok {
		ctx = 131072
	}
	l.set32(p+"context_length", ctx)
	v, err := l.need("hidden_size")
	if err != nil {
		return err
	}
	l.set32(p+"embedding_length", v)
	l.set32(p+"block_count", l.blocks)
	if v, err = l.need("intermediate_size"); err != nil {
		return err
	}
	l.set32(p+"feed_forward_length", v)
	heads, ok := cfg.int("num_attention_heads")
	if !ok {
		heads = 8
	}
	l.set32(p+"attention.head_count", heads)
	eps, ok := cfg.float("rms_norm_eps")
	if !ok {
		eps = 1e-6
	}
	l.set32(p+"attention.layer_norm_rms_epsilon", eps)
	hd, ok := cfg.int("head_dim")
	if !ok {
		hd = 256
	}
	l.set32(p+"attention.key_length", hd)
	l.set32(p+"attention.value_length", hd)
	theta, ok := l.rope.fullRope().float("rope_theta")
	if !ok {
		theta = 1e6
	}
	l.set32(p+"rope.freq_base", theta)
	if v, ok := l.rope.obj("sliding_attention").float("rope_theta"); ok {
		l.set32(p+"rope.freq_base_swa", v)
	}
	if v, ok := cfg.int("sliding_window"); ok {
		l.set32(p+"attention.sliding_window", v)
	}
	kv, ok := cfg.int("num_key_value_heads")
	if !ok {
		kv = 4
	}
	l.set32(p+"attention.head_count_kv", kv)
	rp := l.rope.fullRope()
	if rt := rp.str("rope_type"); rt == "linear" {
		if f, ok := rp.float("factor"); ok {
			l.m.Set(p+"rope.scaling.type", "linear")
			l.set32(p+"rope.scaling.factor", f)
		}
	} else if rt != "" && rt != "default" {
		return l.errf("config.json: gemma3 rope_type %q is not supported (llama.cpp supports linear only)", rt)
	}
	if lt := cfg.strings("layer_types"); len(lt) == int(l.blocks) {
		pat := make([]bool, len(lt))
		for i, t := range lt {
			pat[i] = t == "sliding_attention"
		}
		l.m.Set(p+"attention.sliding_window_pattern", pat)
	} else if n, ok := cfg.int("sliding_window_pattern", "_sliding_window_pattern"); ok && n > 0 {
		// Older configs: every n-th layer is global, as transformers
		// derives layer_types from it.
		pat := make([]bool, l.blocks)
		for i := range pat {
			pat[i] = (int64(i)+1)%n != 0
		}
		l.m.Set(p+"attention.sliding_window_pattern", pat)
	}
	return nil
}

// phi3Params mirrors Phi3MiniModel.set_gguf_parameters.
func (l *hfLoader) phi3Params() error {
	cfg, p := l.cfg, "phi3."
	nEmbd, err := l.need("hidden_size", "n_embd")
	if err != nil {
		return err
	}
	nHead, err := l.need("num_attention_heads", "n_head")
	if err != nil {
		return err
	}
	nKV, err := l.need("num_key_value_heads", "n_head_kv")
	if err != nil {
		return err
	}
	ctx, err := l.need("n_positions", "max_position_embeddings")
	if err != nil {
		return err
	}
	orig, ok := cfg.int("original_max_position_embeddings")
	if !ok {
		// The newer config form keeps it with the rope parameters.
		if orig, ok = l.rope.int("original_max_position_embeddings"); !ok || orig <= 0 {
			return l.errf("config.json: missing original_max_position_embeddings")
		}
	}
	ff, err := l.need("intermediate_size")
	if err != nil {
		return err
	}
	if nHead == 0 {
		return l.errf("config.json: num_attention_heads is 0")
	}
	rot, ok := cfg.float("partial_rotary_factor")
	if !ok {
		if rot, ok = l.rope.float("partial_rotary_factor"); !ok {
			rot = 1
		}
	}
	ropeDims := int64(rot*float64(nEmbd)) / nHead
	l.set32(p+"context_length", ctx)
	l.set32(p+"rope.scaling.original_context_length", orig)
	l.set32(p+"embedding_length", nEmbd)
	l.set32(p+"feed_forward_length", ff)
	l.set32(p+"block_count", l.blocks)
	l.set32(p+"attention.head_count", nHead)
	l.set32(p+"attention.head_count_kv", nKV)
	if v, ok := cfg.float("rms_norm_eps"); ok {
		l.set32(p+"attention.layer_norm_rms_epsilon", v)
	} else {
		return l.errf("config.json: missing rms_norm_eps")
	}
	l.set32(p+"rope.dimension_count", ropeDims)
	theta, ok := l.rope.fullRope().float("rope_theta")
	if !ok {
		return l.errf("config.json: missing rope_theta")
	}
	l.set32(p+"rope.freq_base", theta)
	sw, _ := cfg.int("sliding_window")
	l.set32(p+"attention.sliding_window", sw)

	// Long-context (LongRoPE) models carry per-dimension factors.
	rs := cfg.obj("rope_scaling")
	if rs == nil {
		if rt := l.rope.str("rope_type"); rt == "longrope" || rt == "su" || rt == "yarn" {
			rs = l.rope
		}
	}
	if rs == nil {
		return nil
	}
	rt := strings.ToLower(rs.str("rope_type"))
	if rt == "" {
		rt = strings.ToLower(rs.str("type"))
	}
	scale := float64(ctx) / float64(orig)
	var attn float64
	switch rt {
	case "su", "longrope":
		attn = 1
		if scale > 1 {
			attn = math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig)))
		}
	case "yarn":
		attn = 1
		if scale > 1 {
			attn = 0.1*math.Log(scale) + 1
		}
	case "", "default":
		return nil
	default:
		return l.errf("config.json: phi3 rope scaling type %q is not supported", rt)
	}
	l.set32(p+"rope.scaling.attn_factor", attn)
	long, short := floatList(rs["long_factor"]), floatList(rs["short_factor"])
	if long == nil || short == nil || len(long) != len(short) || int64(len(long))*2 != ropeDims {
		return l.errf("config.json: rope_scaling long_factor/short_factor must both have %d values", ropeDims/2)
	}
	l.addF32("rope_factors_long.weight", long)
	l.addF32("rope_factors_short.weight", short)
	return nil
}

func floatList(v any) []float32 {
	a, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]float32, len(a))
	for i, x := range a {
		n, ok := x.(interface{ Float64() (float64, error) })
		if !ok {
			return nil
		}
		f, err := n.Float64()
		if err != nil {
			return nil
		}
		out[i] = float32(f)
	}
	return out
}

func (l *hfLoader) addF32(name string, v []float32) {
	l.m.AddTensor(&Tensor{Name: name, Type: quant.F32, Shape: []uint64{uint64(len(v))}, Data: f32Bytes(v)})
}

// stDTypes maps safetensors dtypes to GGUF tensor types.
var stDTypes = map[safetensors.DType]quant.Type{
	safetensors.F32: quant.F32, safetensors.F16: quant.F16, safetensors.BF16: quant.BF16,
	safetensors.F64: quant.F64, safetensors.I8: quant.I8, safetensors.I16: quant.I16,
	safetensors.I32: quant.I32, safetensors.I64: quant.I64,
}

var (
	hfLayerRe  = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)
	hfExpertRe = regexp.MustCompile(`^(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(w1|w2|w3|gate_proj|up_proj|down_proj)\.weight$`)
)

// hfLayerNames maps the per-layer part of a transformers tensor name to
// llama.cpp's (gguf-py tensor_mapping.py).
var hfLayerNames = map[string]string{
	"input_layernorm.weight":            "attn_norm.weight",
	"post_attention_layernorm.weight":   "ffn_norm.weight",
	"pre_feedforward_layernorm.weight":  "ffn_norm.weight",
	"post_feedforward_layernorm.weight": "post_ffw_norm.weight",
	"self_attn.q_proj.weight":           "attn_q.weight",
	"self_attn.q_proj.bias":             "attn_q.bias",
	"self_attn.k_proj.weight":           "attn_k.weight",
	"self_attn.k_proj.bias":             "attn_k.bias",
	"self_attn.v_proj.weight":           "attn_v.weight",
	"self_attn.v_proj.bias":             "attn_v.bias",
	"self_attn.o_proj.weight":           "attn_output.weight",
	"self_attn.o_proj.bias":             "attn_output.bias",
	"self_attn.qkv_proj.weight":         "attn_qkv.weight",
	"self_attn.q_norm.weight":           "attn_q_norm.weight",
	"self_attn.k_norm.weight":           "attn_k_norm.weight",
	"mlp.gate_proj.weight":              "ffn_gate.weight",
	"mlp.up_proj.weight":                "ffn_up.weight",
	"mlp.down_proj.weight":              "ffn_down.weight",
	"mlp.gate_up_proj.weight":           "ffn_up.weight", // Phi-3: kept fused
	"block_sparse_moe.gate.weight":      "ffn_gate_inp.weight",
	"mlp.gate.weight":                   "ffn_gate_inp.weight",
	// mlx-lm stores experts already stacked ([n_expert, out, in]).
	"mlp.switch_mlp.gate_proj.weight":              "ffn_gate_exps.weight",
	"mlp.switch_mlp.up_proj.weight":                "ffn_up_exps.weight",
	"mlp.switch_mlp.down_proj.weight":              "ffn_down_exps.weight",
	"block_sparse_moe.switch_mlp.gate_proj.weight": "ffn_gate_exps.weight",
	"block_sparse_moe.switch_mlp.up_proj.weight":   "ffn_up_exps.weight",
	"block_sparse_moe.switch_mlp.down_proj.weight": "ffn_down_exps.weight",
}

var hfExpertKinds = map[string]string{
	"w1": "ffn_gate_exps", "gate_proj": "ffn_gate_exps",
	"w3": "ffn_up_exps", "up_proj": "ffn_up_exps",
	"w2": "ffn_down_exps", "down_proj": "ffn_down_exps",
}

// hfName strips the wrappers multimodal checkpoints add around the text
// model and reports tensors that belong to other towers.
func hfName(name string) (string, bool) {
	for _, p := range []string{"vision_tower.", "multi_modal_projector.", "multimodal_projector.", "vision_model.", "model.vision_tower.", "model.multi_modal_projector.", "audio_tower."} {
		if strings.HasPrefix(name, p) {
			return "", false
		}
	}
	name = strings.Replace(name, "model.language_model.", "model.", 1)
	name = strings.Replace(name, "language_model.model.", "model.", 1)
	if strings.HasPrefix(name, "language_model.") {
		name = strings.TrimPrefix(name, "language_model.")
	}
	return name, true
}

// srcTensor is one tensor of the source checkpoint under its transformers
// name, Shape in PyTorch order. For plain HF folders Data aliases the
// mapping; the MLX loader supplies repacked or dequantized tensors.
type srcTensor struct {
	Name  string
	Type  quant.Type
	Shape []uint64
	Data  []byte
}

func (s *srcTensor) size() int { return len(s.Data) }

// hfSources lists a safetensors set as source tensors.
func hfSources(set *safetensors.Set) ([]srcTensor, error) {
	out := make([]srcTensor, 0, len(set.Names()))
	for _, name := range set.Names() {
		ref, _ := set.Get(name)
		typ, ok := stDTypes[ref.DType]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q: dtype %s is not supported (ferry loads F32, F16, BF16, F64 and integer tensors)", ref.File.Path, name, ref.DType)
		}
		out = append(out, srcTensor{Name: name, Type: typ, Shape: ref.Shape, Data: ref.Data()})
	}
	return out, nil
}

type expertPart struct {
	ref *srcTensor
	idx int
}

func (l *hfLoader) tensors() error {
	isGemma := strings.HasPrefix(l.arch, "gemma")
	experts := map[string][]expertPart{} // GGUF name -> experts
	for i := range l.src {
		ref := &l.src[i]
		name := ref.Name
		hn, keep := hfName(name)
		if !keep {
			continue
		}
		var out string
		switch hn {
		case "model.embed_tokens.weight":
			out = "token_embd.weight"
		case "model.norm.weight":
			out = "output_norm.weight"
		case "lm_head.weight":
			out = "output.weight"
		default:
			mm := hfLayerRe.FindStringSubmatch(hn)
			if mm == nil {
				return l.errf("tensor %q: no llama.cpp name for it in architecture %s (%s)", name, l.arch, l.hfClass)
			}
			bid, err := strconv.Atoi(mm[1])
			if err != nil || int64(bid) >= l.blocks {
				return l.errf("tensor %q: layer %s is out of range (config.json has %d layers)", name, mm[1], l.blocks)
			}
			rest := mm[2]
			if strings.HasSuffix(rest, "rotary_emb.inv_freq") {
				continue // recomputed by every runtime; llama.cpp skips it too
			}
			if em := hfExpertRe.FindStringSubmatch(rest); em != nil {
				x, err := strconv.Atoi(em[1])
				if err != nil || x > 1<<16 {
					return l.errf("tensor %q: bad expert index", name)
				}
				key := fmt.Sprintf("blk.%d.%s.weight", bid, hfExpertKinds[em[2]])
				experts[key] = append(experts[key], expertPart{ref, x})
				continue
			}
			g, ok := hfLayerNames[rest]
			if ok && (l.arch == "gemma2" || l.arch == "gemma3") && rest == "post_attention_layernorm.weight" {
				g = "post_attention_norm.weight"
			}
			if !ok {
				return l.errf("tensor %q: no llama.cpp name for it in architecture %s (%s)", name, l.arch, l.hfClass)
			}
			out = fmt.Sprintf("blk.%d.%s", bid, g)
		}
		t := &Tensor{Name: out, Type: ref.Type, Shape: reverse(ref.Shape), Data: ref.Data}
		if len(t.Shape) == 0 {
			t.Shape = []uint64{1}
		}
		if isGemma && strings.HasSuffix(hn, "norm.weight") {
			nt, err := gemmaNorm(t)
			if err != nil {
				return l.errf("tensor %q: %v", name, err)
			}
			t = nt
		}
		if l.m.Tensor(out) != nil {
			return l.errf("tensor %q maps to %s, which another tensor already maps to", name, out)
		}
		l.m.AddTensor(t)
	}
	if err := l.stackExperts(experts); err != nil {
		return err
	}
	if l.arch == "llama" {
		l.m.RopeNeoX = true
		if err := l.llama3RopeFreqs(); err != nil {
			return err
		}
	}
	sort.SliceStable(l.m.Tensors, func(i, j int) bool { return tensorOrder(l.m.Tensors[i].Name) < tensorOrder(l.m.Tensors[j].Name) })
	return nil
}

// tensorOrder sorts tensors the way llama.cpp's converter emits them: token
// embedding first, then layers in order, then the output head, with
// generated tensors (rope factors) before the layers.
func tensorOrder(name string) string {
	switch {
	case strings.HasPrefix(name, "token_embd"):
		return "0" + name
	case strings.HasPrefix(name, "rope_"):
		return "1" + name
	case strings.HasPrefix(name, "blk."):
		rest := name[4:]
		i := strings.IndexByte(rest, '.')
		n, _ := strconv.Atoi(rest[:max(i, 0)])
		return fmt.Sprintf("2%08d%s", n, rest[i:])
	}
	return "3" + name
}

func reverse(s []uint64) []uint64 {
	out := make([]uint64, len(s))
	for i, d := range s {
		out[len(s)-1-i] = d
	}
	return out
}

// gemmaNorm returns 1+w as F32. The addition is rounded through the source
// type first, as `data_torch + 1` does in llama.cpp's converter.
func gemmaNorm(t *Tensor) (*Tensor, error) {
	n := int(t.Elements())
	out := make([]float32, n)
	switch t.Type {
	case quant.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])) + 1
		}
	case quant.BF16:
		for i := range out {
			out[i] = quant.BF16ToF32(quant.F32ToBF16(quant.BF16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:])) + 1))
		}
	case quant.F16:
		for i := range out {
			out[i] = quant.F16ToF32(quant.F32ToF16(quant.F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:])) + 1))
		}
	default:
		return nil, fmt.Errorf("norm weight of type %s", t.Type)
	}
	return &Tensor{Name: t.Name, Type: quant.F32, Shape: t.Shape, Data: f32Bytes(out)}, nil
}

// stackExperts turns one [out, in] tensor per expert into llama.cpp's
// {in, out, n_expert} tensor (torch.stack(dim=0) in the converter).
func (l *hfLoader) stackExperts(experts map[string][]expertPart) error {
	names := make([]string, 0, len(experts))
	for k := range experts {
		names = append(names, k)
	}
	sort.Strings(names)
	want, _ := l.cfg.int("num_local_experts", "num_experts")
	for _, name := range names {
		parts := experts[name]
		sort.Slice(parts, func(i, j int) bool { return parts[i].idx < parts[j].idx })
		if want > 0 && int64(len(parts)) != want {
			return l.errf("%s: found %d experts, config.json says %d", name, len(parts), want)
		}
		first := parts[0].ref
		if len(first.Shape) != 2 {
			return l.errf("tensor %q: expert weight has shape %v, want 2 dimensions", first.Name, first.Shape)
		}
		for i, p := range parts {
			if p.idx != i {
				return l.errf("%s: expert %d is missing", name, i)
			}
			if p.ref.Type != first.Type || len(p.ref.Shape) != 2 || p.ref.Shape[0] != first.Shape[0] || p.ref.Shape[1] != first.Shape[1] {
				return l.errf("tensor %q: shape %v %s differs from expert 0's %v %s", p.ref.Name, p.ref.Shape, p.ref.Type, first.Shape, first.Type)
			}
		}
		stack := func() ([]byte, error) {
			buf := make([]byte, 0, first.size()*len(parts))
			for _, p := range parts {
				buf = append(buf, p.ref.Data...)
			}
			return buf, nil
		}
		t := &Tensor{Name: name, Type: first.Type, Shape: []uint64{first.Shape[1], first.Shape[0], uint64(len(parts))}}
		if l.lazy {
			t.Load = stack
		} else {
			t.Data, _ = stack()
		}
		l.m.AddTensor(t)
	}
	return nil
}

// llama3RopeFreqs generates rope_freqs.weight for Llama 3.x rope scaling,
// computed in float32 as LlamaModel.generate_extra_tensors does.
// original_max_position_embeddings is read from the rope parameters (where
// transformers reads it) before the top level; llama.cpp's converter reads
// only the top level and falls back to 8192, which is the same value for
// every released Llama 3 checkpoint.
func (l *hfLoader) llama3RopeFreqs() error {
	rp := l.rope.fullRope()
	if strings.ToLower(rp.str("rope_type")) != "llama3" {
		return nil
	}
	base, ok := rp.float("rope_theta")
	if !ok {
		base = 10000
	}
	dim, err := l.headDim()
	if err != nil {
		return err
	}
	if dim <= 0 || dim%2 != 0 || dim > 1<<16 {
		return l.errf("config.json: head dimension %d is not a positive even number", dim)
	}
	factor := flt(rp, 8, "factor")
	lowF := flt(rp, 1, "low_freq_factor")
	highF := flt(rp, 4, "high_freq_factor")
	oldCtx, ok := rp.float("original_max_position_embeddings")
	if !ok {
		oldCtx = flt(l.cfg, 8192, "original_max_position_embeddings")
	}
	l.addF32("rope_freqs.weight", Llama3RopeFactors(int(dim), base, factor, lowF, highF, oldCtx))
	return nil
}

func flt(c hfConfig, def float64, keys ...string) float64 {
	if v, ok := c.float(keys...); ok {
		return v
	}
	return def
}

// Llama3RopeFactors computes llama.cpp's rope_freqs tensor for Llama 3 rope
// scaling: one factor per pair of dimensions, in float32 arithmetic like the
// converter's torch code.
func Llama3RopeFactors(dim int, base, factor, lowFreqFactor, highFreqFactor, oldContext float64) []float32 {
	lowWavelen := float32(oldContext / lowFreqFactor)
	highWavelen := float32(oldContext / highFreqFactor)
	out := make([]float32, 0, dim/2)
	for i := 0; i < dim; i += 2 {
		freq := 1 / float32(math.Pow(base, float64(float32(i)/float32(dim))))
		wavelen := float32(2*math.Pi) / freq
		switch {
		case wavelen < highWavelen:
			out = append(out, 1)
		case wavelen > lowWavelen:
			out = append(out, float32(factor))
		default:
			smooth := (float32(oldContext)/wavelen - float32(lowFreqFactor)) / float32(highFreqFactor-lowFreqFactor)
			out = append(out, 1/((1-smooth)/float32(factor)+smooth))
		}
	}
	return out
}

// guessFileType is llama.cpp's general.file_type for the tensors as loaded:
// the type of the first matrix (ALL_F32 = 0, MOSTLY_F16 = 1,
// MOSTLY_Q4_1 = 3, MOSTLY_BF16 = 32).
func guessFileType(m *Model) int {
	for _, t := range m.Tensors {
		if len(t.Shape) < 2 {
			continue
		}
		switch t.Type {
		case quant.F16:
			return 1
		case quant.BF16:
			return 32
		case quant.F32:
			return 0
		case quant.Q4_1:
			return 3
		}
	}
	return 0
}
