package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

// TestHFPreTokenizerVariants runs tokenizer.json pre-tokenizers that have no
// llama.cpp name (and some that do) against Hugging Face tokenizers' own
// output. testdata/hf_pretokenizers.json was made by the tokenizers library
// (node bindings) from the oracle llama3 tokenizer.json with its
// pre_tokenizer replaced; the test makes the same replacement.
func TestHFPreTokenizerVariants(t *testing.T) {
	var g struct {
		Texts    []string `json:"texts"`
		Variants []struct {
			Name         string          `json:"name"`
			PreTokenizer json.RawMessage `json:"pre_tokenizer"`
			IgnoreMerges *bool           `json:"ignore_merges"`
			Normalizer   json.RawMessage `json:"normalizer"`
			IDs          [][]int32       `json:"ids"`
		} `json:"variants"`
	}
	readJSONFile(t, filepath.Join("testdata", "hf_pretokenizers.json"), &g)
	baseBytes, err := os.ReadFile(testdata.Path(t, "oracle", "llama3", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Variants {
		t.Run(v.Name, func(t *testing.T) {
			var base map[string]any
			if err := json.Unmarshal(baseBytes, &base); err != nil {
				t.Fatal(err)
			}
			if len(v.PreTokenizer) > 0 && string(v.PreTokenizer) != "null" {
				var pre any
				if err := json.Unmarshal(v.PreTokenizer, &pre); err != nil {
					t.Fatal(err)
				}
				base["pre_tokenizer"] = pre
			}
			if len(v.Normalizer) > 0 && string(v.Normalizer) != "null" {
				var n any
				if err := json.Unmarshal(v.Normalizer, &n); err != nil {
					t.Fatal(err)
				}
				base["normalizer"] = n
			}
			if v.IgnoreMerges != nil {
				base["model"].(map[string]any)["ignore_merges"] = *v.IgnoreMerges
			}
			dir := t.TempDir()
			b, _ := json.Marshal(base)
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			kvs, err := HFMetadata(dir)
			if err != nil {
				t.Fatal(err)
			}
			tok := fromKVs(t, kvs)
			wantPre := map[string]string{"tekken-regex": "tekken", "gpt4o-regex": "gpt-4o", "qwen2-regex": "qwen2",
				"bytelevel-gpt2": "gpt-2", "digits-individual-gpt2": "starcoder", "whitespace": "default"}
			if p, ok := wantPre[v.Name]; ok && tok.Pre() != p {
				t.Errorf("pre = %q, want %q", tok.Pre(), p)
			}
			for i, text := range g.Texts {
				got, err := tok.Encode(text, false, true)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(v.IDs[i]) {
					t.Errorf("%q (pre %q):\n got  %v\n want %v", text, tok.Pre(), got, v.IDs[i])
				}
			}
		})
	}
}

// TestHFAddedTokenStrip checks lstrip/rstrip added tokens against Hugging
// Face tokenizers (testdata/hf_added_tokens.json: the oracle llama3
// tokenizer.json with those flags set on three special tokens).
func TestHFAddedTokenStrip(t *testing.T) {
	var g struct {
		AddedTokens []any     `json:"added_tokens"`
		Texts       []string  `json:"texts"`
		IDs         [][]int32 `json:"ids"`
	}
	readJSONFile(t, filepath.Join("testdata", "hf_added_tokens.json"), &g)
	baseBytes, err := os.ReadFile(testdata.Path(t, "oracle", "llama3", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(baseBytes, &base); err != nil {
		t.Fatal(err)
	}
	base["added_tokens"] = g.AddedTokens
	dir := t.TempDir()
	b, _ := json.Marshal(base)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tok := hfTokenizer(t, dir)
	for i, text := range g.Texts {
		got, err := tok.Encode(text, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(g.IDs[i]) {
			t.Errorf("%q:\n got  %v\n want %v", text, got, g.IDs[i])
		}
	}
}

// TestHFFolderChoice: a tokenizer.model is used when tokenizer.json is not
// byte-level BPE (here a Unigram one), and unsupported files give errors
// naming the problem.
func TestHFFolderChoice(t *testing.T) {
	model, err := os.ReadFile(testdata.Path(t, "oracle", "llama2", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unigram := `{"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["a", -1.5]], "unk_id": 0}, "added_tokens": []}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(unigram), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	tok := hfTokenizer(t, dir)
	if tok.Kind() != KindSPM || tok.VocabSize() != 512 {
		t.Fatalf("kind %v, %d tokens", tok.Kind(), tok.VocabSize())
	}
	if err := os.Remove(filepath.Join(dir, "tokenizer.model")); err != nil {
		t.Fatal(err)
	}
	if _, err := HFMetadata(dir); err == nil || !strings.Contains(err.Error(), "Unigram") {
		t.Errorf("unigram tokenizer.json alone: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"type": "BPE", "vocab": 7}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := HFMetadata(dir); err == nil || !strings.Contains(err.Error(), "model.vocab") {
		t.Errorf("bad vocab: %v", err)
	}
}

// TestSentencePieceAddedTokens: tokens added past a tokenizer.model's
// vocabulary (tokenizer_config.json's added_tokens_decoder or
// tokenizer.json's added_tokens) become control / user-defined tokens, and
// ids below config.json's vocab_size that nothing names are [PAD] tokens.
func TestSentencePieceAddedTokens(t *testing.T) {
	model, err := os.ReadFile(testdata.Path(t, "oracle", "llama2", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"config.json":           `{"vocab_size": 516, "bos_token_id": 1, "eos_token_id": 2}`,
		"tokenizer_config.json": `{"add_bos_token": true, "added_tokens_decoder": {"512": {"content": "<|im_start|>", "special": true}, "513": {"content": "<tool>", "special": false, "rstrip": true}}}`,
		"tokenizer.json":        `{"model": {"type": "Unigram", "vocab": []}, "added_tokens": [{"id": 514, "content": "<|im_end|>", "special": true}]}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	tok := hfTokenizer(t, dir)
	if tok.VocabSize() != 516 || tok.Token(515) != "[PAD515]" || tok.Type(515) != TypeUnused {
		t.Fatalf("vocab %d, last %q type %d", tok.VocabSize(), tok.Token(515), tok.Type(515))
	}
	if tok.Type(512) != TypeControl || tok.Type(513) != TypeUserDefined || tok.Type(514) != TypeControl {
		t.Fatalf("types %d %d %d", tok.Type(512), tok.Type(513), tok.Type(514))
	}
	ids, err := tok.Encode("<|im_start|>hi<tool>  x<|im_end|>", true, true)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 1 || ids[1] != 512 || ids[len(ids)-1] != 514 {
		t.Fatalf("ids %v", ids)
	}
	// <tool> swallows the spaces after it (rstrip).
	noSpace, _ := tok.Encode("<|im_start|>hi<tool>x<|im_end|>", true, true)
	if fmt.Sprint(ids) != fmt.Sprint(noSpace) {
		t.Errorf("rstrip: %v vs %v", ids, noSpace)
	}
	if !tok.EOG(514) {
		t.Errorf("<|im_end|> is not end-of-generation")
	}
}

// TestGenerationConfigEOS: generation_config.json's list of end-of-sequence
// ids all end generation.
func TestGenerationConfigEOS(t *testing.T) {
	src := testdata.Path(t, "oracle", "qwen2")
	dir := t.TempDir()
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "config.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": [402, 100]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := hfTokenizer(t, dir)
	if tok.EOS() != 402 || !tok.EOG(402) || !tok.EOG(100) || tok.EOG(101) {
		t.Errorf("eos %d, EOG(402) %v, EOG(100) %v, EOG(101) %v", tok.EOS(), tok.EOG(402), tok.EOG(100), tok.EOG(101))
	}
}
