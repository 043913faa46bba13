package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/tokenizer"
)

// storiesReference computes, with the engine and tokenizer directly (no
// server), the token ids of text and its raw pooled hidden state.
func storiesReference(t *testing.T, texts ...string) ([][]int32, [][]float32) {
	t.Helper()
	m, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Load(m, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var ids [][]int32
	var vecs [][]float32
	for _, s := range texts {
		t1, err := tok.Encode(s, true, true)
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.Embed(nil, t1, e.Pooling())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, t1)
		vecs = append(vecs, v)
	}
	return ids, vecs
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func unit(v []float32) []float32 {
	n := norm(v)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}

func assertClose[T float32 | float64](t *testing.T, what string, got []T, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestEngineEmbeddingsThroughClients(t *testing.T) {
	texts := []string{"Once upon a time", "The cat sat on the mat."}
	ids, ref := storiesReference(t, texts...)
	e, _ := storiesEnv(t, 2)
	ctx := context.Background()

	// Ollama /api/embed: unit vectors, in input order, token count.
	r, err := e.oc.Embed(ctx, &ollama.EmbedRequest{Model: "stories", Input: texts})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "stories" || len(r.Embeddings) != 2 || r.PromptEvalCount != len(ids[0])+len(ids[1]) || r.TotalDuration <= 0 {
		t.Fatalf("embed response: model %q, %d vectors, prompt_eval_count %d, total_duration %v", r.Model, len(r.Embeddings), r.PromptEvalCount, r.TotalDuration)
	}
	for i := range texts {
		if n := norm(r.Embeddings[i]); math.Abs(n-1) > 1e-5 {
			t.Fatalf("/api/embed vector %d has norm %g", i, n)
		}
		assertClose(t, "/api/embed", r.Embeddings[i], unit(ref[i]), 1e-5)
	}
	if norm(ref[0]) < 1.5 {
		t.Fatalf("reference norm %g: too close to 1 for the normalisation checks to mean anything", norm(ref[0]))
	}
	// A single string is the same as a one-element list.
	r1, err := e.oc.Embed(ctx, &ollama.EmbedRequest{Model: "stories", Input: texts[1]})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "/api/embed string", r1.Embeddings[0], unit(ref[1]), 1e-5)

	// Legacy /api/embeddings: the raw vector.
	lr, err := e.oc.Embeddings(ctx, &ollama.EmbeddingRequest{Model: "stories", Prompt: texts[0]})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "/api/embeddings", lr.Embedding, ref[0], 1e-5)

	// OpenAI SDK: strings, token ids, base64.
	c := e.openai("k")
	or, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}})
	if err != nil {
		t.Fatal(err)
	}
	if len(or.Data) != 2 || or.Model != "stories" || or.Usage.PromptTokens != int64(len(ids[0])+len(ids[1])) || or.Usage.TotalTokens != or.Usage.PromptTokens {
		t.Fatalf("openai response: %s", or.RawJSON())
	}
	for i, d := range or.Data {
		if d.Index != int64(i) {
			t.Fatalf("data[%d].index = %d", i, d.Index)
		}
		assertClose(t, "/v1/embeddings", d.Embedding, unit(ref[i]), 1e-5)
	}
	tokIDs := make([]int64, len(ids[1]))
	for i, x := range ids[1] {
		tokIDs[i] = int64(x)
	}
	or, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: tokIDs}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(or.Data[0].JSON.Embedding.Raw(), `"`) {
		t.Fatalf("base64 embedding is not a string: %.40s", or.Data[0].JSON.Embedding.Raw())
	}
	assertClose(t, "/v1/embeddings tokens base64", or.Data[0].Embedding, unit(ref[1]), 1e-6)
	or, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{tokIDs, tokIDs[:3]}}, Dimensions: openai.Int(16)})
	if err != nil {
		t.Fatal(err)
	}
	if len(or.Data) != 2 || len(or.Data[0].Embedding) != 16 {
		t.Fatalf("dimensions 16: %d vectors of %d", len(or.Data), len(or.Data[0].Embedding))
	}
	assertClose(t, "/v1/embeddings dimensions", or.Data[0].Embedding, unit(ref[1][:16]), 1e-5)
}

func TestEmbeddingsRawHTTP(t *testing.T) {
	_, ref := storiesReference(t, "Once upon a time")
	e, _ := storiesEnv(t, 2)

	// Response shapes as JSON objects, field by field.
	resp, body := e.post("/api/embed", `{"model":"stories","input":"Once upon a time"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("/api/embed: %d %s", resp.StatusCode, body)
	}
	var m map[string]json.RawMessage
	json.Unmarshal([]byte(body), &m)
	for _, k := range []string{"model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("/api/embed response lacks %q: %s", k, body)
		}
	}
	resp, body = e.post("/api/embeddings", `{"model":"stories","prompt":"Once upon a time"}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, `{"embedding":[`) {
		t.Fatalf("/api/embeddings: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post("/v1/embeddings", `{"model":"stories","input":"Once upon a time","encoding_format":"base64"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("/v1/embeddings: %d %s", resp.StatusCode, body)
	}
	var o struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string `json:"object"`
			Index     *int   `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.Object != "list" || o.Model != "stories" || len(o.Data) != 1 || o.Data[0].Object != "embedding" || o.Data[0].Index == nil || *o.Data[0].Index != 0 || o.Usage.PromptTokens == 0 || o.Usage.TotalTokens != o.Usage.PromptTokens {
		t.Fatalf("/v1/embeddings shape: %s", body)
	}
	var top, usage map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil || json.Unmarshal(top["usage"], &usage) != nil || len(usage) != 2 {
		t.Fatalf("usage must hold exactly prompt_tokens and total_tokens: %s", body)
	}
	b, err := base64.StdEncoding.DecodeString(o.Data[0].Embedding)
	if err != nil || len(b) != 4*len(ref[0]) {
		t.Fatalf("base64: %v, %d bytes", err, len(b))
	}
	got := make([]float32, len(b)/4)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	assertClose(t, "base64 little-endian float32", got, unit(ref[0]), 1e-6)

	// No input: the model is loaded, nothing embedded (as Ollama).
	resp, body = e.post("/api/embed", `{"model":"stories"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"embeddings":[]`) {
		t.Fatalf("/api/embed without input: %d %s", resp.StatusCode, body)
	}

	// Truncation: 100 words in a context of 32.
	long := strings.Repeat("cat ", 100)
	resp, body = e.post("/api/embed", `{"model":"stories","input":"`+long+`","options":{"num_ctx":32}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"prompt_eval_count":32`) {
		t.Fatalf("truncated /api/embed: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post("/api/embed", `{"model":"stories","input":"`+long+`","truncate":false,"options":{"num_ctx":32}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "exceeds maximum context length") {
		t.Fatalf("truncate:false past the context: %d %s", resp.StatusCode, body)
	}

	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/embed", `{"model":"nope","input":"x"}`, 404, "not found"},
		{"/api/embed", `{"model":"stories","input":[1,2]}`, 400, "input must be"},
		{"/api/embed", `{"model":"stories","input":"x","truncate":"yes"}`, 400, ""},
		{"/api/embed", `{"input":"x"}`, 400, "model is required"},
		{"/api/embeddings", `{"model":"nope","prompt":"x"}`, 404, "not found"},
		{"/v1/embeddings", `{"model":"nope","input":"x"}`, 404, "not found"},
		{"/v1/embeddings", `{"model":"stories","input":""}`, 400, "empty"},
		{"/v1/embeddings", `{"model":"stories","input":[]}`, 400, "empty"},
		{"/v1/embeddings", `{"model":"stories","input":["a",""]}`, 400, "empty"},
		{"/v1/embeddings", `{"model":"stories","input":[[]]}`, 400, "empty"},
		{"/v1/embeddings", `{"model":"stories"}`, 400, "input must be"},
		{"/v1/embeddings", `{"model":"stories","input":["a",1]}`, 400, "input must be"},
		{"/v1/embeddings", `{"model":"stories","input":[1.5]}`, 400, "input must be"},
		{"/v1/embeddings", `{"model":"stories","input":[1,99999]}`, 400, "outside the vocabulary"},
		{"/v1/embeddings", `{"model":"stories","input":[-1]}`, 400, "outside the vocabulary"},
		{"/v1/embeddings", `{"model":"stories","input":"x","encoding_format":"hex"}`, 400, "encoding_format"},
		{"/v1/embeddings", `{"model":"stories","input":"x","dimensions":-3}`, 400, "dimensions"},
	} {
		resp, body := e.post(c.path, c.body)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s, want %d containing %q", c.path, c.body, resp.StatusCode, body, c.status, c.want)
		}
		if c.path == "/v1/embeddings" && !strings.Contains(body, `"error":{`) {
			t.Errorf("%s %s: not an OpenAI error object: %s", c.path, c.body, body)
		}
	}
}

// Embeddings and generations on one model at once: the scheduler runs
// both on its goroutine, so each gets the answer it would get alone.
func TestEmbeddingsConcurrentWithGeneration(t *testing.T) {
	_, ref := storiesReference(t, "Once upon a time")
	e, g := storiesEnv(t, 2)
	ctx := context.Background()
	f := false
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 3; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var out ollama.GenerateResponse
			err := e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "Once upon a time", Stream: &f, Options: opts(30)}, func(x ollama.GenerateResponse) error { out = x; return nil })
			if err == nil && !strings.HasPrefix(g.Greedy.Text, out.Response) {
				err = &ollama.StatusError{StatusCode: 0, ErrorMessage: "generation changed: " + out.Response}
			}
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			for k := 0; k < 3; k++ {
				r, err := e.oc.Embed(ctx, &ollama.EmbedRequest{Model: "stories", Input: "Once upon a time"})
				if err != nil {
					errs <- err
					return
				}
				for j, w := range unit(ref[0]) {
					if math.Abs(float64(r.Embeddings[0][j]-w)) > 1e-5 {
						errs <- &ollama.StatusError{ErrorMessage: "embedding changed under load"}
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A backend without hidden states answers 501 on every embedding route.
func TestEmbeddingsUnsupportedBackend(t *testing.T) {
	e := newEnv(t, Config{})
	for _, c := range [][2]string{
		{"/api/embed", `{"model":"fake","input":"x"}`},
		{"/api/embeddings", `{"model":"fake","prompt":"x"}`},
		{"/v1/embeddings", `{"model":"fake","input":"x"}`},
	} {
		resp, body := e.post(c[0], c[1])
		if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "does not support embeddings") {
			t.Errorf("%s: %d %s", c[0], resp.StatusCode, body)
		}
	}
}

// fakeEmbedder adds an Embedder to the fake: the vector is the token sum
// and count, and the sequence holds the tokens afterwards like the
// engine's.
type fakeEmbedder struct {
	*fakeBackend
	calls, chunks int
}

func (f *fakeEmbedder) EmbedStep(seq Seq, chunk []int32, start, done bool) ([]float32, error) {
	f.chunks++
	s := seq.(*fakeSeq)
	if start {
		s.tokens = s.tokens[:0]
	}
	s.tokens = append(s.tokens, chunk...)
	if !done {
		return nil, nil
	}
	f.calls++
	sum := 0
	for _, t := range s.tokens {
		sum += int(t)
	}
	return []float32{float32(sum), float32(len(s.tokens))}, nil
}

// An embedding takes the least recently used free slot, so the prompt
// cache of a recent generation survives it.
func TestSchedulerEmbedKeepsPrefixCache(t *testing.T) {
	fb := &fakeEmbedder{fakeBackend: newFake()}
	s := NewScheduler(fb, SchedOptions{Parallel: 2})
	defer s.Close()
	ctx := context.Background()
	prompt, _ := fb.Tokenize("a long shared prompt", true)
	gen := func() *Result {
		r, err := s.Generate(ctx, Request{Prompt: prompt, NumPredict: 3}, func(Chunk) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	gen()
	for i := 0; i < 3; i++ {
		v, err := s.Embed(ctx, []int32{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != 6 || v[1] != 3 {
			t.Fatalf("embedding %v", v)
		}
	}
	if r := gen(); r.PromptEvalCount != 1 {
		t.Fatalf("after embeddings the prompt evaluated %d tokens, want 1 (cached)", r.PromptEvalCount)
	}
	if fb.calls != 3 {
		t.Fatalf("%d Embed calls", fb.calls)
	}
	if _, err := s.Embed(ctx, make([]int32, fb.ctxLen+1)); !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("input past the context: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Embed(cctx, []int32{1}); err == nil {
		t.Fatal("cancelled embedding returned no error")
	}
	if run, q := s.Busy(); run != 0 || q != 0 {
		t.Fatalf("busy %d/%d after the embeddings", run, q)
	}
	// A backend without an Embedder is refused.
	plain := NewScheduler(newFake(), SchedOptions{Parallel: 1})
	defer plain.Close()
	if _, err := plain.Embed(ctx, []int32{1}); !errors.Is(err, ErrNoEmbeddings) {
		t.Fatalf("plain backend: %v", err)
	}
}

// The scheduler feeds a long embedding in NumBatch chunks through the
// engine backend; the pooled vector equals the engine's one-call Embed.
func TestSchedulerEmbedChunksOnEngine(t *testing.T) {
	text := "Once upon a time, there was a little girl named Lily. She liked to play."
	ids, ref := storiesReference(t, text)
	l, err := (&EngineLoader{Threads: 1}).Load(&store.Model{Name: "stories", Path: testdata.Path(t, "models", "stories260K", "stories260K.gguf")}, 64, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Backend.Close()
	s := NewScheduler(l.Backend, SchedOptions{Parallel: 2, NumBatch: 5})
	defer s.Close()
	if len(ids[0]) <= 10 {
		t.Fatalf("input of %d tokens is too short to span chunks", len(ids[0]))
	}
	ctx := context.Background()
	// Concurrently, a generation shares the loop with the chunks.
	done := make(chan error, 1)
	go func() {
		p, _ := l.Backend.Tokenize("Once upon a time", true)
		_, err := s.Generate(ctx, Request{Prompt: p, NumPredict: 20}, func(Chunk) error { return nil })
		done <- err
	}()
	for range 3 {
		v, err := s.Embed(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "chunked embedding", v, ref[0], 1e-5)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerEmbedChunks(t *testing.T) {
	fb := &fakeEmbedder{fakeBackend: newFake()}
	s := NewScheduler(fb, SchedOptions{Parallel: 1, NumBatch: 4})
	defer s.Close()
	v, err := s.Embed(context.Background(), []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 55 || v[1] != 10 || fb.chunks != 3 || fb.calls != 1 {
		t.Fatalf("vector %v after %d chunks, %d completions; want [55 10] after 3 chunks", v, fb.chunks, fb.calls)
	}
}
