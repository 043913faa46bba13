package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api"
)

// FuzzDecodeRequests feeds arbitrary bodies to every request decoder and to
// option parsing: each must give a value or an error, never panic.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"hi","options":{"temperature":0.5,"stop":["a"]},"keep_alive":"5m"}`,
		`{"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stop":"x","n":2,"max_tokens":3}`,
		`{"model":"m","prompt":["a","b"],"stop":null,"logprobs":2}`,
		`{"keep_alive":-1}`, `{"keep_alive":1e300}`, `{"think":"high"}`, `{"format":{"type":"object"}}`,
		`[[[[[[]]]]]]`, `{"input":[1,2,3]}`, `{"input":[[1],[]]}`, `{"input":["a",[1]]}`, `"\u0000"`, ``,
	} {
		f.Add(s)
	}
	s := New(Config{})
	defer s.Close()
	f.Fuzz(func(t *testing.T, body string) {
		targets := []any{&api.GenerateRequest{}, &api.ChatRequest{}, &api.ChatCompletionRequest{}, &api.CompletionRequest{}, &api.EmbedRequest{}, &api.EmbeddingsRequest{}, &api.CreateRequest{}, &api.ShowRequest{}}
		for _, v := range targets {
			err := decodeBytes([]byte(body), v, 64)
			if err != nil {
				if he, ok := err.(*httpError); !ok || he.status != 400 {
					t.Fatalf("decode error is not a 400: %v", err)
				}
				continue
			}
			switch r := v.(type) {
			case *api.GenerateRequest:
				s.parseOptions(nil, r.Options)
				checkFormat(r.Format)
			case *api.ChatRequest:
				s.validateChat(r.Messages, r.Tools)
				s.parseOptions(nil, r.Options)
			case *api.ChatCompletionRequest:
				if msgs, err := toOAIMessages(r.Messages); err == nil {
					s.validateChat(msgs, r.Tools)
				}
				oaiSampling(r.Temperature, r.TopP, r.PresencePenalty, r.FrequencyPenalty, r.Seed, r.Stop, r.MaxTokens)
			case *api.EmbedRequest:
				embedInputs(r.Input)
			case *api.EmbeddingsRequest:
				if in, err := oaiEmbedInputs(r.Input); err != nil {
					if he, ok := err.(*httpError); !ok || he.status != 400 {
						t.Fatalf("embedding input error is not a 400: %v", err)
					}
				} else if len(in) == 0 {
					t.Fatalf("accepted an empty embedding input: %q", r.Input)
				}
			case *api.CreateRequest:
				s.createModelfile(r)
			}
		}
		parseToolCalls(body, nil)
		tp := newToolParser([]api.Tool{{Function: api.ToolFunction{Name: "f"}}})
		tp.add(body)
		tp.finish()
	})
}

// FuzzHandlers posts arbitrary bodies to every endpoint of a server whose
// models are fakes: every answer must be a well-formed status, never a
// panic (the middleware would turn one into a 500).
func FuzzHandlers(f *testing.F) {
	f.Add("/api/generate", `{"model":"fake","prompt":"x","options":{"num_predict":3}}`)
	f.Add("/api/chat", `{"model":"fake","messages":[{"role":"user","content":"x"}],"options":{"num_predict":2},"stream":false}`)
	f.Add("/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"x"}],"max_tokens":2,"n":2,"logprobs":true,"top_logprobs":2}`)
	f.Add("/v1/completions", `{"model":"fake","prompt":"x","max_tokens":2,"stream":true}`)
	f.Add("/api/show", `{"model":"fake","verbose":true}`)
	f.Add("/api/create", `{"model":"new","from":"fake","parameters":{"temperature":1}}`)
	e := newEnv(f, Config{})
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") || len(path) > 64 {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil || strings.ContainsAny(path, " \t\r\n") {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "http://ferry.test"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError && strings.Contains(w.Body.String(), "internal error") {
			t.Fatalf("%s %q: panic: %s", path, body, w.Body.String())
		}
	})
}
