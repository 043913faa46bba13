package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
)

var oracleArchs = map[string]string{
	"llama2": "llama", "llama3": "llama", "mistral": "llama", "mixtral": "llama",
	"qwen2": "qwen2", "qwen3": "qwen3", "qwen3moe": "qwen3moe",
	"gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3",
}

// hfSourceName is an independent inverse of the loader's name mapping for
// the non-expert tensors: the HF name a GGUF tensor must come from.
func hfSourceName(arch, g string) string {
	switch g {
	case "token_embd.weight":
		return "model.embed_tokens.weight"
	case "output_norm.weight":
		return "model.norm.weight"
	case "output.weight":
		return "lm_head.weight"
	}
	parts := strings.SplitN(g, ".", 3) // blk, N, rest
	rest := map[string]string{
		"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
		"post_attention_norm.weight": "post_attention_layernorm.weight", "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
		"attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
		"attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
		"attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias", "attn_v.bias": "self_attn.v_proj.bias",
		"attn_qkv.weight": "self_attn.qkv_proj.weight", "attn_q_norm.weight": "self_attn.q_norm.weight",
		"attn_k_norm.weight": "self_attn.k_norm.weight", "ffn_gate.weight": "mlp.gate_proj.weight",
		"ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
	}[parts[2]]
	if arch == "phi3" && parts[2] == "ffn_up.weight" {
		rest = "mlp.gate_up_proj.weight"
	}
	if (arch == "gemma2" || arch == "gemma3") && parts[2] == "ffn_norm.weight" {
		rest = "pre_feedforward_layernorm.weight"
	}
	if parts[2] == "ffn_gate_inp.weight" {
		if arch == "llama" {
			rest = "block_sparse_moe.gate.weight"
		} else {
			rest = "mlp.gate.weight"
		}
	}
	return "model.layers." + parts[1] + "." + rest
}

func toF32(typ quant.Type, b []byte) []float32 {
	switch typ {
	case quant.F32:
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case quant.BF16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out
	}
	panic("type " + typ.String())
}

// TestHFOracle loads every oracle folder and checks each tensor against the
// safetensors source: bytes identical where the layout is unchanged, 1+w for
// Gemma norms, expert stacking, and the generated rope factors.
func TestHFOracle(t *testing.T) {
	root := testdata.Path(t, "oracle")
	for dir, arch := range oracleArchs {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join(root, dir)
			m, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Format != FormatSafetensors || m.Arch() != arch {
				t.Fatalf("format %s arch %s", m.Format, m.Arch())
			}
			cfg, _ := readHFConfig(filepath.Join(path, "config.json"))
			src, err := safetensors.OpenDir(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			layers, _ := cfg.int("num_hidden_layers")
			if n, _ := m.ArchUint("block_count"); int64(n) != layers {
				t.Errorf("block_count %d want %d", n, layers)
			}
			if n, _ := m.ArchUint("embedding_length"); n != 64 {
				t.Errorf("embedding_length %d", n)
			}
			if n, _ := m.ArchUint("attention.head_count_kv"); n != 2 {
				t.Errorf("head_count_kv %d", n)
			}
			if m.RopeNeoX != (arch == "llama") {
				t.Errorf("RopeNeoX = %v", m.RopeNeoX)
			}
			used := map[string]bool{}
			for _, tn := range m.Tensors {
				switch {
				case tn.Name == "rope_freqs.weight":
					if dir != "llama3" {
						t.Errorf("unexpected rope_freqs")
					}
					// Independent float64 computation of the Llama 3 factors
					// for this config: factor 8, low 1, high 4, old ctx 64.
					f := toF32(tn.Type, tn.Data)
					for i, got := range f {
						freq := 1 / math.Pow(10000, float64(2*i)/16)
						wl := 2 * math.Pi / freq
						want := 1.0
						if wl > 64 {
							want = 8
						} else if wl >= 16 {
							s := (64/wl - 1) / 3
							want = 1 / ((1-s)/8 + s)
						}
						if math.Abs(float64(got)-want) > 1e-5*want {
							t.Errorf("rope_freqs[%d] = %v want %v", i, got, want)
						}
					}
				case strings.Contains(tn.Name, "_exps."):
					var bid, kind string
					parts := strings.Split(tn.Name, ".")
					bid, kind = parts[1], parts[2]
					hfk := map[string][2]string{"ffn_gate_exps": {"w1", "gate_proj"}, "ffn_up_exps": {"w3", "up_proj"}, "ffn_down_exps": {"w2", "down_proj"}}[kind]
					var want []byte
					for x := 0; x < int(tn.Shape[2]); x++ {
						var name string
						if dir == "mixtral" {
							name = "model.layers." + bid + ".block_sparse_moe.experts." + strconv.Itoa(x) + "." + hfk[0] + ".weight"
						} else {
							name = "model.layers." + bid + ".mlp.experts." + strconv.Itoa(x) + "." + hfk[1] + ".weight"
						}
						r, ok := src.Get(name)
						if !ok {
							t.Fatalf("%s: source %s missing", tn.Name, name)
						}
						used[name] = true
						want = append(want, r.Data()...)
						if x == 0 && (r.Shape[0] != tn.Shape[1] || r.Shape[1] != tn.Shape[0]) {
							t.Errorf("%s: shape %v from %v", tn.Name, tn.Shape, r.Shape)
						}
					}
					if !bytes.Equal(want, tn.Data) {
						t.Errorf("%s: stacked data differs", tn.Name)
					}
				default:
					name := hfSourceName(arch, tn.Name)
					r, ok := src.Get(name)
					if !ok {
						t.Errorf("%s: source %s missing", tn.Name, name)
						continue
					}
					used[name] = true
					if len(r.Shape) != len(tn.Shape) {
						t.Errorf("%s: shape %v vs %v", tn.Name, tn.Shape, r.Shape)
					}
					for i := range r.Shape {
						if r.Shape[i] != tn.Shape[len(tn.Shape)-1-i] {
							t.Errorf("%s: shape %v vs %v", tn.Name, tn.Shape, r.Shape)
						}
					}
					if strings.HasPrefix(arch, "gemma") && strings.HasSuffix(name, "norm.weight") {
						w := toF32(stDTypes[r.DType], r.Data())
						got := toF32(tn.Type, tn.Data)
						for i := range w {
							if got[i] != w[i]+1 {
								t.Fatalf("%s[%d] = %v, want 1+%v", tn.Name, i, got[i], w[i])
							}
						}
						continue
					}
					if !bytes.Equal(r.Data(), tn.Data) || tn.Type != stDTypes[r.DType] {
						t.Errorf("%s: data differs from %s", tn.Name, name)
					}
				}
			}
			for _, n := range src.Names() {
				if !used[n] {
					t.Errorf("source tensor %s not loaded", n)
				}
			}
		})
	}
}

func TestHFMetadataValues(t *testing.T) {
	root := testdata.Path(t, "oracle")
	check := func(dir string, want map[string]any) {
		m, err := Open(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for k, v := range want {
			kv, ok := m.Get(k)
			if !ok {
				t.Errorf("%s: %s missing", dir, k)
				continue
			}
			if kv.Value != v {
				t.Errorf("%s: %s = %v (%T), want %v (%T)", dir, k, kv.Value, kv.Value, v, v)
			}
		}
	}
	check("llama3", map[string]any{"llama.rope.freq_base": float32(10000), "llama.vocab_size": uint32(405), "llama.rope.dimension_count": uint32(16), "general.file_type": uint32(32)})
	check("gemma2", map[string]any{"gemma2.attn_logit_softcapping": float32(50), "gemma2.final_logit_softcapping": float32(30), "gemma2.attention.sliding_window": uint32(8)})
	check("gemma3", map[string]any{"gemma3.rope.freq_base": float32(1e6), "gemma3.rope.freq_base_swa": float32(10000), "gemma3.attention.sliding_window": uint32(8)})
	check("qwen3moe", map[string]any{"qwen3moe.expert_count": uint32(8), "qwen3moe.expert_used_count": uint32(2), "qwen3moe.expert_feed_forward_length": uint32(48), "qwen3moe.rope.freq_base": float32(1e6)})
	check("mixtral", map[string]any{"llama.expert_count": uint32(4), "llama.expert_used_count": uint32(2)})
	check("phi3", map[string]any{"phi3.rope.dimension_count": uint32(16), "phi3.rope.scaling.original_context_length": uint32(4096), "phi3.attention.sliding_window": uint32(0)})
	check("qwen3", map[string]any{"qwen3.attention.key_length": uint32(32), "qwen3.rope.freq_base": float32(1e6)})
}

// copyDir makes a writable copy of a small test folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return dst
}

func TestHFBadInput(t *testing.T) {
	src := testdata.Path(t, "oracle", "llama2")
	dir := copyDir(t, src)
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), bytes.Replace(cfg, []byte("LlamaForCausalLM"), []byte("FrobnicatorForCausalLM"), 1), 0o644)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "FrobnicatorForCausalLM") {
		t.Errorf("unknown arch: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad config: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), bytes.Replace(cfg, []byte(`"num_hidden_layers": 2`), []byte(`"num_hidden_layers": 1`), 1), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "layer 1 is out of range") {
		t.Errorf("layer count mismatch: %v", err)
	}
	// A truncated weights file.
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	st, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	os.WriteFile(filepath.Join(dir, "model.safetensors"), st[:len(st)-10], 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("truncated: %v", err)
	}
}

func TestLlama3RopeFactorsBoundaries(t *testing.T) {
	// With the Llama 3.1 defaults (base 500000, dim 128, old ctx 8192) the
	// first factors are 1 (high frequencies) and the last are 8.
	f := Llama3RopeFactors(128, 500000, 8, 1, 4, 8192)
	if len(f) != 64 || f[0] != 1 || f[63] != 8 {
		t.Fatalf("factors %v", f)
	}
	for i := 1; i < len(f); i++ {
		if f[i] < f[i-1] {
			t.Fatalf("factors not monotonic at %d: %v", i, f)
		}
	}
}

// rewriteConfig copies an oracle folder with config.json transformed.
func rewriteConfig(t *testing.T, name string, edit func(c map[string]any) map[string]any) string {
	t.Helper()
	dir := copyDir(t, testdata.Path(t, "oracle", name))
	var c map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(edit(c))
	os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644)
	return dir
}

// TestHFConfigForms: the classic rope keys, the rope_parameters form and a
// nested text_config give the same metadata.
func TestHFConfigForms(t *testing.T) {
	same := func(name, dir string, keys ...string) {
		t.Helper()
		a, err := Open(testdata.Path(t, "oracle", name))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for _, k := range keys {
			x, _ := a.Get(k)
			y, _ := b.Get(k)
			if !reflect.DeepEqual(x, y) {
				t.Errorf("%s: %s = %v, want %v", name, k, y.Value, x.Value)
			}
		}
		if fa, fb := a.Tensor("rope_freqs.weight"), b.Tensor("rope_freqs.weight"); (fa == nil) != (fb == nil) || (fa != nil && !bytes.Equal(fa.Data, fb.Data)) {
			t.Errorf("%s: rope_freqs differ", name)
		}
		if len(a.Tensors) != len(b.Tensors) {
			t.Errorf("%s: %d tensors, want %d", name, len(b.Tensors), len(a.Tensors))
		}
	}
	// Llama 3: only the classic rope_theta + rope_scaling.
	dir := rewriteConfig(t, "llama3", func(c map[string]any) map[string]any { delete(c, "rope_parameters"); return c })
	same("llama3", dir, "llama.rope.freq_base")
	// Llama 3: only rope_parameters.
	dir = rewriteConfig(t, "llama3", func(c map[string]any) map[string]any {
		delete(c, "rope_scaling")
		delete(c, "rope_theta")
		return c
	})
	same("llama3", dir, "llama.rope.freq_base")
	// Gemma 3 as Gemma 3 4B's older config: classic keys, pattern count, nested text_config.
	dir = rewriteConfig(t, "gemma3", func(c map[string]any) map[string]any {
		delete(c, "rope_parameters")
		delete(c, "layer_types")
		c["rope_theta"] = 1e6
		c["rope_local_base_freq"] = 1e4
		c["sliding_window_pattern"] = 2
		return map[string]any{"architectures": []string{"Gemma3ForConditionalGeneration"}, "model_type": "gemma3", "text_config": c}
	})
	same("gemma3", dir, "gemma3.rope.freq_base", "gemma3.rope.freq_base_swa", "gemma3.attention.sliding_window_pattern", "gemma3.attention.sliding_window", "gemma3.block_count")
	// Phi-3 with original_max_position_embeddings only in rope_parameters.
	dir = rewriteConfig(t, "phi3", func(c map[string]any) map[string]any {
		rp := c["rope_parameters"].(map[string]any)
		rp["original_max_position_embeddings"] = c["original_max_position_embeddings"]
		delete(c, "original_max_position_embeddings")
		delete(c, "rope_theta")
		return c
	})
	same("phi3", dir, "phi3.rope.scaling.original_context_length", "phi3.rope.freq_base", "phi3.rope.dimension_count")
}
