package synthetic

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is the shape of a popular model: everything that decides tensor
// sizes and the work per token. Values follow the models' published
// config.json files.
type Preset struct {
	Name       string
	Arch       string // GGUF general.architecture
	Embd       int    // hidden size
	Layers     int
	Heads      int
	KVHeads    int
	HeadDim    int // 0 means Embd/Heads
	FFN        int // dense FFN width (0 for MoE-only models)
	Vocab      int
	Tied       bool // output projection shares token_embd
	Context    int
	RopeBase   float64
	RMSEps     float64
	Experts    int // 0 for dense models
	ExpertsUse int
	ExpertFFN  int  // per-expert FFN width (qwen3moe); Mixtral uses FFN
	QKVBias    bool // qwen2
	QKNorm     bool // qwen3, gemma3
	PostNorms  bool // gemma3's post-attention / post-FFN norms
	FusedQKV   bool // phi3
	Sliding    int  // sliding window (gemma3)
	Llama3Rope bool // llama 3.1/3.2 rope scaling (writes rope_freqs.weight)
	Family     string
}

func (p *Preset) headDim() int {
	if p.HeadDim > 0 {
		return p.HeadDim
	}
	return p.Embd / p.Heads
}

var presets = []Preset{
	{Name: "llama3.2-1b", Arch: "llama", Embd: 2048, Layers: 16, Heads: 32, KVHeads: 8, FFN: 8192, Vocab: 128256, Tied: true, Context: 131072, RopeBase: 500000, RMSEps: 1e-5, Llama3Rope: true, Family: "llama3"},
	{Name: "llama3.2-3b", Arch: "llama", Embd: 3072, Layers: 28, Heads: 24, KVHeads: 8, FFN: 8192, Vocab: 128256, Tied: true, Context: 131072, RopeBase: 500000, RMSEps: 1e-5, Llama3Rope: true, Family: "llama3"},
	{Name: "llama3.1-8b", Arch: "llama", Embd: 4096, Layers: 32, Heads: 32, KVHeads: 8, FFN: 14336, Vocab: 128256, Context: 131072, RopeBase: 500000, RMSEps: 1e-5, Llama3Rope: true, Family: "llama3"},
	{Name: "qwen2.5-0.5b", Arch: "qwen2", Embd: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, Vocab: 151936, Tied: true, Context: 32768, RopeBase: 1e6, RMSEps: 1e-6, QKVBias: true, Family: "qwen"},
	{Name: "qwen2.5-1.5b", Arch: "qwen2", Embd: 1536, Layers: 28, Heads: 12, KVHeads: 2, FFN: 8960, Vocab: 151936, Tied: true, Context: 32768, RopeBase: 1e6, RMSEps: 1e-6, QKVBias: true, Family: "qwen"},
	{Name: "qwen2.5-7b", Arch: "qwen2", Embd: 3584, Layers: 28, Heads: 28, KVHeads: 4, FFN: 18944, Vocab: 152064, Context: 32768, RopeBase: 1e6, RMSEps: 1e-6, QKVBias: true, Family: "qwen"},
	{Name: "qwen3-0.6b", Arch: "qwen3", Embd: 1024, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128, FFN: 3072, Vocab: 151936, Tied: true, Context: 40960, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, Family: "qwen"},
	{Name: "qwen3-1.7b", Arch: "qwen3", Embd: 2048, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128, FFN: 6144, Vocab: 151936, Tied: true, Context: 40960, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, Family: "qwen"},
	{Name: "qwen3-4b", Arch: "qwen3", Embd: 2560, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, FFN: 9728, Vocab: 151936, Tied: true, Context: 40960, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, Family: "qwen"},
	{Name: "qwen3-8b", Arch: "qwen3", Embd: 4096, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, FFN: 12288, Vocab: 151936, Context: 40960, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, Family: "qwen"},
	{Name: "qwen3-30b-a3b", Arch: "qwen3moe", Embd: 2048, Layers: 48, Heads: 32, KVHeads: 4, HeadDim: 128, Vocab: 151936, Context: 40960, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, Experts: 128, ExpertsUse: 8, ExpertFFN: 768, Family: "qwen"},
	{Name: "gemma3-1b", Arch: "gemma3", Embd: 1152, Layers: 26, Heads: 4, KVHeads: 1, HeadDim: 256, FFN: 6912, Vocab: 262144, Tied: true, Context: 32768, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, PostNorms: true, Sliding: 512, Family: "gemma"},
	{Name: "gemma3-4b", Arch: "gemma3", Embd: 2560, Layers: 34, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 10240, Vocab: 262208, Tied: true, Context: 131072, RopeBase: 1e6, RMSEps: 1e-6, QKNorm: true, PostNorms: true, Sliding: 1024, Family: "gemma"},
	{Name: "mistral-7b", Arch: "llama", Embd: 4096, Layers: 32, Heads: 32, KVHeads: 8, FFN: 14336, Vocab: 32768, Context: 32768, RopeBase: 1e6, RMSEps: 1e-5, Family: "mistral"},
	{Name: "mixtral-8x7b", Arch: "llama", Embd: 4096, Layers: 32, Heads: 32, KVHeads: 8, FFN: 14336, Vocab: 32000, Context: 32768, RopeBase: 1e6, RMSEps: 1e-5, Experts: 8, ExpertsUse: 2, Family: "mistral"},
	{Name: "phi3-mini", Arch: "phi3", Embd: 3072, Layers: 32, Heads: 32, KVHeads: 32, FFN: 8192, Vocab: 32064, Context: 4096, RopeBase: 10000, RMSEps: 1e-5, FusedQKV: true, Family: "phi3"},
}

// Presets returns the preset names, sorted.
func Presets() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named preset.
func Lookup(name string) (Preset, error) {
	for _, p := range presets {
		if strings.EqualFold(p.Name, name) {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("synthetic: unknown preset %q (known: %s)", name, strings.Join(Presets(), ", "))
}

// Types are the weight formats a synthetic model can be generated in.
var Types = []string{"f32", "f16", "q8_0", "q4_0", "q4_k_m"}
