package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/grammar"
)

// maxChoices bounds "n": every choice is a sequence in the batch.
const maxChoices = 8

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// oaiSampling maps OpenAI's sampling fields onto Ollama options; OpenAI's
// defaults (temperature 1, top_p 1) apply when a field is absent, as in
// Ollama's compatibility layer.
func oaiSampling(temp, topP, pres, freq *float64, seed *int64, stop []string, maxTok *int) (map[string]any, error) {
	// No repetition penalty either: OpenAI has none unless frequency or
	// presence penalties are asked for, and temperature 0 must be greedy.
	o := map[string]any{"temperature": 1.0, "top_p": 1.0, "repeat_penalty": 1.0}
	if temp != nil {
		if *temp < 0 || *temp > 2 {
			return nil, errf(http.StatusBadRequest, "temperature must be between 0 and 2, got %v", *temp)
		}
		o["temperature"] = *temp
	}
	if topP != nil {
		if *topP < 0 || *topP > 1 {
			return nil, errf(http.StatusBadRequest, "top_p must be between 0 and 1, got %v", *topP)
		}
		o["top_p"] = *topP
	}
	if pres != nil {
		if *pres < -2 || *pres > 2 {
			return nil, errf(http.StatusBadRequest, "presence_penalty must be between -2 and 2")
		}
		o["presence_penalty"] = *pres
	}
	if freq != nil {
		if *freq < -2 || *freq > 2 {
			return nil, errf(http.StatusBadRequest, "frequency_penalty must be between -2 and 2")
		}
		o["frequency_penalty"] = *freq
	}
	if seed != nil {
		o["seed"] = float64(*seed)
	}
	if len(stop) > 4 {
		return nil, errf(http.StatusBadRequest, "stop: at most 4 sequences")
	}
	if len(stop) > 0 {
		s := make([]any, len(stop))
		for i, x := range stop {
			s[i] = x
		}
		o["stop"] = s
	}
	if maxTok != nil {
		if *maxTok < 1 {
			return nil, errf(http.StatusBadRequest, "max_tokens must be at least 1, got %d", *maxTok)
		}
		o["num_predict"] = float64(*maxTok)
	}
	return o, nil
}

func toOAIMessages(in []api.OpenAIMessage) ([]api.Message, error) {
	out := make([]api.Message, 0, len(in))
	for i, m := range in {
		if len(m.Content.NonText) > 0 {
			return nil, errf(http.StatusBadRequest, "messages[%d]: content part type %q is not supported (text only)", i, m.Content.NonText[0])
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		msg := api.Message{Role: role, Content: m.Content.Text, ToolCallID: m.ToolCallID}
		if role == "tool" {
			msg.ToolName = m.Name
		}
		for j, tc := range m.ToolCalls {
			args := map[string]any{}
			if tc.Function.Arguments != "" {
				if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
					return nil, errf(http.StatusBadRequest, "messages[%d].tool_calls[%d].function.arguments: not a JSON object", i, j)
				}
			}
			msg.ToolCalls = append(msg.ToolCalls, api.ToolCall{ID: tc.ID, Function: api.ToolCallFunction{Index: j, Name: tc.Function.Name, Arguments: args}})
		}
		out = append(out, msg)
	}
	return out, nil
}

func toOAIToolCalls(calls []api.ToolCall, withIndex bool) []api.OpenAIToolCall {
	var out []api.OpenAIToolCall
	for i, c := range calls {
		var tc api.OpenAIToolCall
		tc.ID = c.ID
		if tc.ID == "" {
			tc.ID = newID("call_")
		}
		tc.Type = "function"
		tc.Function.Name = c.Function.Name
		b, _ := json.Marshal(c.Function.Arguments)
		tc.Function.Arguments = string(b)
		if withIndex {
			idx := i
			tc.Index = &idx
		}
		out = append(out, tc)
	}
	return out
}

func toOAILogprobs(lps []TokenLogprob) *api.OpenAILogprobs {
	out := &api.OpenAILogprobs{Content: []api.OpenAITokenLogprob{}}
	for _, l := range lps {
		e := api.OpenAITokenLogprob{Token: l.Token, Logprob: l.Logprob, Bytes: intBytes(l.Bytes), TopLogprobs: []api.OpenAITopLogprob{}}
		for _, t := range l.Top {
			e.TopLogprobs = append(e.TopLogprobs, api.OpenAITopLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: intBytes(t.Bytes)})
		}
		out.Content = append(out.Content, e)
	}
	return out
}

// sse writes server-sent events.
type sse struct {
	w       http.ResponseWriter
	started bool
}

func (s *sse) start() {
	if s.started {
		return
	}
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
	s.started = true
}

func (s *sse) data(v any) error {
	s.start()
	var b bytes.Buffer
	b.WriteString("data: ")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.WriteString("\n")
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func (s *sse) done() {
	s.start()
	s.w.Write([]byte("data: [DONE]\n\n"))
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *sse) fail(err error) {
	if !s.started {
		openaiError(s.w, err)
		return
	}
	he := classify(err)
	s.data(map[string]any{"error": map[string]any{"message": he.msg, "type": "server_error", "param": nil, "code": nil}})
}

// choiceEvent is one choice's output, funnelled to the writer goroutine.
type choiceEvent struct {
	idx   int
	chunk *Chunk
	res   *Result
	err   error
}

// runChoices runs n generations of the same prompt concurrently (they
// share batched steps), delivering events to fn from this goroutine.
func (s *Server) runChoices(ctx context.Context, p *prepared, prompt []int32, n int, logprobs bool, top int, fn func(choiceEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan choiceEvent, 64)
	for i := range n {
		req := p.schedRequest(prompt, logprobs, top)
		if i > 0 && req.Sample.Seed >= 0 {
			req.Sample.Seed += int64(i)
		}
		go func() {
			res, err := s.generate(ctx, p, req, func(c Chunk) error {
				select {
				case ch <- choiceEvent{idx: i, chunk: &c}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			ch <- choiceEvent{idx: i, res: res, err: err}
		}()
	}
	var firstErr error
	for left := n; left > 0; {
		ev := <-ch
		if ev.chunk == nil {
			left--
			if ev.err != nil {
				if firstErr == nil {
					firstErr = ev.err
				}
				cancel()
				continue
			}
		}
		if firstErr != nil {
			continue
		}
		if err := fn(ev); err != nil {
			firstErr = err
			cancel()
		}
	}
	return firstErr
}

func finishReason(res *Result, calls []api.ToolCall) string {
	if len(calls) > 0 {
		return "tool_calls"
	}
	if res.DoneReason == "length" {
		return "length"
	}
	return "stop"
}

func usageOf(results []*Result) *api.OpenAIUsage {
	u := &api.OpenAIUsage{}
	for i, r := range results {
		if r == nil {
			continue
		}
		if i == 0 {
			u.PromptTokens = r.PromptTokens
			u.PromptTokensDetails = &api.OpenAIPromptDetails{CachedTokens: r.PromptTokens - r.PromptEvalCount}
		}
		u.CompletionTokens += r.EvalCount
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

func (s *Server) handleOAIChat(w http.ResponseWriter, r *http.Request) {
	var req api.ChatCompletionRequest
	if err := s.decodeJSON(r, &req); err != nil {
		openaiError(w, err)
		return
	}
	if len(req.Messages) == 0 {
		openaiError(w, errf(http.StatusBadRequest, "messages: must contain at least one message"))
		return
	}
	msgs, err := toOAIMessages(req.Messages)
	if err != nil {
		openaiError(w, err)
		return
	}
	if err := s.validateChat(msgs, req.Tools); err != nil {
		openaiError(w, err)
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > maxChoices {
		openaiError(w, errf(http.StatusBadRequest, "n must be between 1 and %d, got %d", maxChoices, n))
		return
	}
	top := 0
	if req.TopLogprobs != nil {
		top = *req.TopLogprobs
		if top < 0 || top > 20 {
			openaiError(w, errf(http.StatusBadRequest, "top_logprobs must be between 0 and 20"))
			return
		}
		if !req.Logprobs && top > 0 {
			openaiError(w, errf(http.StatusBadRequest, "top_logprobs requires logprobs to be true"))
			return
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				openaiError(w, errf(http.StatusBadRequest, "response_format.json_schema.schema is required"))
				return
			}
			if err := checkFormat(rf.JSONSchema.Schema); err != nil {
				openaiError(w, err)
				return
			}
		default:
			openaiError(w, errf(http.StatusBadRequest, "response_format.type must be text, json_object or json_schema"))
			return
		}
	}
	// tool_choice "none" hides the tools, named functions narrow them, and
	// "required" or a named function force a call (below).
	choice, err := parseToolChoice(req.ToolChoice, req.Tools)
	if err != nil {
		openaiError(w, err)
		return
	}
	tools := choice.allowed(req.Tools)
	maxTok := req.MaxCompletionTokens
	if maxTok == nil {
		maxTok = req.MaxTokens
	}
	opts, err := oaiSampling(req.Temperature, req.TopP, req.PresencePenalty, req.FrequencyPenalty, req.Seed, req.Stop, maxTok)
	if err != nil {
		openaiError(w, err)
		return
	}
	p, err := s.prepare(r.Context(), req.Model, opts, nil)
	if err != nil {
		openaiError(w, err)
		return
	}
	defer s.finish(p)
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			p.grammar = grammar.JSONObject()
		case "json_schema":
			p.grammar, _ = grammar.Compile(rf.JSONSchema.Schema)
		}
	}
	if choice.mode == "required" {
		// The call is written in the family's syntax after its marker,
		// which goes into the prompt, so the parser below reads it back.
		tmpl := p.m.Template
		if ct, ok := p.r.be.(chatTemplater); ok && tmpl == "" {
			tmpl = ct.ChatTemplate(true)
		}
		ts := toolSyntaxFor(tmpl)
		p.grammar, err = forcedToolGrammar(tools, ts)
		if err != nil {
			openaiError(w, errf(http.StatusBadRequest, "tool_choice: cannot constrain the output to the tools: %v", err))
			return
		}
		p.assistantPrefix = ts.prefix
	}
	prompt, err := s.chatPrompt(p, msgs, tools, nil)
	if err != nil {
		openaiError(w, err)
		return
	}
	id := newID("chatcmpl-")
	created := time.Now().Unix()
	fp := "fp_ferry"
	parsers := make([]*toolParser, n)
	for i := range parsers {
		parsers[i] = newToolParser(tools)
		parsers[i].add(p.assistantPrefix)
	}
	results := make([]*Result, n)
	lps := make([][]TokenLogprob, n)
	out := &sse{w: w}
	chunk := func(choices []api.ChatCompletionChunkChoice, usage *api.OpenAIUsage) error {
		return out.data(api.ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, SystemFingerprint: fp, Choices: choices, Usage: usage})
	}
	if req.Stream {
		for i := range n {
			empty := ""
			if err := chunk([]api.ChatCompletionChunkChoice{{Index: i, Delta: api.ChatDelta{Role: "assistant", Content: &empty}}}, nil); err != nil {
				return
			}
		}
	}
	err = s.runChoices(r.Context(), p, prompt, n, req.Logprobs, top, func(ev choiceEvent) error {
		tp := parsers[ev.idx]
		if ev.chunk != nil {
			text := tp.add(ev.chunk.Text)
			if !req.Stream {
				lps[ev.idx] = append(lps[ev.idx], ev.chunk.Logprobs...)
				return nil
			}
			if text == "" && len(ev.chunk.Logprobs) == 0 {
				return nil
			}
			c := api.ChatCompletionChunkChoice{Index: ev.idx, Delta: api.ChatDelta{Content: &text}}
			if req.Logprobs {
				c.Logprobs = toOAILogprobs(ev.chunk.Logprobs)
			}
			return chunk([]api.ChatCompletionChunkChoice{c}, nil)
		}
		results[ev.idx] = ev.res
		if !req.Stream {
			return nil
		}
		rest, calls := tp.finish()
		fr := finishReason(ev.res, calls)
		c := api.ChatCompletionChunkChoice{Index: ev.idx, FinishReason: &fr}
		if rest != "" {
			c.Delta.Content = &rest
		}
		c.Delta.ToolCalls = toOAIToolCalls(calls, true)
		return chunk([]api.ChatCompletionChunkChoice{c}, nil)
	})
	if err != nil {
		if req.Stream {
			out.fail(err)
		} else {
			openaiError(w, err)
		}
		return
	}
	usage := usageOf(results)
	if req.Stream {
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			chunk([]api.ChatCompletionChunkChoice{}, usage)
		}
		out.done()
		return
	}
	resp := api.ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: req.Model, SystemFingerprint: fp, Usage: usage, Choices: []api.ChatCompletionChoice{}}
	for i := range n {
		_, calls := parsers[i].finish()
		content := parsers[i].content()
		c := api.ChatCompletionChoice{Index: i, FinishReason: finishReason(results[i], calls)}
		c.Message.Role = "assistant"
		if len(calls) == 0 || content != "" {
			c.Message.Content = &content
		}
		c.Message.ToolCalls = toOAIToolCalls(calls, false)
		if req.Logprobs {
			c.Logprobs = toOAILogprobs(lps[i])
		}
		resp.Choices = append(resp.Choices, c)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleOAICompletion(w http.ResponseWriter, r *http.Request) {
	var req api.CompletionRequest
	if err := s.decodeJSON(r, &req); err != nil {
		openaiError(w, err)
		return
	}
	if len(req.Prompt) != 1 {
		openaiError(w, errf(http.StatusBadRequest, "prompt: exactly one prompt string is supported, got %d", len(req.Prompt)))
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > maxChoices {
		openaiError(w, errf(http.StatusBadRequest, "n must be between 1 and %d, got %d", maxChoices, n))
		return
	}
	top := -1
	if req.Logprobs != nil {
		top = *req.Logprobs
		if top < 0 || top > 5 {
			openaiError(w, errf(http.StatusBadRequest, "logprobs must be between 0 and 5"))
			return
		}
	}
	maxTok := req.MaxTokens
	if maxTok == nil {
		d := 16 // OpenAI's default for legacy completions
		maxTok = &d
	}
	opts, err := oaiSampling(req.Temperature, req.TopP, req.PresencePenalty, req.FrequencyPenalty, req.Seed, req.Stop, maxTok)
	if err != nil {
		openaiError(w, err)
		return
	}
	p, err := s.prepare(r.Context(), req.Model, opts, nil)
	if err != nil {
		openaiError(w, err)
		return
	}
	defer s.finish(p)
	var prompt []int32
	if req.Suffix != "" {
		prompt, err = fimPrompt(p.r.be, req.Model, req.Prompt[0], req.Suffix, nil)
	} else if prompt, err = p.r.be.Tokenize(req.Prompt[0], true); err != nil {
		err = errf(http.StatusBadRequest, "tokenizing the prompt: %v", err)
	} else {
		err = s.fitPrompt(&prompt, p, nil)
	}
	if err != nil {
		openaiError(w, err)
		return
	}
	id := newID("cmpl-")
	created := time.Now().Unix()
	out := &sse{w: w}
	texts := make([]strings.Builder, n)
	lps := make([][]TokenLogprob, n)
	results := make([]*Result, n)
	if req.Echo {
		for i := range texts {
			texts[i].WriteString(req.Prompt[0])
		}
	}
	legacy := func(l []TokenLogprob) *api.CompletionLogprobs {
		if top < 0 {
			return nil
		}
		c := &api.CompletionLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
		off := 0
		for _, t := range l {
			c.Tokens = append(c.Tokens, t.Token)
			c.TokenLogprobs = append(c.TokenLogprobs, t.Logprob)
			m := map[string]float64{}
			for _, a := range t.Top {
				m[a.Token] = a.Logprob
			}
			c.TopLogprobs = append(c.TopLogprobs, m)
			c.TextOffset = append(c.TextOffset, off)
			off += len(t.Token)
		}
		return c
	}
	send := func(choices []api.CompletionChoice, usage *api.OpenAIUsage) error {
		return out.data(api.Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: "fp_ferry", Choices: choices, Usage: usage})
	}
	if req.Stream && req.Echo {
		for i := range n {
			send([]api.CompletionChoice{{Index: i, Text: req.Prompt[0]}}, nil)
		}
	}
	err = s.runChoices(r.Context(), p, prompt, n, top >= 0, max(top, 0), func(ev choiceEvent) error {
		if ev.chunk != nil {
			if !req.Stream {
				texts[ev.idx].WriteString(ev.chunk.Text)
				lps[ev.idx] = append(lps[ev.idx], ev.chunk.Logprobs...)
				return nil
			}
			return send([]api.CompletionChoice{{Index: ev.idx, Text: ev.chunk.Text, Logprobs: legacy(ev.chunk.Logprobs)}}, nil)
		}
		results[ev.idx] = ev.res
		if req.Stream {
			fr := finishReason(ev.res, nil)
			return send([]api.CompletionChoice{{Index: ev.idx, FinishReason: &fr}}, nil)
		}
		return nil
	})
	if err != nil {
		if req.Stream {
			out.fail(err)
		} else {
			openaiError(w, err)
		}
		return
	}
	usage := usageOf(results)
	if req.Stream {
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			send([]api.CompletionChoice{}, usage)
		}
		out.done()
		return
	}
	resp := api.Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: "fp_ferry", Usage: usage}
	for i := range n {
		fr := finishReason(results[i], nil)
		resp.Choices = append(resp.Choices, api.CompletionChoice{Index: i, Text: texts[i].String(), FinishReason: &fr, Logprobs: legacy(lps[i])})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleOAIModels(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cfg.Store.List(true)
	if err != nil {
		openaiError(w, err)
		return
	}
	resp := api.OpenAIModelList{Object: "list", Data: []api.OpenAIModel{}}
	for _, m := range ms {
		resp.Data = append(resp.Data, api.OpenAIModel{ID: m.Name, Object: "model", Created: m.ModifiedAt.Unix(), OwnedBy: string(m.Source)})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleOAIModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, err := s.resolve(id)
	if err != nil {
		openaiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.OpenAIModel{ID: id, Object: "model", Created: m.ModifiedAt.Unix(), OwnedBy: string(m.Source)})
}

// oaiEmbedInputs parses OpenAI's embedding input: a string, a list of
// strings, a list of token ids, or a list of such lists.
func oaiEmbedInputs(raw json.RawMessage) ([]embedInput, error) {
	bad := errf(http.StatusBadRequest, "input must be a string, an array of strings, an array of token ids or an array of token-id arrays")
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, errf(http.StatusBadRequest, "input must not be empty")
		}
		return []embedInput{{text: one}}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || list == nil {
		return nil, bad
	}
	if len(list) == 0 {
		return nil, errf(http.StatusBadRequest, "input must not be empty")
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil {
		for i, t := range texts {
			if t == "" {
				return nil, errf(http.StatusBadRequest, "input %d is empty", i)
			}
		}
		return textInputs(texts), nil
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil {
		return []embedInput{{tokens: ids, ids: true}}, nil
	}
	var lists [][]int32
	if json.Unmarshal(raw, &lists) == nil {
		out := make([]embedInput, len(lists))
		for i, l := range lists {
			if len(l) == 0 {
				return nil, errf(http.StatusBadRequest, "input %d is empty", i)
			}
			out[i] = embedInput{tokens: l, ids: true}
		}
		return out, nil
	}
	return nil, bad
}

func (s *Server) handleOAIEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req api.EmbeddingsRequest
	if err := s.decodeJSON(r, &req); err != nil {
		openaiError(w, err)
		return
	}
	inputs, err := oaiEmbedInputs(req.Input)
	if err != nil {
		openaiError(w, err)
		return
	}
	if len(inputs) > s.cfg.MaxMessages {
		openaiError(w, errf(http.StatusBadRequest, "too many inputs: %d (limit %d)", len(inputs), s.cfg.MaxMessages))
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		openaiError(w, errf(http.StatusBadRequest, "encoding_format must be float or base64"))
		return
	}
	if req.Dimensions < 0 {
		openaiError(w, errf(http.StatusBadRequest, "dimensions must be positive"))
		return
	}
	vecs, n, _, err := s.embed(r, req.Model, inputs, nil, nil, true, true)
	if err != nil {
		openaiError(w, err)
		return
	}
	resp := api.EmbeddingsResponse{Object: "list", Model: req.Model, Usage: api.EmbeddingsUsage{PromptTokens: n, TotalTokens: n}}
	for i, v := range vecs {
		if req.Dimensions > 0 && req.Dimensions < len(v) {
			v = v[:req.Dimensions]
			normalizeL2(v)
		}
		var e any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		resp.Data = append(resp.Data, api.OpenAIEmbedding{Object: "embedding", Embedding: e, Index: i})
	}
	writeJSON(w, http.StatusOK, resp)
}
