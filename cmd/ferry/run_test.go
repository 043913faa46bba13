package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/sample"
)

func runCmd(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestRunStories: greedy one-shot generation reproduces llama2.c's text and
// ids (text mode and --format json).
func TestRunStories(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	var g struct {
		Greedy struct {
			GeneratedIDs  []int32 `json:"generated_ids"`
			GeneratedText string  `json:"generated_text"`
		} `json:"greedy"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "stories260K.gguf")
	common := []string{"run", model, "Once upon a time", "--temperature", "0", "--repeat-penalty", "1", "--num-predict", "40", "--threads", "2"}
	out, errOut := runCmd(t, append(common, "--format", "", "--verbose")...)
	want := g.Greedy.GeneratedText
	got := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(want, got) || len(got) < 100 {
		t.Errorf("text %q is not a prefix of the reference %q", got, want)
	}
	if !strings.Contains(errOut, "eval rate:") || !strings.Contains(errOut, "prompt eval count:    5 token(s)") {
		t.Errorf("--verbose summary:\n%s", errOut)
	}

	out, _ = runCmd(t, append(common, "--format", "json", "--top-logprobs", "2", "--verbose=false")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 41 {
		t.Fatalf("%d JSON lines, want 40 tokens + summary", len(lines))
	}
	for i, l := range lines[:40] {
		var rec struct {
			ID          int32
			Logprob     float32
			TopLogprobs []struct{ ID int32 } `json:"top_logprobs"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ID != g.Greedy.GeneratedIDs[i] || rec.Logprob > 0 || len(rec.TopLogprobs) != 2 || rec.TopLogprobs[0].ID != rec.ID {
			t.Fatalf("token %d: %s (reference id %d)", i, l, g.Greedy.GeneratedIDs[i])
		}
	}
	var done struct {
		Done      bool   `json:"done"`
		Reason    string `json:"done_reason"`
		EvalCount int    `json:"eval_count"`
	}
	if err := json.Unmarshal([]byte(lines[40]), &done); err != nil || !done.Done || done.Reason != "length" || done.EvalCount != 40 {
		t.Errorf("summary %s", lines[40])
	}
}

// TestChatSession drives the interactive loop with a scripted stdin on a
// model with a chat template: commands, multi-line input, prefix reuse.
func TestChatSession(t *testing.T) {
	dir := testdata.Path(t, "oracle", "qwen2")
	f := &runFlags{samp: sample.Defaults(), numPredict: 4, threads: 2, batch: 64, kvType: "f16"}
	f.samp.Seed = 1
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	defer func() { rootCmd.SetOut(nil); rootCmd.SetErr(nil) }()
	s, err := openSession(rootCmd, f, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.tmpl == "" {
		t.Fatal("qwen2 oracle has a chat template")
	}
	in := strings.NewReader("hello\n/set parameter temperature 0\n\"\"\"\nline one\nline two\n\"\"\"\n/set system be brief\nthird\n/clear\n/nonsense\n/bye\n")
	if err := s.chat(in); err != nil {
		t.Fatal(err)
	}
	e := errOut.String()
	for _, want := range []string{"Set parameter 'temperature' to '0'", "Set system message.", "Cleared session context", "Unknown command"} {
		if !strings.Contains(e, want) {
			t.Errorf("stderr lacks %q:\n%s", want, e)
		}
	}
	if f.samp.Temperature != 0 {
		t.Error("/set parameter did not change the temperature")
	}
	// Three answers were generated; the cache holds the last conversation.
	if strings.Count(out.String(), ">>> ") != 8 || s.seq.Len() == 0 {
		t.Errorf("prompts %d, cached %d\n%s", strings.Count(out.String(), ">>> "), s.seq.Len(), out.String())
	}
}
