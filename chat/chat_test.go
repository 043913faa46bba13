package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/tokenizer"
)

var oracleModels = []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "mixtral", "qwen3moe"}

type goldenChat struct {
	Prompts []struct {
		Kind     string          `json:"kind"`
		Messages json.RawMessage `json:"messages"`
		Rendered string          `json:"rendered"`
		IDs      []int32         `json:"ids"`
	} `json:"prompts"`
}

// TestOracleTemplates renders every oracle model's own chat template: each
// must render a plain conversation, and for the BPE models the golden
// "chat" prompt (rendered by transformers) must come out byte for byte and,
// tokenized with special tokens parsed, give the golden ids.
func TestOracleTemplates(t *testing.T) {
	for _, name := range oracleModels {
		t.Run(name, func(t *testing.T) {
			dir := testdata.Path(t, "oracle", name)
			mi, err := InfoFromHFDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if mi.Template == "" {
				t.Fatal("no chat template found")
			}
			conv := []Message{
				{Role: "user", Content: "Hello!"},
				{Role: "assistant", Content: "Hi, how can I help?"},
				{Role: "user", Content: "Tell me a joke."},
			}
			out, err := Render(mi.Template, RenderOptions{Messages: conv, AddGenerationPrompt: true, BOS: mi.BOS, EOS: mi.EOS})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if !strings.Contains(out, "Tell me a joke.") {
				t.Errorf("rendered prompt lacks the last user turn: %q", out)
			}
			var g goldenChat
			b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			var tok *tokenizer.Tokenizer
			checked := 0
			defer func() {
				bpe := name == "llama3" || strings.HasPrefix(name, "qwen")
				if bpe && checked == 0 && !t.Failed() {
					t.Error("no golden chat prompt checked for a BPE model")
				}
				t.Logf("%d golden chat prompts checked", checked)
			}()
			for _, p := range g.Prompts {
				if p.Kind != "chat" {
					continue
				}
				got, err := Render(mi.Template, RenderOptions{RawMessages: p.Messages, AddGenerationPrompt: true, BOS: mi.BOS, EOS: mi.EOS})
				if err != nil {
					t.Fatalf("golden chat prompt: %v", err)
				}
				if got != p.Rendered {
					t.Fatalf("golden chat prompt differs\n got %q\nwant %q", got, p.Rendered)
				}
				if tok == nil {
					kvs, err := tokenizer.HFMetadata(dir)
					if err != nil {
						t.Fatal(err)
					}
					if tok, err = tokenizer.FromKVs(kvs); err != nil {
						t.Fatal(err)
					}
				}
				ids, err := tok.Encode(got, false, true)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, p.IDs) {
					t.Errorf("token ids differ\n got %v\nwant %v", ids, p.IDs)
				}
				checked++
			}
		})
	}
}

func TestTypedMessagesMatchRaw(t *testing.T) {
	tmpl := `{% for m in messages %}{{ m | tojson }}
{% endfor %}`
	raw := `[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]}, {"role": "tool", "content": "42", "tool_call_id": "c1"}]`
	msgs, err := ParseMessages([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Render(tmpl, RenderOptions{Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(tmpl, RenderOptions{RawMessages: json.RawMessage(raw)})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("typed and raw messages render differently:\n%s\n%s", a, b)
	}
	// OpenAI sends arguments as a JSON string: templates still see a mapping.
	msgs[1].ToolCalls[0].Function.Arguments = json.RawMessage(`"{\"x\": 1}"`)
	c, err := Render(tmpl, RenderOptions{Messages: msgs})
	if err != nil || c != a {
		t.Errorf("string arguments: %v\n%s", err, c)
	}
}

func TestDetect(t *testing.T) {
	cases := map[string]Kind{
		"{{ .Prompt }}": KindGo,
		"{{- range .Messages }}{{ .Content }}{{ end }}":      KindGo,
		"{{ bos_token }}{{ messages[0]['content'] }}":        KindJinja,
		"{% for m in messages %}{{ m.content }}{% endfor %}": KindJinja,
		"{{ messages }}": KindJinja,
		"plain text":     KindJinja,
	}
	for src, want := range cases {
		if got := Detect(src); got != want {
			t.Errorf("Detect(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestGoTemplates(t *testing.T) {
	conv := []Message{
		{Role: "user", Content: "Hello friend!"},
		{Role: "assistant", Content: "Hello human!"},
		{Role: "user", Content: "What is your name?"},
	}
	withSys := append([]Message{{Role: "system", Content: "You are a helpful assistant!"}}, conv...)
	legacy := "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] "
	legacyResp := legacy + "{{ .Response }}"
	messages := "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n{{- if eq .Role \"user\" }}{{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}[INST] {{ end }}\n{{- end }}"
	for _, tc := range []struct {
		tmpl string
		msgs []Message
		want string
	}{
		{legacy, conv, "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "},
		{legacyResp, conv, "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "},
		{messages, conv, "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "},
		{legacy, withSys, "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human![INST] What is your name?[/INST] "},
		{messages, withSys, "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human![INST] What is your name?[/INST] "},
		// An unfinished assistant turn stays open (prefill).
		{"[INST] {{ .Prompt }}[/INST] {{ .Response }}</s>", append(conv[:3:3], Message{Role: "assistant", Content: "My name is"}),
			"[INST] Hello friend![/INST] Hello human!</s>[INST] What is your name?[/INST] My name is"},
		// Consecutive same-role messages are merged.
		{"{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}", []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}, "<user>a\n\nb"},
	} {
		got, err := Render(tc.tmpl, RenderOptions{Messages: tc.msgs})
		if err != nil {
			t.Errorf("%q: %v", tc.tmpl, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestGoTemplateTools(t *testing.T) {
	tmpl := `{{- if .Tools }}TOOLS {{ .Tools }}
{{ range .Tools }}{{ .Function.Name }}: {{ range $k, $v := .Function.Parameters.Properties }}{{ $k }} {{ $v.Type }} {{ toTypeScriptType $v }};{{ end }}
{{ end }}{{ end }}
{{- range .Messages }}{{ .Role }}:{{ .Content }}{{ range .ToolCalls }} call {{ .Function.Name }}({{ .Function.Arguments }}) {{ json .Function.Arguments }}{{ end }}
{{ end }}{{ currentDate }}`
	tools := `[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}]`
	msgs := []Message{
		{Role: "user", Content: "Weather?"},
		{Role: "assistant", ToolCalls: []ToolCall{{Function: ToolCallFunction{Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}}},
		{Role: "tool", Content: "21C", Name: "get_weather"},
	}
	now := func() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }
	got, err := Render(tmpl, RenderOptions{Messages: msgs, Tools: json.RawMessage(tools), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := `TOOLS [{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string","description":"City"},"unit":{"type":"string","enum":["c","f"]}}}}}]
get_weather: city string string;unit string "c" | "f";
user:Weather?
assistant: call get_weather({"city":"Paris"}) {"city":"Paris"}
tool:21C
2026-01-15`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestStopSequences(t *testing.T) {
	tmpl := "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
	got := StopSequences(tmpl, []string{"<|endoftext|>", "<|im_end|>"})
	want := []string{"<|endoftext|>", "<|im_end|>", "<|im_start|>"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := StopSequences("{{ .Prompt }}", nil); len(got) != 0 {
		t.Errorf("plain template: %q", got)
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render("{% if %}", RenderOptions{}); err == nil {
		t.Error("bad Jinja template: no error")
	}
	if _, err := Render("{{ raise_exception('no system') }}", RenderOptions{}); err == nil || err.Error() != "TemplateError: no system" {
		t.Errorf("raise_exception: %v", err)
	}
	if _, err := Render("{{ messages }}", RenderOptions{RawMessages: json.RawMessage(`[{`)}); err == nil {
		t.Error("bad messages JSON: no error")
	}
	if _, err := ParseMessages([]byte(`[{"content": "x"}]`)); err == nil {
		t.Error("message without role: no error")
	}
}
