package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/bench"
)

// Target measures llama.cpp as a bench.Target, so bench.Run times it
// exactly as it times ferry's engine (bench.Local): per request a fresh
// sequence, a prompt of PromptLen random token ids in one batch, then
// NumPredict greedy decode steps. Each request is one llama.mjs process; the
// model load is outside the timed region.
type Target struct {
	Llama *Llama
	// Path is the GGUF file; Name labels it in results.
	Path, Name string
	// Threads is llama.cpp's thread count (n_threads and n_threads_batch).
	Threads int
	// InternalPP and InternalTG collect, per request, the rates by
	// llama.cpp's own timers (llama-bench's view: no per-token overhead of
	// the Node binding); the Timing that Generate returns is wall clock
	// around llama.cpp's calls, as bench.Local measures ferry.
	InternalPP, InternalTG []float64
}

// Runtime implements bench.Target.
func (t *Target) Runtime() string { return "llama.cpp" }

// Model implements bench.Target.
func (t *Target) Model() string {
	if t.Name != "" {
		return t.Name
	}
	return filepath.Base(t.Path)
}

// Generate implements bench.Target.
func (t *Target) Generate(ctx context.Context, req bench.Request) (bench.Timing, error) {
	threads := t.Threads
	if threads <= 0 {
		threads = 2
	}
	seed := req.Seed*7919 + len(req.Prompt)
	resp, err := t.Llama.RunWith(ctx, t.Path, Options{Threads: threads, Context: req.PromptLen + req.NumPredict + 16, Perf: true},
		Job{Op: "bench", PP: req.PromptLen, TG: req.NumPredict, Reps: 1, Seed: seed + 1})
	if err != nil {
		return bench.Timing{}, err
	}
	if resp.LoadError != "" {
		return bench.Timing{}, fmt.Errorf("llama.cpp cannot load %s: %s", t.Path, resp.LoadError)
	}
	r := resp.Results[0]
	if r.Error != "" {
		return bench.Timing{}, fmt.Errorf("llama.cpp on %s: %s", t.Path, r.Error)
	}
	if len(r.PPTokensPerSec) != 1 || len(r.TGTokensPerSec) != 1 {
		return bench.Timing{}, fmt.Errorf("llama.cpp on %s: no timings", t.Path)
	}
	t.InternalPP = append(t.InternalPP, r.LlamaPPTokensPerSec...)
	t.InternalTG = append(t.InternalTG, r.LlamaTGTokensPerSec...)
	pp := time.Duration(float64(req.PromptLen) / r.PPTokensPerSec[0] * float64(time.Second))
	tg := time.Duration(float64(req.NumPredict) / r.TGTokensPerSec[0] * float64(time.Second))
	return bench.Timing{PromptTokens: req.PromptLen, PromptDur: pp, GenTokens: req.NumPredict, GenDur: tg, TTFT: pp}, nil
}
