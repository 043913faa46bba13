// Package chat turns a conversation into the exact prompt text a model was
// trained on, by rendering its chat template: Hugging Face Jinja templates
// (tokenizer.chat_template, tokenizer_config.json, chat_template.jinja) with
// apply_chat_template's semantics, or Ollama Go text/template templates
// (a Modelfile's TEMPLATE). It also derives stop sequences from a template
// and the vocabulary's end-of-generation tokens.
package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/ferryhq/ferry/chat/jinja"
)

// Message is one conversation turn, with the fields OpenAI's and Ollama's
// chat APIs carry.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Thinking is the model's reasoning text; Jinja templates see it as
	// reasoning_content (the name Qwen/DeepSeek templates read).
	Thinking   string     `json:"thinking,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// Name is the tool name on a role "tool" message.
	Name   string   `json:"name,omitempty"`
	Images [][]byte `json:"images,omitempty"`
}

// ToolCall is a function call made by the assistant.
type ToolCall struct {
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction names the function and carries its arguments as JSON:
// an object, or (as OpenAI clients send it) a string holding an object.
type ToolCallFunction struct {
	Index     int             `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Kind is a template language.
type Kind int

// Template kinds.
const (
	KindJinja Kind = iota
	KindGo
)

// String names the kind ("jinja" or "go").
func (k Kind) String() string {
	if k == KindGo {
		return "go"
	}
	return "jinja"
}

// RenderOptions is everything a template can see.
type RenderOptions struct {
	Messages []Message
	// RawMessages, when set, replaces Messages for Jinja templates: a JSON
	// array passed through exactly (content parts, extra keys, key order),
	// as Hugging Face passes the caller's dicts.
	RawMessages json.RawMessage
	// Tools is a JSON array of tool definitions (OpenAI format), or nil.
	Tools               json.RawMessage
	AddGenerationPrompt bool
	BOS, EOS            string
	// Extra holds further template variables (enable_thinking, ...). Values
	// may be Go values or json.RawMessage.
	Extra map[string]any
	// Think is Ollama's think flag for Go templates (nil: not set).
	Think      *bool
	ThinkLevel string
	// Now is the clock for strftime_now / currentDate (nil: time.Now).
	Now func() time.Time
}

// Detect reports the template language. Jinja block tags decide it;
// otherwise a template that parses as a Go template and reads a field
// ({{ .Prompt }}) is Go, and anything else is Jinja.
func Detect(tmpl string) Kind {
	if strings.Contains(tmpl, "{%") {
		return KindJinja
	}
	if !strings.Contains(tmpl, "{{") {
		return KindJinja
	}
	t, err := template.New("").Option("missingkey=zero").Funcs(goFuncs(nil)).Parse(tmpl)
	if err != nil {
		return KindJinja
	}
	if len(goVars(t)) > 0 || strings.Contains(tmpl, "{{ . }}") || strings.Contains(tmpl, "{{.}}") {
		return KindGo
	}
	return KindJinja
}

// Render renders a chat template of either kind.
func Render(tmpl string, o RenderOptions) (string, error) {
	if Detect(tmpl) == KindGo {
		return RenderGo(tmpl, o)
	}
	return RenderJinja(tmpl, o)
}

// templateCache keeps parsed Jinja templates: a model's template is parsed
// once and rendered on every request.
var templateCache struct {
	sync.Mutex
	m map[string]*jinja.Template
}

const maxCachedTemplates = 64

// ParseJinja parses (and caches) a Jinja template.
func ParseJinja(tmpl string) (*jinja.Template, error) {
	templateCache.Lock()
	t, ok := templateCache.m[tmpl]
	templateCache.Unlock()
	if ok {
		return t, nil
	}
	t, err := jinja.Parse(tmpl)
	if err != nil {
		return nil, err
	}
	templateCache.Lock()
	if templateCache.m == nil || len(templateCache.m) >= maxCachedTemplates {
		templateCache.m = map[string]*jinja.Template{}
	}
	templateCache.m[tmpl] = t
	templateCache.Unlock()
	return t, nil
}

// RenderJinja renders a Hugging Face chat template the way
// transformers' apply_chat_template does.
func RenderJinja(tmpl string, o RenderOptions) (string, error) {
	t, err := ParseJinja(tmpl)
	if err != nil {
		return "", err
	}
	vars, err := JinjaVars(o)
	if err != nil {
		return "", err
	}
	return t.Render(vars, &jinja.Options{Now: o.Now})
}

// JinjaVars builds the variables apply_chat_template passes: messages,
// tools (None when absent), add_generation_prompt, bos_token, eos_token and
// any extra keyword arguments.
func JinjaVars(o RenderOptions) (map[string]jinja.Value, error) {
	vars := map[string]jinja.Value{
		"add_generation_prompt": o.AddGenerationPrompt,
		"bos_token":             o.BOS,
		"eos_token":             o.EOS,
		"tools":                 nil,
	}
	for k, v := range o.Extra {
		c, err := jinja.FromGo(v)
		if err != nil {
			return nil, fmt.Errorf("chat: template variable %q: %w", k, err)
		}
		vars[k] = c
	}
	if len(o.RawMessages) > 0 {
		v, err := jinja.FromJSON(o.RawMessages)
		if err != nil {
			return nil, fmt.Errorf("chat: messages: %w", err)
		}
		vars["messages"] = v
	} else {
		l := &jinja.List{Items: make([]jinja.Value, 0, len(o.Messages))}
		for i := range o.Messages {
			d, err := messageDict(&o.Messages[i])
			if err != nil {
				return nil, fmt.Errorf("chat: message %d: %w", i, err)
			}
			l.Items = append(l.Items, d)
		}
		vars["messages"] = l
	}
	if len(o.Tools) > 0 && !bytes.Equal(bytes.TrimSpace(o.Tools), []byte("null")) {
		v, err := jinja.FromJSON(o.Tools)
		if err != nil {
			return nil, fmt.Errorf("chat: tools: %w", err)
		}
		vars["tools"] = v
	}
	return vars, nil
}

// arguments decodes tool-call arguments; a JSON string that holds an object
// (OpenAI's encoding) becomes that object, since templates expect a mapping.
func arguments(raw json.RawMessage) (jinja.Value, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return jinja.NewDict(), nil
	}
	v, err := jinja.FromJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("tool call arguments: %w", err)
	}
	if s, ok := v.(string); ok {
		if inner, err := jinja.FromJSON([]byte(s)); err == nil {
			if d, ok := inner.(*jinja.Dict); ok {
				return d, nil
			}
		}
	}
	return v, nil
}

func messageDict(m *Message) (*jinja.Dict, error) {
	d := jinja.NewDict()
	d.SetStr("role", m.Role)
	d.SetStr("content", m.Content)
	if m.Thinking != "" {
		d.SetStr("reasoning_content", m.Thinking)
	}
	if len(m.ToolCalls) > 0 {
		calls := &jinja.List{}
		for _, tc := range m.ToolCalls {
			c := jinja.NewDict()
			if tc.ID != "" {
				c.SetStr("id", tc.ID)
			}
			typ := tc.Type
			if typ == "" {
				typ = "function"
			}
			c.SetStr("type", typ)
			f := jinja.NewDict()
			f.SetStr("name", tc.Function.Name)
			args, err := arguments(tc.Function.Arguments)
			if err != nil {
				return nil, err
			}
			f.SetStr("arguments", args)
			c.SetStr("function", f)
			calls.Items = append(calls.Items, c)
		}
		d.SetStr("tool_calls", calls)
	}
	if m.ToolCallID != "" {
		d.SetStr("tool_call_id", m.ToolCallID)
	}
	if m.Name != "" {
		d.SetStr("name", m.Name)
	}
	return d, nil
}

// ParseMessages decodes a JSON array of messages (OpenAI/Ollama shape).
// Content given as a list of parts is flattened to its text parts for the
// typed form; use RawMessages to keep the parts for Jinja templates.
func ParseMessages(data []byte) ([]Message, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("messages must be a JSON array of objects: %w", err)
	}
	out := make([]Message, len(raw))
	for i, r := range raw {
		m := &out[i]
		str := func(key string) (string, error) {
			v, ok := r[key]
			if !ok || string(v) == "null" {
				return "", nil
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", fmt.Errorf("message %d: %q must be a string", i, key)
			}
			return s, nil
		}
		var err error
		if m.Role, err = str("role"); err != nil {
			return nil, err
		}
		if m.Role == "" {
			return nil, fmt.Errorf("message %d: missing \"role\"", i)
		}
		if c, ok := r["content"]; ok && len(c) > 0 && c[0] == '[' {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(c, &parts); err != nil {
				return nil, fmt.Errorf("message %d: content parts: %w", i, err)
			}
			var sb strings.Builder
			for _, p := range parts {
				if p.Type == "text" || p.Type == "" {
					sb.WriteString(p.Text)
				}
			}
			m.Content = sb.String()
		} else if m.Content, err = str("content"); err != nil {
			return nil, err
		}
		for _, k := range []string{"thinking", "reasoning_content", "reasoning"} {
			if s, err := str(k); err == nil && s != "" {
				m.Thinking = s
				break
			}
		}
		if m.ToolCallID, err = str("tool_call_id"); err != nil {
			return nil, err
		}
		if m.Name, err = str("name"); err != nil {
			return nil, err
		}
		if m.Name == "" {
			m.Name, _ = str("tool_name")
		}
		if tc, ok := r["tool_calls"]; ok && string(tc) != "null" {
			if err := json.Unmarshal(tc, &m.ToolCalls); err != nil {
				return nil, fmt.Errorf("message %d: tool_calls: %w", i, err)
			}
		}
	}
	return out, nil
}
