// Package engine runs a model.Model on the CPU: the forward pass of the Llama
// family (llama, mistral, mixtral, qwen2, qwen3, qwen3moe, gemma, gemma2,
// gemma3, phi3), a paged KV cache shared by several sequences, and a step
// function over a batch of sequences for continuous batching.
//
// Weights are used where they lie (usually a read-only file mapping) in their
// stored type; activations are quantized to the weight type's dot-product
// format the way llama.cpp does, and everything accumulates in float32.
//
// An Engine is not safe for concurrent use: one goroutine (the scheduler)
// calls Step; the engine parallelises each step on its own worker pool.
package engine

import (
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
)

// Options tune an Engine. The zero value picks sensible defaults.
type Options struct {
	// Threads is the worker count; 0 means the number of physical cores.
	Threads int
	// Context is the maximum length of one sequence in tokens; 0 means the
	// model's training context, capped at 4096.
	Context int
	// CacheTokens is the KV-cache capacity shared by all sequences; 0 means
	// Context (room for one full-length sequence).
	CacheTokens int
	// BatchSize is the most tokens one forward chunk processes; longer steps
	// are split. 0 means 512.
	BatchSize int
	// KVCacheType is "f16" (default), "q8_0" or "f32".
	KVCacheType string
	// Observe, when set, is called with the float32 input of every weight
	// matrix product (see Observer); importance-matrix collection uses it.
	// Nil costs nothing.
	Observe Observer
}

// Observer receives the input of one weight-matrix product, before it is
// converted to the weight's dot-product format: rows activation rows of
// cols values each (x is rows×cols, row-major), multiplied by the tensor
// named weight (llama.cpp's GGUF name, e.g. "blk.3.attn_q.weight";
// "output.weight" sees only the rows whose logits were asked for). For one
// expert of a stacked MoE tensor ("blk.N.ffn_gate_exps.weight"), expert is
// its index, experts the tensor's expert count, and x holds just the
// (token, slot) rows routed to that expert, in token order; for any other
// matrix expert is 0 and experts 1. x is engine scratch memory, valid only
// during the call. The observer runs on the goroutine that called Step.
type Observer func(weight string, expert, experts int, x []float32, rows, cols int)

// Engine is a loaded model ready to run.
type Engine struct {
	cfg  Config
	fam  family
	opts Options
	mdl  *model.Model

	tokEmbd    linear
	output     linear
	outputNorm []float32
	layers     []layer
	ropes      [2]*rope // global, sliding-window

	pool *pool
	kv   *kvCache
	sc   *scratch

	nextSeqID int
}

type layer struct {
	sliding bool

	attnNorm, attnPostNorm []float32
	wq, wk, wv, wqkv, wo   linear
	bq, bk, bv, bo         []float32
	qNorm, kNorm           []float32

	ffnNorm, ffnPostNorm []float32
	gate, up, down       linear // dense; up is gate‖up when fusedGateUp
	fusedGateUp          bool

	router                   linear
	gateExps, upExps, downEx linear
	// Per-expert views of the stacked tensors, built once so routing a
	// token allocates nothing.
	gateE, upE, downE []linear
}

// Load prepares m for inference. The model must stay open while the engine
// is used; Close the engine before the model.
func Load(m *model.Model, opts Options) (*Engine, error) {
	cfg, fam, err := configFromModel(m)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, fam: fam, mdl: m}
	if opts.Threads <= 0 {
		opts.Threads = physicalCores()
	}
	if opts.Context <= 0 {
		opts.Context = cfg.ContextTrain
		if opts.Context <= 0 || opts.Context > 4096 {
			opts.Context = 4096
		}
	}
	if opts.CacheTokens <= 0 {
		opts.CacheTokens = opts.Context
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	if opts.KVCacheType == "" {
		opts.KVCacheType = "f16"
	}
	e.opts = opts
	if err := e.loadTensors(); err != nil {
		return nil, err
	}
	cfg = e.cfg

	var kvt quant.Type
	switch strings.ToLower(opts.KVCacheType) {
	case "f16":
		kvt = quant.F16
	case "f32":
		kvt = quant.F32
	case "q8_0":
		kvt = quant.Q8_0
		if cfg.HeadDim%32 != 0 || cfg.ValueDim%32 != 0 {
			return nil, fmt.Errorf("q8_0 KV cache needs head widths that are multiples of 32; this model has %d/%d (use f16)", cfg.HeadDim, cfg.ValueDim)
		}
	default:
		return nil, fmt.Errorf("KV cache type %q is not supported (f16, q8_0, f32)", opts.KVCacheType)
	}
	e.kv = newKVCache(kvt, cfg.Layers, cfg.KVHeads, cfg.KVHeads*cfg.HeadDim, cfg.KVHeads*cfg.ValueDim, opts.CacheTokens)
	e.pool = newPool(opts.Threads)
	e.sc = newScratch(e)
	return e, nil
}

// Close stops the worker pool and drops the cache. The model is not closed.
func (e *Engine) Close() error {
	if e.pool != nil {
		e.pool.close()
	}
	e.kv = nil
	return nil
}

// Config returns the hyperparameters in use.
func (e *Engine) Config() Config { return e.cfg }

// Options returns the options after defaults were applied.
func (e *Engine) Options() Options { return e.opts }

// Vocab is the number of logits per position.
func (e *Engine) Vocab() int { return e.cfg.Vocab }

// Model returns the model the engine runs.
func (e *Engine) Model() *model.Model { return e.mdl }

func (e *Engine) loadTensors() error {
	m := e.mdl
	c := &e.cfg
	get := func(name string, required bool) (*model.Tensor, error) {
		t := m.Tensor(name)
		if t == nil && required {
			return nil, fmt.Errorf("%s: tensor %s is missing (architecture %s)", m.Path, name, c.Arch)
		}
		return t, nil
	}
	vec := func(name string, n int, required bool) ([]float32, error) {
		t, err := get(name, required)
		if err != nil || t == nil {
			return nil, err
		}
		return vecF32(t, n)
	}
	mat := func(name string, in, out, experts int, required bool) (linear, error) {
		t, err := get(name, required)
		if err != nil || t == nil {
			return linear{}, err
		}
		return newLinear(t, in, out, experts)
	}

	te, err := get("token_embd.weight", true)
	if err != nil {
		return err
	}
	if len(te.Shape) < 2 || te.Shape[0] != uint64(c.Dim) || te.Shape[1] == 0 || te.Shape[1] > 1<<24 {
		return fmt.Errorf("%s: tensor token_embd.weight: shape %v, expected [%d, vocab]", m.Path, te.Shape, c.Dim)
	}
	c.Vocab = int(te.Shape[1])
	if e.tokEmbd, err = newLinear(te, c.Dim, c.Vocab, 0); err != nil {
		return err
	}
	if m.Tensor("output.weight") != nil {
		if e.output, err = mat("output.weight", c.Dim, c.Vocab, 0, true); err != nil {
			return err
		}
	} else {
		e.output = e.tokEmbd // tied embeddings
	}
	if e.outputNorm, err = vec("output_norm.weight", c.Dim, true); err != nil {
		return err
	}

	var factors []float32
	factorsName := "rope_freqs.weight"
	if c.Rope.Scaling == "longrope" {
		// Phi-3 long-context models: llama.cpp's choice between the two
		// factor sets, by the context actually used.
		factorsName = "rope_factors_short.weight"
		if e.opts.Context > c.Rope.OrigCtx {
			factorsName = "rope_factors_long.weight"
		}
		if m.Tensor(factorsName) == nil {
			return fmt.Errorf("%s: tensor %s is missing (longrope scaling)", m.Path, factorsName)
		}
	}
	if t := m.Tensor(factorsName); t != nil {
		if factors, err = vecF32(t, c.Rope.Dim/2); err != nil {
			return err
		}
	}
	e.ropes[0] = newRope(c.Rope, c.Rope.Base, factors)
	swa := c.Rope
	if e.fam.swaBase != 0 {
		swa.Scaling, swa.Factor = "", 1 // Gemma 3's local layers are unscaled
	}
	e.ropes[1] = newRope(swa, c.Rope.BaseSWA, factors)

	sliding, err := e.slidingLayers()
	if err != nil {
		return err
	}
	qDim, kDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	e.layers = make([]layer, c.Layers)
	for i := range e.layers {
		L := &e.layers[i]
		L.sliding = sliding[i]
		p := fmt.Sprintf("blk.%d.", i)
		if L.attnNorm, err = vec(p+"attn_norm.weight", c.Dim, true); err != nil {
			return err
		}
		if L.attnPostNorm, err = vec(p+"post_attention_norm.weight", c.Dim, false); err != nil {
			return err
		}
		if m.Tensor(p+"attn_qkv.weight") != nil {
			if L.wqkv, err = mat(p+"attn_qkv.weight", c.Dim, qDim+kDim+vDim, 0, true); err != nil {
				return err
			}
		} else {
			if L.wq, err = mat(p+"attn_q.weight", c.Dim, qDim, 0, true); err != nil {
				return err
			}
			if L.wk, err = mat(p+"attn_k.weight", c.Dim, kDim, 0, true); err != nil {
				return err
			}
			if L.wv, err = mat(p+"attn_v.weight", c.Dim, vDim, 0, true); err != nil {
				return err
			}
		}
		if L.wo, err = mat(p+"attn_output.weight", c.Heads*c.ValueDim, c.Dim, 0, true); err != nil {
			return err
		}
		if L.bq, err = vec(p+"attn_q.bias", qDim, false); err != nil {
			return err
		}
		if L.bk, err = vec(p+"attn_k.bias", kDim, false); err != nil {
			return err
		}
		if L.bv, err = vec(p+"attn_v.bias", vDim, false); err != nil {
			return err
		}
		if L.bo, err = vec(p+"attn_output.bias", c.Dim, false); err != nil {
			return err
		}
		if L.qNorm, err = vec(p+"attn_q_norm.weight", c.HeadDim, false); err != nil {
			return err
		}
		if L.kNorm, err = vec(p+"attn_k_norm.weight", c.HeadDim, false); err != nil {
			return err
		}
		if L.ffnNorm, err = vec(p+"ffn_norm.weight", c.Dim, true); err != nil {
			return err
		}
		if L.ffnPostNorm, err = vec(p+"post_ffw_norm.weight", c.Dim, false); err != nil {
			return err
		}
		if m.Tensor(p+"ffn_gate_inp.weight") != nil {
			if c.Experts == 0 {
				return fmt.Errorf("%s: tensor %sffn_gate_inp.weight present but %s.expert_count is missing", m.Path, p, c.Arch)
			}
			eff := c.ExpertFFN
			if eff == 0 {
				eff = c.FFN
			}
			c.ExpertFFN = eff
			if L.router, err = mat(p+"ffn_gate_inp.weight", c.Dim, c.Experts, 0, true); err != nil {
				return err
			}
			if m.Tensor(p+"ffn_gate_exps.weight") == nil && m.Tensor(p+"ffn_gate.0.weight") != nil {
				// Older Mixtral GGUFs store one tensor per expert.
				for x := 0; x < c.Experts; x++ {
					var g, u, d linear
					if g, err = mat(fmt.Sprintf("%sffn_gate.%d.weight", p, x), c.Dim, eff, 0, true); err != nil {
						return err
					}
					if u, err = mat(fmt.Sprintf("%sffn_up.%d.weight", p, x), c.Dim, eff, 0, true); err != nil {
						return err
					}
					if d, err = mat(fmt.Sprintf("%sffn_down.%d.weight", p, x), eff, c.Dim, 0, true); err != nil {
						return err
					}
					L.gateE, L.upE, L.downE = append(L.gateE, g), append(L.upE, u), append(L.downE, d)
				}
				continue
			}
			if L.gateExps, err = mat(p+"ffn_gate_exps.weight", c.Dim, eff, c.Experts, true); err != nil {
				return err
			}
			if L.upExps, err = mat(p+"ffn_up_exps.weight", c.Dim, eff, c.Experts, true); err != nil {
				return err
			}
			if L.downEx, err = mat(p+"ffn_down_exps.weight", eff, c.Dim, c.Experts, true); err != nil {
				return err
			}
			for x := 0; x < c.Experts; x++ {
				L.gateE = append(L.gateE, L.gateExps.expert(x))
				L.upE = append(L.upE, L.upExps.expert(x))
				L.downE = append(L.downE, L.downEx.expert(x))
			}
			continue
		}
		if c.FFN <= 0 {
			return fmt.Errorf("%s: metadata %s.feed_forward_length is missing", m.Path, c.Arch)
		}
		if m.Tensor(p+"ffn_gate.weight") == nil && m.Tensor(p+"ffn_up.weight") != nil && len(m.Tensor(p+"ffn_up.weight").Shape) >= 2 && m.Tensor(p + "ffn_up.weight").Shape[1] == uint64(2*c.FFN) {
			L.fusedGateUp = true // Phi-3: gate and up in one matrix
			if L.up, err = mat(p+"ffn_up.weight", c.Dim, 2*c.FFN, 0, true); err != nil {
				return err
			}
		} else {
			if L.gate, err = mat(p+"ffn_gate.weight", c.Dim, c.FFN, 0, true); err != nil {
				return err
			}
			if L.up, err = mat(p+"ffn_up.weight", c.Dim, c.FFN, 0, true); err != nil {
				return err
			}
		}
		if L.down, err = mat(p+"ffn_down.weight", c.FFN, c.Dim, 0, true); err != nil {
			return err
		}
	}
	return nil
}

// slidingLayers decides which layers use the sliding window: from
// "<arch>.attention.sliding_window_pattern" (a period, or one bool per
// layer), else the family's default period, else all layers when a window
// is set.
func (e *Engine) slidingLayers() ([]bool, error) {
	c := &e.cfg
	out := make([]bool, c.Layers)
	if c.SlidingWindow <= 0 {
		return out, nil
	}
	key := c.Arch + ".attention.sliding_window_pattern"
	period := e.fam.swaPeriod
	if kv, ok := e.mdl.Metadata.Get(key); ok {
		if v, ok := e.mdl.Metadata.Uint(key); ok {
			period = int(v)
		} else if b := boolArray(kv.Value); b != nil {
			if len(b) != c.Layers {
				return nil, fmt.Errorf("%s: metadata %s has %d entries for %d layers", e.mdl.Path, key, len(b), c.Layers)
			}
			return b, nil
		} else {
			return nil, fmt.Errorf("%s: metadata %s: expected an integer or a bool array", e.mdl.Path, key)
		}
	}
	for i := range out {
		out[i] = period <= 0 || (i+1)%period != 0
	}
	return out, nil
}

func boolArray(v any) []bool {
	if a, ok := v.(gguf.Array); ok {
		b, _ := a.Values.([]bool)
		return b
	}
	return nil
}
