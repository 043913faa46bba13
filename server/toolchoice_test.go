package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/grammar"
	"github.com/ferryhq/ferry/store"
)

var choiceTools = []api.Tool{
	{Type: "function", Function: api.ToolFunction{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","enum":["Paris","London","Tokyo"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}`)}},
	{Type: "function", Function: api.ToolFunction{Name: "set_alarm", Parameters: json.RawMessage(`{"type":"object","properties":{"hour":{"type":"integer","minimum":0,"maximum":23}},"required":["hour"]}`)}},
}

func TestParseToolChoice(t *testing.T) {
	for in, want := range map[string]string{
		``:           "auto []",
		`null`:       "auto []",
		`"auto"`:     "auto []",
		`"none"`:     "none []",
		`"required"`: "required []",
		`{"type":"function","function":{"name":"set_alarm"}}`:                                                                    "required [set_alarm]",
		`{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"set_alarm"}}]}}`: "auto [set_alarm]",
	} {
		tc, err := parseToolChoice(json.RawMessage(in), choiceTools)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := fmt.Sprintf("%s %v", tc.mode, tc.names); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{`"always"`, `""`, `42`, `[]`, `{"type":"function"}`, `{"type":"function","function":{"name":"nope"}}`,
		`{"type":"custom","custom":{"name":"x"}}`, `{"type":"allowed_tools","allowed_tools":{"mode":"sometimes","tools":[]}}`} {
		if _, err := parseToolChoice(json.RawMessage(in), choiceTools); err == nil || classify(err).status != 400 {
			t.Errorf("%s: accepted (%v)", in, err)
		}
	}
	if _, err := parseToolChoice(json.RawMessage(`"required"`), nil); err == nil {
		t.Error(`"required" without tools accepted`)
	}
}

// TestForcedToolGrammarFamilies checks that each family's forced syntax
// accepts a valid call that parseToolCalls reads back, and refuses a
// wrong name or arguments outside the schema.
func TestForcedToolGrammarFamilies(t *testing.T) {
	v := grammar.NewVocabFunc(1, func(int32) []byte { return nil }, func(int32) bool { return false })
	known := map[string]bool{"get_weather": true, "set_alarm": true}
	for _, c := range []struct {
		tmpl, good, badName, badArgs string
	}{
		{"{% for m in messages %}<tool_call>{% endfor %}", `{"name":"set_alarm","arguments":{"hour":7}}`, `{"name":"other","arguments":{"hour":7}}`, `{"name":"set_alarm","arguments":{"hour":24}}`},
		{"[TOOL_CALLS]", `[{"name":"get_weather","arguments":{"city":"Paris","days":2}}]`, `[{"name":"x","arguments":{}}]`, `[{"name":"get_weather","arguments":{"city":"Rome","days":2}}]`},
		{`<|start_header_id|>{"name": function name, "parameters": dictionary}`, `{"name":"set_alarm","parameters":{"hour":0}}`, `{"name":"get_time","parameters":{}}`, `{"name":"set_alarm","arguments":{"hour":0}}`},
		{"", `{"name":"get_weather","arguments":{"city":"Tokyo","days":7}}`, `{"name":"get_weatherX","arguments":{}}`, `{"name":"get_weather","arguments":{"city":"Tokyo","days":8}}`},
	} {
		ts := toolSyntaxFor(c.tmpl)
		g, err := forcedToolGrammar(choiceTools, ts)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		st := g.Start(v)
		if err := st.AcceptText(c.good); err != nil || !st.Closed() {
			t.Errorf("%q: valid call %s refused (%v)", c.tmpl, c.good, err)
		}
		if calls := parseToolCalls(ts.prefix+c.good, known); len(calls) != 1 {
			t.Errorf("%q: %q does not parse as one call", c.tmpl, ts.prefix+c.good)
		}
		for _, bad := range []string{c.badName, c.badArgs} {
			st := g.Start(v)
			if err := st.AcceptText(bad); err == nil && st.Closed() {
				t.Errorf("%q: invalid call %s accepted", c.tmpl, bad)
			}
		}
	}
	// A parameters schema the grammar cannot handle still forces a call
	// with an object of arguments.
	odd := []api.Tool{{Function: api.ToolFunction{Name: "f", Parameters: json.RawMessage(`{"type":"object","patternProperties":{"^x":{}}}`)}}}
	g, err := forcedToolGrammar(odd, toolSyntax{argsKey: "arguments"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(v).AcceptText(`{"name":"f","arguments":{"y":[1]}}`); err != nil {
		t.Fatal(err)
	}
}

// oaiToolResp is the part of a chat completion the tests read.
type oaiToolResp struct {
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   *string              `json:"content"`
			ToolCalls []api.OpenAIToolCall `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
}

// TestEngineToolChoiceForcesACall: stories260K knows nothing of tools, yet
// tool_choice "required" or a named function must make it emit a call the
// parser reads, with arguments valid against the tool's schema.
func TestEngineToolChoiceForcesACall(t *testing.T) {
	e, _ := storiesEnv(t, 2)
	toolsJSON, _ := json.Marshal(choiceTools)
	schemas := map[string]*grammar.Grammar{}
	for _, tl := range choiceTools {
		g, err := grammar.Compile(tl.Function.Parameters)
		if err != nil {
			t.Fatal(err)
		}
		schemas[tl.Function.Name] = g
	}
	for _, c := range []struct {
		choice string
		names  []string
	}{
		{`"required"`, []string{"get_weather", "set_alarm"}},
		{`{"type":"function","function":{"name":"set_alarm"}}`, []string{"set_alarm"}},
		{`{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_weather"}}]}}`, []string{"get_weather"}},
	} {
		for seed := 1; seed <= 3; seed++ {
			body := fmt.Sprintf(`{"model":"stories","messages":[{"role":"user","content":"Once upon a time"}],"tools":%s,"tool_choice":%s,"seed":%d,"max_tokens":400}`, toolsJSON, c.choice, seed)
			resp, out := e.post("/v1/chat/completions", body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", c.choice, resp.StatusCode, out)
			}
			var r oaiToolResp
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			ch := r.Choices[0]
			if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
				t.Fatalf("%s seed %d: no tool call: %s", c.choice, seed, out)
			}
			call := ch.Message.ToolCalls[0]
			found := false
			for _, n := range c.names {
				found = found || n == call.Function.Name
			}
			if !found {
				t.Fatalf("%s seed %d: called %q, allowed %v", c.choice, seed, call.Function.Name, c.names)
			}
			if err := schemas[call.Function.Name].Validate([]byte(call.Function.Arguments)); err != nil {
				t.Fatalf("%s seed %d: arguments %s: %v", c.choice, seed, call.Function.Arguments, err)
			}
			t.Logf("%s seed %d: %s(%s)", c.choice, seed, call.Function.Name, call.Function.Arguments)
		}
	}
	// A Hermes-style template: the call is written after "<tool_call>",
	// which goes into the prompt, and still comes back as a tool call.
	tmpl := `{{ range .Messages }}{{ .Content }}{{ end }}{{ if .Tools }} Answer with <tool_call>{"name": ..., "arguments": ...}</tool_call>.{{ end }}`
	if _, err := e.store.Create("stories-hermes", &store.Modelfile{From: "stories", Template: &tmpl}, "", nil); err != nil {
		t.Fatal(err)
	}
	resp, out := e.post("/v1/chat/completions", fmt.Sprintf(`{"model":"stories-hermes","messages":[{"role":"user","content":"Once upon a time"}],"tools":%s,"tool_choice":"required","seed":1,"max_tokens":400,"stream":true}`, toolsJSON))
	if resp.StatusCode != 200 || !strings.Contains(out, `"tool_calls":[{"index":0,"id":"call_`) || !strings.Contains(out, `"finish_reason":"tool_calls"`) || strings.Contains(out, `tool_call>`) {
		t.Fatalf("hermes template, streamed: %d %s", resp.StatusCode, out)
	}
	// "auto" keeps today's behaviour: the story model just writes text.
	resp, out = e.post("/v1/chat/completions", fmt.Sprintf(`{"model":"stories","messages":[{"role":"user","content":"Once upon a time"}],"tools":%s,"tool_choice":"auto","max_tokens":20,"temperature":0}`, toolsJSON))
	var r oaiToolResp
	json.Unmarshal([]byte(out), &r)
	if resp.StatusCode != 200 || len(r.Choices) != 1 || len(r.Choices[0].Message.ToolCalls) != 0 || r.Choices[0].Message.Content == nil {
		t.Fatalf("auto: %d %s", resp.StatusCode, out)
	}
	// Invalid values are 400s in OpenAI's error shape.
	for _, bad := range []string{`"sometimes"`, `{"type":"function","function":{"name":"missing"}}`, `7`} {
		resp, out := e.post("/v1/chat/completions", fmt.Sprintf(`{"model":"stories","messages":[{"role":"user","content":"x"}],"tools":%s,"tool_choice":%s}`, toolsJSON, bad))
		var er struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if resp.StatusCode != 400 || json.Unmarshal([]byte(out), &er) != nil || !strings.Contains(er.Error.Message, "tool_choice") || er.Error.Type == "" {
			t.Fatalf("tool_choice %s: %d %s", bad, resp.StatusCode, out)
		}
	}
	resp, out = e.post("/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`)
	if resp.StatusCode != 400 {
		t.Fatalf("required without tools: %d %s", resp.StatusCode, out)
	}
}

// TestEngineToolChoiceThroughOpenAIClient: the official SDK's named
// tool_choice, streamed and not.
func TestEngineToolChoiceThroughOpenAIClient(t *testing.T) {
	e, _ := storiesEnv(t, 1)
	c := e.openai("k")
	ctx := context.Background()
	tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "set_alarm", Parameters: shared.FunctionParameters{
		"type": "object", "properties": map[string]any{"hour": map[string]any{"type": "integer", "minimum": 0, "maximum": 23}}, "required": []string{"hour"},
	}})
	other := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"})
	params := openai.ChatCompletionNewParams{
		Model:      "stories",
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time")},
		Tools:      []openai.ChatCompletionToolUnionParam{other, tool},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "set_alarm"}}},
		MaxTokens:  openai.Int(400),
		Seed:       openai.Int(5),
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	var args struct {
		Hour *int `json:"hour"`
	}
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Function.Name != "set_alarm" ||
		json.Unmarshal([]byte(ch.Message.ToolCalls[0].Function.Arguments), &args) != nil || args.Hour == nil || *args.Hour < 0 || *args.Hour > 23 {
		t.Fatalf("%+v", ch)
	}
	st := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if st.Err() != nil || len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Choices[0].Message.ToolCalls[0].Function.Arguments != ch.Message.ToolCalls[0].Function.Arguments {
		t.Fatalf("stream: %+v %v", acc.Choices, st.Err())
	}
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	resp, err = c.Chat.Completions.New(ctx, params)
	if err != nil || len(resp.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("required: %+v %v", resp, err)
	}
}

// FuzzParseToolChoice: any tool_choice value is accepted or refused with
// a 400, never a panic, and an accepted one only names known tools.
func FuzzParseToolChoice(f *testing.F) {
	for _, s := range []string{`"auto"`, `"required"`, `null`, `{"type":"function","function":{"name":"set_alarm"}}`,
		`{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_weather"}}]}}`,
		`{"type":"function","function":null}`, `{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[null]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := parseToolChoice(json.RawMessage(s), choiceTools)
		if err != nil {
			if classify(err).status != 400 {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		for _, n := range tc.names {
			if n != "get_weather" && n != "set_alarm" {
				t.Fatalf("%q: accepted unknown tool %q", s, n)
			}
		}
		if got := tc.allowed(choiceTools); tc.mode != "none" && len(got) == 0 {
			t.Fatalf("%q: no tools left", s)
		}
	})
}
