package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/llama2c"
	"github.com/ferryhq/ferry/pytorch"
	pt "github.com/ferryhq/ferry/pytorch/pytorchtest"
	"github.com/ferryhq/ferry/safetensors"
)

// hfConfig is the part of config.json the checks need, decoded here
// independently of the inspect code.
type hfConfig struct {
	Archs   []string `json:"architectures"`
	Hidden  uint64   `json:"hidden_size"`
	Inter   uint64   `json:"intermediate_size"`
	Layers  uint64   `json:"num_hidden_layers"`
	Heads   uint64   `json:"num_attention_heads"`
	KVHeads uint64   `json:"num_key_value_heads"`
	HeadDim *uint64  `json:"head_dim"`
	Vocab   int      `json:"vocab_size"`
	MaxPos  uint64   `json:"max_position_embeddings"`
	Experts uint64   `json:"num_local_experts"`
	NumExp  uint64   `json:"num_experts"`
	ExpUsed uint64   `json:"num_experts_per_tok"`
	Quant   *struct {
		GroupSize int    `json:"group_size"`
		Bits      int    `json:"bits"`
		Mode      string `json:"mode"`
	} `json:"quantization"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// llama.cpp's architecture for each oracle folder (convert_hf_to_gguf.py
// writes Mistral and Mixtral as "llama").
var oracleArch = map[string]string{
	"llama2": "llama", "llama3": "llama", "mistral": "llama", "mixtral": "llama",
	"qwen2": "qwen2", "qwen3": "qwen3", "qwen3moe": "qwen3moe",
	"gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3",
}

func TestOracleFolders(t *testing.T) {
	root := testdata.Path(t, "oracle")
	dirs, _ := os.ReadDir(root)
	if len(dirs) < 11 {
		t.Fatalf("%d oracle folders", len(dirs))
	}
	for _, d := range dirs {
		dir := filepath.Join(root, d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			r, err := Path(dir, Options{Ctx: 256})
			if err != nil {
				t.Fatal(err)
			}
			checkHF(t, dir, r)
			if want := oracleArch[d.Name()]; r.Architecture != want {
				t.Errorf("architecture %q, want %q", r.Architecture, want)
			}
		})
	}
}

// checkHF compares a folder report with config.json, the safetensors
// headers and the tokenizer files.
func checkHF(t *testing.T, dir string, r *Report) {
	t.Helper()
	var c hfConfig
	readJSON(t, filepath.Join(dir, "config.json"), &c)
	h := r.Hparams
	kv := c.KVHeads
	if kv == 0 {
		kv = c.Heads
	}
	got := []uint64{h.EmbeddingLength, h.FeedForwardLength, h.BlockCount, h.HeadCount, h.HeadCountKV, h.ContextLength, uint64(r.Vocab.Size)}
	want := []uint64{c.Hidden, c.Inter, c.Layers, c.Heads, kv, c.MaxPos, uint64(c.Vocab)}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("hparams %v, config.json %v", got, want)
		}
	}
	if h.ExpertCount != max(c.Experts, c.NumExp) || h.ExpertUsedCount != c.ExpUsed {
		t.Errorf("experts %d/%d, config %d/%d", h.ExpertCount, h.ExpertUsedCount, max(c.Experts, c.NumExp), c.ExpUsed)
	}
	if len(c.Archs) > 0 && r.SourceArch != c.Archs[0] {
		t.Errorf("source architecture %q, config %q", r.SourceArch, c.Archs[0])
	}

	// Tensors, bytes and (for unquantized folders) parameters from the
	// safetensors headers.
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var n, nbytes, size uint64
	for _, f := range set.Files {
		for i := range f.Tensors {
			n += f.Tensors[i].Elements()
			nbytes += f.Tensors[i].Size()
		}
		size += uint64(fileSize(f.Path))
	}
	if r.TensorCount != len(set.Names()) {
		t.Errorf("%d tensors, headers list %d", r.TensorCount, len(set.Names()))
	}
	if c.Quant == nil && r.Parameters != n {
		t.Errorf("%d parameters, headers sum to %d", r.Parameters, n)
	}
	if r.Memory == nil || r.Memory.Weights != nbytes {
		t.Errorf("memory %+v, tensor bytes %d", r.Memory, nbytes)
	}
	if uint64(r.FileSize) < size {
		t.Errorf("file size %d < weights files %d", r.FileSize, size)
	}
	// KV cache: 2 · layers · ctx · kv heads · head dim · 2 bytes.
	hd := c.Hidden / c.Heads
	if c.HeadDim != nil {
		hd = *c.HeadDim
	}
	if want := 2 * c.Layers * uint64(r.Memory.Context) * kv * hd * 2; r.Memory.KVCache != want {
		t.Errorf("KV cache %d, want %d", r.Memory.KVCache, want)
	}

	// Chat template: tokenizer_config.json's chat_template or a
	// chat_template.jinja file.
	var tc map[string]any
	hasTemplate := false
	if b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		json.Unmarshal(b, &tc)
		hasTemplate = tc["chat_template"] != nil
	}
	if _, err := os.Stat(filepath.Join(dir, "chat_template.jinja")); err == nil {
		hasTemplate = true
	}
	if r.ChatTemplate != hasTemplate {
		t.Errorf("chat template %v, files say %v", r.ChatTemplate, hasTemplate)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil && !strings.HasPrefix(r.Vocab.Tokenizer, "BPE") {
		t.Errorf("tokenizer %q for a BPE tokenizer.json", r.Vocab.Tokenizer)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil && !strings.HasPrefix(r.Vocab.Tokenizer, "SentencePiece") {
		t.Errorf("tokenizer %q for tokenizer.model", r.Vocab.Tokenizer)
	}
	// Text and JSON both render.
	var buf bytes.Buffer
	if err := r.WriteText(&buf, TextOptions{}); err != nil || !strings.Contains(buf.String(), "next: ") {
		t.Errorf("text: %v\n%s", err, buf.String())
	}
	if _, err := json.Marshal(r); err != nil {
		t.Error(err)
	}
}

// TestStoriesFamily checks the four forms of stories260K against their own
// headers and against each other: the llama2.c checkpoint, the HF folder
// and both MLX folders hold the same weights, so the same parameter count.
func TestStoriesFamily(t *testing.T) {
	bin := testdata.Path(t, "models", "stories260K", "stories260K.bin")
	lr, err := Path(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := llama2c.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Config
	f.Close()
	if lr.Format != "llama2c" || lr.Hparams.EmbeddingLength != uint64(c.Dim) || lr.Hparams.BlockCount != uint64(c.NLayers) ||
		lr.Hparams.HeadCountKV != uint64(c.NKVHeads) || lr.Hparams.ContextLength != uint64(c.SeqLen) || lr.Vocab.Size != c.VocabSize ||
		lr.Vocab.Files[0] != "tok512.bin" || lr.FileSize != fileSize(bin) {
		t.Fatalf("llama2c report %+v vs header %+v", lr, c)
	}
	// Parameters: every float of the file except the header and the two
	// obsolete RoPE tables.
	if want := uint64(fileSize(bin)-llama2c.HeaderSize)/4 - uint64(c.SeqLen*c.HeadDim()); lr.Parameters != want {
		t.Fatalf("llama2c parameters %d, want %d", lr.Parameters, want)
	}
	for _, name := range []string{"stories260K-hf", "stories260K-mlx-4bit", "stories260K-mlx-8bit"} {
		dir := testdata.Path(t, "models", name)
		r, err := Path(dir, Options{Ctx: 512})
		if err != nil {
			t.Fatal(err)
		}
		checkHF(t, dir, r)
		if r.Parameters != lr.Parameters {
			t.Errorf("%s: %d parameters, the llama2.c checkpoint has %d", name, r.Parameters, lr.Parameters)
		}
		var cfg hfConfig
		readJSON(t, filepath.Join(dir, "config.json"), &cfg)
		if cfg.Quant != nil {
			q := r.Quantization
			if r.Format != "mlx" || q == nil || q.Bits != cfg.Quant.Bits || q.GroupSize != cfg.Quant.GroupSize || q.Mode != cfg.Quant.Mode {
				t.Errorf("%s: format %s quantization %+v, config %+v", name, r.Format, q, cfg.Quant)
			}
			// Packed weights with F16 scale and bias per group of g:
			// bits + 32/g bits per weight.
			wantType := "MLX Q" + itoa(cfg.Quant.Bits) + " g" + itoa(cfg.Quant.GroupSize)
			found := false
			for _, ts := range r.Types {
				if ts.Type == wantType {
					found = true
					bpw := float64(ts.Bytes) * 8 / float64(ts.Elements)
					if want := float64(cfg.Quant.Bits) + 32/float64(cfg.Quant.GroupSize); bpw != want {
						t.Errorf("%s: %s at %.3f bits/weight, want %.3f", name, wantType, bpw, want)
					}
				}
			}
			if !found {
				t.Errorf("%s: no %s in %+v", name, wantType, r.Types)
			}
		} else if r.Format != "safetensors" {
			t.Errorf("%s: format %s", name, r.Format)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestGGUFFiles checks every GGUF under the test data against its own
// metadata read with package gguf.
func TestGGUFFiles(t *testing.T) {
	root := testdata.Dir(t)
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".gguf") {
			paths = append(paths, p)
		}
		return nil
	})
	if len(paths) < 6 {
		t.Fatalf("found %d GGUF files", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			r, err := Path(p, Options{Ctx: 100})
			if err != nil {
				t.Fatal(err)
			}
			g, err := gguf.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			a := g.Architecture() + "."
			u := func(k string) uint64 { v, _ := g.Uint(a + k); return v }
			if r.Format != "gguf" || r.Architecture != g.Architecture() || r.Alignment != g.Alignment || r.TensorCount != len(g.Tensors) ||
				r.FileSize != int64(g.Size) || len(r.Metadata) != len(g.KV) {
				t.Fatalf("report %+v", r)
			}
			h := r.Hparams
			if h.ContextLength != u("context_length") || h.EmbeddingLength != u("embedding_length") || h.BlockCount != u("block_count") ||
				h.HeadCount != u("attention.head_count") {
				t.Errorf("hparams %+v", h)
			}
			toks := g.Strings("tokenizer.ggml.tokens")
			if r.Vocab == nil || r.Vocab.Size != len(toks) || (r.Vocab.Pre != g.String("tokenizer.ggml.pre")) {
				t.Errorf("vocab %+v, GGUF has %d tokens", r.Vocab, len(toks))
			}
			_, chat := g.Get("tokenizer.chat_template")
			if r.ChatTemplate != chat {
				t.Errorf("chat template %v", r.ChatTemplate)
			}
			var n, bytes uint64
			for i := range g.Tensors {
				n += g.Tensors[i].Elements()
				bytes += g.Tensors[i].Size
			}
			if r.Parameters != n {
				t.Errorf("parameters %d, want %d", r.Parameters, n)
			}
			if len(g.Tensors) > 0 {
				kv := u("attention.head_count_kv")
				hd := u("embedding_length") / u("attention.head_count")
				if want := 2 * u("block_count") * 100 * kv * hd * 2; r.Memory == nil || r.Memory.KVCache != want || r.Memory.Weights != bytes {
					t.Errorf("memory %+v, want KV %d weights %d", r.Memory, want, bytes)
				}
			} else if !strings.Contains(r.Next, "tokenize") {
				t.Errorf("vocab-only file: next %q", r.Next)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTokenizers checks the tokenizer-only folders and files.
func TestTokenizers(t *testing.T) {
	dir := testdata.Path(t, "tokenizers", "llama3")
	r, err := Path(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
		Added []struct {
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	readJSON(t, filepath.Join(dir, "tokenizer.json"), &tj)
	want := len(tj.Model.Vocab)
	for _, a := range tj.Added {
		if _, ok := tj.Model.Vocab[a.Content]; !ok {
			want++
		}
	}
	if r.Format != "tokenizer" || r.Vocab.Size != want || !r.ChatTemplate {
		t.Errorf("llama3 tokenizer: %+v %+v, want %d tokens and a chat template", r, r.Vocab, want)
	}
	// The Llama 2 SentencePiece model has the vocabulary of the Llama 2
	// GGUF in the test data.
	sp, err := Path(testdata.Path(t, "tokenizers", "llama2", "tokenizer.model"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(testdata.Path(t, "models", "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if sp.Vocab.Size != len(g.Strings("tokenizer.ggml.tokens")) {
		t.Errorf("tokenizer.model: %d pieces, Llama 2 GGUF %d", sp.Vocab.Size, len(g.Strings("tokenizer.ggml.tokens")))
	}
	// A folder of tokenizer files holds exactly the one model file.
	if r, err := Path(testdata.Path(t, "tokenizers", "llama2"), Options{}); err != nil || r.Vocab.Size != sp.Vocab.Size {
		t.Errorf("llama2 folder: %v %v", r, err)
	}
	if _, err := Path(testdata.Path(t, "tokenizers", "sentencepiece_golden.json"), Options{}); !errors.Is(err, ErrUnknown) {
		t.Errorf("golden JSON: %v", err)
	}
}

// TestEverything walks the whole test data: every file and folder is either
// described (text and JSON) or rejected as not a model, never an error of
// another kind.
func TestEverything(t *testing.T) {
	root := testdata.Dir(t)
	described := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		r, err := Path(p, Options{})
		if errors.Is(err, ErrUnknown) {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the path: %v", err)
			}
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		described++
		if err := r.WriteText(new(bytes.Buffer), TextOptions{Tensors: true}); err != nil {
			t.Error(err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if r.Next == "" {
			t.Errorf("%s: no next step", p)
		}
		return nil
	})
	if described < 30 {
		t.Errorf("only %d paths described", described)
	}
}

func TestLegacyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "old.bin")
	b := []byte("tjgg\x03\x00\x00\x00")
	for _, v := range []uint32{32000, 4096, 256, 32, 32, 128, 2} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	if err := os.WriteFile(p, append(b, make([]byte, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Path(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != "ggml" || r.Version != "GGJT v3" || r.Legacy.NLayer != 32 || r.Vocab.Size != 32000 || !r.Legacy.Convertible ||
		!strings.Contains(r.Next, "convert_llama_ggml_to_gguf.py") {
		t.Fatalf("%+v %+v", r, r.Legacy)
	}
}

func TestGarbage(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"empty.gguf":    nil,
		"short.gguf":    []byte("GGUF\x03\x00"),
		"x.bin":         bytes.Repeat([]byte{7}, 1000),
		"bad.json":      []byte("{"),
		"trunc.zip":     []byte("PK\x03\x04"),
		"w.safetensors": []byte("\xff\xff\xff\xff\xff\xff\xff\x7f{"),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		if _, err := Path(p, Options{}); err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPyTorchFiles(t *testing.T) {
	for _, name := range []string{"state_dict.pt", "checkpoint.pth"} {
		p := filepath.Join("..", "pytorch", "testdata", name)
		r, err := Path(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := pytorch.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, ts := range f.Tensors {
			n += uint64(ts.Elements())
		}
		if r.Format != "pytorch" || r.TensorCount != len(f.Tensors) || r.Parameters != n || r.FileSize != fileSize(p) {
			t.Errorf("%s: %+v", name, r)
		}
		f.Close()
	}
}

// TestPyTorchFolder writes an oracle folder's weights as pytorch_model.bin
// and checks the report matches the safetensors folder's.
func TestPyTorchFolder(t *testing.T) {
	src := testdata.Path(t, "oracle", "llama3")
	dir := t.TempDir()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".safetensors") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	set, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []pt.Tensor
	for _, n := range set.Names() {
		ref, _ := set.Get(n)
		shape := make([]int64, len(ref.Shape))
		for i, d := range ref.Shape {
			shape[i] = int64(d)
		}
		ts = append(ts, pt.Tensor{Name: n, DType: string(ref.DType), Shape: shape, Data: ref.Data()})
	}
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), pt.StateDict("pytorch_model", ts), 0o644)
	set.Close()
	want, err := Path(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Path(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkHF(t, src, want)
	if got.Format != "pytorch" || got.Parameters != want.Parameters || got.Architecture != want.Architecture ||
		!reflect.DeepEqual(got.Hparams, want.Hparams) || !reflect.DeepEqual(got.Types, want.Types) || !reflect.DeepEqual(got.Vocab, want.Vocab) ||
		got.ChatTemplate != want.ChatTemplate || *got.Memory != *want.Memory {
		t.Errorf("pytorch folder report %+v\nsafetensors folder %+v", got, want)
	}
}

func TestMLXOverrides(t *testing.T) {
	var cfg config
	dec := json.NewDecoder(strings.NewReader(`{"quantization": {"group_size": 64, "bits": 4,
		"model.layers.0.mlp.down_proj": false,
		"model.layers.1.self_attn.q_proj": {"group_size": 32, "bits": 8}}}`))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	q := mlxQuant(cfg)
	want := &Quantization{GroupSize: 64, Bits: 4, Mode: "affine", Overrides: []Override{
		{Path: "model.layers.0.mlp.down_proj", Quantized: false, GroupSize: 64, Bits: 4},
		{Path: "model.layers.1.self_attn.q_proj", Quantized: true, GroupSize: 32, Bits: 8},
	}}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("%+v", q)
	}
	if b, g := q.bitsFor("model.layers.1.self_attn.q_proj.weight"); b != 8 || g != 32 {
		t.Fatalf("override bits %d group %d", b, g)
	}
	if b, g := q.bitsFor("model.layers.2.self_attn.q_proj.weight"); b != 4 || g != 64 {
		t.Fatalf("default bits %d group %d", b, g)
	}
}

// TestFolders: a folder of model folders lists each (one level down), and a
// broken file in a folder is reported without hiding the good ones.
func TestFolders(t *testing.T) {
	root := testdata.Path(t, "oracle")
	r, err := Path(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := os.ReadDir(root)
	if r.Format != "folder" || len(r.Parts) != len(dirs) {
		t.Fatalf("%s: format %s, %d parts for %d folders", root, r.Format, len(r.Parts), len(dirs))
	}
	dir := t.TempDir()
	good, _ := os.ReadFile(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	os.WriteFile(filepath.Join(dir, "good.gguf"), good, 0o644)
	os.WriteFile(filepath.Join(dir, "broken.gguf"), good[:1000], 0o644)
	r, err = Path(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != "folder" || len(r.Parts) != 1 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "broken.gguf") {
		t.Fatalf("%+v", r)
	}
	var buf bytes.Buffer
	r.WriteText(&buf, TextOptions{})
	if !strings.Contains(buf.String(), "error: ") {
		t.Fatalf("text:\n%s", buf.String())
	}
}

// TestGGUFValues: every value type, nested arrays, non-finite floats and
// long strings survive both output modes.
func TestGGUFValues(t *testing.T) {
	w := gguf.NewWriter()
	w.Set("general.architecture", "test")
	w.Set("u8", uint8(1))
	w.Set("i8", int8(-1))
	w.Set("u16", uint16(2))
	w.Set("i16", int16(-2))
	w.Set("u32", uint32(3))
	w.Set("i32", int32(-3))
	w.Set("f32", float32(math.NaN()))
	w.Set("bool", true)
	w.Set("str", strings.Repeat("é", 100))
	w.Set("u64", uint64(1<<40))
	w.Set("i64", int64(-1<<40))
	w.Set("f64", math.Inf(-1))
	w.Set("bytes", []uint8{1, 2, 3})
	w.Set("floats", []float32{1, float32(math.Inf(1))})
	w.Set("nested", gguf.Array{Type: gguf.TypeArray, Values: []gguf.Array{
		{Type: gguf.TypeInt32, Values: []int32{1, 2}},
		{Type: gguf.TypeString, Values: []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	}})
	path := filepath.Join(t.TempDir(), "values.gguf")
	f, _ := os.Create(path)
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Path(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"value":"NaN"`, `"value":"-Inf"`, `"value":[1,2,3]`, `"value":[1,"+Inf"]`, `"value":[[1,2],["a","b","c","d","e","f","g","h"]]`, `"type":"array[array[int32]]"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var buf bytes.Buffer
	r.WriteText(&buf, TextOptions{})
	for _, want := range []string{`[[1, 2], ["a", "b", "c", "d", "e", "f", … 8 total]]`, "… (200 bytes)", "-1099511627776"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %s:\n%s", want, buf.String())
		}
	}
}
