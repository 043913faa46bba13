package interop

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/convert"
	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/tokenizer"
)

// vocabCases reads llama.cpp's tokenizer test vectors NAME.inp / NAME.out.
func vocabCases(t *testing.T, name string) (texts []string, ids [][]int32) {
	t.Helper()
	dir := testdata.Path(t, "vocab")
	inp, err := os.ReadFile(filepath.Join(dir, "ggml-vocab-"+name+".gguf.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "ggml-vocab-"+name+".gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	texts = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" || texts[len(texts)-1] == "\n" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d test strings but %d id lines", name, len(texts), len(lines))
	}
	for _, line := range lines {
		var row []int32
		for _, f := range strings.Fields(line) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out: %v", name, err)
			}
			row = append(row, int32(v))
		}
		ids = append(ids, row)
	}
	return texts, ids
}

// tokenizeBoth tokenizes texts with llama.cpp (the GGUF's own vocabulary,
// loaded vocabulary-only) and with ferry's tokenizer built from the same
// file's metadata, without BOS/EOS.
func tokenizeBoth(t *testing.T, l *Llama, path string, texts []string, special bool) (llama, ferry [][]int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := l.RunVocab(ctx, path, Job{Op: "tokenize", Texts: texts, Special: special})
	if err != nil {
		t.Fatal(err)
	}
	if resp.LoadError != "" {
		t.Fatalf("llama.cpp cannot load the vocabulary of %s: %s\n%v", path, resp.LoadError, resp.Logs)
	}
	if resp.Results[0].Error != "" {
		t.Fatal(resp.Results[0].Error)
	}
	if llama, err = resp.Results[0].Tokens(); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromMetadata(&f.Metadata)
	if err != nil {
		t.Fatalf("ferry's tokenizer from %s: %v", path, err)
	}
	for _, text := range texts {
		ids, err := tok.Encode(text, false, special)
		if err != nil {
			t.Fatalf("ferry tokenize %q: %v", text, err)
		}
		ferry = append(ferry, ids)
	}
	return llama, ferry
}

// compareTokens reports every text where llama.cpp and ferry (and the
// expected ids, when given) disagree.
func compareTokens(t *testing.T, label string, texts []string, llama, ferry, want [][]int32) {
	t.Helper()
	bad := 0
	for i, text := range texts {
		var w []int32
		if want != nil {
			w = want[i]
		}
		if equalIDs(llama[i], ferry[i]) && (want == nil || equalIDs(llama[i], w)) {
			continue
		}
		bad++
		if bad <= 5 {
			t.Errorf("%s: %q\n llama.cpp %v\n ferry     %v\n expected  %v", label, text, llama[i], ferry[i], w)
		}
	}
	t.Logf("%s: %d/%d strings tokenized identically by llama.cpp and ferry", label, len(texts)-bad, len(texts))
}

// TestVocabGGUFTokenization rewrites each of llama.cpp's vocabulary-only
// test GGUFs with ferry's converter and tokenizes the .inp strings with
// llama.cpp (reading ferry's file) and with ferry's tokenizer: both must
// give the .out ids. The Llama 3 vocabulary (no GGUF in shared data) is
// built by ferry from tokenizer.json, as the HF converter does.
func TestVocabGGUFTokenization(t *testing.T) {
	t.Parallel() // one llama.cpp thread each: two tests fill two cores
	l := findLlama(t)
	tmp := t.TempDir()
	for _, name := range []string{"llama-spm", "gpt-2", "deepseek-coder", "starcoder", "llama-bpe"} {
		t.Run(name, func(t *testing.T) {
			texts, want := vocabCases(t, name)
			out := filepath.Join(tmp, name+".gguf")
			if name == "llama-bpe" {
				writeHFVocab(t, testdata.Path(t, "tokenizers", "llama3"), out)
			} else {
				m, err := model.Open(testdata.Path(t, "vocab", "ggml-vocab-"+name+".gguf"))
				if err != nil {
					t.Fatal(err)
				}
				err = convert.GGUFFile(m, out, convert.Options{})
				m.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			llama, ferry := tokenizeBoth(t, l, out, texts, false)
			compareTokens(t, name, texts, llama, ferry, want)
		})
	}
}

// writeHFVocab writes a vocabulary-only GGUF from a Hugging Face tokenizer
// folder through tokenizer.HFMetadata, the converter's tokenizer path.
func writeHFVocab(t *testing.T, dir, out string) {
	t.Helper()
	kvs, err := tokenizer.HFMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	w.Set("general.architecture", "llama")
	for _, kv := range kvs {
		w.SetKV(kv)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(out, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestOracleTokenization: every oracle model's ferry-written GGUF, tokenized
// by llama.cpp and by ferry: the golden texts (whose ids, without BOS, must
// also match the reference) and all of llama.cpp's vocabulary test strings;
// the golden prompts' texts (rendered chat templates with special tokens
// parsed) against their ids.
func TestOracleTokenization(t *testing.T) {
	t.Parallel() // one llama.cpp thread each: two tests fill two cores
	l := findLlama(t)
	var extra []string
	for _, name := range []string{"llama-spm", "gpt-2", "llama-bpe"} {
		texts, _ := vocabCases(t, name)
		extra = append(extra, texts...)
	}
	for _, name := range oracleNames {
		t.Run(name, func(t *testing.T) {
			dir := testdata.Path(t, "oracle", name)
			var g struct {
				oracleGolden
				BOS  *int32 `json:"bos_id"`
				Kind string `json:"tokenizer_kind"`
			}
			readJSON(t, filepath.Join(dir, "golden.json"), &g)
			m, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := convertTo(t, m, t.TempDir(), name, "f32")
			m.Close()
			if quirks[name].renameForLlama {
				// See quirk.renameForLlama: llama.cpp cannot load the
				// vocabulary under this name; the tokens are unchanged.
				rewriteName(t, path)
			}
			var texts []string
			var want [][]int32
			for _, c := range g.Tokenization {
				texts = append(texts, c.Text)
				ids := c.IDs
				if g.BOS != nil && len(ids) > 0 && ids[0] == *g.BOS {
					ids = ids[1:]
				}
				want = append(want, ids)
			}
			// Hugging Face tokenizers (the BPE goldens) always match added
			// tokens in text; the sentencepiece library (SPM goldens) never.
			special := g.Kind != "llama"
			llama, ferry := tokenizeBoth(t, l, path, texts, special)
			compareTokens(t, name+" golden texts", texts, llama, ferry, want)
			llama, ferry = tokenizeBoth(t, l, path, extra, false)
			compareTokens(t, name+" llama.cpp test strings", extra, llama, ferry, nil)
			var chats []string
			var chatIDs [][]int32
			for _, p := range g.Prompts {
				if p.Kind == "text" {
					chats = append(chats, p.Text)
					ids := p.IDs
					if g.BOS != nil && len(ids) > 0 && ids[0] == *g.BOS {
						ids = ids[1:] // the tokenizer's BOS, not from the text
					}
					chatIDs = append(chatIDs, ids)
				}
				if p.Kind == "chat" {
					chats = append(chats, p.Rendered)
					chatIDs = append(chatIDs, p.IDs)
				}
			}
			if len(chats) > 0 {
				llama, ferry = tokenizeBoth(t, l, path, chats, true)
				compareTokens(t, name+" prompt texts (special tokens parsed)", chats, llama, ferry, chatIDs)
			}
		})
	}
}

// rewriteName gives a converted GGUF another general.name, in place.
func rewriteName(t *testing.T, path string) {
	t.Helper()
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := *m
	c.Metadata = gguf.Metadata{}
	for _, kv := range m.Metadata.KV {
		c.Metadata.SetKV(kv)
	}
	c.Metadata.Set("general.name", "oracle-model")
	tmp := path + ".renamed"
	if err := convert.GGUFFile(&c, tmp, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
