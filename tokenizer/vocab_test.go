package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

// loadVocabCases reads llama.cpp's .inp/.out test vectors.
func loadVocabCases(t *testing.T, base string) ([]string, [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	// Every case is followed by the separator line.
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) != len(lines) {
		// The .inp file may end with a separator-terminated empty case.
		t.Fatalf("%s: %d inputs, %d outputs", base, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", base, i+1, err)
			}
			ids[i] = append(ids[i], int32(v))
		}
	}
	return texts, ids
}

func openGGUFTokenizer(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := gguf.Metadata{KV: append([]gguf.KV(nil), f.Metadata.KV...)}
	tok, err := FromMetadata(&md)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tok
}

func checkCases(t *testing.T, name string, tok *Tokenizer, texts []string, want [][]int32) {
	t.Helper()
	bad := 0
	for i, text := range texts {
		got, err := tok.Encode(text, false, false)
		if err != nil {
			t.Fatalf("%s case %d: %v", name, i, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			bad++
			if bad <= 8 {
				t.Errorf("%s case %d %q:\n got  %v\n want %v", name, i, text, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d cases differ", name, bad, len(texts))
	}
}

func TestVocabGGUF(t *testing.T) {
	dir := testdata.Path(t, "vocab")
	for _, name := range []string{"llama-spm", "gpt-2", "deepseek-coder", "starcoder"} {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(dir, "ggml-vocab-"+name+".gguf")
			tok := openGGUFTokenizer(t, base)
			texts, want := loadVocabCases(t, base)
			checkCases(t, name, tok, texts, want)
		})
	}
}
