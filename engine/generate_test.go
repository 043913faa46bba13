package engine

import (
	"context"
	"testing"

	"github.com/ferryhq/ferry/sample"
)

// TestGenerateGreedy: the generation loop with temperature 0 and no
// penalties reproduces the reference's greedy continuation.
func TestGenerateGreedy(t *testing.T) {
	_, g := loadOracle(t, "llama2")
	m := openModel(t, "oracle", "llama2")
	e, err := Load(m, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := g.Prompts[0]
	var got []int32
	seq := e.NewSeq()
	st, err := e.Generate(context.Background(), Request{
		Seq:        seq,
		Prompt:     p.IDs,
		Sampler:    sample.New(sample.Options{Temperature: 0}),
		NumPredict: len(p.GreedyNewIDs),
		OnToken:    func(tok int32, _ []float32) bool { got = append(got, tok); return false },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.DoneReason != "length" || st.EvalCount != len(p.GreedyNewIDs) || st.PromptEvalCount != len(p.IDs) {
		t.Errorf("stats %+v", st)
	}
	for i := range p.GreedyNewIDs {
		if got[i] != p.GreedyNewIDs[i] {
			t.Fatalf("token %d: %d, reference %d", i, got[i], p.GreedyNewIDs[i])
		}
	}
	if seq.Len() != len(p.IDs)+len(p.GreedyNewIDs)-1 {
		t.Errorf("sequence length %d", seq.Len())
	}
	// An end-of-generation token stops before it is reported.
	seq2 := e.NewSeq()
	stopAt := -1
	for i := 1; i < len(p.GreedyNewIDs) && stopAt < 0; i++ {
		stopAt = i
		for _, x := range p.GreedyNewIDs[:i] {
			if x == p.GreedyNewIDs[i] {
				stopAt = -1
			}
		}
	}
	if stopAt < 0 {
		t.Fatal("reference continuation repeats one token")
	}
	n := 0
	st, err = e.Generate(context.Background(), Request{
		Seq: seq2, Prompt: p.IDs, Sampler: sample.New(sample.Options{Temperature: 0}),
		EOG:     func(tok int32) bool { return tok == p.GreedyNewIDs[stopAt] },
		OnToken: func(int32, []float32) bool { n++; return false },
	})
	if err != nil || n != stopAt || st.DoneReason != "stop" {
		t.Errorf("EOG stop: %d tokens, %+v, %v", n, st, err)
	}
	// Cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	seq3 := e.NewSeq()
	_, err = e.Generate(ctx, Request{Seq: seq3, Prompt: p.IDs, Sampler: sample.New(sample.Defaults()),
		OnToken: func(int32, []float32) bool { cancel(); return false }})
	if err != context.Canceled {
		t.Errorf("cancel: %v", err)
	}
}
