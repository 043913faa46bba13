package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/grammar"
	"github.com/ferryhq/ferry/store"
)

// prepared is a request's model, acquired runner and options.
type prepared struct {
	name     string // as the client sent it
	m        *store.Model
	r        *runner
	load     time.Duration
	opts     genOptions
	keep     *time.Duration
	grammar  *grammar.Grammar // constrains the output (format)
	think    *bool            // the request's think flag
	rendered string           // the prompt text
	// assistantPrefix is written after the rendered prompt as the start
	// of the reply (a forced tool call's marker).
	assistantPrefix string
}

func keepOf(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	k := d.Duration
	if k == api.Forever {
		k = -1
	}
	return &k
}

// resolve finds a model by name: 400 without a name, 404 when unknown.
func (s *Server) resolve(name string) (*store.Model, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errf(http.StatusBadRequest, "model is required")
	}
	m, err := s.cfg.Store.Get(name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, &httpError{status: http.StatusNotFound, msg: "model \"" + name + "\" not found, try pulling it first", typ: "not_found_error"}
		}
		return nil, errf(http.StatusBadRequest, "%v", err)
	}
	return m, nil
}

func (s *Server) prepare(ctx context.Context, name string, reqOpts map[string]any, keep *api.Duration) (*prepared, error) {
	m, err := s.resolve(name)
	if err != nil {
		return nil, err
	}
	opts, err := s.parseOptions(m.Params, reqOpts)
	if err != nil {
		return nil, err
	}
	if s.cfg.Loader == nil {
		return nil, errf(http.StatusServiceUnavailable, "this server has no model loader")
	}
	r, load, err := s.models.acquire(ctx, m, opts.NumCtx)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) && !errors.Is(err, ErrNoMemory) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			return nil, errf(http.StatusInternalServerError, "loading %s: %v", name, err)
		}
		return nil, err
	}
	return &prepared{name: name, m: m, r: r, load: load, opts: opts, keep: keepOf(keep)}, nil
}

func (s *Server) finish(p *prepared) { s.models.release(p.r, p.keep) }

// schedRequest turns options into a scheduler request; NumPredict -2
// ("fill the context") and -1 (unbounded) both run to the context end.
func (p *prepared) schedRequest(prompt []int32, logprobs bool, top int) Request {
	np := p.opts.NumPredict
	if np < 0 {
		np = -1
	}
	return Request{Prompt: prompt, NumPredict: np, Stop: p.opts.Stop, Sample: p.opts.Sample, Logprobs: logprobs, TopLogprobs: top, Grammar: p.grammar}
}

// streamer writes NDJSON lines, flushing each.
type streamer struct {
	w       http.ResponseWriter
	started bool
}

func (st *streamer) send(v any) error {
	if !st.started {
		st.w.Header().Set("Content-Type", "application/x-ndjson")
		st.w.WriteHeader(http.StatusOK)
		st.started = true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := st.w.Write(b); err != nil {
		return err
	}
	if f, ok := st.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// fail reports an error: as the status before anything was streamed, as
// a final {"error": ...} line after.
func (st *streamer) fail(err error) {
	if st.started {
		st.send(api.Error{Error: classify(err).msg})
		return
	}
	ollamaError(st.w, err)
}

func toOllamaLogprobs(lps []TokenLogprob) []api.Logprob {
	if len(lps) == 0 {
		return nil
	}
	out := make([]api.Logprob, len(lps))
	for i, l := range lps {
		out[i] = api.Logprob{TokenLogprob: api.TokenLogprob{Token: l.Token, Logprob: l.Logprob, Bytes: intBytes(l.Bytes)}}
		for _, t := range l.Top {
			out[i].TopLogprobs = append(out[i].TopLogprobs, api.TokenLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: intBytes(t.Bytes)})
		}
	}
	return out
}

func intBytes(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func metricsOf(res *Result, load time.Duration, start time.Time) api.Metrics {
	return api.Metrics{
		TotalDuration:      time.Since(start),
		LoadDuration:       load,
		PromptEvalCount:    res.PromptEvalCount,
		PromptEvalDuration: res.PromptEvalDuration,
		EvalCount:          res.EvalCount,
		EvalDuration:       res.EvalDuration,
	}
}

// loadOnly answers a request with an empty prompt: load the model (or
// unload it with keep_alive 0) and report done_reason "load"/"unload".
func (s *Server) loadOnly(ctx context.Context, name string, keep *api.Duration, opts map[string]any) (string, error) {
	if keep != nil && keep.Duration == 0 {
		m, err := s.resolve(name)
		if err != nil {
			return "", err
		}
		s.models.Unload(m.Name)
		return "unload", nil
	}
	p, err := s.prepare(ctx, name, opts, keep)
	if err != nil {
		return "", err
	}
	s.finish(p)
	return "load", nil
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req api.GenerateRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if len(req.Images) > 0 {
		ollamaError(w, errf(http.StatusBadRequest, "images are not supported: ferry serves text-only models"))
		return
	}
	if req.TopLogprobs < 0 || req.TopLogprobs > 20 {
		ollamaError(w, errf(http.StatusBadRequest, "top_logprobs must be between 0 and 20"))
		return
	}
	if err := checkFormat(req.Format); err != nil {
		ollamaError(w, err)
		return
	}
	stream := req.Stream == nil || *req.Stream
	if req.Prompt == "" && req.Suffix == "" && len(req.Context) == 0 {
		reason, err := s.loadOnly(r.Context(), req.Model, req.KeepAlive, req.Options)
		if err != nil {
			ollamaError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, api.GenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: reason})
		return
	}
	p, err := s.prepare(r.Context(), req.Model, req.Options, req.KeepAlive)
	if err != nil {
		ollamaError(w, err)
		return
	}
	defer s.finish(p)
	p.grammar, _ = compileFormat(req.Format)
	be := p.r.be
	var prompt []int32
	if req.Suffix != "" {
		// Fill in the middle: the template, system and context do not
		// apply (as in llama.cpp's /infill).
		if prompt, err = fimPrompt(be, req.Model, req.Prompt, req.Suffix, req.Truncate); err != nil {
			ollamaError(w, err)
			return
		}
	} else {
		text := req.Prompt
		if !req.Raw {
			var msgs []api.Message
			sys := req.System
			if sys == "" {
				sys = p.m.System
			}
			if sys != "" {
				msgs = append(msgs, api.Message{Role: "system", Content: sys})
			}
			msgs = append(msgs, api.Message{Role: "user", Content: req.Prompt})
			tmpl := req.Template
			if tmpl == "" {
				tmpl = p.m.Template
			}
			text, err = be.Render(RenderRequest{Messages: msgs, AddGenerationPrompt: true, Template: tmpl})
			if err != nil {
				ollamaError(w, errf(http.StatusBadRequest, "rendering the prompt template: %v", err))
				return
			}
		}
		for _, c := range req.Context {
			if c < 0 || c >= be.VocabSize() {
				ollamaError(w, errf(http.StatusBadRequest, "context: token %d is out of range (vocabulary has %d)", c, be.VocabSize()))
				return
			}
			prompt = append(prompt, int32(c))
		}
		toks, err := be.Tokenize(text, len(prompt) == 0)
		if err != nil {
			ollamaError(w, errf(http.StatusBadRequest, "tokenizing the prompt: %v", err))
			return
		}
		prompt = append(prompt, toks...)
		if err := s.fitPrompt(&prompt, p, req.Truncate); err != nil {
			ollamaError(w, err)
			return
		}
	}
	st := &streamer{w: w}
	var full strings.Builder
	var allLps []TokenLogprob
	res, err := s.generate(r.Context(), p, p.schedRequest(prompt, req.Logprobs, req.TopLogprobs), func(c Chunk) error {
		if !stream {
			full.WriteString(c.Text)
			allLps = append(allLps, c.Logprobs...)
			return nil
		}
		return st.send(api.GenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Response: c.Text, Logprobs: toOllamaLogprobs(c.Logprobs)})
	})
	if err != nil {
		st.fail(err)
		return
	}
	final := api.GenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: res.DoneReason, Metrics: metricsOf(res, p.load, start)}
	final.Context = make([]int, len(res.Tokens))
	for i, t := range res.Tokens {
		final.Context[i] = int(t)
	}
	if !stream {
		final.Response = full.String()
		final.Logprobs = toOllamaLogprobs(allLps)
		writeJSON(w, http.StatusOK, final)
		return
	}
	st.send(final)
}

// noInsert answers a suffix for a model without FIM tokens, in Ollama's
// words.
func noInsert(model string) error {
	return errf(http.StatusBadRequest, "%q does not support insert", model)
}

// fimPrompt builds a fill-in-the-middle prompt in prefix-suffix-middle
// order, as llama.cpp's /infill does: [BOS] PRE prefix SUF suffix MID, the
// prefix and suffix tokenized as plain text. When it does not fit the
// context the prefix keeps its end and the suffix its start, the suffix
// getting at least a quarter of the room; truncate false makes that a 400.
func fimPrompt(be Backend, model, prefix, suffix string, truncate *bool) ([]int32, error) {
	inf, ok := be.(Infiller)
	if !ok {
		return nil, noInsert(model)
	}
	pre, suf, mid, ok := inf.FIM()
	if !ok {
		return nil, noInsert(model)
	}
	pt, err := inf.TokenizeText(prefix)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "tokenizing the prompt: %v", err)
	}
	st, err := inf.TokenizeText(suffix)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "tokenizing the suffix: %v", err)
	}
	bos, addBOS := inf.BOS()
	room := be.ContextLength() - 1 - 3
	if addBOS {
		room--
	}
	if room < 2 {
		return nil, errf(http.StatusBadRequest, "the context window (%d tokens) is too small to fill in the middle", be.ContextLength())
	}
	if len(pt)+len(st) > room {
		if truncate != nil && !*truncate {
			return nil, errf(http.StatusBadRequest, "prompt and suffix are %d tokens, the context window holds %d (truncate is false)", len(pt)+len(st), be.ContextLength())
		}
		sk := min(len(st), max(room/4, room-len(pt)))
		pk := min(len(pt), room-sk)
		pt, st = pt[len(pt)-pk:], st[:sk]
	}
	out := make([]int32, 0, len(pt)+len(st)+4)
	if addBOS {
		out = append(out, bos)
	}
	out = append(out, pre)
	out = append(out, pt...)
	out = append(out, suf)
	out = append(out, st...)
	return append(out, mid), nil
}

// fitPrompt applies the context window: a prompt that does not fit is
// cut from the front (keeping num_keep tokens) unless truncate is false,
// which makes it a 400 error.
func (s *Server) fitPrompt(prompt *[]int32, p *prepared, truncate *bool) error {
	ctx := p.r.be.ContextLength()
	limit := ctx - 1
	if len(*prompt) <= limit {
		return nil
	}
	if truncate != nil && !*truncate {
		return errf(http.StatusBadRequest, "prompt is %d tokens, the context window holds %d (truncate is false)", len(*prompt), ctx)
	}
	keep := min(max(p.opts.NumKeep, 1), limit/2)
	pr := *prompt
	cut := append(append([]int32(nil), pr[:keep]...), pr[len(pr)-(limit-keep):]...)
	*prompt = cut
	return nil
}

// generate runs a request through the model's scheduler and records
// metrics.
func (s *Server) generate(ctx context.Context, p *prepared, req Request, fn func(Chunk) error) (*Result, error) {
	start := time.Now()
	first := true
	res, err := p.r.sched.Generate(ctx, req, func(c Chunk) error {
		if first {
			first = false
			s.metrics.ttft.Observe(time.Since(start).Seconds())
		}
		return fn(c)
	})
	if res != nil {
		s.metrics.tokens(res)
	}
	return res, err
}

func (s *Server) chatMessages(m *store.Model, msgs []api.Message) []api.Message {
	var out []api.Message
	hasSystem := false
	for _, msg := range msgs {
		if msg.Role == "system" {
			hasSystem = true
		}
	}
	if m.System != "" && !hasSystem {
		out = append(out, api.Message{Role: "system", Content: m.System})
	}
	for _, mm := range m.Messages {
		out = append(out, api.Message{Role: mm.Role, Content: mm.Content})
	}
	return append(out, msgs...)
}

func (s *Server) validateChat(msgs []api.Message, tools []api.Tool) error {
	if len(msgs) > s.cfg.MaxMessages {
		return errf(http.StatusBadRequest, "too many messages: %d (limit %d)", len(msgs), s.cfg.MaxMessages)
	}
	if len(tools) > s.cfg.MaxTools {
		return errf(http.StatusBadRequest, "too many tools: %d (limit %d)", len(tools), s.cfg.MaxTools)
	}
	for i, m := range msgs {
		switch strings.ToLower(m.Role) {
		case "system", "user", "assistant", "tool", "developer":
		default:
			return errf(http.StatusBadRequest, "messages[%d]: invalid role %q (expected system, user, assistant or tool)", i, m.Role)
		}
		if len(m.Images) > 0 {
			return errf(http.StatusBadRequest, "messages[%d]: images are not supported: ferry serves text-only models", i)
		}
	}
	for i, t := range tools {
		if t.Type != "" && t.Type != "function" {
			return errf(http.StatusBadRequest, "tools[%d]: unsupported type %q (expected \"function\")", i, t.Type)
		}
		if t.Function.Name == "" {
			return errf(http.StatusBadRequest, "tools[%d]: function name is required", i)
		}
		if len(t.Function.Parameters) > 0 && !json.Valid(t.Function.Parameters) {
			return errf(http.StatusBadRequest, "tools[%d]: parameters is not valid JSON", i)
		}
	}
	return nil
}

// compileFormat compiles Ollama's "format" ("json" or a JSON schema) with
// package grammar; nil when no format was given.
func compileFormat(f json.RawMessage) (*grammar.Grammar, error) {
	if len(f) == 0 || string(f) == "null" || string(f) == `""` {
		return nil, nil
	}
	var s string
	if json.Unmarshal(f, &s) == nil && s != "json" {
		return nil, errf(http.StatusBadRequest, "invalid format %q: expected \"json\" or a JSON schema object", s)
	}
	g, err := grammar.Compile(f)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "invalid format schema: %v", err)
	}
	return g, nil
}

// checkFormat validates Ollama's "format".
func checkFormat(f json.RawMessage) error {
	_, err := compileFormat(f)
	return err
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req api.ChatRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if err := s.validateChat(req.Messages, req.Tools); err != nil {
		ollamaError(w, err)
		return
	}
	if req.TopLogprobs < 0 || req.TopLogprobs > 20 {
		ollamaError(w, errf(http.StatusBadRequest, "top_logprobs must be between 0 and 20"))
		return
	}
	if err := checkFormat(req.Format); err != nil {
		ollamaError(w, err)
		return
	}
	stream := req.Stream == nil || *req.Stream
	if len(req.Messages) == 0 {
		reason, err := s.loadOnly(r.Context(), req.Model, req.KeepAlive, req.Options)
		if err != nil {
			ollamaError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant"}, Done: true, DoneReason: reason})
		return
	}
	p, err := s.prepare(r.Context(), req.Model, req.Options, req.KeepAlive)
	if err != nil {
		ollamaError(w, err)
		return
	}
	defer s.finish(p)
	p.grammar, _ = compileFormat(req.Format)
	if req.Think != nil {
		b := req.Think.Enabled()
		p.think = &b
	}
	prompt, err := s.chatPrompt(p, req.Messages, req.Tools, req.Truncate)
	if err != nil {
		ollamaError(w, err)
		return
	}
	st := &streamer{w: w}
	tp := newToolParser(req.Tools)
	var th *thinkParser
	if p.think != nil && *p.think {
		th = newThinkParser(p.rendered)
	}
	var allLps []TokenLogprob
	var thinking strings.Builder
	res, err := s.generate(r.Context(), p, p.schedRequest(prompt, req.Logprobs, req.TopLogprobs), func(c Chunk) error {
		text, think := c.Text, ""
		if th != nil {
			think, text = th.add(text)
		}
		out := tp.add(text)
		if !stream {
			thinking.WriteString(think)
			allLps = append(allLps, c.Logprobs...)
			return nil
		}
		if out == "" && think == "" && len(c.Logprobs) == 0 {
			return nil
		}
		return st.send(api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant", Content: out, Thinking: think}, Logprobs: toOllamaLogprobs(c.Logprobs)})
	})
	if err != nil {
		st.fail(err)
		return
	}
	lastThink := ""
	if th != nil {
		t, c := th.flush()
		lastThink = t
		thinking.WriteString(t)
		tp.add(c)
	}
	rest, calls := tp.finish()
	final := api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.Message{Role: "assistant"}, Done: true, DoneReason: res.DoneReason, Metrics: metricsOf(res, p.load, start)}
	if !stream {
		final.Message.Content = tp.content()
		final.Message.Thinking = thinking.String()
		final.Logprobs = toOllamaLogprobs(allLps)
	} else {
		final.Message.Content = rest
		final.Message.Thinking = lastThink
	}
	final.Message.ToolCalls = calls
	if !stream {
		writeJSON(w, http.StatusOK, final)
		return
	}
	st.send(final)
}

// chatPrompt renders and tokenizes a conversation.
func (s *Server) chatPrompt(p *prepared, msgs []api.Message, tools []api.Tool, truncate *bool) ([]int32, error) {
	be := p.r.be
	text, err := be.Render(RenderRequest{Messages: s.chatMessages(p.m, msgs), Tools: tools, AddGenerationPrompt: true, Template: p.m.Template, Think: p.think})
	p.rendered = text
	if err != nil {
		return nil, errf(http.StatusBadRequest, "rendering the chat template: %v", err)
	}
	prompt, err := be.Tokenize(text+p.assistantPrefix, true)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "tokenizing the prompt: %v", err)
	}
	if len(prompt) == 0 {
		return nil, errf(http.StatusBadRequest, "the rendered prompt is empty")
	}
	if err := s.fitPrompt(&prompt, p, truncate); err != nil {
		return nil, err
	}
	return prompt, nil
}
