package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{"", " ", "Hello world", "  two  spaces\n\n", "<|eot_id|>x<s>", "你好 🦙", "\xff\xfe", "'s 'LL 123456", "\u00a0\u3000\t\r\n"} {
		f.Add(s)
	}
}

// FuzzEncodeDecode checks on arbitrary input that encoding never fails or
// panics, ids stay in range, and valid UTF-8 round-trips on lossless
// vocabularies.
func FuzzEncodeDecode(f *testing.F) {
	fuzzSeeds(f)
	dir, ok := testdata.Find()
	if !ok {
		f.Skip("shared test data not found")
	}
	var toks []*Tokenizer
	for _, name := range []string{"llama-spm", "gpt-2", "deepseek-coder", "starcoder"} {
		toks = append(toks, openGGUFTokenizer(f, filepath.Join(dir, "vocab", "ggml-vocab-"+name+".gguf")))
	}
	toks = append(toks, hfTokenizer(f, filepath.Join(dir, "oracle", "llama3")), hfTokenizer(f, filepath.Join(dir, "oracle", "gemma")))
	f.Fuzz(func(t *testing.T, text string) {
		for _, tok := range toks {
			for _, special := range []bool{false, true} {
				ids, err := tok.Encode(text, true, special)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						t.Fatalf("id %d out of range", id)
					}
				}
				if special || !utf8.ValidString(text) || tok.unkUsed(ids) {
					continue
				}
				got := tok.Decode(ids)
				if tok.removeExtraWS {
					continue
				}
				if got != text {
					t.Fatalf("%s/%s: decode(encode(%q)) = %q", tok.kind, tok.pre, text, got)
				}
			}
		}
	})
}

// FuzzParseSPModel feeds arbitrary bytes to the protobuf reader.
func FuzzParseSPModel(f *testing.F) {
	// Small seeds keep the fuzzer's input minimisation fast; a whole
	// tokenizer.model is exercised by the golden tests.
	f.Add(spSeed())
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 'a', 0x10, 0x01})
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSPModel(data)
		if err != nil {
			return
		}
		// Whatever parses must also convert and load without panicking.
		kvs, err := (&hfReader{}).spModelKVs(m, "fuzz.model")
		if err != nil {
			return
		}
		if tok, err := FromMetadata(&gguf.Metadata{KV: kvs}); err == nil {
			if _, err := tok.Encode("hello wörld <s>", true, true); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzLlama2C feeds arbitrary bytes to the llama2.c tokenizer reader.
func FuzzLlama2C(f *testing.F) {
	f.Add(llama2cSeed(), 6)
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a'}, 0)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		kvs, err := parseLlama2C("fuzz.bin", data, n%100000)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.bin") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		tok, err := FromMetadata(&gguf.Metadata{KV: kvs})
		if err != nil {
			return
		}
		if _, err := tok.Encode("hello wörld", true, true); err != nil {
			t.Fatal(err)
		}
	})
}

// llama2cSeed is a six-token llama2.c tokenizer.
func llama2cSeed() []byte {
	var b []byte
	put := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	put(6)
	for _, tok := range []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x41>", " h", "ello"} {
		put(math.Float32bits(-float32(len(b) % 7)))
		put(uint32(len(tok)))
		b = append(b, tok...)
	}
	return b
}

// spSeed is a tiny sentencepiece BPE ModelProto.
func spSeed() []byte {
	var b []byte
	field := func(dst []byte, num int, payload []byte) []byte {
		dst = binary.AppendUvarint(dst, uint64(num<<3|2))
		dst = binary.AppendUvarint(dst, uint64(len(payload)))
		return append(dst, payload...)
	}
	for i, p := range []string{"<unk>", "<s>", "</s>", "<0x41>", "▁", "h", "▁h"} {
		var piece []byte
		piece = field(piece, 1, []byte(p))
		piece = append(piece, 2<<3|5)
		piece = binary.LittleEndian.AppendUint32(piece, math.Float32bits(-float32(i)))
		ty := []uint64{2, 3, 3, 6, 1, 1, 1}[i]
		piece = append(piece, 3<<3|0)
		piece = binary.AppendUvarint(piece, ty)
		b = field(b, 1, piece)
	}
	trainer := []byte{3 << 3, 2, 0x98, 0x02, 1} // model_type BPE, byte_fallback (field 35)
	b = field(b, 2, trainer)
	norm := []byte{4 << 3, 0} // remove_extra_whitespaces false
	b = field(b, 3, norm)
	return b
}

func TestSmallSentencePieceModel(t *testing.T) {
	m, err := ParseSPModel(spSeed())
	if err != nil {
		t.Fatal(err)
	}
	if m.ModelType != 2 || !m.ByteFallback || m.RemoveExtraWhitespaces || !m.AddDummyPrefix || len(m.Pieces) != 7 {
		t.Fatalf("parsed %+v", m)
	}
	kvs, err := (&hfReader{}).spModelKVs(m, "seed.model")
	if err != nil {
		t.Fatal(err)
	}
	tok := fromKVs(t, kvs)
	ids, err := tok.Encode("h A", true, false)
	if err != nil {
		t.Fatal(err)
	}
	// <s> ▁h ▁ <0x41>: "A" is not a piece, so it falls back to its byte.
	if fmt.Sprint(ids) != "[1 6 4 3]" {
		t.Fatalf("ids %v", ids)
	}
	if got := tok.Decode(ids); got != "h A" {
		t.Fatalf("decode %q", got)
	}
	kvs2, err := parseLlama2C("seed.bin", llama2cSeed(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if tok := fromKVs(t, kvs2); tok.VocabSize() != 6 || tok.Type(3) != TypeByte {
		t.Fatalf("llama2.c seed: %d tokens, type(3)=%d", tok.VocabSize(), tok.Type(3))
	}
}

func TestBadInputErrors(t *testing.T) {
	if _, err := ParseSPModel([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Error("oversized length accepted")
	}
	if _, err := ParseSPModel(nil); err == nil {
		t.Error("empty model accepted")
	}
	if _, err := parseLlama2C("t.bin", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, 0); err == nil || !strings.Contains(err.Error(), "t.bin") {
		t.Errorf("huge token length: %v", err)
	}
	if _, err := parseLlama2C("t.bin", llama2cSeed(), 1<<20); err == nil {
		t.Error("vocabulary larger than the file accepted")
	}
	if _, err := HFMetadata(t.TempDir()); err == nil {
		t.Error("empty folder accepted")
	}
	if _, err := FromMetadata(&gguf.Metadata{}); err == nil {
		t.Error("metadata without a tokenizer accepted")
	}
	md := &gguf.Metadata{}
	md.Set("tokenizer.ggml.model", "gpt2")
	md.Set("tokenizer.ggml.tokens", []string{"a", "b"})
	md.Set("tokenizer.ggml.pre", "no-such-pre")
	if _, err := FromMetadata(md); err == nil || !strings.Contains(err.Error(), "no-such-pre") {
		t.Errorf("unknown pre-tokenizer: %v", err)
	}
	md.Set("tokenizer.ggml.pre", "gpt-2")
	md.Set("tokenizer.ggml.scores", []float32{1})
	if _, err := FromMetadata(md); err == nil {
		t.Error("score count mismatch accepted")
	}
}

// FuzzFromMetadata builds vocabularies from arbitrary bytes: tokens,
// types, scores, merges and special ids may be anything; building and
// encoding must never panic or loop.
func FuzzFromMetadata(f *testing.F) {
	f.Add([]byte("a\x00b\x00ab\x00<s>\x00\x00 "), []byte{1, 1, 1, 3, 6}, "hello ab <s>", false)
	f.Add([]byte("Ġ\x00t\x00Ġt\x00h\x00e\x00he"), []byte{1, 1, 1, 4, 2, 5}, " the teeth", true)
	f.Fuzz(func(t *testing.T, vocab []byte, types []byte, text string, bpe bool) {
		tokens := strings.Split(string(vocab), "\x00")
		if len(tokens) > 2000 {
			return
		}
		md := &gguf.Metadata{}
		if bpe {
			md.Set("tokenizer.ggml.model", "gpt2")
			md.Set("tokenizer.ggml.pre", []string{"gpt-2", "llama-bpe", "qwen2", "default", "deepseek-coder"}[len(text)%5])
			var merges []string
			for i := 0; i+1 < len(tokens); i++ {
				merges = append(merges, tokens[i]+" "+tokens[i+1])
			}
			md.Set("tokenizer.ggml.merges", merges)
		} else {
			md.Set("tokenizer.ggml.model", "llama")
			scores := make([]float32, len(tokens))
			for i := range scores {
				scores[i] = float32(len(tokens[i])) - float32(i%7)
			}
			md.Set("tokenizer.ggml.scores", scores)
		}
		md.Set("tokenizer.ggml.tokens", tokens)
		tt := make([]int32, len(tokens))
		for i := range tt {
			if i < len(types) {
				tt[i] = int32(types[i]) % 8
			} else {
				tt[i] = 1
			}
		}
		md.Set("tokenizer.ggml.token_type", tt)
		md.Set("tokenizer.ggml.bos_token_id", uint32(len(types)))
		md.Set("tokenizer.ggml.eos_token_id", uint32(len(text)))
		tok, err := FromMetadata(md)
		if err != nil {
			return
		}
		for _, special := range []bool{false, true} {
			ids, err := tok.Encode(text, true, special)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("id %d out of range", id)
				}
			}
			_ = tok.Decode(ids)
			d := tok.NewStreamDecoder(true)
			for _, id := range ids {
				d.Add(id)
			}
			d.Flush()
		}
	})
}
