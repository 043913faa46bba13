package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/grammar"
)

// Tool-call markers of the families ferry parses: Qwen/Hermes wrap each
// call in <tool_call>...</tool_call>, Mistral prefixes a JSON array with
// [TOOL_CALLS], Llama 3 emits <|python_tag|> or a bare JSON object with
// "name" and "parameters".
var toolMarkers = []string{"<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{"}

// toolParser separates streamed text from tool calls. Text that may be the
// start of a tool call is held back until it is known to be one or not.
type toolParser struct {
	tools    map[string]bool
	mode     int // 0 undecided, 1 text, 2 capturing a call
	buf      strings.Builder
	text     strings.Builder // all content delivered as text
	captured strings.Builder
}

func newToolParser(tools []api.Tool) *toolParser {
	tp := &toolParser{}
	if len(tools) > 0 {
		tp.tools = map[string]bool{}
		for _, t := range tools {
			tp.tools[t.Function.Name] = true
		}
	} else {
		tp.mode = 1
	}
	return tp
}

// add takes generated text and returns what can be streamed as content.
func (tp *toolParser) add(s string) string {
	if tp.tools == nil {
		tp.text.WriteString(s)
		return s
	}
	if tp.mode == 2 {
		tp.captured.WriteString(s)
		return ""
	}
	tp.buf.WriteString(s)
	b := tp.buf.String()
	if tp.mode == 0 {
		t := strings.TrimLeft(b, " \t\r\n")
		if t == "" {
			return ""
		}
		for _, m := range toolMarkers {
			if strings.HasPrefix(t, m) {
				tp.mode = 2
				tp.captured.WriteString(t)
				tp.buf.Reset()
				return ""
			}
			if strings.HasPrefix(m, t) {
				return "" // could still become a marker
			}
		}
		tp.mode = 1
	}
	// Text mode: a <tool_call> may still follow the text.
	const m = "<tool_call>"
	if i := strings.Index(b, m); i >= 0 {
		tp.mode = 2
		tp.captured.WriteString(b[i:])
		tp.buf.Reset()
		tp.text.WriteString(b[:i])
		return b[:i]
	}
	hold := 0
	for n := min(len(m)-1, len(b)); n > 0; n-- {
		if strings.HasSuffix(b, m[:n]) {
			hold = n
			break
		}
	}
	out := b[:len(b)-hold]
	tp.buf.Reset()
	tp.buf.WriteString(b[len(b)-hold:])
	tp.text.WriteString(out)
	return out
}

// finish returns held-back text not yet streamed and the parsed calls. If
// the captured text does not parse as tool calls it is returned as text.
func (tp *toolParser) finish() (string, []api.ToolCall) {
	rest := tp.buf.String()
	tp.buf.Reset()
	if tp.mode != 2 {
		tp.text.WriteString(rest)
		return rest, nil
	}
	calls := parseToolCalls(tp.captured.String(), tp.tools)
	if calls == nil {
		rest += tp.captured.String()
		tp.text.WriteString(rest)
		return rest, nil
	}
	tp.text.WriteString(rest)
	return rest, calls
}

// content is all text that was not a tool call (after finish).
func (tp *toolParser) content() string { return tp.text.String() }

type rawCall struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Parameters json.RawMessage `json:"parameters"`
}

func (rc rawCall) toCall(known map[string]bool, idx int) (api.ToolCall, bool) {
	if rc.Name == "" || known != nil && !known[rc.Name] {
		return api.ToolCall{}, false
	}
	args := rc.Arguments
	if len(args) == 0 {
		args = rc.Parameters
	}
	m := map[string]any{}
	if len(args) > 0 && string(args) != "null" {
		// Some models emit the arguments as a JSON string.
		var s string
		if json.Unmarshal(args, &s) == nil {
			args = json.RawMessage(s)
		}
		if json.Unmarshal(args, &m) != nil {
			return api.ToolCall{}, false
		}
	}
	return api.ToolCall{Function: api.ToolCallFunction{Index: idx, Name: rc.Name, Arguments: m}}, true
}

// parseToolCalls parses one family's tool-call syntax; nil if s is not a
// well-formed call of a known tool.
func parseToolCalls(s string, known map[string]bool) []api.ToolCall {
	s = strings.TrimSpace(s)
	var calls []api.ToolCall
	add := func(rc rawCall) bool {
		c, ok := rc.toCall(known, len(calls))
		if ok {
			calls = append(calls, c)
		}
		return ok
	}
	switch {
	case strings.HasPrefix(s, "<tool_call>"):
		for _, part := range strings.Split(s, "<tool_call>")[1:] {
			body, _, _ := strings.Cut(part, "</tool_call>")
			var rc rawCall
			if json.Unmarshal([]byte(strings.TrimSpace(body)), &rc) != nil || !add(rc) {
				return nil
			}
		}
	case strings.HasPrefix(s, "[TOOL_CALLS]"):
		body := strings.TrimSpace(strings.TrimPrefix(s, "[TOOL_CALLS]"))
		var rcs []rawCall
		if json.Unmarshal([]byte(body), &rcs) == nil {
			for _, rc := range rcs {
				if !add(rc) {
					return nil
				}
			}
			break
		}
		// Newer Mistral format: [TOOL_CALLS]name[ARGS]{...} repeated.
		for _, part := range strings.Split(s, "[TOOL_CALLS]")[1:] {
			name, args, ok := strings.Cut(part, "[ARGS]")
			if !ok || !add(rawCall{Name: strings.TrimSpace(name), Arguments: json.RawMessage(strings.TrimSpace(args))}) {
				return nil
			}
		}
	default:
		body := strings.TrimSpace(strings.TrimPrefix(s, "<|python_tag|>"))
		dec := json.NewDecoder(strings.NewReader(body))
		for {
			var rc rawCall
			if err := dec.Decode(&rc); err != nil {
				if dec.More() || len(calls) == 0 {
					return nil
				}
				break
			}
			if !add(rc) {
				return nil
			}
			// Llama 3 separates parallel calls with ";".
			rest := strings.TrimLeft(body[dec.InputOffset():], " \t\r\n;")
			if rest == "" {
				break
			}
			dec = json.NewDecoder(strings.NewReader(rest))
			body = rest
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return calls
}

// toolChoice is OpenAI's tool_choice, parsed.
type toolChoice struct {
	mode  string   // "auto", "none" or "required"
	names []string // the allowed functions; nil: all of tools
}

// parseToolChoice reads tool_choice: "none", "auto", "required",
// {"type":"function","function":{"name":...}} (a call of that function is
// required) or {"type":"allowed_tools","allowed_tools":{"mode":"auto"|
// "required","tools":[{"type":"function","function":{"name":...}}]}}.
// Absent or null is "auto". Anything else, a name not in tools, or
// forcing a call without tools is a 400.
func parseToolChoice(raw json.RawMessage, tools []api.Tool) (toolChoice, error) {
	bad := errf(http.StatusBadRequest, `tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":"..."}}`)
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return toolChoice{mode: "auto"}, nil
	}
	var tc toolChoice
	var str string
	if json.Unmarshal(raw, &str) == nil {
		switch str {
		case "none", "auto", "required":
			tc.mode = str
		default:
			return tc, bad
		}
	} else {
		type fn struct {
			Type     string `json:"type"`
			Function *struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		var obj struct {
			fn
			AllowedTools *struct {
				Mode  string `json:"mode"`
				Tools []fn   `json:"tools"`
			} `json:"allowed_tools"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return tc, bad
		}
		switch obj.Type {
		case "function":
			if obj.Function == nil || obj.Function.Name == "" {
				return tc, errf(http.StatusBadRequest, "tool_choice.function.name is required")
			}
			tc.mode, tc.names = "required", []string{obj.Function.Name}
		case "allowed_tools":
			at := obj.AllowedTools
			if at == nil || at.Mode != "auto" && at.Mode != "required" || len(at.Tools) == 0 {
				return tc, errf(http.StatusBadRequest, `tool_choice.allowed_tools needs "mode" ("auto" or "required") and a non-empty "tools" list`)
			}
			tc.mode = at.Mode
			for i, t := range at.Tools {
				if t.Type != "function" || t.Function == nil || t.Function.Name == "" {
					return tc, errf(http.StatusBadRequest, "tool_choice.allowed_tools.tools[%d]: expected {\"type\":\"function\",\"function\":{\"name\":...}}", i)
				}
				tc.names = append(tc.names, t.Function.Name)
			}
		default:
			return tc, bad
		}
	}
	if tc.mode == "required" && len(tools) == 0 {
		return tc, errf(http.StatusBadRequest, "tool_choice %s requires tools", s)
	}
	for _, n := range tc.names {
		found := false
		for _, t := range tools {
			found = found || t.Function.Name == n
		}
		if !found {
			return tc, errf(http.StatusBadRequest, "tool_choice names %q, which is not in tools", n)
		}
	}
	return tc, nil
}

// allowed narrows tools to the choice's names, in the tools' order.
func (tc toolChoice) allowed(tools []api.Tool) []api.Tool {
	if tc.mode == "none" {
		return nil
	}
	if tc.names == nil {
		return tools
	}
	var out []api.Tool
	for _, t := range tools {
		if slices.Contains(tc.names, t.Function.Name) {
			out = append(out, t)
		}
	}
	return out
}

// toolSyntax is how a model family writes one tool call.
type toolSyntax struct {
	prefix  string // written into the prompt after the generation prompt
	argsKey string // "arguments" or Llama 3's "parameters"
	array   bool   // Mistral: a JSON array of calls
}

// toolSyntaxFor picks the family's call syntax from its chat template,
// in the forms parseToolCalls reads. A template with none of the known
// markers (or no template) gets a bare {"name","arguments"} object.
func toolSyntaxFor(tmpl string) toolSyntax {
	switch {
	case strings.Contains(tmpl, "<tool_call>"):
		return toolSyntax{prefix: "<tool_call>\n", argsKey: "arguments"}
	case strings.Contains(tmpl, "[TOOL_CALLS]"):
		return toolSyntax{prefix: "[TOOL_CALLS]", argsKey: "arguments", array: true}
	case strings.Contains(tmpl, "<|start_header_id|>") && (strings.Contains(tmpl, "<|python_tag|>") || strings.Contains(tmpl, `"parameters"`)):
		return toolSyntax{argsKey: "parameters"}
	}
	return toolSyntax{argsKey: "arguments"}
}

// chatTemplater is implemented by backends that can show the template
// they render chats with.
type chatTemplater interface {
	ChatTemplate(withTools bool) string
}

// maxToolAlternatives is the most tools that get one grammar alternative
// each (the grammar's anyOf limit); beyond it the name is an enum and the
// arguments any object.
const maxToolAlternatives = 64

// forcedToolGrammar constrains the output to one call (Mistral: a list of
// calls) of one of tools, written as ts says after ts.prefix: the name is
// one of the tools' and the arguments an object valid against that tool's
// parameters schema. A parameters schema the grammar cannot compile on its
// own, or one using $ref (its pointers would not resolve inside the
// call's schema), allows any object instead.
func forcedToolGrammar(tools []api.Tool, ts toolSyntax) (*grammar.Grammar, error) {
	anyObject := []byte(`{"type":"object"}`)
	// Written by hand: the grammar generates keys in schema order, and a
	// call reads best with its name first.
	call := func(name, args []byte) []byte {
		return fmt.Appendf(nil, `{"type":"object","properties":{"name":%s,%q:%s},"required":["name",%q],"additionalProperties":false}`, name, ts.argsKey, args, ts.argsKey)
	}
	wrap := func(one []byte) []byte {
		if ts.array {
			return fmt.Appendf(nil, `{"type":"array","items":%s,"minItems":1}`, one)
		}
		return one
	}
	build := func(useParams bool) []byte {
		if len(tools) > maxToolAlternatives {
			var names []string
			for _, t := range tools {
				names = append(names, t.Function.Name)
			}
			nb, _ := json.Marshal(map[string]any{"enum": names})
			return wrap(call(nb, anyObject))
		}
		var alts [][]byte
		for _, t := range tools {
			nb, _ := json.Marshal(map[string]any{"const": t.Function.Name})
			args := anyObject
			if p := t.Function.Parameters; useParams && len(p) > 0 && string(p) != "null" && !strings.Contains(string(p), `"$ref"`) {
				if _, err := grammar.Compile(p); err == nil {
					args = p
				}
			}
			alts = append(alts, call(nb, args))
		}
		if len(alts) == 1 {
			return wrap(alts[0])
		}
		return wrap(fmt.Appendf(nil, `{"anyOf":[%s]}`, bytes.Join(alts, []byte(","))))
	}
	g, err := grammar.Compile(build(true))
	if err != nil {
		g, err = grammar.Compile(build(false))
	}
	return g, err
}
