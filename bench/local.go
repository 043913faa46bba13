package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/model"
)

// Local measures ferry's own engine in process. Prompts are random token
// ids of the exact requested length (as llama-bench does), so ppN means N
// tokens; generation is greedy and timed step by step.
type Local struct {
	Name   string
	Engine *engine.Engine
	// LoadTime is how long opening the model and preparing the engine took.
	LoadTime time.Duration
	// Depth is how many tokens fill the context before each measurement.
	Depth int
}

// Runtime implements Target.
func (l *Local) Runtime() string { return "ferry" }

// Model implements Target.
func (l *Local) Model() string { return l.Name }

// Generate implements Target. req.Prompt only seeds the random prompt; its
// length in tokens is req.PromptLen.
func (l *Local) Generate(ctx context.Context, req Request) (Timing, error) {
	e := l.Engine
	vocab := e.Vocab()
	seed := uint64(req.Seed)
	for _, c := range req.Prompt[:min(len(req.Prompt), 16)] {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, uint64(req.PromptLen)))
	randomTokens := func(n int) []int32 {
		t := make([]int32, n)
		for i := range t {
			t[i] = int32(r.IntN(vocab))
		}
		return t
	}
	seq := e.NewSeq()
	defer e.Free(seq)
	if l.Depth > 0 {
		if _, err := e.Step([]engine.SeqTokens{{Seq: seq, Tokens: randomTokens(l.Depth)}}); err != nil {
			return Timing{}, fmt.Errorf("filling the context to depth %d: %w", l.Depth, err)
		}
	}
	var t Timing
	t.Load = l.LoadTime
	start := time.Now()
	var logits [][]float32
	var err error
	if req.PromptLen > 0 {
		logits, err = e.Step([]engine.SeqTokens{{Seq: seq, Tokens: randomTokens(req.PromptLen)}})
		if err != nil {
			return t, err
		}
		t.PromptTokens = req.PromptLen
		t.PromptDur = time.Since(start)
	}
	next := int32(0)
	if logits != nil {
		next = argmax(logits[0])
	}
	t.TTFT = time.Since(start)
	genStart := time.Now()
	for i := 0; i < req.NumPredict; i++ {
		if ctx.Err() != nil {
			return t, ctx.Err()
		}
		s := time.Now()
		logits, err = e.Step([]engine.SeqTokens{{Seq: seq, Tokens: []int32{next}}})
		if err != nil {
			return t, err
		}
		next = argmax(logits[0])
		t.Gaps = append(t.Gaps, time.Since(s))
	}
	t.GenTokens = req.NumPredict
	t.GenDur = time.Since(genStart)
	return t, nil
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// WeightBytesPerToken estimates the weight bytes one decode step reads: every
// tensor once, except the token embedding when a separate output matrix
// exists (decode gathers a single row of it), and only the routed share of
// MoE expert tensors.
func WeightBytesPerToken(m *model.Model, experts, used int) float64 {
	hasOutput := m.Tensor("output.weight") != nil
	var total float64
	for _, t := range m.Tensors {
		b := float64(len(t.Data))
		switch {
		case t.Name == "token_embd.weight" && hasOutput:
			continue
		case strings.Contains(t.Name, "_exps") && experts > 0:
			b *= float64(used) / float64(experts)
		}
		total += b
	}
	return total
}
