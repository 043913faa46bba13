package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

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

func TestEngineSchemaConstrained(t *testing.T) {
	e, _ := storiesEnv(t, 1)
	schema := `{"type":"object","properties":{"mood":{"enum":["happy","sad"]},"count":{"type":"integer"}},"required":["mood","count"]}`
	finished := 0
	for _, seed := range []int{1, 2, 3, 4} {
		_, body := e.post("/api/generate", fmt.Sprintf(`{"model":"stories","prompt":"Once upon a time","format":%s,"stream":false,"options":{"num_predict":300,"seed":%d}}`, schema, seed))
		var r struct {
			Response   string `json:"response"`
			DoneReason string `json:"done_reason"`
		}
		json.Unmarshal([]byte(body), &r)
		if r.DoneReason != "stop" {
			t.Logf("seed %d ran out of tokens: %q", seed, r.Response)
			continue
		}
		finished++
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
	if finished == 0 {
		t.Fatal("no seed produced a complete object within 300 tokens")
	}
}
