package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	pt "github.com/ferryhq/ferry/pytorch/pytorchtest"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
	"github.com/ferryhq/ferry/tokenizer"
)

var oracles = []string{"llama2", "llama3", "mistral", "mixtral", "qwen2", "qwen3", "qwen3moe", "gemma", "gemma2", "gemma3", "phi3"}

// permuteRef is an independent, literal transcription of llama.cpp's
// LlamaModel.permute on a row-major [rows, rowBytes] buffer:
// w.reshape(n_head, 2, rows/n_head/2, ...).swapaxes(1, 2).reshape(w.shape).
func permuteRef(data []byte, rows, heads int) []byte {
	rowBytes := len(data) / rows
	half := rows / heads / 2
	out := make([]byte, 0, len(data))
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ { // after swapaxes the middle index is i
			for j := 0; j < 2; j++ {
				src := (h*2+j)*half + i // index in the [n_head, 2, half] view
				out = append(out, data[src*rowBytes:(src+1)*rowBytes]...)
			}
		}
	}
	return out
}

func f32s(typ quant.Type, b []byte) []float32 {
	out := make([]float32, 0)
	switch typ {
	case quant.F32:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
	case quant.F16:
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, quant.F16ToF32(binary.LittleEndian.Uint16(b[i:])))
		}
	case quant.BF16:
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, quant.BF16ToF32(binary.LittleEndian.Uint16(b[i:])))
		}
	}
	return out
}

// expectBytes is what a tensor of m must look like in the GGUF output:
// permuted for HF llama q/k, converted to F32 for 1-D float tensors.
func expectBytes(t *testing.T, m *model.Model, tn *model.Tensor, outType quant.Type) []byte {
	data := tn.Data
	if m.RopeNeoX && m.Arch() == "llama" {
		heads, _ := m.ArchUint("attention.head_count")
		kv, _ := m.ArchUint("attention.head_count_kv")
		rows := int(tn.Elements() / tn.Shape[0])
		if len(tn.Shape) == 1 {
			rows = int(tn.Shape[0])
		}
		switch {
		case strings.Contains(tn.Name, ".attn_q."):
			data = permuteRef(data, rows, int(heads))
		case strings.Contains(tn.Name, ".attn_k."):
			data = permuteRef(data, rows, int(kv))
		}
	}
	if outType == tn.Type {
		return data
	}
	if outType != quant.F32 {
		t.Fatalf("%s: unexpected conversion %s -> %s", tn.Name, tn.Type, outType)
	}
	var b bytes.Buffer
	for _, v := range f32s(tn.Type, data) {
		binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
	}
	return b.Bytes()
}

func convertTo(t *testing.T, m *model.Model, opt Options) (string, *gguf.File) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.gguf")
	if err := GGUFFile(m, out, opt); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return out, f
}

// checkAgainstSource compares every tensor and metadata key of a converted
// file with the model it came from (bit-exact for float copies).
func checkAgainstSource(t *testing.T, m *model.Model, f *gguf.File) {
	t.Helper()
	arch := m.Arch()
	for _, kv := range m.KV {
		if kv.Key == "general.file_type" {
			continue
		}
		got, ok := f.Get(kv.Key)
		if !ok || !reflect.DeepEqual(got.Value, kv.Value) {
			t.Errorf("metadata %s = %v, want %v", kv.Key, got.Value, kv.Value)
		}
	}
	n := 0
	for _, tn := range m.Tensors {
		if tn.Name == "output.weight" && (arch == "gemma" || arch == "gemma2") && tiedCopy(tn, m.Tensor("token_embd.weight")) {
			continue // a tied copy is dropped, as llama.cpp's converter does
		}
		n++
		var ti *gguf.TensorInfo
		for i := range f.Tensors {
			if f.Tensors[i].Name == tn.Name {
				ti = &f.Tensors[i]
			}
		}
		if ti == nil {
			t.Errorf("%s missing from the output", tn.Name)
			continue
		}
		if !reflect.DeepEqual(ti.Shape, tn.Shape) {
			t.Errorf("%s: shape %v want %v", tn.Name, ti.Shape, tn.Shape)
		}
		if !bytes.Equal(f.TensorData(ti), expectBytes(t, m, tn, ti.Type)) {
			t.Errorf("%s: data differs (%s -> %s)", tn.Name, tn.Type, ti.Type)
		}
	}
	if len(f.Tensors) != n {
		t.Errorf("%d tensors written, want %d", len(f.Tensors), n)
	}
}

func TestOracleToGGUF(t *testing.T) {
	root := testdata.Path(t, "oracle")
	for _, name := range oracles {
		t.Run(name, func(t *testing.T) {
			m, err := model.Open(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, f := convertTo(t, m, Options{})
			checkAgainstSource(t, m, f)
			if len(f.Strings("tokenizer.ggml.tokens")) == 0 {
				t.Error("no vocabulary in the output")
			}
			for _, ti := range f.Tensors {
				if len(ti.Shape) == 1 && ti.Type != quant.F32 {
					t.Errorf("%s: 1-D tensor written as %s, llama.cpp writes F32", ti.Name, ti.Type)
				}
			}
		})
	}
}

// TestStoriesHFMatchesGGUF: converting the HF export of stories260K gives
// llama.cpp's stories260K.gguf tensors exactly, and the same vocabulary.
func TestStoriesHFMatchesGGUF(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "models", "stories260K-hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref, err := gguf.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	_, f := convertTo(t, m, Options{})
	// The HF export ties its embeddings (tie_word_embeddings), so like
	// llama.cpp's converter ferry writes no output.weight; the llama2.c
	// conversion stored a copy, which must then equal token_embd.
	tied := false
	if ti, _ := refTensor(ref, "output.weight"); ti != nil {
		te, _ := refTensor(ref, "token_embd.weight")
		tied = bytes.Equal(ref.TensorData(ti), ref.TensorData(te))
	}
	if !tied {
		t.Fatal("reference output.weight is not the embedding matrix")
	}
	if len(f.Tensors) != len(ref.Tensors)-1 {
		t.Errorf("%d tensors, reference has %d plus output.weight", len(f.Tensors), len(ref.Tensors)-1)
	}
	for i := range ref.Tensors {
		rt := &ref.Tensors[i]
		if rt.Name == "output.weight" {
			continue
		}
		var ot *gguf.TensorInfo
		for j := range f.Tensors {
			if f.Tensors[j].Name == rt.Name {
				ot = &f.Tensors[j]
			}
		}
		if ot == nil {
			t.Errorf("%s missing", rt.Name)
			continue
		}
		if !reflect.DeepEqual(ot.Shape, rt.Shape) || ot.Type != rt.Type {
			t.Errorf("%s: %s %v, reference %s %v", rt.Name, ot.Type, ot.Shape, rt.Type, rt.Shape)
			continue
		}
		if !bytes.Equal(f.TensorData(ot), ref.TensorData(rt)) {
			t.Errorf("%s: values differ from stories260K.gguf", rt.Name)
		}
	}
	for _, key := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"} {
		a, _ := f.Get(key)
		b, _ := ref.Get(key)
		if !reflect.DeepEqual(a.Value, b.Value) {
			t.Errorf("%s differs from stories260K.gguf", key)
		}
	}
	for _, key := range []string{"llama.embedding_length", "llama.block_count", "llama.attention.head_count", "llama.attention.head_count_kv", "llama.feed_forward_length", "llama.rope.dimension_count"} {
		a, _ := f.Uint(key)
		b, _ := ref.Uint(key)
		if a != b {
			t.Errorf("%s = %d, reference %d", key, a, b)
		}
	}
}

func refTensor(f *gguf.File, name string) (*gguf.TensorInfo, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

func TestMLXToGGUF(t *testing.T) {
	for _, dir := range []string{"stories260K-mlx-4bit", "stories260K-mlx-8bit"} {
		t.Run(dir, func(t *testing.T) {
			m, err := model.Open(testdata.Path(t, "models", dir))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, f := convertTo(t, m, Options{})
			checkAgainstSource(t, m, f)
		})
	}
}

func TestLlama2CToGGUF(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.bin"))
	if err != nil {
		t.Skipf("llama2.c loader: %v", err)
	}
	defer m.Close()
	_, f := convertTo(t, m, Options{})
	checkAgainstSource(t, m, f)
}

func TestDeterministic(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "qwen3moe"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var a, b bytes.Buffer
	if err := WriteGGUF(m, &a, Options{Type: "f16", Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if err := WriteGGUF(m, &b, Options{Type: "f16", Workers: 4}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("output depends on the worker count")
	}
}

func TestConvertTypes(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "qwen2"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, typ := range []string{"f16", "bf16", "q8_0"} {
		_, f := convertTo(t, m, Options{Type: typ})
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			src := m.Tensor(ti.Name)
			if len(ti.Shape) == 1 || strings.HasSuffix(ti.Name, "norm.weight") {
				if ti.Type != quant.F32 {
					t.Errorf("%s %s: %s", typ, ti.Name, ti.Type)
				}
				continue
			}
			vals := f32s(src.Type, src.Data)
			var want []byte
			switch ti.Type {
			case quant.F16:
				for _, v := range vals {
					want = binary.LittleEndian.AppendUint16(want, quant.F32ToF16(v))
				}
			case quant.BF16:
				for _, v := range vals {
					want = binary.LittleEndian.AppendUint16(want, quant.F32ToBF16(v))
				}
			default:
				sz, _ := quant.RowSize(ti.Type, int64(len(vals)))
				want = make([]byte, sz)
				if err := quant.Quantize(ti.Type, vals, want); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(f.TensorData(ti), want) {
				t.Errorf("%s %s (%s): data differs from a direct conversion", typ, ti.Name, ti.Type)
			}
		}
		if ft, _ := f.Uint("general.file_type"); typ == "q8_0" && ft != uint64(quant.FileMostlyQ8_0) {
			t.Errorf("q8_0: general.file_type %d", ft)
		}
	}
	if err := WriteGGUF(m, io.Discard, Options{Type: "q9_z"}); err == nil || !strings.Contains(err.Error(), "q9_z") {
		t.Errorf("unknown type: %v", err)
	}
}

// TestTypeForHook: a custom per-tensor type function plugs in.
func TestTypeForHook(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "llama2"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ft := quant.FileMostlyQ4_0
	_, f := convertTo(t, m, Options{FileType: &ft, TypeFor: func(_ *model.Model, tn *model.Tensor) (quant.Type, error) {
		if tn.Name == "blk.0.ffn_up.weight" {
			return quant.Q4_0, nil
		}
		return autoType(tn), nil
	}})
	for _, ti := range f.Tensors {
		if (ti.Name == "blk.0.ffn_up.weight") != (ti.Type == quant.Q4_0) {
			t.Errorf("%s: %s", ti.Name, ti.Type)
		}
	}
}

// TestFailureLeavesNothing cancels a conversion after its first tensor: no
// output and no temporary file may remain.
func TestFailureLeavesNothing(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "llama2"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := filepath.Join(dir, "x.gguf")
	err = GGUFFile(m, out, Options{Context: ctx, Progress: func(done, total int64) { cancel() }})
	if err == nil {
		t.Fatal("cancelled conversion succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestMLXRoundTrip(t *testing.T) {
	src := testdata.Path(t, "models", "stories260K-hf")
	m, err := model.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// From the GGUF (permuted q/k) to MLX and back must give the HF layout.
	g, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, c := range []struct {
		from *model.Model
		typ  string
		tol  float64 // relative to the group's range
	}{{m, "f32", 0}, {g, "f32", 0}, {m, "f16", 1e-3}, {m, "mlx-q4", 1.5 / 15}, {g, "mlx-q8", 1.5 / 255}} {
		dir := filepath.Join(t.TempDir(), "mlx")
		if err := MLXFolder(c.from, dir, MLXOptions{Type: c.typ}); err != nil {
			t.Fatal(err)
		}
		back, err := model.Open(dir)
		if err != nil {
			t.Fatalf("%s: reopen: %v", c.typ, err)
		}
		if !back.RopeNeoX {
			t.Errorf("%s: reloaded MLX model should be in HF layout", c.typ)
		}
		for _, rt := range m.Tensors {
			bt := back.Tensor(rt.Name)
			if bt == nil {
				t.Errorf("%s: %s missing", c.typ, rt.Name)
				continue
			}
			want := f32s(rt.Type, rt.Data)
			got := make([]float32, len(want))
			if bt.Type == quant.F32 || bt.Type == quant.F16 || bt.Type == quant.BF16 {
				got = f32s(bt.Type, bt.Data)
			} else if err := quant.Dequantize(bt.Type, bt.Data, got); err != nil {
				t.Fatal(err)
			}
			cols := int(rt.Shape[0])
			for g0 := 0; g0 < len(want); g0 += 64 {
				end := min(g0+64, len(want), (g0/cols+1)*cols)
				lo, hi := want[g0], want[g0]
				for _, x := range want[g0:end] {
					lo, hi = min(lo, x), max(hi, x)
				}
				tol := c.tol*float64(hi-lo) + 1e-3*c.tol*math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
				if c.typ == "f16" {
					tol = 1e-3 * math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
				}
				for i := g0; i < end; i++ {
					if d := math.Abs(float64(got[i] - want[i])); d > tol {
						t.Fatalf("%s %s[%d]: %v want %v (tol %v)", c.typ, rt.Name, i, got[i], want[i], tol)
					}
				}
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.model")); c.from == m && err != nil {
			t.Errorf("%s: tokenizer.model not copied", c.typ)
		}
		back.Close()
	}
}

func TestBadOptions(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "gemma"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := MLXFolder(m, t.TempDir(), MLXOptions{}); err == nil || !strings.Contains(err.Error(), "gemma") {
		t.Errorf("gemma to MLX: %v", err)
	}
}

func BenchmarkConvert(b *testing.B) {
	dir, ok := testdata.Find()
	if !ok {
		b.Skip("no test data")
	}
	m, err := model.Open(filepath.Join(dir, "models", "stories260K-hf"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var size int64
	for _, t := range m.Tensors {
		size += int64(len(t.Data))
	}
	benchWriteGGUF(b, m, size)
}

// benchWriteGGUF measures WriteGGUF of m (size bytes of tensor data) for
// a keep-types, a float and a quantizing conversion.
func benchWriteGGUF(b *testing.B, m *model.Model, size int64) {
	for _, typ := range []string{"auto", "f16", "q8_0"} {
		b.Run(typ, func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				if err := WriteGGUF(m, io.Discard, Options{Type: typ}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvertSynthetic converts a 64 MB F32 llama-shaped model (four
// 2048×2048 matrices, q/k permuted) to measure throughput without the
// per-tensor overheads that dominate the tiny test models.
func BenchmarkConvertSynthetic(b *testing.B) {
	m := &model.Model{Path: "synthetic", RopeNeoX: true}
	m.Set("general.architecture", "llama")
	m.Set("llama.attention.head_count", uint32(16))
	m.Set("llama.attention.head_count_kv", uint32(16))
	m.Set("llama.block_count", uint32(1))
	var size int64
	for i, name := range []string{"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.ffn_up.weight"} {
		data := make([]byte, 2048*2048*4)
		for j := 0; j < len(data); j += 4 {
			binary.LittleEndian.PutUint32(data[j:], math.Float32bits(float32((j/4+i)%997)/997-0.5))
		}
		m.AddTensor(&model.Tensor{Name: name, Type: quant.F32, Shape: []uint64{2048, 2048}, Data: data})
		size += int64(len(data))
	}
	benchWriteGGUF(b, m, size)
}

// TestMLXMatchesReference: stories260K-hf written as mlx-q4 / mlx-q8 holds
// exactly the tensors of the shared MLX folders (which follow MLX's own
// quantizer), and a config mlx-lm reads.
func TestMLXMatchesReference(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "models", "stories260K-hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct{ typ, ref string }{{"mlx-q4", "stories260K-mlx-4bit"}, {"mlx-q8", "stories260K-mlx-8bit"}} {
		dir := filepath.Join(t.TempDir(), "out")
		if err := MLXFolder(m, dir, MLXOptions{Type: c.typ, GroupSize: 64}); err != nil {
			t.Fatal(err)
		}
		got, err := safetensors.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		want, err := safetensors.OpenDir(testdata.Path(t, "models", c.ref))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Names(), want.Names()) {
			t.Errorf("%s: tensor names differ:\n%v\n%v", c.typ, got.Names(), want.Names())
		}
		for _, n := range want.Names() {
			a, ok := got.Get(n)
			b, _ := want.Get(n)
			if !ok || a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || !bytes.Equal(a.Data(), b.Data()) {
				t.Errorf("%s: %s differs from %s", c.typ, n, c.ref)
			}
		}
		var cfg, refCfg map[string]any
		if err := safetensors.ReadJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
			t.Fatal(err)
		}
		safetensors.ReadJSON(filepath.Join(testdata.Path(t, "models", c.ref), "config.json"), &refCfg)
		for _, k := range []string{"model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings", "quantization", "rope_theta", "rms_norm_eps"} {
			if !reflect.DeepEqual(cfg[k], refCfg[k]) {
				t.Errorf("%s: config %s = %v, reference %v", c.typ, k, cfg[k], refCfg[k])
			}
		}
		got.Close()
		want.Close()
	}
}

// TestMLXMoE: Mixtral and Qwen3-MoE (stacked switch_mlp experts) and Phi-3
// (fused projections) written as MLX and read back give the same tensors (exactly for f32, within a
// quantization step for mlx-q4 matrices).
func TestMLXMoE(t *testing.T) {
	for _, name := range []string{"mixtral", "qwen3moe", "phi3"} {
		m, err := model.Open(testdata.Path(t, "oracle", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"f32", "mlx-q4"} {
			dir := filepath.Join(t.TempDir(), "mlx")
			if err := MLXFolder(m, dir, MLXOptions{Type: typ, GroupSize: 32}); err != nil {
				t.Fatalf("%s %s: %v", name, typ, err)
			}
			back, err := model.Open(dir)
			if err != nil {
				t.Fatalf("%s %s: reopen: %v", name, typ, err)
			}
			if back.Arch() != m.Arch() || len(back.Tensors) != len(m.Tensors) {
				t.Errorf("%s %s: arch %s, %d tensors (want %s, %d)", name, typ, back.Arch(), len(back.Tensors), m.Arch(), len(m.Tensors))
			}
			for _, kv := range []string{"expert_count", "expert_used_count", "expert_feed_forward_length", "embedding_length", "block_count",
				"feed_forward_length", "attention.head_count", "attention.head_count_kv", "context_length", "rope.dimension_count", "rope.scaling.original_context_length"} {
				a, okA := m.ArchUint(kv)
				b, _ := back.ArchUint(kv)
				if okA && a != b {
					t.Errorf("%s %s: %s = %d, want %d", name, typ, kv, b, a)
				}
			}
			for _, kv := range []string{"rope.freq_base", "attention.layer_norm_rms_epsilon"} {
				a, _ := m.ArchFloat(kv)
				b, _ := back.ArchFloat(kv)
				if a != b {
					t.Errorf("%s %s: %s = %v, want %v", name, typ, kv, b, a)
				}
			}
			for _, st := range m.Tensors {
				bt := back.Tensor(st.Name)
				if bt == nil {
					t.Errorf("%s %s: %s missing", name, typ, st.Name)
					continue
				}
				if !reflect.DeepEqual(bt.Shape, st.Shape) {
					t.Errorf("%s %s: %s shape %v want %v", name, typ, st.Name, bt.Shape, st.Shape)
					continue
				}
				if typ == "f32" {
					if !bytes.Equal(bt.Data, st.Data) {
						t.Errorf("%s f32: %s differs", name, st.Name)
					}
					continue
				}
				if isFloat(bt.Type) { // kept as F16: norms, routers
					ws := f32s(st.Type, st.Data)
					for i, v := range f32s(bt.Type, bt.Data) {
						w := ws[i]
						if math.Abs(float64(v-w)) > 1e-3*math.Abs(float64(w))+1e-7 {
							t.Fatalf("%s: %s[%d] = %v want %v", name, st.Name, i, v, w)
						}
					}
					continue
				}
				got := make([]float32, st.Elements())
				if err := quant.Dequantize(bt.Type, bt.Data, got); err != nil {
					t.Fatal(err)
				}
				want := f32s(st.Type, st.Data)
				for g := 0; g < len(want); g += 32 {
					lo, hi := want[g], want[g]
					for _, x := range want[g : g+32] {
						lo, hi = min(lo, x), max(hi, x)
					}
					for i := g; i < g+32; i++ {
						if d := math.Abs(float64(got[i] - want[i])); d > 1.5*float64(hi-lo)/15+1e-3 {
							t.Fatalf("%s mlx-q4: %s[%d] = %v want %v", name, st.Name, i, got[i], want[i])
						}
					}
				}
			}
			back.Close()
		}
		m.Close()
	}
}

// TestPermuteBias: llama q/k biases (attention_bias models) are permuted
// like the weight rows.
func TestPermuteBias(t *testing.T) {
	m := &model.Model{Path: "synthetic", RopeNeoX: true}
	m.Set("general.architecture", "llama")
	m.Set("llama.attention.head_count", uint32(2))
	m.Set("llama.attention.head_count_kv", uint32(1))
	mk := func(n int) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)))
		}
		return b
	}
	m.AddTensor(&model.Tensor{Name: "blk.0.attn_q.bias", Type: quant.F32, Shape: []uint64{16}, Data: mk(16)})
	m.AddTensor(&model.Tensor{Name: "blk.0.attn_k.bias", Type: quant.F32, Shape: []uint64{8}, Data: mk(8)})
	var out bytes.Buffer
	if err := WriteGGUF(m, &out, Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("mem", out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	q, _ := refTensor(f, "blk.0.attn_q.bias")
	k, _ := refTensor(f, "blk.0.attn_k.bias")
	if !bytes.Equal(f.TensorData(q), permuteRef(mk(16), 16, 2)) || !bytes.Equal(f.TensorData(k), permuteRef(mk(8), 8, 1)) {
		t.Errorf("q %v\nk %v", f32s(quant.F32, f.TensorData(q)), f32s(quant.F32, f.TensorData(k)))
	}
	// Head 0 of q: 0..7 rotate-half becomes 0,4,1,5,2,6,3,7.
	if got := f32s(quant.F32, f.TensorData(q))[:8]; !reflect.DeepEqual(got, []float32{0, 4, 1, 5, 2, 6, 3, 7}) {
		t.Errorf("q head 0 = %v", got)
	}
}

// TestLazyExperts: a MoE model opened with OpenLazy (experts stacked one
// tensor at a time during the write) converts to the same bytes.
func TestLazyExperts(t *testing.T) {
	path := testdata.Path(t, "oracle", "mixtral")
	eager, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer eager.Close()
	lazy, err := model.OpenLazy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	if tn := lazy.Tensor("blk.0.ffn_up_exps.weight"); tn == nil || tn.Data != nil || tn.Load == nil {
		t.Fatal("OpenLazy did not defer the expert stacking")
	}
	var a, b bytes.Buffer
	if err := WriteGGUF(eager, &a, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteGGUF(lazy, &b, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("lazy and eager conversions differ")
	}
}

// TestPyTorchFolderToGGUF: an HF folder whose weights are pytorch_model.bin
// (here the llama3 oracle's BF16 weights re-saved in torch's format)
// converts to the same tensors as the safetensors original.
func TestPyTorchFolderToGGUF(t *testing.T) {
	src := testdata.Path(t, "oracle", "llama3")
	set, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var tensors []pt.Tensor
	for _, n := range set.Names() {
		r, _ := set.Get(n)
		shape := make([]int64, len(r.Shape))
		for i, d := range r.Shape {
			shape[i] = int64(d)
		}
		tensors = append(tensors, pt.Tensor{Name: n, DType: string(r.DType), Shape: shape, Data: r.Data()})
	}
	dir := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err == nil {
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), pt.StateDict("archive", tensors), 0o644)
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format != model.FormatPyTorch {
		t.Fatalf("format %s", m.Format)
	}
	ref, err := model.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	_, a := convertTo(t, m, Options{})
	_, b := convertTo(t, ref, Options{})
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors, want %d", len(a.Tensors), len(b.Tensors))
	}
	for i := range b.Tensors {
		want := &b.Tensors[i]
		got, ok := refTensor(a, want.Name)
		if !ok || got.Type != want.Type || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(a.TensorData(got), b.TensorData(want)) {
			t.Errorf("%s differs", want.Name)
		}
	}
	checkAgainstSource(t, m, a)
}

// TestMLXTokenizerFromGGUF: an MLX folder written from a GGUF gets a
// tokenizer.model rebuilt from the GGUF vocabulary; read back it gives the
// same tokens, scores and types, and the same pieces as the original
// tok512.model.
func TestMLXTokenizerFromGGUF(t *testing.T) {
	g, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dir := filepath.Join(t.TempDir(), "mlx")
	if err := MLXFolder(g, dir, MLXOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	for _, key := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"} {
		a, _ := g.Get(key)
		b, ok := back.Get(key)
		if !ok || !reflect.DeepEqual(a.Value, b.Value) {
			t.Errorf("%s differs after the MLX round trip", key)
		}
	}
	mine, err := tokenizer.ReadSPModel(filepath.Join(dir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tokenizer.ReadSPModel(testdata.Path(t, "models", "stories260K", "tok512.model"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mine.Pieces, ref.Pieces) || mine.ModelType != ref.ModelType || mine.ByteFallback != ref.ByteFallback ||
		mine.UnkID != ref.UnkID || mine.BOSID != ref.BOSID || mine.EOSID != ref.EOSID || mine.PadID != ref.PadID {
		t.Errorf("tokenizer.model differs from tok512.model: %+v vs %+v", mine, ref)
	}
}

// TestMLXFromGGUFBPE: Llama 3 and Qwen 2 converted to GGUF and from there to
// MLX keep their byte-level BPE vocabulary (tokenizer.json rebuilt from the
// GGUF keys) and, for Llama 3, the rope scaling (recovered from rope_freqs).
func TestMLXFromGGUFBPE(t *testing.T) {
	for _, name := range []string{"llama3", "qwen2"} {
		hf, err := model.Open(testdata.Path(t, "oracle", name))
		if err != nil {
			t.Fatal(err)
		}
		path, _ := convertTo(t, hf, Options{})
		g, err := model.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "mlx")
		if err := MLXFolder(g, dir, MLXOptions{Type: "f32"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := model.Open(dir)
		if err != nil {
			t.Fatalf("%s: reopen: %v", name, err)
		}
		for _, key := range []string{"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
			"tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token"} {
			a, okA := hf.Get(key)
			b, okB := back.Get(key)
			if okA != okB || !reflect.DeepEqual(a.Value, b.Value) {
				t.Errorf("%s: %s differs after GGUF -> MLX (%v vs %v)", name, key, okA, okB)
			}
		}
		if a, b := hf.Tensor("rope_freqs.weight"), back.Tensor("rope_freqs.weight"); (a == nil) != (b == nil) || (a != nil && !bytes.Equal(a.Data, b.Data)) {
			t.Errorf("%s: rope_freqs not reproduced", name)
		}
		back.Close()
		g.Close()
		hf.Close()
	}
}

// TestMLXFailureLeavesNothing: a cancelled MLX conversion removes the folder
// it created.
func TestMLXFailureLeavesNothing(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "models", "stories260K-hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	if err := MLXFolder(m, filepath.Join(parent, "out"), MLXOptions{Context: ctx, Type: "mlx-q4"}); err == nil {
		t.Fatal("cancelled conversion succeeded")
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
