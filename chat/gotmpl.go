package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Ollama Go templates (a Modelfile's TEMPLATE). The data and helper
// functions mirror Ollama's template package: .System, .Prompt, .Response,
// .Messages (Role, Content, Thinking, ToolCalls, ToolName, ToolCallID),
// .Tools, .Think, .ThinkLevel, .IsThinkSet; funcs json, currentDate,
// yesterdayDate and toTypeScriptType; missing keys render as zero values.

func goFuncs(now func() time.Time) template.FuncMap {
	if now == nil {
		now = time.Now
	}
	return template.FuncMap{
		"json": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
		"currentDate": func(args ...string) string {
			return now().Format("2006-01-02")
		},
		"yesterdayDate": func(args ...string) string {
			return now().AddDate(0, 0, -1).Format("2006-01-02")
		},
		"toTypeScriptType": func(v any) string {
			switch p := v.(type) {
			case goToolProperty:
				return p.typeScript()
			case *goToolProperty:
				if p != nil {
					return p.typeScript()
				}
			}
			return "any"
		},
	}
}

// goPropType is a JSON-schema "type": one name or a list of names.
type goPropType []string

// MarshalJSON writes a single type as a string, as Ollama does.
func (t goPropType) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// UnmarshalJSON accepts a string or a list of strings.
func (t *goPropType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = goPropType{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*t = l
	return nil
}

func (t goPropType) String() string {
	if len(t) == 1 {
		return t[0]
	}
	return fmt.Sprint([]string(t))
}

type goToolProperty struct {
	Type        goPropType                `json:"type,omitempty"`
	Items       any                       `json:"items,omitempty"`
	Description string                    `json:"description,omitempty"`
	Enum        []any                     `json:"enum,omitempty"`
	Properties  map[string]goToolProperty `json:"properties,omitempty"`
}

func (p goToolProperty) typeScript() string {
	one := func(t string) string {
		switch t {
		case "string":
			if len(p.Enum) > 0 {
				var parts []string
				for _, e := range p.Enum {
					b, _ := json.Marshal(e)
					parts = append(parts, string(b))
				}
				return strings.Join(parts, " | ")
			}
			return "string"
		case "number", "integer":
			return "number"
		case "boolean":
			return "boolean"
		case "array":
			if m, ok := p.Items.(map[string]any); ok {
				if it, ok := m["type"].(string); ok {
					return goToolProperty{Type: goPropType{it}}.typeScript() + "[]"
				}
			}
			return "any[]"
		case "object":
			return "Record<string, any>"
		case "null":
			return "null"
		}
		return "any"
	}
	if len(p.Type) == 0 {
		return "any"
	}
	var parts []string
	for _, t := range p.Type {
		parts = append(parts, one(t))
	}
	return strings.Join(parts, " | ")
}

type goProps map[string]goToolProperty

func (p goProps) String() string {
	if p == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]goToolProperty(p))
	return string(b)
}

type goToolParams struct {
	Type       string   `json:"type"`
	Defs       any      `json:"$defs,omitempty"`
	Items      any      `json:"items,omitempty"`
	Required   []string `json:"required,omitempty"`
	Properties goProps  `json:"properties"`
}

type goToolFunction struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Parameters  goToolParams `json:"parameters"`
}

func (f goToolFunction) String() string { b, _ := json.Marshal(f); return string(b) }

type goTool struct {
	Type     string         `json:"type"`
	Items    any            `json:"items,omitempty"`
	Function goToolFunction `json:"function"`
}

func (t goTool) String() string { b, _ := json.Marshal(t); return string(b) }

type goTools []goTool

func (t goTools) String() string { b, _ := json.Marshal([]goTool(t)); return string(b) }

type goArgs map[string]any

func (a goArgs) String() string {
	if a == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]any(a))
	return string(b)
}

type goToolCallFunction struct {
	Index     int
	Name      string
	Arguments goArgs
}

type goToolCall struct {
	ID       string
	Function goToolCallFunction
}

type goMessage struct {
	Role       string
	Content    string
	Thinking   string
	Images     [][]byte
	ToolCalls  []goToolCall
	ToolName   string
	ToolCallID string
}

// goVars lists the lower-cased field and variable names a template reads.
func goVars(t *template.Template) []string {
	set := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.TemplateNode:
			if n.Pipe != nil {
				walk(n.Pipe)
			}
		case *parse.ActionNode:
			if n.Pipe != nil {
				walk(n.Pipe)
			}
		case *parse.IfNode:
			walk(&n.BranchNode)
		case *parse.RangeNode:
			walk(&n.BranchNode)
		case *parse.WithNode:
			walk(&n.BranchNode)
		case *parse.BranchNode:
			if n.Pipe != nil {
				walk(n.Pipe)
			}
			if n.List != nil {
				walk(n.List)
			}
			if n.ElseList != nil {
				walk(n.ElseList)
			}
		case *parse.PipeNode:
			for _, c := range n.Cmds {
				for _, a := range c.Args {
					walk(a)
				}
			}
		case *parse.FieldNode:
			for _, id := range n.Ident {
				set[strings.ToLower(id)] = true
			}
		case *parse.VariableNode:
			for _, id := range n.Ident {
				set[strings.ToLower(id)] = true
			}
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func parseGo(tmpl string, now func() time.Time) (*template.Template, []string, error) {
	t, err := template.New("").Option("missingkey=zero").Funcs(goFuncs(now)).Parse(tmpl)
	if err != nil {
		return nil, nil, err
	}
	vars := goVars(t)
	if t.Tree == nil {
		t, err = template.New("").Option("missingkey=zero").Funcs(goFuncs(now)).Parse("")
		if err != nil {
			return nil, nil, err
		}
	}
	if !slices.Contains(vars, "messages") && !slices.Contains(vars, "response") {
		// Ollama appends {{ .Response }} to templates that lack it.
		t.Tree.Root.Nodes = append(t.Tree.Root.Nodes, &parse.ActionNode{
			NodeType: parse.NodeAction,
			Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Cmds: []*parse.CommandNode{{
				NodeType: parse.NodeCommand,
				Args:     []parse.Node{&parse.FieldNode{NodeType: parse.NodeField, Ident: []string{"Response"}}},
			}}},
		})
	}
	return t, vars, nil
}

// collate merges consecutive messages of one role (except tool results)
// and gathers the system messages, as Ollama does before rendering.
func collate(msgs []Message) (string, []Message) {
	var system []string
	var out []Message
	for _, m := range msgs {
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if n := len(out); n > 0 && out[n-1].Role == m.Role && m.Role != "tool" {
			out[n-1].Content += "\n\n" + m.Content
			continue
		}
		out = append(out, m)
	}
	return strings.Join(system, "\n\n"), out
}

func goToolsFrom(raw json.RawMessage) (goTools, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var tools goTools
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, fmt.Errorf("chat: tools: %w", err)
	}
	return tools, nil
}

func goMessagesFrom(msgs []Message) ([]*goMessage, error) {
	out := make([]*goMessage, len(msgs))
	for i, m := range msgs {
		gm := &goMessage{Role: m.Role, Content: m.Content, Thinking: m.Thinking, Images: m.Images, ToolName: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			var args goArgs
			a := bytes.TrimSpace(tc.Function.Arguments)
			if len(a) > 0 && a[0] == '"' {
				var s string
				if err := json.Unmarshal(a, &s); err == nil {
					a = []byte(s)
				}
			}
			if len(a) > 0 {
				if err := json.Unmarshal(a, &args); err != nil {
					return nil, fmt.Errorf("chat: message %d: tool call arguments must be a JSON object: %w", i, err)
				}
			}
			gm.ToolCalls = append(gm.ToolCalls, goToolCall{ID: tc.ID, Function: goToolCallFunction{Index: tc.Function.Index, Name: tc.Function.Name, Arguments: args}})
		}
		out[i] = gm
	}
	return out, nil
}

// RenderGo renders an Ollama Go template. Templates that read .Messages get
// the whole conversation; older ones that only know .System/.Prompt/
// .Response are executed once per user turn, and the last execution stops
// right after .Response so an unfinished assistant turn stays open.
func RenderGo(tmpl string, o RenderOptions) (string, error) {
	msgs := o.Messages
	if len(msgs) == 0 && len(o.RawMessages) > 0 {
		var err error
		if msgs, err = ParseMessages(o.RawMessages); err != nil {
			return "", err
		}
	}
	t, vars, err := parseGo(tmpl, o.Now)
	if err != nil {
		return "", err
	}
	think := o.Think != nil && *o.Think
	system, collated := collate(msgs)
	if slices.Contains(vars, "messages") {
		gm, err := goMessagesFrom(collated)
		if err != nil {
			return "", err
		}
		tools, err := goToolsFrom(o.Tools)
		if err != nil {
			return "", err
		}
		data := map[string]any{
			"System": system, "Messages": gm, "Tools": tools, "Response": "",
			"Think": think, "ThinkLevel": o.ThinkLevel, "IsThinkSet": o.Think != nil,
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	var b bytes.Buffer
	var sys, prompt, response string
	exec := func(tt *template.Template) error {
		err := tt.Execute(&b, map[string]any{
			"System": sys, "Prompt": prompt, "Response": response,
			"Think": think, "ThinkLevel": o.ThinkLevel, "IsThinkSet": o.Think != nil,
		})
		sys, prompt, response = "", "", ""
		return err
	}
	for _, m := range collated {
		switch m.Role {
		case "system":
			if prompt != "" || response != "" {
				if err := exec(t); err != nil {
					return "", err
				}
			}
			sys = m.Content
		case "user":
			if response != "" {
				if err := exec(t); err != nil {
					return "", err
				}
			}
			prompt = m.Content
		case "assistant":
			response = m.Content
		}
	}
	cut := false
	root := cutAfterResponse(t.Tree.Root.Copy(), &cut)
	last, err := template.New("").Option("missingkey=zero").Funcs(goFuncs(o.Now)).AddParseTree("", &parse.Tree{Root: root.(*parse.ListNode)})
	if err != nil {
		return "", err
	}
	if err := exec(last); err != nil {
		return "", err
	}
	return b.String(), nil
}

// cutAfterResponse keeps the tree up to and including the first .Response
// field and drops everything after it.
func cutAfterResponse(n parse.Node, cut *bool) parse.Node {
	if *cut {
		return nil
	}
	switch t := n.(type) {
	case *parse.FieldNode:
		if slices.Contains(t.Ident, "Response") {
			*cut = true
		}
	case *parse.ListNode:
		var keep []parse.Node
		for _, c := range t.Nodes {
			if k := cutAfterResponse(c, cut); k != nil {
				keep = append(keep, k)
			}
		}
		t.Nodes = keep
	case *parse.IfNode:
		cutBranch(&t.BranchNode, cut)
	case *parse.WithNode:
		cutBranch(&t.BranchNode, cut)
	case *parse.RangeNode:
		cutBranch(&t.BranchNode, cut)
	case *parse.ActionNode:
		p := cutAfterResponse(t.Pipe, cut)
		if p == nil {
			return nil
		}
		t.Pipe = p.(*parse.PipeNode)
	case *parse.PipeNode:
		var cmds []*parse.CommandNode
		for _, c := range t.Cmds {
			var args []parse.Node
			for _, a := range c.Args {
				if k := cutAfterResponse(a, cut); k != nil {
					args = append(args, k)
				}
			}
			if len(args) == 0 {
				return nil
			}
			c.Args = args
			cmds = append(cmds, c)
		}
		if len(cmds) == 0 {
			return nil
		}
		t.Cmds = cmds
	}
	return n
}

func cutBranch(b *parse.BranchNode, cut *bool) {
	if l := cutAfterResponse(b.List, cut); l != nil {
		b.List = l.(*parse.ListNode)
	} else {
		b.List = &parse.ListNode{NodeType: parse.NodeList}
	}
	if b.ElseList != nil {
		if l := cutAfterResponse(b.ElseList, cut); l != nil {
			b.ElseList = l.(*parse.ListNode)
		} else {
			b.ElseList = nil
		}
	}
}
