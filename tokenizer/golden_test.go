package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

func readJSONFile(t testing.TB, path string, dst any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func fromKVs(t testing.TB, kvs []gguf.KV) *Tokenizer {
	t.Helper()
	md := &gguf.Metadata{KV: kvs}
	tok, err := FromMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var (
	hfCacheMu sync.Mutex
	hfCache   = map[string]*Tokenizer{}
)

// hfTokenizer builds (once per test binary) the tokenizer of a HF folder.
func hfTokenizer(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	hfCacheMu.Lock()
	defer hfCacheMu.Unlock()
	if tok, ok := hfCache[dir]; ok {
		return tok
	}
	kvs, err := HFMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok := fromKVs(t, kvs)
	hfCache[dir] = tok
	return tok
}

type textIDs struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func TestLlamaBPEVocab(t *testing.T) {
	base := filepath.Join(testdata.Path(t, "vocab"), "ggml-vocab-llama-bpe.gguf")
	tok := hfTokenizer(t, testdata.Path(t, "tokenizers", "llama3"))
	if tok.Pre() != "llama-bpe" {
		t.Errorf("pre = %q, want llama-bpe", tok.Pre())
	}
	texts, want := loadVocabCases(t, base)
	checkCases(t, "llama-bpe", tok, texts, want)
}

func TestLlama3Golden(t *testing.T) {
	dir := testdata.Path(t, "tokenizers", "llama3")
	var g struct {
		Cases []struct {
			Text      string  `json:"text"`
			IDs       []int32 `json:"ids"`
			Roundtrip bool    `json:"roundtrip_ok"`
		} `json:"cases"`
	}
	readJSONFile(t, filepath.Join(dir, "golden.json"), &g)
	tok := hfTokenizer(t, dir)
	for i, c := range g.Cases {
		got, err := tok.Encode(c.Text, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.IDs) {
			t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
		}
		if c.Roundtrip {
			if d := tok.Decode(got); d != c.Text {
				t.Errorf("case %d: decode = %q, want %q", i, d, c.Text)
			}
		}
	}
}

func TestSentencePieceGolden(t *testing.T) {
	var g map[string]json.RawMessage
	readJSONFile(t, testdata.Path(t, "tokenizers", "sentencepiece_golden.json"), &g)
	models := map[string]string{
		"tok512": testdata.Path(t, "models", "stories260K", "tok512.model"),
		"llama2": testdata.Path(t, "tokenizers", "llama2", "tokenizer.model"),
	}
	for name, path := range models {
		t.Run(name, func(t *testing.T) {
			var set struct {
				Cases []struct {
					Text    string   `json:"text"`
					IDs     []int32  `json:"ids"`
					Pieces  []string `json:"pieces"`
					Decoded string   `json:"decoded"`
				} `json:"cases"`
			}
			if err := json.Unmarshal(g[name], &set); err != nil {
				t.Fatal(err)
			}
			kvs, err := SentencePieceMetadata(path)
			if err != nil {
				t.Fatal(err)
			}
			tok := fromKVs(t, kvs)
			if len(set.Cases) == 0 {
				t.Fatal("no cases")
			}
			for i, c := range set.Cases {
				got, err := tok.Encode(c.Text, false, false)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(c.IDs) {
					t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
					continue
				}
				for j, id := range got {
					if tok.Token(id) != c.Pieces[j] {
						t.Errorf("case %d: piece %d = %q, want %q", i, j, tok.Token(id), c.Pieces[j])
					}
				}
				if d := tok.Decode(got); d != c.Decoded {
					t.Errorf("case %d: decode = %q, want %q", i, d, c.Decoded)
				}
			}
		})
	}
}

func TestStories260K(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	var g struct {
		Encode []textIDs `json:"encode"`
	}
	readJSONFile(t, filepath.Join(dir, "golden.json"), &g)
	kvs, err := Llama2CMetadata(filepath.Join(dir, "tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	fromBin := fromKVs(t, kvs)
	fromGGUF := openGGUFTokenizer(t, filepath.Join(dir, "stories260K.gguf"))
	for name, tok := range map[string]*Tokenizer{"tok512.bin": fromBin, "gguf": fromGGUF} {
		for i, c := range g.Encode {
			got, err := tok.Encode(c.Text, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.IDs) {
				t.Errorf("%s case %d %q:\n got  %v\n want %v", name, i, c.Text, got, c.IDs)
			}
			if d := tok.Decode(got); d != c.Text {
				t.Errorf("%s case %d: decode = %q, want %q", name, i, d, c.Text)
			}
		}
	}
}

// TestLlama2CMetadataMatchesGGUF checks the keys against the GGUF that
// llama.cpp's converter wrote for the same model.
func TestLlama2CMetadataMatchesGGUF(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	kvs, err := Llama2CMetadata(filepath.Join(dir, "tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(filepath.Join(dir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, kv := range kvs {
		ref, ok := f.Metadata.Get(kv.Key)
		if !ok {
			t.Errorf("%s: not in the reference GGUF", kv.Key)
			continue
		}
		if ref.Type != kv.Type || fmt.Sprint(ref.Value) != fmt.Sprint(kv.Value) {
			t.Errorf("%s: got %v %.200v, want %v %.200v", kv.Key, kv.Type, kv.Value, ref.Type, ref.Value)
		}
	}
}

type oracleGolden struct {
	Tokenization []textIDs `json:"tokenization"`
	Prompts      []struct {
		Kind     string  `json:"kind"`
		Text     string  `json:"text"`
		Rendered string  `json:"rendered"`
		IDs      []int32 `json:"ids"`
	} `json:"prompts"`
}

func TestOracleTokenization(t *testing.T) {
	root := testdata.Path(t, "oracle")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			var g oracleGolden
			readJSONFile(t, filepath.Join(dir, "golden.json"), &g)
			tok := hfTokenizer(t, dir)
			for i, c := range g.Tokenization {
				// Hugging Face tokenizers always recognise special tokens.
				got, err := tok.Encode(c.Text, true, true)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(c.IDs) {
					t.Errorf("tokenization %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
				}
			}
			for i, p := range g.Prompts {
				var text string
				switch p.Kind {
				case "text":
					text = p.Text
				case "chat":
					text = p.Rendered
				default:
					continue
				}
				// The chat prompt is rendered text that already holds BOS
				// where the template writes it: no BOS is added for it
				// (HF apply_chat_template(tokenize=True) semantics).
				got, err := tok.Encode(text, p.Kind == "text", p.Kind == "chat")
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(p.IDs) {
					t.Errorf("prompt %d (%s) %q:\n got  %v\n want %v", i, p.Kind, text, got, p.IDs)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no oracle models")
	}
}
