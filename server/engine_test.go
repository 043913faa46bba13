package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"

	"github.com/ferryhq/ferry/grammar"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/store"
)

type storiesGolden struct {
	Greedy struct {
		PromptIDs    []int  `json:"prompt_ids"`
		GeneratedIDs []int  `json:"generated_ids"`
		Text         string `json:"generated_text"`
	} `json:"greedy"`
}

// storiesEnv serves the real stories260K model through the engine.
func storiesEnv(t testing.TB, parallel int) (*env, storiesGolden) {
	t.Helper()
	dir := testdata.Path(t, "models", "stories260K")
	var g storiesGolden
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{Loader: &EngineLoader{Threads: 1}, Parallel: parallel})
	if _, err := e.store.Create("stories", &store.Modelfile{From: filepath.Join(dir, "stories260K.gguf")}, "", nil); err != nil {
		t.Fatal(err)
	}
	return e, g
}

func TestEngineGenerateMatchesGoldenGreedy(t *testing.T) {
	e, g := storiesEnv(t, 4)
	ctx := context.Background()
	f := false
	var r ollama.GenerateResponse
	err := e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "Once upon a time", Stream: &f, Options: opts(40)}, func(x ollama.GenerateResponse) error { r = x; return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]int{}, g.Greedy.PromptIDs...), g.Greedy.GeneratedIDs[:40]...)
	if len(r.Context) != len(want) {
		t.Fatalf("context has %d tokens, want %d", len(r.Context), len(want))
	}
	for i := range want {
		if r.Context[i] != want[i] {
			t.Fatalf("token %d: got %d, want %d (llama2.c's greedy run)", i, r.Context[i], want[i])
		}
	}
	if !strings.HasPrefix(g.Greedy.Text, r.Response) || len(r.Response) < 100 {
		t.Fatalf("response %q is not a prefix of the golden text", r.Response)
	}
	if r.PromptEvalCount != len(g.Greedy.PromptIDs) || r.EvalCount != 40 || r.DoneReason != "length" {
		t.Fatalf("counts: %+v", r.Metrics)
	}

	// Concurrent identical requests run batched and give the same text.
	var wg sync.WaitGroup
	outs := make([]string, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.openai("k")
			resp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "stories", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}, MaxTokens: openai.Int(40), Temperature: openai.Float(0)})
			if err != nil {
				t.Error(err)
				return
			}
			outs[i] = resp.Choices[0].Text
		}()
	}
	wg.Wait()
	for i, o := range outs {
		if o != r.Response {
			t.Errorf("concurrent request %d: %q, want %q", i, o, r.Response)
		}
	}
}

func TestEngineChatSecondTurnReusesPrefix(t *testing.T) {
	e, _ := storiesEnv(t, 2)
	// An Ollama Go template (Modelfile TEMPLATE) that puts the reply
	// verbatim after the generation prompt, as chat templates do.
	tmpl := `{{- range .Messages }}{{ if eq .Role "user" }} Q: {{ .Content }} A:{{ else }}{{ .Content }}{{ end }}{{ end }}`
	if _, err := e.store.Create("stories-chat", &store.Modelfile{From: "stories", Template: &tmpl}, "", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := false
	msgs := []ollama.Message{{Role: "user", Content: "Once upon a time"}}
	var r1, r2 ollama.ChatResponse
	if err := e.oc.Chat(ctx, &ollama.ChatRequest{Model: "stories-chat", Messages: msgs, Stream: &f, Options: opts(30)}, func(x ollama.ChatResponse) error { r1 = x; return nil }); err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, r1.Message, ollama.Message{Role: "user", Content: "The end."})
	if err := e.oc.Chat(ctx, &ollama.ChatRequest{Model: "stories-chat", Messages: msgs, Stream: &f, Options: opts(5)}, func(x ollama.ChatResponse) error { r2 = x; return nil }); err != nil {
		t.Fatal(err)
	}
	// Turn 2's prompt holds turn 1's 5 prompt tokens and ~30 reply tokens;
	// only the tail is evaluated.
	if r2.PromptEvalCount <= 0 || r2.PromptEvalCount > 15 {
		t.Fatalf("second turn evaluated %d prompt tokens; the shared prefix was not reused (turn 1: %d prompt + %d generated)", r2.PromptEvalCount, r1.PromptEvalCount, r1.EvalCount)
	}
}

func TestEngineJSONModeOnAStoryModel(t *testing.T) {
	e, _ := storiesEnv(t, 1)
	// A model trained only on stories never writes JSON by itself; the
	// constraint must still make every emitted prefix valid JSON.
	for _, seed := range []int{1, 2, 3} {
		resp, body := e.post("/api/generate", fmt.Sprintf(`{"model":"stories","prompt":"Once upon a time","format":"json","stream":false,"options":{"num_predict":120,"seed":%d}}`, seed))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var r struct {
			Response   string `json:"response"`
			DoneReason string `json:"done_reason"`
		}
		json.Unmarshal([]byte(body), &r)
		st := grammar.JSONObject().Start(grammar.NewVocabFunc(1, func(int32) []byte { return nil }, func(int32) bool { return false }))
		if st.AcceptText(r.Response) != nil {
			t.Fatalf("seed %d: output %q is not a JSON prefix", seed, r.Response)
		}
		if r.DoneReason == "stop" && !json.Valid([]byte(r.Response)) {
			t.Fatalf("seed %d: finished output %q is not valid JSON", seed, r.Response)
		}
		t.Logf("seed %d (%s): %q", seed, r.DoneReason, r.Response)
	}
}

func TestEngineEvictsUnderBudget(t *testing.T) {
	dir := testdata.Path(t, "models")
	l := &EngineLoader{Threads: 1, MaxContext: 512}
	gg := &store.Model{Path: filepath.Join(dir, "stories260K", "stories260K.gguf"), Format: "gguf"}
	need, err := l.Estimate(gg, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Weights (~1.1 MB F32) plus a 2 x 512-token KV cache.
	if need < 1_000_000 || need > 4_000_000 {
		t.Fatalf("estimate %d bytes is implausible for stories260K", need)
	}
	e := newEnv(t, Config{Loader: l, Parallel: 2, MaxMemory: need + need/2})
	e.store.Create("a", &store.Modelfile{From: gg.Path}, "", nil)
	ctx := context.Background()
	f := false
	gen := func(m string) error {
		return e.oc.Generate(ctx, &ollama.GenerateRequest{Model: m, Prompt: "Once", Options: opts(3), Stream: &f}, func(ollama.GenerateResponse) error { return nil })
	}
	if err := gen("a"); err != nil {
		t.Fatal(err)
	}
	// The same weights as an HF folder: a second model that does not fit
	// beside the first.
	if err := gen(filepath.Join(dir, "stories260K-hf")); err != nil {
		t.Fatal(err)
	}
	ps, _ := e.oc.ListRunning(ctx)
	if len(ps.Models) != 1 || !strings.HasSuffix(ps.Models[0].Name, "stories260K-hf") {
		t.Fatalf("loaded after the second model: %+v", ps.Models)
	}
}
