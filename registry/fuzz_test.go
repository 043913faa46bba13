package registry

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/store"
)

// FuzzParseRef: any string parses or fails cleanly, and a parsed Ollama
// reference always yields a name the store accepts.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"llama3.2", "llama3.2:1b", "ollama.com/library/x:y", "hf.co/a/b:Q4_K_M", "https://huggingface.co/a/b/", "a/b/c/d", ":", "hf.co//x", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		switch r.Kind {
		case "ollama":
			if _, err := store.ParseName(r.ollamaName()); err != nil {
				t.Fatalf("%q: store rejects %q: %v", s, r.ollamaName(), err)
			}
		case "hf":
			if strings.ContainsAny(r.hfRepo(), `\:`) || strings.Count(r.hfRepo(), "/") != 1 {
				t.Fatalf("%q: repo %q", s, r.hfRepo())
			}
			if _, err := store.ParseName("hf.co/" + r.hfRepo() + ":latest"); err != nil {
				t.Fatalf("%q: store rejects the repo: %v", s, err)
			}
		default:
			t.Fatalf("%q: kind %q", s, r.Kind)
		}
	})
}

// FuzzErrorText: registry error bodies of any shape give a short message.
func FuzzErrorText(f *testing.F) {
	f.Add([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
	f.Add([]byte(`{"error":"Repository not found"}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := errorText(b); len(m) > 4096 {
			t.Fatalf("message of %d bytes", len(m))
		}
	})
}
