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
// ferry writes them from the GGUF keys: tokenizer.model for a SentencePiece
// vocabulary (tokenizer.ggml.model "llama"), tokenizer.json for byte-level
// BPE ("gpt2") with a pre-tokenizer it can spell (llama-bpe, qwen2, gpt-2),
// and tokenizer_config.json.

// bpePreTokenizers are the tokenizer.json pre-tokenizers of llama.cpp's
// pre-tokenizer names, as the original models' tokenizer.json files have
// them.
var bpePreTokenizers = map[string]any{
	"llama-bpe": splitByteLevel(`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`),
	"qwen2":     splitByteLevel(`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`),
	"gpt-2":     map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
}

func splitByteLevel(re string) any {
	return map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": re}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
	}}
}

// bpeTokenizerJSON writes a Hugging Face tokenizer.json for a byte-level BPE
// GGUF vocabulary, or nil when its pre-tokenizer has no known spelling.
func bpeTokenizerJSON(md *gguf.Metadata) ([]byte, error) {
	pre := md.String("tokenizer.ggml.pre")
	if pre == "" || pre == "default" {
		pre = "gpt-2"
	}
	pt, ok := bpePreTokenizers[pre]
	if !ok {
		return nil, nil
	}
	tokens := md.Strings("tokenizer.ggml.tokens")
	merges := md.Strings("tokenizer.ggml.merges")
	var types []int32
	if kv, ok := md.Get("tokenizer.ggml.token_type"); ok {
		if a, ok := kv.Value.(gguf.Array); ok {
			types, _ = a.Values.([]int32)
		}
	}
	if len(tokens) == 0 || len(types) != len(tokens) {
		return nil, fmt.Errorf("tokenizer.ggml.tokens/token_type missing or of different lengths")
	}
	vocab := make(map[string]int, len(tokens))
	var added []any
	for i, tok := range tokens {
		switch types[i] {
		case 5: // UNUSED: llama.cpp's [PAD{i}] filler, not part of the HF vocabulary
			continue
		case 3, 4: // CONTROL, USER_DEFINED
			added = append(added, map[string]any{"id": i, "content": tok, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": false, "special": types[i] == 3})
		}
		if _, dup := vocab[tok]; !dup {
			vocab[tok] = i
		}
	}
	pairs := make([][2]string, 0, len(merges))
	for _, mg := range merges {
		a, b, ok := cutSpace(mg)
		if !ok {
			return nil, fmt.Errorf("merge %q is not two tokens", mg)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	var post any
	if add, _ := md.Bool("tokenizer.ggml.add_bos_token"); add {
		if id, ok := md.Uint("tokenizer.ggml.bos_token_id"); ok && id < uint64(len(tokens)) {
			bos := tokens[id]
			post = map[string]any{"type": "TemplateProcessing",
				"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
				"pair":           []any{map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": bos, "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
				"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []uint64{id}, "tokens": []string{bos}}}}
		}
	}
	tj := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "normalizer": nil,
		"added_tokens":   added,
		"pre_tokenizer":  pt,
		"post_processor": post,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": pre == "llama-bpe",
			"vocab": vocab, "merges": pairs},
	}
	return json.Marshal(tj)
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], i > 0 && i+1 < len(s)
		}
	}
	return "", "", false
}

// writeGGUFTokenizer writes tokenizer files for m into dir when m carries a
// vocabulary ferry can express as files; otherwise it writes nothing, and
// the folder is still a valid (tokenizer-less) model.
func writeGGUFTokenizer(m *model.Model, dir string) error {
	tc := map[string]any{}
	switch m.String("tokenizer.ggml.model") {
	case "llama":
		sp, err := spModelProto(&m.Metadata)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.model"), sp); err != nil {
			return err
		}
		tc["tokenizer_class"] = "LlamaTokenizer"
		tc["legacy"] = true
	case "gpt2":
		tj, err := bpeTokenizerJSON(&m.Metadata)
		if err != nil || tj == nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.json"), tj); err != nil {
			return err
		}
		tc["tokenizer_class"] = "PreTrainedTokenizerFast"
	default:
		return nil
	}
	tokens := m.Strings("tokenizer.ggml.tokens")
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
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b)
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
