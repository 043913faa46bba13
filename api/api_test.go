package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestKeepAliveForms(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`"5m"`: 5 * time.Minute, `300`: 300 * time.Second, `0`: 0, `"0"`: 0, `-1`: Forever, `"-1s"`: Forever, `"1h30m"`: 90 * time.Minute, `1.5`: 1500 * time.Millisecond, `1e300`: Forever,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Duration != want {
			t.Errorf("%s: %v %v, want %v", in, d.Duration, err, want)
		}
	}
	for _, bad := range []string{`"soon"`, `true`, `{}`, `[1]`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	b, _ := json.Marshal(Duration{Forever})
	if string(b) != "-1" {
		t.Errorf("forever marshals as %s", b)
	}
}

func TestFlexibleOpenAIFields(t *testing.T) {
	var r ChatCompletionRequest
	err := json.Unmarshal([]byte(`{"model":"m","stop":"x","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":null}]}`), &r)
	if err != nil || len(r.Stop) != 1 || r.Messages[0].Content.Text != "ab" || r.Messages[1].Content.Text != "" {
		t.Fatalf("%+v %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"stop":[1]}`), &r); err == nil {
		t.Fatal("non-string stop accepted")
	}
	var c OpenAIContent
	json.Unmarshal([]byte(`[{"type":"image_url","image_url":{"url":"x"}}]`), &c)
	if len(c.NonText) != 1 {
		t.Fatal("image part not recorded")
	}
	var th struct{ Think *ThinkValue }
	if err := json.Unmarshal([]byte(`{"think":"high"}`), &th); err != nil || !th.Think.Enabled() {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"think":"max"}`), &th); err == nil {
		t.Fatal("invalid think level accepted")
	}
}
