package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
)

// MLXOptions control writing an MLX folder.
type MLXOptions struct {
	// Type: "f16" (default), "bf16", "f32", "mlx-q4" or "mlx-q8".
	Type string
	// GroupSize for the affine quantization (default 64).
	GroupSize int
	Workers   int
	Progress  func(done, total int64)
	Context   context.Context
}

// mlxArchs maps llama.cpp architectures ferry can write as MLX folders to
// transformers' class and model_type.
var mlxArchs = map[string][2]string{
	"llama":    {"LlamaForCausalLM", "llama"},
	"mixtral":  {"MixtralForCausalLM", "mixtral"}, // llama with experts
	"qwen2":    {"Qwen2ForCausalLM", "qwen2"},
	"qwen3":    {"Qwen3ForCausalLM", "qwen3"},
	"qwen3moe": {"Qwen3MoeForCausalLM", "qwen3_moe"},
	"phi3":     {"Phi3ForCausalLM", "phi3"},
}

// mlxArch is the MLX model kind of m: GGUF calls Mixtral "llama".
func mlxArch(m *model.Model) string {
	a := m.Arch()
	if n, _ := m.ArchUint("expert_count"); a == "llama" && n > 1 {
		return "mixtral"
	}
	return a
}

// mlxMoENames are mlx-lm's names that differ from the dense ones, relative
// to the layer: stacked experts and routers, and Phi-3's fused projections.
var mlxMoENames = map[string]map[string]string{
	"phi3": {
		"attn_qkv.weight": "self_attn.qkv_proj.weight",
		"ffn_up.weight":   "mlp.gate_up_proj.weight",
	},
	"mixtral": {
		"ffn_gate_exps.weight": "block_sparse_moe.switch_mlp.gate_proj.weight",
		"ffn_up_exps.weight":   "block_sparse_moe.switch_mlp.up_proj.weight",
		"ffn_down_exps.weight": "block_sparse_moe.switch_mlp.down_proj.weight",
		"ffn_gate_inp.weight":  "block_sparse_moe.gate.weight",
	},
	"qwen3moe": {
		"ffn_gate_exps.weight": "mlp.switch_mlp.gate_proj.weight",
		"ffn_up_exps.weight":   "mlp.switch_mlp.up_proj.weight",
		"ffn_down_exps.weight": "mlp.switch_mlp.down_proj.weight",
		"ffn_gate_inp.weight":  "mlp.gate.weight",
	},
}

// hfLayerNames is the inverse of the HF loader's mapping for dense models.
var hfLayerNames = map[string]string{
	"attn_norm.weight":   "input_layernorm.weight",
	"ffn_norm.weight":    "post_attention_layernorm.weight",
	"attn_q.weight":      "self_attn.q_proj.weight",
	"attn_q.bias":        "self_attn.q_proj.bias",
	"attn_k.weight":      "self_attn.k_proj.weight",
	"attn_k.bias":        "self_attn.k_proj.bias",
	"attn_v.weight":      "self_attn.v_proj.weight",
	"attn_v.bias":        "self_attn.v_proj.bias",
	"attn_output.weight": "self_attn.o_proj.weight",
	"attn_q_norm.weight": "self_attn.q_norm.weight",
	"attn_k_norm.weight": "self_attn.k_norm.weight",
	"ffn_gate.weight":    "mlp.gate_proj.weight",
	"ffn_up.weight":      "mlp.up_proj.weight",
	"ffn_down.weight":    "mlp.down_proj.weight",
}

// mlxName maps a GGUF tensor name back to its transformers name, with
// mlx-lm's expert names for the MoE kinds.
func mlxName(kind, name string) (string, bool) {
	switch name {
	case "token_embd.weight":
		return "model.embed_tokens.weight", true
	case "output_norm.weight":
		return "model.norm.weight", true
	case "output.weight":
		return "lm_head.weight", true
	}
	if !strings.HasPrefix(name, "blk.") {
		return "", false
	}
	rest := name[4:]
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	hf, ok := hfLayerNames[rest[i+1:]]
	if moe, isMoE := mlxMoENames[kind][rest[i+1:]]; isMoE {
		hf, ok = moe, true
	}
	if !ok {
		return "", false
	}
	return "model.layers." + rest[:i] + "." + hf, true
}

// MLXFolder writes m as an MLX folder (model.safetensors + config.json, and
// the tokenizer files when the source is a folder that has them).
func MLXFolder(m *model.Model, dir string, opt MLXOptions) (err error) {
	arch, kind := m.Arch(), mlxArch(m)
	cls, ok := mlxArchs[kind]
	if !ok {
		return fmt.Errorf("%s: writing MLX is supported for llama, mistral, mixtral, qwen2, qwen3, qwen3moe and phi3 models, not %q", m.Path, arch)
	}
	typ := strings.ToLower(opt.Type)
	var floatType quant.Type = quant.F16
	bits := 0
	switch typ {
	case "", "f16":
	case "bf16":
		floatType = quant.BF16
	case "f32":
		floatType = quant.F32
	case "mlx-q2", "mlx-q3", "mlx-q4", "mlx-q5", "mlx-q6", "mlx-q8":
		bits = int(typ[len(typ)-1] - '0')
	default:
		return fmt.Errorf("--type %s: MLX output types are f16, bf16, f32 and mlx-q2, mlx-q3, mlx-q4, mlx-q5, mlx-q6, mlx-q8 (affine)", opt.Type)
	}
	gs := opt.GroupSize
	if gs == 0 {
		gs = 64
	}
	if bits > 0 && gs != 32 && gs != 64 && gs != 128 {
		return fmt.Errorf("--group-size %d: MLX supports 32, 64 and 128", gs)
	}
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	workers := workerCount(opt.Workers)
	unpermute := arch == "llama" && !m.RopeNeoX
	nHead, _ := m.ArchUint("attention.head_count")
	nKV, ok := m.ArchUint("attention.head_count_kv")
	if !ok {
		nKV = nHead
	}

	w := safetensors.NewWriter()
	w.Metadata = map[string]string{"format": "mlx"}
	var total int64
	for _, t := range m.Tensors {
		if t.Name == "rope_freqs.weight" {
			continue // config.json's rope_scaling
		}
		hf, ok := mlxName(kind, t.Name)
		if !ok {
			return fmt.Errorf("%s: tensor %q has no transformers name for an MLX %s model", m.Path, t.Name, arch)
		}
		t := t
		var perm []int
		if unpermute && (strings.Contains(t.Name, ".attn_q.") || strings.Contains(t.Name, ".attn_k.")) {
			heads := nHead
			if strings.Contains(t.Name, ".attn_k.") {
				heads = nKV
			}
			p, err := ropePermutation(t, heads)
			if err != nil {
				return err
			}
			perm = invert(p)
		}
		hfShape := reverse(t.Shape)
		// Routers stay in float, as mlx-lm's MoE models keep them precise.
		quantize := bits > 0 && (len(t.Shape) == 2 || len(t.Shape) == 3) && !strings.HasSuffix(t.Name, "norm.weight") &&
			!strings.HasSuffix(t.Name, "ffn_gate_inp.weight") && t.Shape[0]%uint64(gs) == 0
		if !quantize {
			to := floatType
			if err := w.Add(hf, stType(to), hfShape, func(o io.Writer) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				b, err := convertTensor(t, to, perm, workers)
				if err != nil {
					return err
				}
				_, err = o.Write(b)
				return err
			}); err != nil {
				return err
			}
			total += int64(t.Elements()) * int64(to.BytesPerBlock())
			continue
		}
		cols := int(t.Shape[0])
		rows := int(t.Elements()) / cols
		base := strings.TrimSuffix(hf, ".weight")
		codeShape := append(append([]uint64{}, hfShape[:len(hfShape)-1]...), uint64(cols*bits/32))
		// The three tensors of a quantized weight are written from one
		// quantization; it runs when the first of them is written (largest
		// element first: the U32 codes) and is kept until the last one.
		q := &mlxQuantized{t: t, perm: perm, bits: bits, gs: gs, dtype: floatType, workers: workers, ctx: ctx}
		groups := uint64(cols / gs)
		scaleShape := append(append([]uint64{}, hfShape[:len(hfShape)-1]...), groups)
		if err := w.Add(hf, safetensors.U32, codeShape, q.writer(0)); err != nil {
			return err
		}
		if err := w.Add(base+".scales", stType(floatType), scaleShape, q.writer(1)); err != nil {
			return err
		}
		if err := w.Add(base+".biases", stType(floatType), scaleShape, q.writer(2)); err != nil {
			return err
		}
		total += int64(rows*cols*bits/8) + 2*int64(floatType.BytesPerBlock())*int64(rows)*int64(groups)
	}
	cfg, err := mlxConfig(m, kind, cls, floatType, bits, gs)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if statErr != nil {
		// A folder this call created is removed again on failure (os.Remove
		// only removes it if nothing else was put there meanwhile).
		defer func() {
			if err != nil {
				for _, n := range []string{"model.safetensors", "config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json"} {
					os.Remove(filepath.Join(dir, n))
				}
				os.Remove(dir)
			}
		}()
	}
	f, err := atomicfile.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	defer f.Abort()
	var done int64
	if _, err := w.WriteToProgress(f, func(d, n int) {
		if opt.Progress != nil {
			done = total * int64(d) / int64(n)
			opt.Progress(done, total)
		}
	}); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := f.Commit(); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfg); err != nil {
		return err
	}
	if st, err := os.Stat(m.Path); err == nil && st.IsDir() {
		return copyTokenizerFiles(m.Path, dir)
	}
	if err := writeGGUFTokenizer(m, dir); err != nil {
		return fmt.Errorf("%s: writing tokenizer files: %w", m.Path, err)
	}
	return nil
}

func invert(p []int) []int {
	out := make([]int, len(p))
	for i, j := range p {
		out[j] = i
	}
	return out
}

func reverse(s []uint64) []uint64 {
	out := make([]uint64, len(s))
	for i, d := range s {
		out[len(s)-1-i] = d
	}
	return out
}

func stType(t quant.Type) safetensors.DType {
	switch t {
	case quant.F16:
		return safetensors.F16
	case quant.BF16:
		return safetensors.BF16
	}
	return safetensors.F32
}

// mlxQuantized holds one weight's MLX quantization between the writes of
// its codes, scales and biases.
type mlxQuantized struct {
	t       *model.Tensor
	perm    []int
	bits    int
	gs      int
	dtype   quant.Type // of the scales and biases, and the cast before quantizing
	workers int
	ctx     context.Context
	parts   [3][]byte
	left    int
}

func (q *mlxQuantized) writer(part int) func(io.Writer) error {
	return func(o io.Writer) error {
		if err := q.ctx.Err(); err != nil {
			return err
		}
		if q.parts[0] == nil && q.left == 0 {
			f32, err := convertTensor(q.t, quant.F32, q.perm, q.workers)
			if err != nil {
				return err
			}
			vals := make([]float32, len(f32)/4)
			for i := range vals {
				v := math.Float32frombits(binary.LittleEndian.Uint32(f32[4*i:]))
				// mlx-lm casts the model to its dtype before quantizing.
				switch q.dtype {
				case quant.F16:
					v = quant.F16ToF32(quant.F32ToF16(v))
				case quant.BF16:
					v = quant.BF16ToF32(quant.F32ToBF16(v))
				}
				vals[i] = v
			}
			cols := int(q.t.Shape[0])
			rows := len(vals) / cols
			q.parts[0], q.parts[1], q.parts[2], err = mlxQuantizeRows(vals, rows, cols, q.gs, q.bits, q.dtype, q.workers)
			if err != nil {
				return fmt.Errorf("tensor %q: %v", q.t.Name, err)
			}
			q.left = 3
		}
		b := q.parts[part]
		q.parts[part] = nil
		q.left--
		_, err := o.Write(b)
		return err
	}
}

// mlxQuantizeRows runs quant.MLXQuantize (MLX's own affine algorithm) on
// row ranges in parallel and joins the results.
func mlxQuantizeRows(w []float32, rows, cols, gs, bits int, dtype quant.Type, workers int) (codes, scales, biases []byte, err error) {
	rowCodes := quant.MLXPackedRowBytes(cols, bits)
	rowScales := cols / gs * dtype.BytesPerBlock()
	codes = make([]byte, rows*rowCodes)
	scales = make([]byte, rows*rowScales)
	biases = make([]byte, rows*rowScales)
	var mu sync.Mutex
	parallelRows(rows, workers, func(r0, r1 int) {
		c, s, b, e := quant.MLXQuantize(w[r0*cols:r1*cols], cols, gs, bits, dtype)
		if e != nil {
			mu.Lock()
			err = e
			mu.Unlock()
			return
		}
		copy(codes[r0*rowCodes:], c)
		copy(scales[r0*rowScales:], s)
		copy(biases[r0*rowScales:], b)
	})
	return codes, scales, biases, err
}

// parallelRows splits rows over workers goroutines.
func parallelRows(rows, workers int, f func(r0, r1 int)) {
	workers = max(1, min(workers, rows))
	var wg sync.WaitGroup
	chunk := (rows + workers - 1) / workers
	for r0 := 0; r0 < rows; r0 += chunk {
		r1 := min(r0+chunk, rows)
		wg.Add(1)
		go func() { defer wg.Done(); f(r0, r1) }()
	}
	wg.Wait()
}

func mlxConfig(m *model.Model, kind string, cls [2]string, floatType quant.Type, bits, gs int) ([]byte, error) {
	u := func(k string) (uint64, bool) { return m.ArchUint(k) }
	need := func(k string) (uint64, error) {
		v, ok := u(k)
		if !ok {
			return 0, fmt.Errorf("%s: %s.%s missing: cannot write config.json", m.Path, m.Arch(), k)
		}
		return v, nil
	}
	cfg := map[string]any{
		"architectures": []string{cls[0]},
		"model_type":    cls[1],
	}
	for key, gk := range map[string]string{
		"hidden_size": "embedding_length", "intermediate_size": "feed_forward_length",
		"num_hidden_layers": "block_count", "num_attention_heads": "attention.head_count",
	} {
		v, err := need(gk)
		if err != nil {
			return nil, err
		}
		cfg[key] = v
	}
	heads := cfg["num_attention_heads"].(uint64)
	kv, ok := u("attention.head_count_kv")
	if !ok {
		kv = heads
	}
	cfg["num_key_value_heads"] = kv
	if hd, ok := u("attention.key_length"); ok {
		cfg["head_dim"] = hd
	} else if heads > 0 {
		cfg["head_dim"] = cfg["hidden_size"].(uint64) / heads
	}
	if v, ok := u("context_length"); ok {
		cfg["max_position_embeddings"] = v
	}
	if v, ok := m.ArchFloat("attention.layer_norm_rms_epsilon"); ok {
		cfg["rms_norm_eps"] = shortest(v)
	}
	if v, ok := m.ArchFloat("rope.freq_base"); ok {
		cfg["rope_theta"] = shortest(v)
	} else {
		cfg["rope_theta"] = 10000.0
	}
	emb := m.Tensor("token_embd.weight")
	if emb == nil || len(emb.Shape) != 2 {
		return nil, fmt.Errorf("%s: token_embd.weight missing", m.Path)
	}
	cfg["vocab_size"] = emb.Shape[1]
	cfg["tie_word_embeddings"] = m.Tensor("output.weight") == nil
	cfg["attention_bias"] = m.Tensor("blk.0.attn_q.bias") != nil
	cfg["hidden_act"] = "silu"
	cfg["torch_dtype"] = map[quant.Type]string{quant.F16: "float16", quant.BF16: "bfloat16", quant.F32: "float32"}[floatType]
	if v, ok := m.Uint("tokenizer.ggml.bos_token_id"); ok {
		cfg["bos_token_id"] = v
	}
	if v, ok := m.Uint("tokenizer.ggml.eos_token_id"); ok {
		cfg["eos_token_id"] = v
	}
	if rf := m.Tensor("rope_freqs.weight"); rf != nil {
		rs, err := llama3RopeScaling(m, rf)
		if err != nil {
			return nil, err
		}
		cfg["rope_scaling"] = rs
	}
	switch kind {
	case "mixtral":
		cfg["num_local_experts"], _ = u("expert_count")
		cfg["num_experts_per_tok"], _ = u("expert_used_count")
	case "phi3":
		if v, ok := u("rope.scaling.original_context_length"); ok {
			cfg["original_max_position_embeddings"] = v
		}
		if rd, ok := u("rope.dimension_count"); ok && heads > 0 {
			cfg["partial_rotary_factor"] = float64(rd) / float64(cfg["hidden_size"].(uint64)/heads)
		}
		if m.Tensor("rope_factors_long.weight") != nil {
			return nil, fmt.Errorf("%s: Phi-3 LongRoPE factors cannot be written to an MLX config yet", m.Path)
		}
	case "qwen3moe":
		cfg["num_experts"], _ = u("expert_count")
		cfg["num_experts_per_tok"], _ = u("expert_used_count")
		cfg["moe_intermediate_size"], _ = u("expert_feed_forward_length")
		cfg["decoder_sparse_step"] = 1
		cfg["mlp_only_layers"] = []int{}
		cfg["norm_topk_prob"] = true // llama.cpp's qwen3moe always renormalizes
	}
	if bits > 0 {
		q := map[string]any{"group_size": gs, "bits": bits, "mode": "affine"}
		cfg["quantization"] = q
		cfg["quantization_config"] = q
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// llama3RopeScaling recovers the Llama 3 rope_scaling parameters behind a
// GGUF rope_freqs tensor: factor is its largest value; the other three
// (low/high frequency factors and the original context) are found among the
// values Meta's models use by recomputing the tensor exactly as the HF
// loader does. No match is an error rather than a guess.
func llama3RopeScaling(m *model.Model, rf *model.Tensor) (map[string]any, error) {
	data, err := rf.Bytes()
	if err != nil || rf.Type != quant.F32 || len(rf.Shape) != 1 {
		return nil, fmt.Errorf("%s: rope_freqs.weight is not an F32 vector", m.Path)
	}
	want := make([]float32, rf.Shape[0])
	factor := float32(0)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		factor = max(factor, want[i])
	}
	base, ok := m.ArchFloat("rope.freq_base")
	if !ok {
		base = 10000
	}
	dim := 2 * len(want)
	for _, low := range []float64{1, 2} {
		for _, high := range []float64{4, 8, 2} {
			for orig := 16.0; orig <= 1<<21; orig *= 2 {
				got := model.Llama3RopeFactors(dim, base, float64(factor), low, high, orig)
				if slicesEqual(got, want) {
					return map[string]any{"rope_type": "llama3", "factor": float64(factor), "low_freq_factor": low,
						"high_freq_factor": high, "original_max_position_embeddings": int(orig)}, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%s: cannot recover the Llama 3 rope scaling parameters behind rope_freqs.weight for an MLX config", m.Path)
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// shortest is the float64 whose decimal form is the shortest one that reads
// back as the same float32 (GGUF stores these as float32): 1e-05, not
// 9.999999747378752e-06.
func shortest(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', -1, 32), 64)
	return f
}

// copyTokenizerFiles copies the tokenizer files of a source folder (mlx-lm
// loads the tokenizer with transformers).
func copyTokenizerFiles(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil || !st.IsDir() {
		return nil
	}
	for _, name := range []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "generation_config.json", "added_tokens.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			continue
		}
		if err := atomicfile.WriteFile(filepath.Join(dst, name), b); err != nil {
			return err
		}
	}
	return nil
}
