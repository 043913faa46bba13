package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// llamaTokenizerJSON builds the tokenizer.json transformers' LlamaConverter
// (legacy mode) makes from a sentencepiece BPE model: the vocabulary, the
// merges SentencePieceExtractor derives from the scores, byte fallback and
// the Prepend/Replace normalizer.
func llamaTokenizerJSON(m *SPModel) ([]byte, error) {
	vocab := map[string]int{}
	for i, p := range m.Pieces {
		vocab[p.Piece] = i
	}
	type merge struct {
		l, r  string
		score float32
	}
	var merges []merge
	for _, p := range m.Pieces {
		var local []merge
		s := p.Piece
		for i := 1; i < len(s); i++ {
			if (s[i] & 0xC0) == 0x80 { // split only between characters
				continue
			}
			if _, ok := vocab[s[:i]]; !ok {
				continue
			}
			if _, ok := vocab[s[i:]]; !ok {
				continue
			}
			local = append(local, merge{s[:i], s[i:], p.Score})
		}
		sort.SliceStable(local, func(a, b int) bool {
			if vocab[local[a].l] != vocab[local[b].l] {
				return vocab[local[a].l] < vocab[local[b].l]
			}
			return vocab[local[a].r] < vocab[local[b].r]
		})
		merges = append(merges, local...)
	}
	sort.SliceStable(merges, func(a, b int) bool { return merges[a].score > merges[b].score })
	mergeList := make([][2]string, len(merges))
	for i, mg := range merges {
		mergeList[i] = [2]string{mg.l, mg.r}
	}
	var added []map[string]any
	for _, id := range []int{0, 1, 2} {
		added = append(added, map[string]any{"id": id, "content": m.Pieces[id].Piece, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
	}
	tj := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer":  nil,
		"post_processor": nil,
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": vocab, "merges": mergeList},
	}
	return json.Marshal(tj)
}

var spmJSONModels = map[string][]string{
	"tok512": {"models", "stories260K", "tok512.model"},
	"llama2": {"tokenizers", "llama2", "tokenizer.model"},
}

// spmTokenizerJSON is llamaTokenizerJSON of the tokenizer.model at path.
func spmTokenizerJSON(t testing.TB, path string) []byte {
	t.Helper()
	m, err := ReadSPModel(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := llamaTokenizerJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spmTokenizerJSONDir returns a folder holding only that tokenizer.json, as
// a SentencePiece model's Hugging Face export without tokenizer.model.
func spmTokenizerJSONDir(t testing.TB, path string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), spmTokenizerJSON(t, path), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGenerateSPMTokenizerJSON writes the tokenizer.json files the golden
// generator reads (only with FERRY_GEN_DIR set).
func TestGenerateSPMTokenizerJSON(t *testing.T) {
	out := os.Getenv("FERRY_GEN_DIR")
	if out == "" {
		t.Skip("FERRY_GEN_DIR not set")
	}
	for name, p := range spmJSONModels {
		if err := os.WriteFile(filepath.Join(out, name+".json"), spmTokenizerJSON(t, testdata.Path(t, p...)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSentencePieceStyleTokenizerJSON checks a SentencePiece-style
// tokenizer.json (no tokenizer.model) against Hugging Face tokenizers'
// output (testdata/hf_spm_json.json, made by the tokenizers library from
// the tokenizer.json llamaTokenizerJSON builds).
func TestSentencePieceStyleTokenizerJSON(t *testing.T) {
	var g struct {
		Texts  []string             `json:"texts"`
		Models map[string][][]int32 `json:"models"`
	}
	readJSONFile(t, filepath.Join("testdata", "hf_spm_json.json"), &g)
	for name, p := range spmJSONModels {
		t.Run(name, func(t *testing.T) {
			kvs, err := HFMetadata(spmTokenizerJSONDir(t, testdata.Path(t, p...)))
			if err != nil {
				t.Fatal(err)
			}
			tok := fromKVs(t, kvs)
			want := g.Models[name]
			if len(want) != len(g.Texts) {
				t.Fatalf("golden has %d results for %d texts", len(want), len(g.Texts))
			}
			for i, text := range g.Texts {
				got, err := tok.Encode(text, false, true)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want[i]) {
					t.Errorf("%q:\n got  %v\n want %v", text, got, want[i])
				}
			}
		})
	}
}

// TestHFRandomStrings compares with Hugging Face tokenizers on random
// strings drawn from a pool of scripts, whitespace kinds, digits,
// contractions, punctuation and special tokens (testdata/hf_random_*.json).
func TestHFRandomStrings(t *testing.T) {
	type golden struct {
		Texts []string  `json:"texts"`
		IDs   [][]int32 `json:"ids"`
	}
	check := func(t *testing.T, tok *Tokenizer, g golden) {
		if len(g.Texts) == 0 || len(g.Texts) != len(g.IDs) {
			t.Fatalf("golden: %d texts, %d results", len(g.Texts), len(g.IDs))
		}
		bad := 0
		for i, s := range g.Texts {
			got, err := tok.Encode(s, false, true)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(g.IDs[i]) {
				if bad++; bad <= 5 {
					t.Errorf("%q:\n got  %v\n want %v", s, got, g.IDs[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d differ", bad, len(g.Texts))
		}
	}
	t.Run("llama3", func(t *testing.T) {
		var g golden
		readJSONFile(t, filepath.Join("testdata", "hf_random_llama3.json"), &g)
		check(t, hfTokenizer(t, testdata.Path(t, "tokenizers", "llama3")), g)
	})
	t.Run("llama2-tokenizer.json", func(t *testing.T) {
		var g golden
		readJSONFile(t, filepath.Join("testdata", "hf_random_llama2_json.json"), &g)
		check(t, hfTokenizer(t, spmTokenizerJSONDir(t, testdata.Path(t, "tokenizers", "llama2", "tokenizer.model"))), g)
	})
}
