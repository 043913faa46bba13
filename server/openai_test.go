package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

func (e *env) openai(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.ts.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0), option.WithHTTPClient(e.ts.Client()))
}

func TestOpenAIChatCompletions(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.openai("unused")
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:       "fake",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("sys"), openai.UserMessage("hello")},
		MaxTokens:   openai.Int(12),
		Temperature: openai.Float(0),
		Seed:        openai.Int(7),
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || len(resp.Choices[0].Message.Content) != 12 || resp.Choices[0].FinishReason != "length" ||
		resp.Object != "chat.completion" || resp.Usage.CompletionTokens != 12 || resp.Usage.PromptTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+12 {
		t.Fatalf("%+v", resp)
	}
	want := resp.Choices[0].Message.Content

	// Streaming with usage: the accumulated text equals the non-streamed
	// text, and the last chunk before [DONE] carries usage.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	var sawUsage bool
	for st.Next() {
		ch := st.Current()
		acc.AddChunk(ch)
		if ch.Usage.TotalTokens > 0 {
			sawUsage = len(ch.Choices) == 0
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != want || !sawUsage || acc.Choices[0].FinishReason != "length" {
		t.Fatalf("stream: %q (usage %v, finish %q), want %q", acc.Choices[0].Message.Content, sawUsage, acc.Choices[0].FinishReason, want)
	}
	// The repeated prompt is served from the prefix cache.
	if acc.Usage.PromptTokensDetails.CachedTokens == 0 {
		t.Errorf("no cached tokens reported for a repeated prompt: %+v", acc.Usage)
	}

	// n=2, logprobs with alternatives, stop string.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	params.N = openai.Int(2)
	params.Logprobs = openai.Bool(true)
	params.TopLogprobs = openai.Int(3)
	params.Stop = openai.ChatCompletionNewParamsStopUnion{OfString: openai.String(want[5:7])}
	resp, err = c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 {
		t.Fatalf("n=2 gave %d choices", len(resp.Choices))
	}
	for _, ch := range resp.Choices {
		stopAt := strings.Index(want, want[5:7])
		if ch.Message.Content != want[:stopAt] || ch.FinishReason != "stop" {
			t.Fatalf("stop: %q (%s), want %q", ch.Message.Content, ch.FinishReason, want[:stopAt])
		}
		if len(ch.Logprobs.Content) != stopAt || len(ch.Logprobs.Content[0].TopLogprobs) != 3 || ch.Logprobs.Content[0].Logprob > 0 {
			t.Fatalf("logprobs: %+v", ch.Logprobs)
		}
	}

	// Unknown model: 404 with OpenAI's error shape.
	params.Model = "nope"
	_, err = c.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || !strings.Contains(apiErr.Message, "nope") {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestOpenAICompletionsAndModels(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.openai("k")
	ctx := context.Background()
	resp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "fake", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")}, MaxTokens: openai.Int(6), Temperature: openai.Float(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || len(resp.Choices[0].Text) != 6 || resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens != 6 {
		t.Fatalf("%+v", resp)
	}
	st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "fake", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")}, MaxTokens: openai.Int(6), Temperature: openai.Float(0)})
	var text strings.Builder
	for st.Next() {
		for _, ch := range st.Current().Choices {
			text.WriteString(ch.Text)
		}
	}
	if st.Err() != nil || text.String() != resp.Choices[0].Text {
		t.Fatalf("stream %q %v, want %q", text.String(), st.Err(), resp.Choices[0].Text)
	}
	page, err := c.Models.List(ctx)
	if err != nil || len(page.Data) != 2 || page.Data[0].Object != "model" {
		t.Fatalf("models: %+v %v", page, err)
	}
	m, err := c.Models.Get(ctx, "fake")
	if err != nil || m.ID != "fake" {
		t.Fatalf("model: %+v %v", m, err)
	}
	_, err = c.Models.Get(ctx, "missing")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("missing model: %v", err)
	}
	// Bad requests are 400 with an OpenAI error object.
	for _, body := range []string{
		`{"model":"fake","messages":[]}`,
		`{"model":"fake","messages":[{"role":"user","content":"x"}],"n":100}`,
		`{"model":"fake","messages":[{"role":"user","content":"x"}],"temperature":5}`,
		`{"model":"fake","messages":[{"role":"user","content":"x"}],"max_tokens":0}`,
		`{"model":"fake","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`,
		`{"model":"fake","messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`,
		`{"model":"fake","messages":[{"role":"user","content":"x"}],"top_logprobs":3}`,
		`{"model":"fake","messages":"x"}`,
		`not json`,
	} {
		r, b := e.post("/v1/chat/completions", body)
		var eb struct {
			Error struct{ Message, Type string }
		}
		if r.StatusCode != 400 || json.Unmarshal([]byte(b), &eb) != nil || eb.Error.Type != "invalid_request_error" || eb.Error.Message == "" {
			t.Errorf("%s: %d %s", body, r.StatusCode, b)
		}
	}
}

func TestToolCallsThroughClients(t *testing.T) {
	reply := `<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris"}}
</tool_call>`
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.reply = reply }}
	e := newEnv(t, Config{Loader: l})
	ctx := context.Background()
	tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})
	c := e.openai("k")
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fake", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")}, Tools: []openai.ChatCompletionToolUnionParam{tool}})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Function.Name != "get_weather" || ch.Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || ch.Message.ToolCalls[0].ID == "" {
		t.Fatalf("%+v", ch)
	}
	// Streaming: the accumulator assembles the same call.
	st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "fake", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")}, Tools: []openai.ChatCompletionToolUnionParam{tool}})
	acc := openai.ChatCompletionAccumulator{}
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if st.Err() != nil || len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || acc.Choices[0].Message.Content != "" {
		t.Fatalf("stream: %+v %v", acc.Choices, st.Err())
	}
	// Ollama's client gets structured tool_calls too.
	var final ollama.ChatResponse
	var tools ollama.Tools
	json.Unmarshal([]byte(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`), &tools)
	err = e.oc.Chat(ctx, &ollama.ChatRequest{Model: "fake", Messages: []ollama.Message{{Role: "user", Content: "weather?"}}, Tools: tools}, func(r ollama.ChatResponse) error {
		if len(r.Message.ToolCalls) > 0 {
			final = r
		}
		return nil
	})
	if err != nil || len(final.Message.ToolCalls) != 1 || final.Message.ToolCalls[0].Function.Name != "get_weather" {
		t.Fatalf("ollama tool call: %+v %v", final, err)
	}
	if city, _ := final.Message.ToolCalls[0].Function.Arguments.Get("city"); city != "Paris" {
		t.Fatalf("arguments: %v", city)
	}
}

func TestParseToolCallsFamilies(t *testing.T) {
	known := map[string]bool{"f": true, "g": true}
	for in, want := range map[string]string{
		`<tool_call>{"name":"f","arguments":{"a":1}}</tool_call><tool_call>{"name":"g","arguments":{}}</tool_call>`: "f{a:1} g{}",
		`[TOOL_CALLS] [{"name":"f","arguments":{"a":1}}]`:                                                           "f{a:1}",
		`[TOOL_CALLS]f[ARGS]{"a":1}`:                                             "f{a:1}",
		`<|python_tag|>{"name":"f","parameters":{"a":1}}`:                        "f{a:1}",
		`{"name":"f","parameters":{"a":1}}; {"name":"g","parameters":{"b":"x"}}`: "f{a:1} g{b:x}",
		`{"name":"f","arguments":"{\"a\":1}"}`:                                   "f{a:1}",
		`{"name":"unknown","arguments":{}}`:                                      "",
		`{"not":"a call"}`:                                                       "",
		`<tool_call>{broken</tool_call>`:                                         "",
	} {
		calls := parseToolCalls(in, known)
		var parts []string
		for _, c := range calls {
			b, _ := json.Marshal(c.Function.Arguments)
			parts = append(parts, c.Function.Name+strings.ReplaceAll(string(b), `"`, ""))
		}
		if got := strings.Join(parts, " "); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

func TestStructuredOutputThroughClients(t *testing.T) {
	// The fake wants to add prose after the object; the schema stops it,
	// and refuses a key the schema does not list.
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.reply = `{"city": "Paris", "temp": 21} -- hope this helps` }}
	e := newEnv(t, Config{Loader: l})
	ctx := context.Background()
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "temp": map[string]any{"type": "integer"}}, "required": []string{"city", "temp"}}
	c := e.openai("k")
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:       "fake",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
		Temperature: openai.Float(0),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: schema, Strict: openai.Bool(true)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		City string `json:"city"`
		Temp int    `json:"temp"`
	}
	if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &v); err != nil || v.City != "Paris" || v.Temp != 21 || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("%q %v", resp.Choices[0].Message.Content, err)
	}
	// Ollama's client with a schema in "format".
	f := false
	fmtSchema, _ := json.Marshal(schema)
	var r ollama.ChatResponse
	err = e.oc.Chat(ctx, &ollama.ChatRequest{Model: "fake", Messages: []ollama.Message{{Role: "user", Content: "weather?"}}, Format: fmtSchema, Stream: &f, Options: map[string]any{"temperature": 0}}, func(x ollama.ChatResponse) error { r = x; return nil })
	if err != nil || r.Message.Content != `{"city": "Paris", "temp": 21}` {
		t.Fatalf("ollama format schema: %q %v", r.Message.Content, err)
	}
	// An invalid schema is a 400.
	resp2, body := e.post("/api/chat", `{"model":"fake","messages":[{"role":"user","content":"x"}],"format":{"type":"wibble"}}`)
	if resp2.StatusCode != 400 || !strings.Contains(body, "schema") {
		t.Fatalf("invalid schema: %d %s", resp2.StatusCode, body)
	}
}
