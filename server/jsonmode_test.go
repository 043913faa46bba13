package server

import (
	"encoding/json"
	"testing"
)

func TestJSONMachine(t *testing.T) {
	valid := []string{`{}`, `{"a":1}`, `{"a": [1, -2.5e+3, true, false, null, "x\"\\\u00e9"], "b": {"c": {}}}`, " {\n \"k\" : \"v\" }", `{"a":0.5,"b":[]}`}
	for _, s := range valid {
		m := newJSONMachine()
		if !m.accepts([]byte(s)) {
			t.Errorf("rejected valid %q", s)
			continue
		}
		m.advance([]byte(s))
		if !m.done {
			t.Errorf("%q: not complete", s)
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("test case %q is not JSON", s)
		}
	}
	invalid := []string{`[]`, `{"a"}`, `{"a":01}`, `{"a":tru}x`, `{"a":1,}`, `{a:1}`, `{"a":1}}`, `{"a":"` + "\n" + `"}`, `{"a":-}`, `{"a":1.}`, `{"a":[1,]}`, `{"a":1} {`, "{" + string(make([]byte, 40)) + "}"}
	for _, s := range invalid {
		m := newJSONMachine()
		m2 := m.clone()
		ok := true
		for _, b := range []byte(s) {
			if !m2.feed(b) {
				ok = false
				break
			}
		}
		if ok && m2.done {
			t.Errorf("accepted invalid %q", s)
		}
	}
}

// FuzzJSONMachine: whatever the machine accepts as complete is valid JSON.
func FuzzJSONMachine(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `{"x":"\u12ab"}`, `{"n":-0.1e-5}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := newJSONMachine()
		for i := 0; i < len(s); i++ {
			if !m.feed(s[i]) {
				return
			}
			if m.done {
				if !json.Valid([]byte(s[:i+1])) {
					t.Fatalf("machine completed on invalid JSON %q", s[:i+1])
				}
				return
			}
		}
	})
}

func TestJSONFormatConstrainsOutput(t *testing.T) {
	l := &fakeLoader{size: 1, setup: func(b *fakeBackend) { b.reply = `{"a": [1, 2], "b": "x"} and then some prose` }}
	e := newEnv(t, Config{Loader: l})
	for _, c := range []struct{ path, body string }{
		{"/api/generate", `{"model":"fake","prompt":"q","format":"json","stream":false,"options":{"temperature":0}}`},
		{"/api/chat", `{"model":"fake","messages":[{"role":"user","content":"q"}],"format":{"type":"object"},"stream":false,"options":{"temperature":0}}`},
		{"/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_object"},"temperature":0}`},
	} {
		resp, body := e.post(c.path, c.body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, body)
		}
		var out struct {
			Response string
			Message  struct{ Content string }
			Choices  []struct {
				Message struct{ Content string }
			}
		}
		json.Unmarshal([]byte(body), &out)
		text := out.Response + out.Message.Content
		if len(out.Choices) > 0 {
			text = out.Choices[0].Message.Content
		}
		if text != `{"a": [1, 2], "b": "x"}` {
			t.Errorf("%s: %q: generation must end when the JSON object closes", c.path, text)
		}
	}
}
