package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/convert"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/tokenizer"
)

// fimFake is the byte-level fake with FIM tokens 300, 301, 302.
type fimFake struct{ *fakeBackend }

func (f fimFake) FIM() (int32, int32, int32, bool) { return 300, 301, 302, true }
func (f fimFake) TokenizeText(s string) ([]int32, error) {
	return f.fakeBackend.Tokenize(s, false)
}
func (f fimFake) BOS() (int32, bool) { return fakeBOS, true }

func ids(s string) []int32 {
	out := make([]int32, len(s))
	for i := range len(s) {
		out[i] = int32(s[i])
	}
	return out
}

func TestFIMPromptConstruction(t *testing.T) {
	fb := newFake()
	fb.ctxLen = 32
	be := fimFake{fb}
	got, err := fimPrompt(be, "m", "def f(", "):\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat([]int32{fakeBOS, 300}, ids("def f("), []int32{301}, ids("):\n"), []int32{302})
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Too long for the context (31 positions; 27 after BOS and the three
	// FIM tokens): the prefix keeps its end, the suffix its start, and the
	// suffix gets at least a quarter of the room.
	pre, suf := strings.Repeat("p", 20)+"END", "START"+strings.Repeat("s", 20)
	got, err = fimPrompt(be, "m", pre, suf, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.Concat([]int32{fakeBOS, 300}, ids(pre[len(pre)-21:]), []int32{301}, ids(suf[:6]), []int32{302})
	if !slices.Equal(got, want) || len(got) != fb.ctxLen-1 {
		t.Fatalf("truncated: got %v\nwant %v", got, want)
	}
	// A short prefix leaves the rest of the room to the suffix.
	got, _ = fimPrompt(be, "m", "ab", suf, nil)
	if want := slices.Concat([]int32{fakeBOS, 300}, ids("ab"), []int32{301}, ids(suf[:25]), []int32{302}); !slices.Equal(got, want) {
		t.Fatalf("short prefix: got %v\nwant %v", got, want)
	}
	f := false
	if _, err := fimPrompt(be, "m", pre, suf, &f); err == nil || classify(err).status != 400 {
		t.Fatalf("truncate:false: %v", err)
	}
	// Without FIM tokens: Ollama's wording.
	if _, err := fimPrompt(fb, "codemodel", "a", "b", nil); err == nil || classify(err).status != 400 || classify(err).msg != `"codemodel" does not support insert` {
		t.Fatalf("no FIM: %v", err)
	}
}

func TestFIMNotSupportedIs400(t *testing.T) {
	e, _ := storiesEnv(t, 1)
	resp, body := e.post("/api/generate", `{"model":"stories","prompt":"def f(","suffix":"return x","stream":false}`)
	var oe struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != 400 || json.Unmarshal([]byte(body), &oe) != nil || oe.Error != `"stories" does not support insert` {
		t.Fatalf("/api/generate: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post("/v1/completions", `{"model":"stories","prompt":"def f(","suffix":"return x"}`)
	var ae struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if resp.StatusCode != 400 || json.Unmarshal([]byte(body), &ae) != nil || !strings.Contains(ae.Error.Message, "does not support insert") || ae.Error.Type == "" {
		t.Fatalf("/v1/completions: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.post("/api/show", `{"model":"stories"}`); resp.StatusCode != 200 || strings.Contains(body, `"insert"`) {
		t.Fatalf("/api/show of a model without FIM tokens lists insert: %d %s", resp.StatusCode, body)
	}
}

// writeFIMStories writes stories260K with FIM tokens: through the GGUF
// keys (byKeys) or by renaming three vocabulary entries to Qwen's FIM
// token texts. It returns the path and the three ids.
func writeFIMStories(t *testing.T, byKeys bool) (string, [3]int32) {
	t.Helper()
	src := filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf")
	m, err := model.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fim := [3]int32{500, 501, 502}
	if byKeys {
		for i, k := range []string{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id"} {
			if err := m.Metadata.Set(k, uint32(fim[i])); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		toks := slices.Clone(m.Metadata.Strings("tokenizer.ggml.tokens"))
		for i, s := range []string{"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"} {
			toks[fim[i]] = s
		}
		if err := m.Metadata.Set("tokenizer.ggml.tokens", toks); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "fim.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := convert.WriteGGUF(m, f, convert.Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, fim
}

func TestEngineFIMGenerate(t *testing.T) {
	for _, byKeys := range []bool{true, false} {
		t.Run(fmt.Sprintf("keys=%v", byKeys), func(t *testing.T) {
			path, fim := writeFIMStories(t, byKeys)
			e, _ := storiesEnv(t, 1)
			if _, err := e.store.Create("fim", &store.Modelfile{From: path}, "", nil); err != nil {
				t.Fatal(err)
			}
			m, err := model.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.FromMetadata(&m.Metadata)
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
			// /api/show lists "insert" for it (TestFIMNotSupportedIs400
			// checks plain stories260K does not).
			if resp, body := e.post("/api/show", `{"model":"fim"}`); resp.StatusCode != 200 || !strings.Contains(body, `"insert"`) {
				t.Fatalf("/api/show of a FIM model: %d %s", resp.StatusCode, body)
			}
			prefix, suffix := "Once upon a time, there was a", "She was very happy."
			pt, _ := tok.Encode(prefix, false, false)
			st, _ := tok.Encode(suffix, false, false)
			want := slices.Concat([]int32{tok.BOS(), fim[0]}, pt, []int32{fim[1]}, st, []int32{fim[2]})
			resp, body := e.post("/api/generate", fmt.Sprintf(`{"model":"fim","prompt":%q,"suffix":%q,"system":"ignored","stream":false,"options":{"num_predict":8,"temperature":0,"repeat_penalty":1}}`, prefix, suffix))
			var r struct {
				Response        string `json:"response"`
				Context         []int32
				PromptEvalCount int `json:"prompt_eval_count"`
				EvalCount       int `json:"eval_count"`
			}
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if len(r.Context) < len(want) || !slices.Equal(r.Context[:len(want)], want) || r.PromptEvalCount != len(want) || r.EvalCount == 0 {
				t.Fatalf("context %v (prompt_eval_count %d), want the prompt %v", r.Context, r.PromptEvalCount, want)
			}
			// OpenAI's legacy completions take the same suffix.
			resp, body = e.post("/v1/completions", fmt.Sprintf(`{"model":"fim","prompt":%q,"suffix":%q,"max_tokens":8,"temperature":0}`, prefix, suffix))
			var c struct {
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
				} `json:"usage"`
			}
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &c) != nil || c.Usage.PromptTokens != len(want) || c.Choices[0].Text != r.Response {
				t.Fatalf("/v1/completions: %d %s (want text %q, %d prompt tokens)", resp.StatusCode, body, r.Response, len(want))
			}
		})
	}
}
