package tokenizer

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/testdata"
)

// allTokenizers returns one tokenizer per vocabulary family in the shared data.
func allTokenizers(t testing.TB) map[string]*Tokenizer {
	t.Helper()
	out := map[string]*Tokenizer{}
	for _, name := range []string{"llama-spm", "gpt-2", "deepseek-coder", "starcoder"} {
		out[name] = openGGUFTokenizer(t, filepath.Join(testdata.Path(t, "vocab"), "ggml-vocab-"+name+".gguf"))
	}
	out["llama3"] = hfTokenizer(t, testdata.Path(t, "tokenizers", "llama3"))
	out["qwen2-oracle"] = hfTokenizer(t, testdata.Path(t, "oracle", "qwen2"))
	out["gemma-oracle"] = hfTokenizer(t, testdata.Path(t, "oracle", "gemma"))
	kvs, err := SentencePieceMetadata(testdata.Path(t, "tokenizers", "llama2", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	out["llama2-model"] = fromKVs(t, kvs)
	return out
}

// TestRoundTrip checks decode(encode(text)) == text on llama.cpp's test
// strings for every lossless tokenizer. (sentencepiece with
// remove_extra_whitespaces is lossy on space runs by design.)
func TestRoundTrip(t *testing.T) {
	texts, _ := loadVocabCases(t, filepath.Join(testdata.Path(t, "vocab"), "ggml-vocab-llama-bpe.gguf"))
	texts = append(texts, "ﬁ½ ŉ \x00 \u200b end", "<s> not special </s>", "tab\there\r\nwindows")
	for name, tok := range allTokenizers(t) {
		for _, text := range texts {
			ids, err := tok.Encode(text, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if tok.unkUsed(ids) {
				continue // a vocabulary without byte fallback lost characters
			}
			want := text
			if got := tok.Decode(ids); got != want {
				t.Errorf("%s: decode(encode(%q)) = %q", name, text, got)
			}
			// The stream decoder must give the same text, in valid pieces.
			d := tok.NewStreamDecoder(true)
			var sb strings.Builder
			for _, id := range ids {
				s := d.Add(id)
				if !utf8.ValidString(s) {
					t.Errorf("%s: stream emitted invalid UTF-8 %q", name, s)
				}
				sb.WriteString(s)
			}
			sb.WriteString(d.Flush())
			if utf8.ValidString(text) && sb.String() != want {
				t.Errorf("%s: stream decode of %q = %q", name, text, sb.String())
			}
		}
	}
}

func (t *Tokenizer) unkUsed(ids []int32) bool {
	for _, id := range ids {
		if id == t.unk && t.unk >= 0 {
			return true
		}
	}
	return false
}

func TestStreamDecoderHoldsBrokenCharacters(t *testing.T) {
	tok := openGGUFTokenizer(t, filepath.Join(testdata.Path(t, "vocab"), "ggml-vocab-llama-spm.gguf"))
	// "你" is E4 BD A0: three byte-fallback tokens in Llama 2's vocabulary
	// only if the character is missing; force bytes explicitly.
	ids := []int32{tok.byteIDs[0xE4], tok.byteIDs[0xBD], tok.byteIDs[0xA0]}
	d := tok.NewStreamDecoder(false)
	if s := d.Add(ids[0]); s != "" {
		t.Fatalf("emitted %q after the first byte", s)
	}
	if s := d.Add(ids[1]); s != "" {
		t.Fatalf("emitted %q after the second byte", s)
	}
	if s := d.Add(ids[2]); s != "你" {
		t.Fatalf("emitted %q, want 你", s)
	}
	// An impossible sequence is flushed as U+FFFD rather than held forever.
	if s := d.Add(tok.byteIDs[0xFF]); s != "\uFFFD" {
		t.Fatalf("0xFF gave %q", s)
	}
	d.Add(tok.byteIDs[0xE4])
	if s := d.Flush(); s != "\uFFFD" {
		t.Fatalf("flush gave %q", s)
	}
	// Continuation tokens keep their leading space when not at the start.
	hello, _ := tok.Encode("Hello world", false, false)
	d = tok.NewStreamDecoder(false)
	if s := d.Add(hello[0]); s != " Hello" {
		t.Fatalf("continuation piece %q", s)
	}
}

func TestEOG(t *testing.T) {
	tok := hfTokenizer(t, testdata.Path(t, "tokenizers", "llama3"))
	for _, s := range []string{"<|eot_id|>", "<|end_of_text|>"} {
		id, ok := tok.ID(s)
		if !ok || !tok.EOG(id) {
			t.Errorf("%s (%d) is not end-of-generation", s, id)
		}
	}
	if id, _ := tok.ID("<|begin_of_text|>"); tok.EOG(id) {
		t.Errorf("BOS is end-of-generation")
	}
	q := hfTokenizer(t, testdata.Path(t, "oracle", "qwen2"))
	if id, _ := q.ID("<|im_end|>"); !q.EOG(id) {
		t.Errorf("<|im_end|> is not end-of-generation")
	}
	g := hfTokenizer(t, testdata.Path(t, "oracle", "gemma"))
	if id, _ := g.ID("<end_of_turn>"); !g.EOG(id) {
		t.Errorf("<end_of_turn> is not end-of-generation")
	}
	if !g.EOG(g.EOS()) {
		t.Errorf("EOS is not end-of-generation")
	}
}

// TestConcurrentEncode runs one tokenizer from several goroutines (the
// server shares one per model); run with -race.
func TestConcurrentEncode(t *testing.T) {
	toks := allTokenizers(t)
	texts := []string{"Hello world, this is a test.", "你好 🦙 'll 123456", "  spaces\n\nand\tnewlines  "}
	for name, tok := range toks {
		want := make([][]int32, len(texts))
		for i, s := range texts {
			want[i], _ = tok.Encode(s, true, true)
		}
		done := make(chan string, 8)
		for g := 0; g < 8; g++ {
			go func(g int) {
				for k := 0; k < 50; k++ {
					i := (g + k) % len(texts)
					got, err := tok.Encode(texts[i], true, true)
					if err != nil || !equalIDs(got, want[i]) {
						done <- name + ": concurrent result differs"
						return
					}
				}
				done <- ""
			}(g)
		}
		for g := 0; g < 8; g++ {
			if msg := <-done; msg != "" {
				t.Error(msg)
			}
		}
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
