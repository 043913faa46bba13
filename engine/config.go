package engine

import (
	"fmt"
	"math"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
)

// family holds what differs between architectures that the tensors and
// metadata do not say themselves. Everything else (biases, q/k norms, fused
// projections, experts, post-norms) is detected from the tensors present.
type family struct {
	neox       bool    // rotate-half RoPE (otherwise GGUF llama's interleaved pairs)
	gelu       bool    // GELU (tanh) instead of SiLU in the gated FFN
	embedScale bool    // multiply embeddings by sqrt(dim) (Gemma)
	swaPeriod  int     // default sliding-window layer pattern: layer i is global when (i+1)%period == 0
	swaBase    float64 // RoPE base of sliding-window layers (0: same as global)
	normTopK   bool    // renormalise the selected experts' weights to sum to 1
}

var families = map[string]family{
	"llama":    {normTopK: true},
	"mistral":  {normTopK: true},
	"qwen2":    {neox: true},
	"qwen3":    {neox: true},
	"qwen3moe": {neox: true, normTopK: true},
	"gemma":    {neox: true, gelu: true, embedScale: true},
	"gemma2":   {neox: true, gelu: true, embedScale: true, swaPeriod: 2},
	"gemma3":   {neox: true, gelu: true, embedScale: true, swaPeriod: 6, swaBase: 10000},
	"phi3":     {neox: true},
}

// Config is a model's hyperparameters as the engine uses them.
type Config struct {
	Arch          string
	Dim           int // embedding width
	Layers        int
	Heads         int
	KVHeads       int
	HeadDim       int // key/query head width
	ValueDim      int // value head width
	FFN           int // dense feed-forward width
	Vocab         int
	ContextTrain  int // context length the model was trained with
	Eps           float32
	Experts       int
	ExpertsUsed   int
	ExpertFFN     int
	AttnSoftcap   float32 // 0: none
	FinalSoftcap  float32
	SlidingWindow int     // 0: none
	AttnScale     float32 // multiplier of q·k
	Rope          RopeConfig
}

// RopeConfig describes rotary position embeddings.
type RopeConfig struct {
	NeoX      bool
	Dim       int     // rotated dimensions per head (≤ HeadDim)
	Base      float64 // frequency base of global layers
	BaseSWA   float64 // of sliding-window layers
	Scaling   string  // "", "linear", "yarn", "llama3"
	Factor    float64
	OrigCtx   int
	LowFreq   float64 // llama3 scaling, when given as metadata
	HighFreq  float64
	ExtFactor float64 // yarn
	AttnFac   float64
	BetaFast  float64
	BetaSlow  float64
}

type meta struct {
	md   *gguf.Metadata
	arch string
	err  error
}

func (m *meta) uint(key string, def int, required bool) int {
	full := m.arch + "." + key
	if v, ok := m.md.Uint(full); ok {
		if v > 1<<31 {
			m.fail(fmt.Errorf("metadata %s = %d is out of range", full, v))
			return def
		}
		return int(v)
	}
	if kv, ok := m.md.Get(full); ok {
		// Per-layer arrays (allowed by llama.cpp for head counts): take the
		// first value when all layers agree.
		if a, ok := kv.Value.(gguf.Array); ok {
			if v, ok := uniformArray(a); ok {
				return v
			}
			m.fail(fmt.Errorf("metadata %s: per-layer values that differ are not supported", full))
			return def
		}
		m.fail(fmt.Errorf("metadata %s: expected an integer, got %v", full, kv.Type))
		return def
	}
	if required {
		m.fail(fmt.Errorf("metadata %s is missing", full))
	}
	return def
}

func uniformArray(a gguf.Array) (int, bool) {
	var vals []int
	switch v := a.Values.(type) {
	case []uint32:
		for _, x := range v {
			vals = append(vals, int(x))
		}
	case []int32:
		for _, x := range v {
			vals = append(vals, int(x))
		}
	case []uint64:
		for _, x := range v {
			vals = append(vals, int(x))
		}
	default:
		return 0, false
	}
	if len(vals) == 0 {
		return 0, false
	}
	for _, x := range vals {
		if x != vals[0] {
			return 0, false
		}
	}
	return vals[0], true
}

func (m *meta) float(key string, def float64) float64 {
	if v, ok := m.md.Float(m.arch + "." + key); ok {
		return v
	}
	return def
}

func (m *meta) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// configFromModel reads hyperparameters from GGUF-style metadata.
func configFromModel(mdl *model.Model) (Config, family, error) {
	arch := mdl.Arch()
	if arch == "" {
		return Config{}, family{}, fmt.Errorf("%s: metadata general.architecture is missing", mdl.Path)
	}
	fam, ok := families[arch]
	if !ok {
		return Config{}, family{}, fmt.Errorf("%s: architecture %q is not supported (supported: llama, mistral, mixtral (as llama), qwen2, qwen3, qwen3moe, gemma, gemma2, gemma3, phi3)", mdl.Path, arch)
	}
	m := &meta{md: &mdl.Metadata, arch: arch}
	c := Config{Arch: arch}
	c.Dim = m.uint("embedding_length", 0, true)
	c.Layers = m.uint("block_count", 0, true)
	c.Heads = m.uint("attention.head_count", 0, true)
	c.KVHeads = m.uint("attention.head_count_kv", c.Heads, false)
	c.FFN = m.uint("feed_forward_length", 0, false)
	c.ContextTrain = m.uint("context_length", 2048, false)
	c.Experts = m.uint("expert_count", 0, false)
	c.ExpertsUsed = m.uint("expert_used_count", 0, false)
	c.ExpertFFN = m.uint("expert_feed_forward_length", 0, false)
	c.SlidingWindow = m.uint("attention.sliding_window", 0, false)
	c.Eps = float32(m.float("attention.layer_norm_rms_epsilon", 1e-5))
	c.AttnSoftcap = float32(m.float("attn_logit_softcapping", 0))
	c.FinalSoftcap = float32(m.float("final_logit_softcapping", 0))
	if m.err != nil {
		return c, fam, fmt.Errorf("%s: %w", mdl.Path, m.err)
	}
	if c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 {
		return c, fam, fmt.Errorf("%s: inconsistent hyperparameters: embedding_length %d, block_count %d, head_count %d, head_count_kv %d", mdl.Path, c.Dim, c.Layers, c.Heads, c.KVHeads)
	}
	c.HeadDim = m.uint("attention.key_length", c.Dim/c.Heads, false)
	c.ValueDim = m.uint("attention.value_length", c.HeadDim, false)
	if c.HeadDim <= 0 || c.ValueDim <= 0 {
		return c, fam, fmt.Errorf("%s: bad head width %d/%d", mdl.Path, c.HeadDim, c.ValueDim)
	}
	if b, ok := mdl.Metadata.Bool(arch + ".expert_weights_norm"); ok {
		fam.normTopK = b
	}
	if c.Experts > 0 && (c.ExpertsUsed <= 0 || c.ExpertsUsed > c.Experts) {
		return c, fam, fmt.Errorf("%s: expert_used_count %d with expert_count %d", mdl.Path, c.ExpertsUsed, c.Experts)
	}
	// Attention scale: llama.cpp's "attention.scale" when present (Gemma's
	// query_pre_attn_scalar ends up there), else 1/sqrt(head width).
	def := 1 / math.Sqrt(float64(c.HeadDim))
	// GGUF does not carry Gemma's query_pre_attn_scalar; llama.cpp knows
	// that only the 27B models use hidden/heads instead of the head width,
	// and recognises them by depth. So does ferry.
	if arch == "gemma2" && c.Layers == 46 || arch == "gemma3" && c.Layers == 62 {
		def = 1 / math.Sqrt(float64(c.Dim/c.Heads))
	}
	c.AttnScale = float32(m.float("attention.scale", def))
	if v, ok := mdl.Metadata.Float(arch + ".attention.query_pre_attn_scalar"); ok && v > 0 {
		c.AttnScale = float32(1 / math.Sqrt(v))
	}

	r := &c.Rope
	r.NeoX = fam.neox || mdl.RopeNeoX
	r.Dim = m.uint("rope.dimension_count", c.HeadDim, false)
	r.Base = m.float("rope.freq_base", 10000)
	r.BaseSWA = m.float("rope.freq_base_swa", fam.swaBase)
	if r.BaseSWA == 0 {
		r.BaseSWA = r.Base
	}
	r.Scaling = mdl.Metadata.String(arch + ".rope.scaling.type")
	if r.Scaling == "none" {
		r.Scaling = ""
	}
	r.Factor = m.float("rope.scaling.factor", 0)
	if r.Factor == 0 {
		if s := m.float("rope.scale_linear", 0); s != 0 {
			r.Scaling, r.Factor = "linear", s
		}
	}
	r.OrigCtx = m.uint("rope.scaling.original_context_length", c.ContextTrain, false)
	r.LowFreq = m.float("rope.scaling.low_freq_factor", 1)
	r.HighFreq = m.float("rope.scaling.high_freq_factor", 4)
	r.ExtFactor = m.float("rope.scaling.yarn_ext_factor", 1)
	r.AttnFac = m.float("rope.scaling.attn_factor", 1)
	if r.Scaling == "yarn" {
		r.AttnFac = m.float("rope.scaling.yarn_attn_factor", r.AttnFac)
	}
	if r.AttnFac == 0 {
		r.AttnFac = 1
	}
	r.BetaFast = m.float("rope.scaling.yarn_beta_fast", 32)
	r.BetaSlow = m.float("rope.scaling.yarn_beta_slow", 1)
	if r.Dim <= 0 || r.Dim > c.HeadDim || r.Dim%2 != 0 {
		return c, fam, fmt.Errorf("%s: rope.dimension_count %d does not fit head width %d", mdl.Path, r.Dim, c.HeadDim)
	}
	if r.Factor == 0 {
		r.Factor = 1
	}
	switch r.Scaling {
	case "", "linear", "yarn", "llama3", "longrope":
	default:
		return c, fam, fmt.Errorf("%s: rope scaling type %q is not supported", mdl.Path, r.Scaling)
	}
	return c, fam, nil
}
