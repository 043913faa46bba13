package sample

import (
	"strings"
	"testing"
)

// FuzzStopper: streaming the text in pieces emits exactly the text before
// the first stop string (or all of it), whatever the split.
func FuzzStopper(f *testing.F) {
	f.Add("Hello world</s> more", "</s>", 3)
	f.Add("aaab", "aab", 1)
	f.Add("User: hi", "User:", 2)
	f.Fuzz(func(t *testing.T, text, stopStr string, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 1 + (chunk&63+64)%64
		}
		s := NewStopper([]string{stopStr})
		var out strings.Builder
		stopped := false
		for i := 0; i < len(text) && !stopped; i += chunk {
			e, hit := s.Push(text[i:min(i+chunk, len(text))])
			out.WriteString(e)
			stopped = hit
		}
		if !stopped {
			out.WriteString(s.Flush())
		}
		want := text
		if stopStr != "" {
			if k := strings.Index(text, stopStr); k >= 0 {
				want = text[:k]
			}
		}
		if out.String() != want {
			t.Fatalf("text %q stop %q chunk %d: got %q, want %q", text, stopStr, chunk, out.String(), want)
		}
	})
}
