package llama2c

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

// TestStories checks the header of the real checkpoint against the same
// model's HF config.json and GGUF metadata.
func TestStories(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.bin")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var cfg struct {
		Hidden  int  `json:"hidden_size"`
		Inter   int  `json:"intermediate_size"`
		Layers  int  `json:"num_hidden_layers"`
		Heads   int  `json:"num_attention_heads"`
		KVHeads int  `json:"num_key_value_heads"`
		Vocab   int  `json:"vocab_size"`
		MaxPos  int  `json:"max_position_embeddings"`
		Tied    bool `json:"tie_word_embeddings"`
	}
	b, err := os.ReadFile(testdata.Path(t, "models", "stories260K-hf", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	c := f.Config
	got := []int{c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize, c.SeqLen}
	want := []int{cfg.Hidden, cfg.Inter, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.Vocab, cfg.MaxPos}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("header %v, config.json says %v", got, want)
		}
	}
	if c.SharedClassifier != cfg.Tied {
		t.Fatalf("shared classifier %v, tie_word_embeddings %v", c.SharedClassifier, cfg.Tied)
	}

	// Weights: the GGUF conversion of the same checkpoint holds the same
	// float32 values (llama.cpp's converter copies them as they are).
	g, err := gguf.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, pair := range [][2]string{{"token_embedding_table", "token_embd.weight"}, {"rms_final_weight", "output_norm.weight"}} {
		src, _ := f.Tensor(pair[0])
		dst, _ := g.Tensor(pair[1])
		if string(f.Data(src)) != string(g.TensorData(dst)) {
			t.Errorf("%s differs from GGUF %s", pair[0], pair[1])
		}
	}
	wq, _ := f.Tensor("wq")
	for l := 0; l < c.NLayers; l++ {
		dst, _ := g.Tensor("blk." + strconv.Itoa(l) + ".attn_q.weight")
		if string(f.LayerData(wq, l)) != string(g.TensorData(dst)) {
			t.Errorf("layer %d wq differs from GGUF", l)
		}
	}
}

// TestVocab checks tok512.bin against the GGUF's vocabulary scores.
func TestVocab(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "tok512.bin")
	v, err := ReadVocab(p, 512)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	kv, _ := g.Get("tokenizer.ggml.scores")
	scores := kv.Value.(gguf.Array).Values.([]float32)
	toks := g.Strings("tokenizer.ggml.tokens")
	if len(v.Tokens) != len(toks) {
		t.Fatalf("%d tokens, GGUF has %d", len(v.Tokens), len(toks))
	}
	for i := range scores {
		if v.Scores[i] != scores[i] {
			t.Fatalf("score %d = %v, GGUF %v", i, v.Scores[i], scores[i])
		}
		// The GGUF replaces spaces by U+2581 and names ids 0..2.
		if i > 2 && strings.ReplaceAll(v.Tokens[i], " ", "\u2581") != toks[i] {
			t.Fatalf("token %d = %q, GGUF %q", i, v.Tokens[i], toks[i])
		}
	}
	if _, err := ReadVocab(p, 511); err == nil {
		t.Fatal("vocab size mismatch not reported")
	}
	if got := FindVocab(testdata.Path(t, "models", "stories260K", "stories260K.bin"), 512); filepath.Base(got) != "tok512.bin" {
		t.Fatalf("FindVocab = %q", got)
	}
}

// header builds a checkpoint header.
func header(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// synth builds a complete checkpoint whose floats count up from 0.
func synth(h []byte) []byte {
	c, err := ParseConfig(h)
	if err != nil {
		panic(err)
	}
	_, n := c.Layout()
	b := make([]byte, n)
	copy(b, h)
	for i := HeaderSize; i+4 <= len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(i)))
	}
	return b
}

func TestSeparateClassifier(t *testing.T) {
	b := synth(header(16, 40, 2, 4, 2, -32, 8))
	f, err := Parse("sep.bin", b)
	if err != nil {
		t.Fatal(err)
	}
	if f.SharedClassifier || f.VocabSize != 32 || f.KVDim() != 8 {
		t.Fatalf("config %+v", f.Config)
	}
	w, ok := f.Tensor("wcls")
	if !ok || w.Offset+w.Size != int64(len(b)) {
		t.Fatalf("wcls %+v ok=%v, file %d", w, ok, len(b))
	}
	// The same bytes with a positive vocab_size are too long by wcls.
	copy(b[20:], header(32))
	if _, err := Parse("shared.bin", b); err == nil || !strings.Contains(err.Error(), "implies") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	good := synth(header(16, 40, 2, 4, 2, 32, 8))
	cases := map[string][]byte{
		"empty":       nil,
		"short":       good[:20],
		"truncated":   good[:len(good)-4],
		"extra":       append(append([]byte{}, good...), 0, 0, 0, 0),
		"zero dim":    append(header(0, 40, 2, 4, 2, 32, 8), good[28:]...),
		"heads":       append(header(16, 40, 2, 3, 1, 32, 8), good[28:]...),
		"kv heads":    append(header(16, 40, 2, 4, 3, 32, 8), good[28:]...),
		"huge":        append(header(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30), good[28:]...),
		"min vocab":   append(header(16, 40, 2, 4, 2, math.MinInt32, 8), good[28:]...),
		"ak42 export": append([]byte("24ka\x01\x00\x00\x00"), good[8:]...),
	}
	for name, b := range cases {
		if _, err := Parse(name, b); err == nil {
			t.Errorf("%s: expected an error", name)
		} else if !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	if _, err := Parse("good", good); err != nil {
		t.Fatal(err)
	}
}

func TestVocabBadInput(t *testing.T) {
	tok := func(score float32, s string) []byte {
		b := make([]byte, 8+len(s))
		binary.LittleEndian.PutUint32(b, math.Float32bits(score))
		binary.LittleEndian.PutUint32(b[4:], uint32(len(s)))
		copy(b[8:], s)
		return b
	}
	good := append(header(3), tok(0, "<unk>")...)
	good = append(good, tok(-1, "ab")...)
	v, err := ParseVocab("good", good, 2)
	if err != nil || v.Tokens[1] != "ab" || v.Scores[1] != -1 || v.MaxTokenLength != 3 {
		t.Fatalf("%+v %v", v, err)
	}
	cases := map[string][]byte{
		"empty":      nil,
		"max len":    append(header(-1), good[4:]...),
		"truncated":  good[:len(good)-1],
		"neg length": append(append(header(3), tok(0, "x")...), append(header(0), header(-5)...)...),
		"trailing":   append(append([]byte{}, good...), 1),
		"huge count": header(3),
	}
	for name, b := range cases {
		if _, err := ParseVocab(name, b, 2); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
	if _, err := ParseVocab("toomany", good, 1<<30); err == nil {
		t.Error("impossible vocab size accepted")
	}
}

func TestReadHeader(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.bin")
	a, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if a.Config != b.Config || a.Size != b.Size || len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%+v vs %+v", a.Config, b.Config)
	}
	if _, err := ReadHeader(testdata.Path(t, "models", "stories260K", "tok512.bin")); err == nil {
		t.Fatal("tokenizer file accepted as a checkpoint")
	}
}
