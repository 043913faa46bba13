package convert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/model"
)

// An MLX folder needs tokenizer files for mlx-lm (which loads the tokenizer
// with transformers). A source folder's files are copied; for a GGUF source
// with a SentencePiece vocabulary (tokenizer.ggml.model "llama") ferry
// writes tokenizer.model and tokenizer_config.json from the GGUF keys.

// writeGGUFTokenizer writes tokenizer files for m into dir when m carries a
// vocabulary ferry can express as files. It reports whether it wrote any.
func writeGGUFTokenizer(m *model.Model, dir string) (bool, error) {
	if m.String("tokenizer.ggml.model") != "llama" {
		return false, nil
	}
	sp, err := spModelProto(&m.Metadata)
	if err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.model"), sp); err != nil {
		return false, err
	}
	tokens := m.Strings("tokenizer.ggml.tokens")
	tc := map[string]any{"tokenizer_class": "LlamaTokenizer", "legacy": true}
	for key, name := range map[string]string{"bos_token": "tokenizer.ggml.bos_token_id", "eos_token": "tokenizer.ggml.eos_token_id", "unk_token": "tokenizer.ggml.unknown_token_id", "pad_token": "tokenizer.ggml.padding_token_id"} {
		if id, ok := m.Uint(name); ok && id < uint64(len(tokens)) {
			tc[key] = tokens[id]
		}
	}
	if b, ok := m.Bool("tokenizer.ggml.add_bos_token"); ok {
		tc["add_bos_token"] = b
	}
	if b, ok := m.Bool("tokenizer.ggml.add_eos_token"); ok {
		tc["add_eos_token"] = b
	}
	if t := m.String("tokenizer.chat_template"); t != "" {
		tc["chat_template"] = t
	}
	b, err := json.MarshalIndent(tc, "", "  ")
	if err != nil {
		return false, err
	}
	return true, atomicfile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b)
}

// spModelProto encodes a sentencepiece ModelProto (the tokenizer.model
// format) from GGUF tokenizer keys: pieces with scores and types (GGUF's
// token types are sentencepiece's numbering), a BPE trainer spec with the
// special ids, and an identity normalizer with the dummy-prefix flag.
func spModelProto(md *gguf.Metadata) ([]byte, error) {
	tokens := md.Strings("tokenizer.ggml.tokens")
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no tokenizer.ggml.tokens")
	}
	var scores []float32
	if kv, ok := md.Get("tokenizer.ggml.scores"); ok {
		if a, ok := kv.Value.(gguf.Array); ok {
			scores, _ = a.Values.([]float32)
		}
	}
	types := make([]int64, len(tokens))
	if kv, ok := md.Get("tokenizer.ggml.token_type"); ok {
		if a, ok := kv.Value.(gguf.Array); ok {
			if v, ok := a.Values.([]int32); ok && len(v) == len(tokens) {
				for i, t := range v {
					types[i] = int64(t)
				}
			}
		}
	}
	var out []byte
	byteFallback := false
	for i, tok := range tokens {
		var p []byte
		p = pbBytes(p, 1, []byte(tok))
		score := float32(0)
		if i < len(scores) {
			score = scores[i]
		}
		p = binary.AppendUvarint(p, 2<<3|5)
		p = binary.LittleEndian.AppendUint32(p, math.Float32bits(score))
		t := types[i]
		if t < 1 || t > 6 {
			t = 1
		}
		if t == 6 {
			byteFallback = true
		}
		p = pbVarint(p, 3, uint64(t))
		out = pbBytes(out, 1, p)
	}
	var ts []byte
	ts = pbVarint(ts, 3, 2) // model_type BPE
	if byteFallback {
		ts = pbVarint(ts, 35, 1)
	}
	// Fields in ascending order keep the encoding deterministic.
	for _, f := range []struct {
		field int
		key   string
		def   int64
	}{{40, "tokenizer.ggml.unknown_token_id", 0}, {41, "tokenizer.ggml.bos_token_id", 1}, {42, "tokenizer.ggml.eos_token_id", 2}, {43, "tokenizer.ggml.padding_token_id", -1}} {
		id := f.def
		if v, ok := md.Uint(f.key); ok && v < uint64(len(tokens)) {
			id = int64(v)
		}
		ts = pbVarint(ts, f.field, uint64(id)) // int32 -1 encodes as a 10-byte varint
	}
	out = pbBytes(out, 2, ts)
	var ns []byte
	ns = pbBytes(ns, 1, []byte("identity"))
	addPrefix := true
	if b, ok := md.Bool("tokenizer.ggml.add_space_prefix"); ok {
		addPrefix = b
	}
	ns = pbVarint(ns, 3, boolInt(addPrefix))
	rmWS, _ := md.Bool("tokenizer.ggml.remove_extra_whitespaces")
	ns = pbVarint(ns, 4, boolInt(rmWS))
	ns = pbVarint(ns, 5, 1) // escape_whitespaces
	out = pbBytes(out, 3, ns)
	return out, nil
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func pbVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
