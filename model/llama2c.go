package model

import (
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/llama2c"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/tokenizer"
)

func init() {
	register(FormatLlama2C, llama2c.Detect, func(path string) (*Model, error) { return OpenLlama2C(path, "") })
}

// OpenLlama2C loads a llama2.c checkpoint as a GGUF-style "llama" model,
// with the names, shapes and metadata llama.cpp's convert-llama2c-to-ggml
// writes. The weights stay in the file mapping: llama2.c's row-major
// [out][in] float32 matrices are already GGUF's layout (Shape {in, out}),
// and its wq/wk are in the interleaved RoPE order GGUF "llama" expects.
//
// tokenizerPath names the tokenizer file; "" looks next to the checkpoint
// (tokenizer.bin, tok*.bin). Without one the model has no vocabulary. The
// vocabulary keys come from tokenizer.Llama2CMetadata.
//
// One deliberate difference from llama.cpp's converter: llama.context_length
// is the checkpoint's seq_len (the context it was trained with), where the
// converter writes its own --ctx default.
func OpenLlama2C(path, tokenizerPath string) (*Model, error) {
	f, err := llama2c.Open(path)
	if err != nil {
		return nil, err
	}
	c := f.Config
	m := &Model{Path: path, Format: FormatLlama2C}
	m.OnClose(f.Close)

	if tokenizerPath == "" {
		tokenizerPath = llama2c.FindVocab(path, c.VocabSize)
	}
	var vocab []gguf.KV
	if tokenizerPath != "" {
		if vocab, err = tokenizer.Llama2CMetadata(tokenizerPath, c.VocabSize); err != nil {
			m.Close()
			return nil, err
		}
	}
	u32 := func(x int) uint32 { return uint32(x) }
	set := func(k string, v any) {
		if err == nil {
			err = m.Set(k, v)
		}
	}
	// Key order as the converter writes it: the vocabulary, the
	// architecture and name, the special token ids, the hyperparameters.
	i := 0
	for ; i < len(vocab) && strings.HasPrefix(vocab[i].Key, "tokenizer.ggml.") && !strings.HasSuffix(vocab[i].Key, "_id"); i++ {
		m.SetKV(vocab[i])
	}
	set("general.architecture", "llama")
	set("general.name", "llama")
	for ; i < len(vocab); i++ {
		m.SetKV(vocab[i])
	}
	set("llama.context_length", u32(c.SeqLen))
	set("llama.embedding_length", u32(c.Dim))
	set("llama.feed_forward_length", u32(c.HiddenDim))
	set("llama.attention.head_count", u32(c.NHeads))
	set("llama.attention.head_count_kv", u32(c.NKVHeads))
	set("llama.block_count", u32(c.NLayers))
	set("llama.rope.dimension_count", u32(min(64, c.HeadDim())))
	set("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	if err != nil {
		m.Close()
		return nil, err
	}

	add := func(name string, data []byte, shape ...int) {
		s := make([]uint64, len(shape))
		for i, d := range shape {
			s[i] = uint64(d)
		}
		m.AddTensor(&Tensor{Name: name, Type: quant.F32, Shape: s, Data: data})
	}
	tensor := func(name string) *llama2c.Tensor {
		t, _ := f.Tensor(name)
		return t
	}
	emb := tensor("token_embedding_table")
	add("token_embd.weight", f.Data(emb), c.Dim, c.VocabSize)
	add("output_norm.weight", f.Data(tensor("rms_final_weight")), c.Dim)
	if cls, ok := f.Tensor("wcls"); ok {
		add("output.weight", f.Data(cls), c.Dim, c.VocabSize)
	} else {
		add("output.weight", f.Data(emb), c.Dim, c.VocabSize)
	}
	layer := []struct {
		gguf, src string
		in, out   int
	}{
		{"attn_q", "wq", c.Dim, c.Dim},
		{"attn_k", "wk", c.Dim, c.KVDim()},
		{"attn_v", "wv", c.Dim, c.KVDim()},
		{"attn_output", "wo", c.Dim, c.Dim},
		{"attn_norm", "rms_att_weight", c.Dim, 0},
		{"ffn_gate", "w1", c.Dim, c.HiddenDim},
		{"ffn_down", "w2", c.HiddenDim, c.Dim},
		{"ffn_up", "w3", c.Dim, c.HiddenDim},
		{"ffn_norm", "rms_ffn_weight", c.Dim, 0},
	}
	for l := 0; l < c.NLayers; l++ {
		for _, lt := range layer {
			name := "blk." + strconv.Itoa(l) + "." + lt.gguf + ".weight"
			data := f.LayerData(tensor(lt.src), l)
			if lt.out == 0 {
				add(name, data, lt.in)
			} else {
				add(name, data, lt.in, lt.out)
			}
		}
	}
	return m, nil
}
