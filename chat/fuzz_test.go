package chat

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzRender renders arbitrary templates of either kind: errors are fine,
// panics and hangs are not.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"{{ .Prompt }}",
		"{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}{{ .Response }}</s>",
		"{{ if .Response }}{{ .Response }}{{ else }}x{{ end }}tail",
		"{{ range .Messages }}{{ .Role }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}",
		"{{ define \"x\" }}{{ .Prompt }}{{ end }}{{ template \"x\" . }}{{ .Response }}",
		"{{ with .Tools }}{{ . }}{{ end }}{{ json .Messages }}{{ currentDate }}",
		"{% for m in messages %}{{ m.content }}{% endfor %}",
	} {
		f.Add(s)
	}
	msgs := []Message{
		{Role: "system", Content: "s"},
		{Role: "user", Content: "u"},
		{Role: "assistant", Content: "a", ToolCalls: []ToolCall{{Function: ToolCallFunction{Name: "f", Arguments: json.RawMessage(`{"x":1}`)}}}},
		{Role: "tool", Content: "r"},
		{Role: "assistant", Content: "partial"},
	}
	tools := json.RawMessage(`[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"integer"}}}}}]`)
	now := func() time.Time { return time.Unix(0, 0) }
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = Render(src, RenderOptions{Messages: msgs, Tools: tools, Now: now, AddGenerationPrompt: true})
		_ = StopSequences(src, []string{"</s>"})
	})
}
