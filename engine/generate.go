package engine

import (
	"context"
	"errors"
	"time"

	"github.com/ferryhq/ferry/sample"
)

// Request is one single-sequence generation: the prompt to append to Seq
// and how to pick and stop tokens. The server batches sequences itself with
// Step; Generate is the simple loop for one sequence (ferry run, tests).
type Request struct {
	Seq     *Seq
	Prompt  []int32 // appended to Seq; at least one token
	Sampler *sample.Sampler
	// NumPredict caps generated tokens; ≤ 0 means until an end-of-generation
	// token or the context is full (Ollama's -1).
	NumPredict int
	// EOG reports end-of-generation tokens (nil: none); with IgnoreEOS they
	// are generated like any other token.
	EOG       func(int32) bool
	IgnoreEOS bool
	// OnToken receives each generated token with the logits it was sampled
	// from (valid only during the call). Returning true stops generation
	// (a stop string was found).
	OnToken func(tok int32, logits []float32) bool
}

// Stats are Ollama-style timings of a generation.
type Stats struct {
	PromptEvalCount    int
	PromptEvalDuration time.Duration
	EvalCount          int
	EvalDuration       time.Duration
	// DoneReason is "stop" (end-of-generation token, stop string or
	// cancellation) or "length" (num_predict or context reached).
	DoneReason string
}

// Generate evaluates the prompt and samples tokens until a stop condition.
// Cancelling ctx stops after the current token (Ctrl-C in ferry run) with
// ctx's error. Every generated token except the last one is in Seq's cache
// afterwards (the last one is added by the next prompt).
func (e *Engine) Generate(ctx context.Context, req Request) (st Stats, err error) {
	if len(req.Prompt) == 0 {
		return st, errors.New("engine: empty prompt")
	}
	t0 := time.Now()
	out, err := e.Step([]SeqTokens{{Seq: req.Seq, Tokens: req.Prompt}})
	if err != nil {
		return st, err
	}
	st.PromptEvalCount = len(req.Prompt)
	st.PromptEvalDuration = time.Since(t0)
	logits := out[0]
	t1 := time.Now()
	defer func() { st.EvalDuration = time.Since(t1) }()
	tok := []int32{0}
	for {
		if err := ctx.Err(); err != nil {
			st.DoneReason = "stop"
			return st, err
		}
		next := req.Sampler.Sample(logits)
		req.Sampler.Accept(next)
		if req.EOG != nil && req.EOG(next) && !req.IgnoreEOS {
			st.DoneReason = "stop"
			return st, nil
		}
		st.EvalCount++
		if req.OnToken != nil && req.OnToken(next, logits) {
			st.DoneReason = "stop"
			return st, nil
		}
		if req.NumPredict > 0 && st.EvalCount >= req.NumPredict {
			st.DoneReason = "length"
			return st, nil
		}
		if req.Seq.Len()+1 > e.opts.Context {
			st.DoneReason = "length"
			return st, nil
		}
		tok[0] = next
		out, err := e.Step([]SeqTokens{{Seq: req.Seq, Tokens: tok}})
		if err != nil {
			return st, err
		}
		logits = out[0]
	}
}
