package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"

	"github.com/ferryhq/ferry/registry"
	"github.com/ferryhq/ferry/store"
)

// env is a server over a temp store holding two fake models ("fake",
// "fake2") whose weights are dummy GGUF files.
type env struct {
	t      testing.TB
	srv    *Server
	ts     *httptest.Server
	loader *fakeLoader
	store  *store.Store
	oc     *ollama.Client
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	st := &store.Store{Dir: filepath.Join(dir, "models")}
	for _, name := range []string{"fake", "fake2"} {
		p := filepath.Join(dir, name+".gguf")
		os.WriteFile(p, []byte("GGUF"+name), 0o644)
		if _, err := st.Create(name, &store.Modelfile{From: p}, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Loader == nil {
		cfg.Loader = &fakeLoader{size: 100}
	}
	cfg.Store = st
	cfg.Version = "9.9.9"
	s := New(cfg)
	ts := httptest.NewServer(s.Handler())
	u, _ := url.Parse(ts.URL)
	e := &env{t: t, srv: s, ts: ts, store: st, oc: ollama.NewClient(u, ts.Client())}
	e.loader, _ = cfg.Loader.(*fakeLoader)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return e
}

func (e *env) post(path, body string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func opts(n int) map[string]any {
	return map[string]any{"temperature": 0, "num_predict": n, "repeat_penalty": 1}
}

func TestOllamaClientGenerate(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	var parts []string
	var final ollama.GenerateResponse
	err := e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "fake", Prompt: "abc", Options: opts(8)}, func(r ollama.GenerateResponse) error {
		if r.Done {
			final = r
		} else {
			parts = append(parts, r.Response)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(parts, "")
	if len(parts) != 8 || len(text) != 8 {
		t.Fatalf("streamed %d parts %q", len(parts), text)
	}
	if final.DoneReason != "length" || final.EvalCount != 8 || final.PromptEvalCount != len("<user>abc<assistant>")+1 ||
		final.TotalDuration <= 0 || final.LoadDuration <= 0 || final.EvalDuration <= 0 || final.PromptEvalDuration <= 0 || len(final.Context) == 0 {
		t.Fatalf("final response: %+v", final)
	}
	// stream:false gives one object with the same text.
	f := false
	var one []ollama.GenerateResponse
	err = e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "fake", Prompt: "abc", Options: opts(8), Stream: &f}, func(r ollama.GenerateResponse) error {
		one = append(one, r)
		return nil
	})
	if err != nil || len(one) != 1 || one[0].Response != text || !one[0].Done {
		t.Fatalf("stream:false: %v %+v", err, one)
	}
	// raw prompt skips the template.
	err = e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "fake", Prompt: "abc", Raw: true, Options: opts(2), Stream: &f}, func(r ollama.GenerateResponse) error {
		// BOS is shared with the cached previous prompt: 3 of 4 evaluated.
		if r.PromptEvalCount != 3 {
			t.Errorf("raw prompt evaluated %d tokens, want 3", r.PromptEvalCount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOllamaChatSecondTurnEvaluatesOnlyNewTokens(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	f := false
	msgs := []ollama.Message{{Role: "user", Content: "hi"}}
	var r1 ollama.ChatResponse
	if err := e.oc.Chat(ctx, &ollama.ChatRequest{Model: "fake", Messages: msgs, Options: opts(10), Stream: &f}, func(r ollama.ChatResponse) error { r1 = r; return nil }); err != nil {
		t.Fatal(err)
	}
	p1 := len("<user>hi<assistant>") + 1
	if r1.PromptEvalCount != p1 || r1.Message.Role != "assistant" || len(r1.Message.Content) != 10 {
		t.Fatalf("turn 1: %+v", r1)
	}
	msgs = append(msgs, r1.Message, ollama.Message{Role: "user", Content: "more"})
	var r2 ollama.ChatResponse
	if err := e.oc.Chat(ctx, &ollama.ChatRequest{Model: "fake", Messages: msgs, Options: opts(10), Stream: &f}, func(r ollama.ChatResponse) error { r2 = r; return nil }); err != nil {
		t.Fatal(err)
	}
	// Turn 2's prompt repeats turn 1's prompt and reply; only the tail
	// from the last generated token on is evaluated.
	p2 := p1 + len("<assistant>"+r1.Message.Content+"<user>more<assistant>") - len("<assistant>")
	newTokens := p2 - (p1 + 10 - 1)
	if r2.PromptEvalCount != newTokens {
		t.Fatalf("turn 2 evaluated %d prompt tokens, want %d of %d", r2.PromptEvalCount, newTokens, p2)
	}
}

func TestOllamaManagementEndpoints(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	v, err := e.oc.Version(ctx)
	if err != nil || v != "9.9.9" {
		t.Fatalf("version %q %v", v, err)
	}
	if err := e.oc.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := e.oc.List(ctx)
	if err != nil || len(list.Models) != 2 || list.Models[1].Name != "fake:latest" || list.Models[0].Name != "fake2:latest" || list.Models[0].Digest == "" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := e.oc.Create(ctx, &ollama.CreateRequest{Model: "custom", From: "fake", System: "be brief", Parameters: map[string]any{"temperature": 0.2}}, func(ollama.ProgressResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	show, err := e.oc.Show(ctx, &ollama.ShowRequest{Model: "custom"})
	if err != nil || show.System != "be brief" || !strings.Contains(show.Parameters, "temperature 0.2") || !strings.Contains(show.Modelfile, "SYSTEM") {
		t.Fatalf("show: %+v %v", show, err)
	}
	if err := e.oc.Copy(ctx, &ollama.CopyRequest{Source: "custom", Destination: "custom2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.oc.Delete(ctx, &ollama.DeleteRequest{Model: "custom"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.oc.Show(ctx, &ollama.ShowRequest{Model: "custom"}); !isStatus(err, 404) {
		t.Fatalf("show deleted model: %v", err)
	}
	if err := e.oc.Delete(ctx, &ollama.DeleteRequest{Model: "custom"}); !isStatus(err, 404) {
		t.Fatalf("delete missing model: %v", err)
	}
	if err := e.oc.Copy(ctx, &ollama.CopyRequest{Source: "nope", Destination: "x"}); !isStatus(err, 404) {
		t.Fatalf("copy missing model: %v", err)
	}
	// Empty prompt loads; ps shows it; keep_alive 0 unloads.
	f := false
	var lr ollama.GenerateResponse
	if err := e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "custom2", Stream: &f}, func(r ollama.GenerateResponse) error { lr = r; return nil }); err != nil || lr.DoneReason != "load" {
		t.Fatalf("load: %+v %v", lr, err)
	}
	ps, err := e.oc.ListRunning(ctx)
	if err != nil || len(ps.Models) != 1 || ps.Models[0].Name != "custom2:latest" || ps.Models[0].ContextLength != 256 || ps.Models[0].ExpiresAt.Before(time.Now()) {
		t.Fatalf("ps: %+v %v", ps, err)
	}
	if err := e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "custom2", Stream: &f, KeepAlive: &ollama.Duration{}}, func(r ollama.GenerateResponse) error { lr = r; return nil }); err != nil || lr.DoneReason != "unload" {
		t.Fatalf("unload: %+v %v", lr, err)
	}
	if ps, _ := e.oc.ListRunning(ctx); len(ps.Models) != 0 {
		t.Fatalf("still loaded after keep_alive 0: %+v", ps)
	}
}

func isStatus(err error, code int) bool {
	var se ollama.StatusError
	return errors.As(err, &se) && se.StatusCode == code
}

func TestOllamaErrors(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1 << 16})
	for _, c := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{"/api/generate", `{"model":"nope","prompt":"x"}`, 404, `model \"nope\" not found`},
		{"/api/chat", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "not found"},
		{"/api/generate", `{"model":"fake","prompt":`, 400, "invalid JSON"},
		{"/api/generate", `{"model":"fake","prompt":5}`, 400, `invalid type for \"prompt\"`},
		{"/api/generate", `{"prompt":"x"}`, 400, "model is required"},
		{"/api/generate", `{"model":"fake","prompt":"x","options":{"num_predict":"many"}}`, 400, "num_predict"},
		{"/api/generate", `{"model":"fake","prompt":"x","options":{"temperature":-1}}`, 400, "temperature"},
		{"/api/generate", `{"model":"fake","prompt":"x","options":{"num_ctx":100000000}}`, 400, "num_ctx"},
		{"/api/generate", `{"model":"fake","prompt":"x","keep_alive":"soon"}`, 400, "keep_alive"},
		{"/api/generate", `{"model":"fake","prompt":"x","format":"yaml"}`, 400, "format"},
		{"/api/generate", `{"model":"fake","prompt":"x","context":[99999]}`, 400, "out of range"},
		{"/api/chat", `{"model":"fake","messages":[{"role":"wizard","content":"x"}]}`, 400, "invalid role"},
		{"/api/chat", `{"model":"fake","messages":"hi"}`, 400, "messages"},
		{"/api/generate", `{"model":"fake","prompt":"` + strings.Repeat("a", 1<<17) + `"}`, 413, "too large"},
		{"/api/generate", strings.Repeat("[", 100) + strings.Repeat("]", 100), 400, "nested too deeply"},
		{"/api/generate", `{"model":"fake","prompt":"x"} {}`, 400, "extra data"},
		{"/api/show", `{"model":"../../etc/passwd"}`, 404, "not found"},
		{"/api/create", `{"model":"x","from":"fake","adapters":{"a":"sha256:00"}}`, 400, "adapters"},
	} {
		resp, body := e.post(c.path, c.body)
		if resp.StatusCode != c.code || !strings.Contains(body, c.msg) || !json.Valid([]byte(body)) {
			t.Errorf("%s %.60s: %d %s, want %d containing %q", c.path, c.body, resp.StatusCode, body, c.code, c.msg)
		}
		var eb struct{ Error string }
		if json.Unmarshal([]byte(body), &eb); eb.Error == "" {
			t.Errorf("%s: error body %s is not {\"error\": ...}", c.path, body)
		}
	}
	resp, _ := e.post("/api/nothing", `{}`)
	if resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestMidStreamErrorIsAnErrorLine(t *testing.T) {
	l := &fakeLoader{size: 1}
	e := newEnv(t, Config{Loader: l})
	l.setup = func(b *fakeBackend) { b.ctxLen = 100000; b.delay = time.Millisecond }
	// Load, then make the forward pass fail after some output.
	var n int
	err := e.oc.Generate(context.Background(), &ollama.GenerateRequest{Model: "fake", Prompt: "x", Options: opts(1000)}, func(r ollama.GenerateResponse) error {
		n++
		if n == 3 {
			b := l.backend("fake:latest")
			b.mu.Lock()
			b.failNow = true
			b.mu.Unlock()
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("mid-stream failure: %v after %d lines", err, n)
	}
}

func TestDisconnectFreesSlot(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.ctxLen = 1 << 20; b.delay = time.Millisecond }}
	e := newEnv(t, Config{Loader: l, Parallel: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.ts.URL+"/api/generate", strings.NewReader(`{"model":"fake","prompt":"x","options":{"num_predict":-1}}`))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel() // the client goes away mid-generation
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := e.srv.models.snapshot()
		if len(rs) == 1 {
			if running, _ := rs[0].sched.Busy(); running == 0 && rs[0].refs == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the disconnected client's slot was not freed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// With the only slot free, a new request is served.
	f := false
	if err := e.oc.Generate(context.Background(), &ollama.GenerateRequest{Model: "fake", Prompt: "y", Options: opts(3), Stream: &f}, func(ollama.GenerateResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentHTTPRequestsShareSteps(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.delay = 2 * time.Millisecond }}
	e := newEnv(t, Config{Loader: l, Parallel: 4})
	// Load first so all requests find the model ready.
	e.post("/api/generate", `{"model":"fake"}`)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := false
			if err := e.oc.Generate(context.Background(), &ollama.GenerateRequest{Model: "fake", Prompt: "q", Options: opts(50), Stream: &f}, func(ollama.GenerateResponse) error { return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if mb := l.backend("fake:latest").maxBatch(); mb < 3 {
		t.Fatalf("largest batched step had %d sequences; concurrent requests are not batched", mb)
	}
}

func TestEvictionUnderBudget(t *testing.T) {
	l := &fakeLoader{size: 600}
	e := newEnv(t, Config{Loader: l, MaxMemory: 1000})
	ctx := context.Background()
	f := false
	gen := func(m string) error {
		return e.oc.Generate(ctx, &ollama.GenerateRequest{Model: m, Prompt: "x", Options: opts(2), Stream: &f}, func(ollama.GenerateResponse) error { return nil })
	}
	if err := gen("fake"); err != nil {
		t.Fatal(err)
	}
	if err := gen("fake2"); err != nil {
		t.Fatal(err)
	}
	ps, _ := e.oc.ListRunning(ctx)
	if len(ps.Models) != 1 || ps.Models[0].Name != "fake2:latest" {
		t.Fatalf("after loading a second model that does not fit beside the first: %+v", ps.Models)
	}
	if !l.backend("fake:latest").closed {
		t.Fatal("evicted model's backend was not closed")
	}
	// A model larger than the whole budget is refused with a clear error.
	l.size = 5000
	if err := gen("fake"); !isStatus(err, 507) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("oversized model: %v", err)
	}
}

func TestQueueFullIs503WithRetryAfter(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.ctxLen = 1 << 20; b.delay = time.Millisecond }}
	e := newEnv(t, Config{Loader: l, Parallel: 1, QueueSize: -1})
	e.post("/api/generate", `{"model":"fake"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.ts.URL+"/api/generate", strings.NewReader(`{"model":"fake","prompt":"x","options":{"num_predict":-1}}`))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	bufio.NewReader(resp.Body).ReadString('\n')
	r2, body := e.post("/api/generate", `{"model":"fake","prompt":"y"}`)
	if r2.StatusCode != 503 || r2.Header.Get("Retry-After") == "" || !strings.Contains(body, "busy") {
		t.Fatalf("full queue: %d %q %s", r2.StatusCode, r2.Header.Get("Retry-After"), body)
	}
}

func TestAuthCORSHealthMetrics(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"s3cret"}})
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/health"); r.StatusCode != 200 {
		t.Fatalf("/health needs no key: %d", r.StatusCode)
	}
	if r := get("/api/tags"); r.StatusCode != 401 {
		t.Fatalf("no key: %d", r.StatusCode)
	}
	if r := get("/api/tags", "Authorization", "Bearer wrong"); r.StatusCode != 401 {
		t.Fatalf("wrong key: %d", r.StatusCode)
	}
	if r := get("/v1/models", "Authorization", "Bearer s3cret"); r.StatusCode != 200 {
		t.Fatalf("right key: %d", r.StatusCode)
	}
	resp, body := e.post("/v1/chat/completions", `{}`)
	if resp.StatusCode != 401 || !strings.Contains(body, `"type":"invalid_request_error"`) {
		t.Fatalf("OpenAI-shaped 401: %d %s", resp.StatusCode, body)
	}
	// CORS preflight from a loopback origin, as browsers and SDKs send it.
	req, _ := http.NewRequest(http.MethodOptions, e.ts.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-stainless-os")
	r, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "x-stainless-os") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	r, _ = e.ts.Client().Do(req)
	r.Body.Close()
	if r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin preflight: %d %v", r.StatusCode, r.Header)
	}
	mr := get("/metrics", "Authorization", "Bearer s3cret")
	if mr.StatusCode != 200 {
		t.Fatalf("metrics: %d", mr.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	mresp, _ := e.ts.Client().Do(req)
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{"ferry_requests_total", "ferry_queue_depth", "ferry_time_to_first_token_seconds", "ferry_loaded_models", "ferry_model_memory_bytes", "ferry_generated_tokens_total"} {
		if !bytes.Contains(mb, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestNoGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.ctxLen = 1 << 20 }}
		e := newEnv(t, Config{Loader: l, Parallel: 2})
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i+1)*5*time.Millisecond)
				defer cancel()
				e.oc.Generate(ctx, &ollama.GenerateRequest{Model: "fake", Prompt: "x", Options: opts(-1)}, func(ollama.GenerateResponse) error { return nil })
			}()
		}
		wg.Wait()
		e.ts.CloseClientConnections()
		e.ts.Close()
		e.srv.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGracefulShutdown(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.delay = 2 * time.Millisecond }}
	e := newEnv(t, Config{Loader: l})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln, 5*time.Second) }()
	base := "http://" + ln.Addr().String()
	// A request in flight when the signal arrives finishes normally.
	resp, err := http.Post(base+"/api/generate", "application/json", strings.NewReader(`{"model":"fake","prompt":"x","options":{"num_predict":100}}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	br.ReadString('\n')
	cancel() // SIGTERM
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !bytes.Contains(rest, []byte(`"done":true`)) {
		t.Fatalf("in-flight request did not finish: %s", rest)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after a graceful shutdown", err)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestPullThroughAPI(t *testing.T) {
	weights := []byte("GGUF pulled weights")
	sum := sha256.Sum256(weights)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	mf, _ := json.Marshal(store.Manifest{SchemaVersion: 2, MediaType: store.MediaManifest, Layers: []store.Layer{{MediaType: store.MediaModel, Digest: digest, Size: int64(len(weights))}}})
	reg := http.NewServeMux()
	reg.HandleFunc("GET /v2/library/remote/manifests/latest", func(w http.ResponseWriter, r *http.Request) { w.Write(mf) })
	reg.HandleFunc("GET /v2/library/remote/blobs/"+digest, func(w http.ResponseWriter, r *http.Request) { w.Write(weights) })
	rts := httptest.NewServer(reg)
	defer rts.Close()
	e := newEnv(t, Config{})
	e.srv.cfg.Registry = &registry.Options{Store: e.store, Client: rts.Client(), OllamaBase: rts.URL, HFBase: rts.URL}
	var statuses []string
	err := e.oc.Pull(context.Background(), &ollama.PullRequest{Model: "remote"}, func(p ollama.ProgressResponse) error {
		statuses = append(statuses, p.Status)
		return nil
	})
	if err != nil || statuses[len(statuses)-1] != "success" {
		t.Fatalf("pull: %v %v", err, statuses)
	}
	if _, err := e.oc.Show(context.Background(), &ollama.ShowRequest{Model: "remote"}); err != nil {
		t.Fatal(err)
	}
	if err := e.oc.Pull(context.Background(), &ollama.PullRequest{Model: "absent"}, func(ollama.ProgressResponse) error { return nil }); err == nil {
		t.Fatal("pulling an absent model succeeded")
	}
}

func TestCreateFromUploadedBlob(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	data := []byte("GGUF uploaded weights")
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if err := e.oc.CreateBlob(ctx, digest, bytes.NewReader([]byte("GGUF tampered"))); !isStatus(err, 400) {
		t.Fatalf("mismatching upload: %v", err)
	}
	if err := e.oc.CreateBlob(ctx, digest, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodHead, e.ts.URL+"/api/blobs/"+digest, nil)
	if resp, err := e.ts.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD blob: %v %v", err, resp)
	}
	err := e.oc.Create(ctx, &ollama.CreateRequest{Model: "uploaded", Files: map[string]string{"model.gguf": digest}, Template: "{{ .Prompt }}", Messages: []ollama.Message{{Role: "user", Content: "hi"}}}, func(ollama.ProgressResponse) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	show, err := e.oc.Show(ctx, &ollama.ShowRequest{Model: "uploaded"})
	if err != nil || show.Template != "{{ .Prompt }}" || len(show.Messages) != 1 {
		t.Fatalf("%+v %v", show, err)
	}
	missing := "sha256:" + strings.Repeat("ab", 32)
	if err := e.oc.Create(ctx, &ollama.CreateRequest{Model: "x", Files: map[string]string{"model.gguf": missing}}, func(ollama.ProgressResponse) error { return nil }); !isStatus(err, 400) {
		t.Fatalf("create from a blob never uploaded: %v", err)
	}
}
