package server

import (
	"encoding/json"
	"fmt"
	"strings"
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

func TestSchemaMachine(t *testing.T) {
	sch, err := parseSchema([]byte(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","enum":["a","bc"]}},"ok":{"type":"boolean"},"kind":{"enum":[1,"x",null]}},"required":["name","age"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		`{"name":"Ann","age":7}`:                             true,
		`{"age":7,"name":"Ann","tags":["a","bc"],"ok":true}`: true,
		`{"name":"Ann","age":7,"kind":null}`:                 true,
		`{"name":"Ann","age":7,"kind":1}`:                    true,
		`{"name":"Ann","age":7,"kind":"x"}`:                  true,
		`{"name":"Ann"}`:                                     false, // age required
		`{"name":"Ann","age":7.5}`:                           false, // integer
		`{"name":"Ann","age":"7"}`:                           false, // type
		`{"name":"Ann","age":7,"extra":1}`:                   false, // unknown key
		`{"name":"Ann","age":7,"tags":["b"]}`:                false, // enum
		`{"name":"Ann","age":7,"name":"B"}`:                  false, // duplicate
		`{"name":"Ann","age":7,"kind":2}`:                    false,
		`{"name":1,"age":7}`:                                 false,
		`{"name":"Ann","age":7,"ok":null}`:                   false,
	} {
		m := newSchemaMachine(sch)
		got := m.accepts([]byte(s))
		if got {
			m.advance([]byte(s))
			got = m.done
		}
		if got != want {
			t.Errorf("%s: accepted=%v, want %v", s, got, want)
		}
	}
	for _, bad := range []string{`{"type":"nope"}`, `{"properties":{"a":5}}`, `{"enum":[]}`} {
		if _, err := parseSchema([]byte(bad)); err == nil {
			t.Errorf("%s: expected an error", bad)
		}
	}
}

func TestEngineSchemaConstrained(t *testing.T) {
	e, _ := storiesEnv(t, 1)
	schema := `{"type":"object","properties":{"mood":{"enum":["happy","sad"]},"count":{"type":"integer"}},"required":["mood","count"]}`
	for _, seed := range []int{1, 2, 3, 4} {
		_, body := e.post("/api/generate", fmt.Sprintf(`{"model":"stories","prompt":"Once upon a time","format":%s,"stream":false,"options":{"num_predict":60,"seed":%d}}`, schema, seed))
		var r struct {
			Response   string `json:"response"`
			DoneReason string `json:"done_reason"`
		}
		json.Unmarshal([]byte(body), &r)
		if r.DoneReason != "stop" {
			t.Logf("seed %d ran out of tokens: %q", seed, r.Response)
			continue
		}
		var v struct {
			Mood  *string `json:"mood"`
			Count *int    `json:"count"`
		}
		dec := json.NewDecoder(strings.NewReader(r.Response))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil || v.Mood == nil || v.Count == nil || (*v.Mood != "happy" && *v.Mood != "sad") {
			t.Fatalf("seed %d: %q does not validate: %v", seed, r.Response, err)
		}
	}
}

// FuzzSchemaMachine: whatever the machine accepts as complete is valid JSON
// with the required keys of the right types and no unknown keys.
func FuzzSchemaMachine(f *testing.F) {
	f.Add(`{"n":1,"s":"x","e":"b"}`)
	f.Add(`{"s":"\u0041","n":-0,"a":[{"k":true}]}`)
	sch, err := parseSchema([]byte(`{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string"},"e":{"enum":["a","b"]},"a":{"type":"array","items":{"type":"object","properties":{"k":{"type":"boolean"}},"required":["k"]}}},"required":["n","s"]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := newSchemaMachine(sch)
		for i := 0; i < len(s); i++ {
			if !m.feed(s[i]) {
				return
			}
			if m.done {
				var v struct {
					N *int    `json:"n"`
					S *string `json:"s"`
					E *string `json:"e"`
					A []struct {
						K *bool `json:"k"`
					} `json:"a"`
				}
				dec := json.NewDecoder(strings.NewReader(s[:i+1]))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&v); err != nil || v.N == nil || v.S == nil || v.E != nil && *v.E != "a" && *v.E != "b" {
					t.Fatalf("completed on %q, which does not validate: %v", s[:i+1], err)
				}
				for _, a := range v.A {
					if a.K == nil {
						t.Fatalf("%q: item without required k", s[:i+1])
					}
				}
				return
			}
		}
	})
}
