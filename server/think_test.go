package server

import (
	"context"
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
)

func TestThinkParser(t *testing.T) {
	for _, c := range []struct {
		prompt string
		chunks []string
		think  string
		text   string
	}{
		{"", []string{"<thi", "nk>reason", "ing</th", "ink>\n\nanswer"}, "reasoning", "answer"},
		{"<|assistant|><think>\n", []string{"already thinking", "</think>", "done"}, "already thinking", "done"},
		{"", []string{"no tags at all"}, "", "no tags at all"},
		{"", []string{"<think>cut off"}, "cut off", ""},
	} {
		p := newThinkParser(c.prompt)
		var th, tx strings.Builder
		for _, ch := range c.chunks {
			a, b := p.add(ch)
			th.WriteString(a)
			tx.WriteString(b)
		}
		a, b := p.flush()
		th.WriteString(a)
		tx.WriteString(b)
		if th.String() != c.think || tx.String() != c.text {
			t.Errorf("%q: thinking %q content %q, want %q %q", c.chunks, th.String(), tx.String(), c.think, c.text)
		}
	}
}

func TestChatThinkSplitsReasoning(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.reply = "<think>let me see</think>\n\nforty-two" }}
	e := newEnv(t, Config{Loader: l})
	f := false
	var r ollama.ChatResponse
	err := e.oc.Chat(context.Background(), &ollama.ChatRequest{Model: "fake", Messages: []ollama.Message{{Role: "user", Content: "q"}}, Think: &ollama.ThinkValue{Value: true}, Stream: &f}, func(x ollama.ChatResponse) error { r = x; return nil })
	if err != nil || r.Message.Thinking != "let me see" || r.Message.Content != "forty-two" {
		t.Fatalf("%+v %v", r.Message, err)
	}
	// Streaming gives the same split.
	var th, tx strings.Builder
	err = e.oc.Chat(context.Background(), &ollama.ChatRequest{Model: "fake", Messages: []ollama.Message{{Role: "user", Content: "q"}}, Think: &ollama.ThinkValue{Value: true}}, func(x ollama.ChatResponse) error {
		th.WriteString(x.Message.Thinking)
		tx.WriteString(x.Message.Content)
		return nil
	})
	if err != nil || th.String() != "let me see" || tx.String() != "forty-two" {
		t.Fatalf("stream: %q %q %v", th.String(), tx.String(), err)
	}
	// Without think the text is returned as it is.
	err = e.oc.Chat(context.Background(), &ollama.ChatRequest{Model: "fake", Messages: []ollama.Message{{Role: "user", Content: "q"}}, Stream: &f}, func(x ollama.ChatResponse) error { r = x; return nil })
	if err != nil || r.Message.Thinking != "" || !strings.HasPrefix(r.Message.Content, "<think>") {
		t.Fatalf("no think: %+v %v", r.Message, err)
	}
}
