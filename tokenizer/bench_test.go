package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// benchText builds about 100 KB of varied text: English prose, code,
// numbers, punctuation, whitespace runs and non-Latin scripts.
func benchText(b *testing.B) string {
	b.Helper()
	dir, ok := testdata.Find()
	if !ok {
		b.Skip("shared test data not found")
	}
	inp, err := os.ReadFile(filepath.Join(dir, "vocab", "ggml-vocab-llama-bpe.gguf.inp"))
	if err != nil {
		b.Skip(err)
	}
	prose := "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. " +
		"One day, she saw a big, red ball in the park and asked her mom, \"Can I play with it?\" Her mom said yes, " +
		"and Lily played until the sun went down at 7:45 pm on 2024-03-15.\n\n"
	code := "func main() {\n\tfor i := 0; i < 10; i++ {\n\t\tfmt.Println(i * 42)\n\t}\n}\n"
	var sb strings.Builder
	for sb.Len() < 100_000 {
		sb.WriteString(prose)
		sb.WriteString(code)
		sb.WriteString(strings.ReplaceAll(string(inp), "\n__ggml_vocab_test__\n", "\n"))
	}
	return sb.String()[:100_000]
}

func benchEncode(b *testing.B, tok *Tokenizer, text string) {
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tok.cache != nil {
			tok.cache = newWordCache() // measure cold-cache speed
		}
		if _, err := tok.Encode(text, true, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLlama3(b *testing.B) {
	text := benchText(b)
	tok := hfTokenizer(b, testdata.Path(b, "tokenizers", "llama3"))
	benchEncode(b, tok, text)
}

func BenchmarkEncodeSentencePieceLlama2(b *testing.B) {
	text := benchText(b)
	tok := openGGUFTokenizer(b, testdata.Path(b, "vocab", "ggml-vocab-llama-spm.gguf"))
	benchEncode(b, tok, text)
}

func BenchmarkDecodeLlama3(b *testing.B) {
	text := benchText(b)
	tok := hfTokenizer(b, testdata.Path(b, "tokenizers", "llama3"))
	ids, _ := tok.Encode(text, false, false)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tok.Decode(ids)
	}
}

func BenchmarkHFMetadataLlama3(b *testing.B) {
	dir := testdata.Path(b, "tokenizers", "llama3")
	for i := 0; i < b.N; i++ {
		kvs, err := HFMetadata(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := FromKVs(kvs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeLlama3Regexp2 is BenchmarkEncodeLlama3 with the regexp2
// pre-tokenizer instead of the hand-written scanner, for the ratio.
func BenchmarkEncodeLlama3Regexp2(b *testing.B) {
	text := benchText(b)
	base := hfTokenizer(b, testdata.Path(b, "tokenizers", "llama3"))
	tok := *base
	re, err := compileRegex(hfLlama3Regex)
	if err != nil {
		b.Fatal(err)
	}
	tok.pretok = &preTokenizer{steps: []preStep{&regexSplit{re: re, behavior: "Isolated"}}, byteLevel: true}
	benchEncode(b, &tok, text)
}

func BenchmarkEncodeLlama3ParseSpecial(b *testing.B) {
	text := benchText(b)
	tok := hfTokenizer(b, testdata.Path(b, "tokenizers", "llama3"))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tok.Encode(text, true, true); err != nil {
			b.Fatal(err)
		}
	}
}
