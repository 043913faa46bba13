package synthetic

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/quant"
)

// Prefix marks a synthetic model name: "synthetic:PRESET[:TYPE]".
const Prefix = "synthetic:"

// DefaultType is the weight format when a name gives none.
const DefaultType = "q4_k_m"

// formatVersion is part of the cache file name; bump it when the generated
// bytes change so stale caches are not reused.
const formatVersion = 3

// IsSynthetic reports whether name is a synthetic model reference.
func IsSynthetic(name string) bool { return strings.HasPrefix(name, Prefix) }

// Parse splits "synthetic:PRESET[:TYPE]" into its preset and type.
func Parse(name string) (Preset, string, error) {
	if !IsSynthetic(name) {
		return Preset{}, "", fmt.Errorf("synthetic: %q does not start with %q", name, Prefix)
	}
	parts := strings.Split(strings.TrimPrefix(name, Prefix), ":")
	if len(parts) > 2 || parts[0] == "" {
		return Preset{}, "", fmt.Errorf("synthetic: %q: want synthetic:PRESET[:TYPE]", name)
	}
	p, err := Lookup(parts[0])
	if err != nil {
		return Preset{}, "", err
	}
	typ := DefaultType
	if len(parts) == 2 {
		typ = strings.ToLower(parts[1])
	}
	ok := false
	for _, t := range Types {
		ok = ok || t == typ
	}
	if !ok {
		return Preset{}, "", fmt.Errorf("synthetic: %q: unknown type %q (known: %s)", name, typ, strings.Join(Types, ", "))
	}
	return p, typ, nil
}

// CacheDir is where generated models are kept: $FERRY_CACHE/synthetic, or
// ~/.cache/ferry/synthetic.
func CacheDir() (string, error) {
	if d := os.Getenv("FERRY_CACHE"); d != "" {
		return filepath.Join(d, "synthetic"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("synthetic: no cache directory: %w (set FERRY_CACHE)", err)
	}
	return filepath.Join(d, "ferry", "synthetic"), nil
}

// Resolve turns "synthetic:PRESET[:TYPE]" into the path of its GGUF file,
// generating it into the cache on first use. Generation is deterministic, so
// every machine gets the same bytes for the same name.
func Resolve(name string) (string, error) {
	p, typ, err := Parse(name)
	if err != nil {
		return "", err
	}
	path, err := CachePath(name)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("synthetic: %w", err)
	}
	if err := Generate(p, typ, path); err != nil {
		return "", err
	}
	return path, nil
}

// CachePath is the file Resolve uses for name (it may not exist yet).
func CachePath(name string) (string, error) {
	p, typ, err := Parse(name)
	if err != nil {
		return "", err
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%s-v%d.gguf", p.Name, typ, formatVersion)), nil
}

// tensorSpec is one tensor to generate.
type tensorSpec struct {
	name  string
	shape []uint64
	typ   quant.Type
	kind  int // kindWeight, kindNorm, kindBias, kindRopeFreqs
}

const (
	kindWeight = iota
	kindNorm
	kindBias
	kindRopeFreqs
)

// Generate writes the synthetic model p in weight format typ to path
// (atomically).
func Generate(p Preset, typ string, path string) error {
	specs, err := tensorSpecs(p, typ)
	if err != nil {
		return err
	}
	v, err := buildVocab(p.Vocab, p.Family, 42)
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	a := p.Arch
	hd := p.headDim()
	set := func(k string, val any) {
		if err == nil {
			err = w.Set(k, val)
		}
	}
	set("general.architecture", a)
	set("general.name", "synthetic "+p.Name+" "+typ)
	set("general.file_type", uint32(recipes[typ]))
	set("general.quantization_version", uint32(2))
	set(a+".context_length", uint32(p.Context))
	set(a+".embedding_length", uint32(p.Embd))
	set(a+".block_count", uint32(p.Layers))
	if p.FFN > 0 {
		set(a+".feed_forward_length", uint32(p.FFN))
	}
	set(a+".attention.head_count", uint32(p.Heads))
	set(a+".attention.head_count_kv", uint32(p.KVHeads))
	if p.HeadDim > 0 {
		set(a+".attention.key_length", uint32(hd))
		set(a+".attention.value_length", uint32(hd))
	}
	set(a+".rope.freq_base", float32(p.RopeBase))
	set(a+".rope.dimension_count", uint32(hd))
	set(a+".attention.layer_norm_rms_epsilon", float32(p.RMSEps))
	set(a+".vocab_size", uint32(p.Vocab))
	if p.Experts > 0 {
		set(a+".expert_count", uint32(p.Experts))
		set(a+".expert_used_count", uint32(p.ExpertsUse))
		if p.ExpertFFN > 0 {
			set(a+".expert_feed_forward_length", uint32(p.ExpertFFN))
		}
	}
	if p.Sliding > 0 {
		set(a+".attention.sliding_window", uint32(p.Sliding))
	}
	// Llama 3.1 rope scaling is carried by the rope_freqs.weight tensor
	// alone, as llama.cpp's converter writes it: llama.cpp rejects
	// rope.scaling.type "llama3".
	set("tokenizer.ggml.model", "gpt2")
	set("tokenizer.ggml.pre", v.pre)
	set("tokenizer.ggml.tokens", v.tokens)
	set("tokenizer.ggml.token_type", v.types)
	set("tokenizer.ggml.merges", v.merges)
	set("tokenizer.ggml.bos_token_id", uint32(v.bos))
	set("tokenizer.ggml.eos_token_id", uint32(v.eos))
	if v.eot != v.eos {
		set("tokenizer.ggml.eot_token_id", uint32(v.eot))
	}
	set("tokenizer.ggml.add_bos_token", p.Family != "qwen")
	set("tokenizer.chat_template", chatTemplate(p.Family))
	if err != nil {
		return fmt.Errorf("synthetic: metadata: %w", err)
	}
	for i, s := range specs {
		s, seed := s, uint64(i)
		if err := w.AddTensor(s.name, s.typ, s.shape, func(out io.Writer) error {
			return writeTensor(out, p, s, seed)
		}); err != nil {
			return fmt.Errorf("synthetic: %w", err)
		}
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("synthetic: %w", err)
	}
	defer f.Abort()
	if _, err := w.WriteTo(f); err != nil {
		return fmt.Errorf("synthetic: writing %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("synthetic: writing %s: %w", path, err)
	}
	return nil
}

// chunkBytes is the unit of parallel generation; each chunk has its own RNG
// stream (tensor index, chunk index), so output does not depend on the
// number of threads.
const chunkBytes = 4 << 20

func writeTensor(out io.Writer, p Preset, s tensorSpec, seed uint64) error {
	n := uint64(1)
	for _, d := range s.shape {
		n *= d
	}
	size := int(n / uint64(s.typ.BlockSize()) * uint64(s.typ.BytesPerBlock()))
	switch s.kind {
	case kindNorm, kindBias, kindRopeFreqs:
		buf := make([]float32, n)
		for i := range buf {
			switch s.kind {
			case kindNorm:
				buf[i] = 1 // GGUF stores the full multiplier, also for Gemma
			case kindBias:
				buf[i] = 0.01 * float32(math.Sin(float64(i)))
			case kindRopeFreqs:
				buf[i] = llama3RopeFactor(i, int(n), p.RopeBase)
			}
		}
		b := make([]byte, 4*len(buf))
		for i, f := range buf {
			u := math.Float32bits(f)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		}
		_, err := out.Write(b)
		return err
	}
	// Weights: std 0.02 like a typical init; generated in parallel chunks.
	bpb := s.typ.BytesPerBlock()
	cb := chunkBytes / bpb * bpb
	nChunks := (size + cb - 1) / cb
	threads := runtime.GOMAXPROCS(0)
	bufs := make([][]byte, threads)
	for i := range bufs {
		bufs[i] = make([]byte, cb)
	}
	errs := make([]error, threads)
	for c0 := 0; c0 < nChunks; c0 += threads {
		var wg sync.WaitGroup
		for t := 0; t < threads && c0+t < nChunks; t++ {
			c := c0 + t
			wg.Add(1)
			go func(t, c int) {
				defer wg.Done()
				ln := min(cb, size-c*cb)
				rng := rand.New(rand.NewPCG(seed, uint64(c)))
				errs[t] = FillBlocks(s.typ, bufs[t][:ln], rng, 0.02)
			}(t, c)
		}
		wg.Wait()
		for t := 0; t < threads && c0+t < nChunks; t++ {
			if errs[t] != nil {
				return errs[t]
			}
			ln := min(cb, size-(c0+t)*cb)
			if _, err := out.Write(bufs[t][:ln]); err != nil {
				return err
			}
		}
	}
	return nil
}

// llama3RopeFactor is llama.cpp's rope_freqs value for dimension pair i of
// n under Llama 3.1 scaling (factor 32, low 1, high 4, original 8192).
func llama3RopeFactor(i, n int, base float64) float32 {
	const factor, low, high, orig = 32.0, 1.0, 4.0, 8192.0
	dim := 2 * n
	freq := 1 / math.Pow(base, float64(2*i)/float64(dim))
	wavelen := 2 * math.Pi / freq
	lowWave, highWave := orig/low, orig/high
	switch {
	case wavelen < highWave:
		return 1
	case wavelen > lowWave:
		return factor
	default:
		smooth := (orig/wavelen - low) / (high - low)
		return float32(1 / ((1-smooth)/factor + smooth))
	}
}

// recipes maps a synthetic type name to llama.cpp's file type; the type of
// each tensor then comes from quant.ChooseTypeFallback, ferry's port of
// llama.cpp's llama_tensor_get_type (so q4_0 puts the output or tied
// embeddings in Q6_K, q4_k_m gives attn_v/ffn_down Q6_K in the "more bits"
// layers, and rows that are not whole blocks fall back as llama.cpp does).
var recipes = map[string]quant.FileType{
	"f32": quant.FileAllF32, "f16": quant.FileMostlyF16, "q8_0": quant.FileMostlyQ8_0,
	"q4_0": quant.FileMostlyQ4_0, "q4_k_m": quant.FileMostlyQ4_K_M,
}

func weightType(p Preset, typ, name string, shape []uint64) (quant.Type, error) {
	ft, ok := recipes[typ]
	if !ok {
		return 0, fmt.Errorf("synthetic: unknown type %q", typ)
	}
	tc := quant.TensorContext{
		Model: quant.ModelInfo{Arch: p.Arch, Layers: p.Layers, Heads: p.Heads, HeadsKV: p.KVHeads,
			Experts: p.Experts, HasOutput: !p.Tied},
		Shape: shape,
		Type:  quant.F32,
	}
	t, _, err := quant.ChooseTypeFallback(ft, name, tc)
	if err != nil {
		return 0, fmt.Errorf("synthetic: %s: %w", name, err)
	}
	return t, nil
}

func tensorSpecs(p Preset, typ string) ([]tensorSpec, error) {
	if _, ok := recipes[typ]; !ok {
		return nil, fmt.Errorf("synthetic: unknown type %q", typ)
	}
	var specs []tensorSpec
	u := func(x ...int) []uint64 {
		out := make([]uint64, len(x))
		for i, v := range x {
			out[i] = uint64(v)
		}
		return out
	}
	var err error
	weight := func(name string, shape ...int) {
		t, e := weightType(p, typ, name, u(shape...))
		if e != nil && err == nil {
			err = e
		}
		specs = append(specs, tensorSpec{name: name, shape: u(shape...), typ: t, kind: kindWeight})
	}
	f32 := func(name string, kind int, shape ...int) {
		specs = append(specs, tensorSpec{name: name, shape: u(shape...), typ: quant.F32, kind: kind})
	}
	hd := p.headDim()
	qDim, kvDim := p.Heads*hd, p.KVHeads*hd
	weight("token_embd.weight", p.Embd, p.Vocab)
	if p.Llama3Rope {
		f32("rope_freqs.weight", kindRopeFreqs, hd/2)
	}
	for l := 0; l < p.Layers; l++ {
		b := fmt.Sprintf("blk.%d.", l)
		f32(b+"attn_norm.weight", kindNorm, p.Embd)
		if p.FusedQKV {
			weight(b+"attn_qkv.weight", p.Embd, qDim+2*kvDim)
		} else {
			weight(b+"attn_q.weight", p.Embd, qDim)
			weight(b+"attn_k.weight", p.Embd, kvDim)
			weight(b+"attn_v.weight", p.Embd, kvDim)
		}
		if p.QKVBias {
			f32(b+"attn_q.bias", kindBias, qDim)
			f32(b+"attn_k.bias", kindBias, kvDim)
			f32(b+"attn_v.bias", kindBias, kvDim)
		}
		if p.QKNorm {
			f32(b+"attn_q_norm.weight", kindNorm, hd)
			f32(b+"attn_k_norm.weight", kindNorm, hd)
		}
		weight(b+"attn_output.weight", qDim, p.Embd)
		if p.PostNorms {
			f32(b+"post_attention_norm.weight", kindNorm, p.Embd)
		}
		f32(b+"ffn_norm.weight", kindNorm, p.Embd)
		switch {
		case p.Experts > 0:
			ff := p.ExpertFFN
			if ff == 0 {
				ff = p.FFN
			}
			f32(b+"ffn_gate_inp.weight", kindBias, p.Embd, p.Experts)
			weight(b+"ffn_gate_exps.weight", p.Embd, ff, p.Experts)
			weight(b+"ffn_up_exps.weight", p.Embd, ff, p.Experts)
			weight(b+"ffn_down_exps.weight", ff, p.Embd, p.Experts)
		case p.FusedQKV: // phi3: gate and up fused in ffn_up
			weight(b+"ffn_up.weight", p.Embd, 2*p.FFN)
			weight(b+"ffn_down.weight", p.FFN, p.Embd)
		default:
			weight(b+"ffn_gate.weight", p.Embd, p.FFN)
			weight(b+"ffn_up.weight", p.Embd, p.FFN)
			weight(b+"ffn_down.weight", p.FFN, p.Embd)
		}
		if p.PostNorms {
			f32(b+"post_ffw_norm.weight", kindNorm, p.Embd)
		}
	}
	f32("output_norm.weight", kindNorm, p.Embd)
	if !p.Tied {
		weight("output.weight", p.Embd, p.Vocab)
	}
	return specs, err
}
