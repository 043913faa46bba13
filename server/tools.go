package server

import (
	"encoding/json"
	"strings"

	"github.com/ferryhq/ferry/api"
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
