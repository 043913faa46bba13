package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Spec says what to measure, llama-bench style.
type Spec struct {
	PromptTokens int // pp test length (default 512)
	GenTokens    int // tg test length (default 128)
	Reps         int // repetitions (default 3)
	Seed         int
	NumCtx       int
}

func (s *Spec) defaults() {
	if s.PromptTokens <= 0 {
		s.PromptTokens = 512
	}
	if s.GenTokens <= 0 {
		s.GenTokens = 128
	}
	if s.Reps <= 0 {
		s.Reps = 3
	}
	if s.NumCtx <= 0 {
		s.NumCtx = s.PromptTokens + s.GenTokens + 64
	}
}

// words is a vocabulary of common English words, each one token with its
// leading space in every byte-level BPE vocabulary in use, so a prompt of n
// words is close to n tokens on every runtime.
var words = strings.Fields(`the of and to in is was for on that with as it by at from his her
he she they we you be are this have had not but were or an which one all their there been has
more when will would who so no if out up what about into than them can only other new some time
could these two may then do first any my now such like our over man me even most made after also
did many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year off
come since against go came right used take three`)

// Prompt builds a deterministic prompt of about n tokens. rep makes the
// first words unique so that no runtime can reuse a cached prefix between
// repetitions.
func Prompt(n, seed, rep int) string {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(rep)))
	var b strings.Builder
	fmt.Fprintf(&b, "Run %d:", rep)
	for i := 0; i < n-3; i++ {
		b.WriteByte(' ')
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// Run measures target as llama-bench does: each repetition makes two
// requests. The ppN row times a prompt of about spec.PromptTokens tokens
// (generating one token, which gives the time to first token); the tgN row
// times spec.GenTokens generated tokens after a prompt of a few tokens, so
// generation is measured from a nearly empty context and not after the pp
// prompt (llama-bench's tg128 figures mean the same thing).
func Run(ctx context.Context, target Target, spec Spec) ([]Row, error) {
	spec.defaults()
	var pp, tg, ttft []float64
	var gaps []time.Duration
	var load time.Duration
	errs := 0
	var lastErr error
	for rep := 0; rep < spec.Reps; rep++ {
		reqs := []Request{
			{Prompt: Prompt(spec.PromptTokens, spec.Seed, rep), PromptLen: spec.PromptTokens, NumPredict: 1, Seed: spec.Seed, NumCtx: spec.NumCtx},
			{Prompt: Prompt(1, spec.Seed, rep), PromptLen: 1, NumPredict: spec.GenTokens, Seed: spec.Seed, NumCtx: spec.NumCtx},
		}
		for i, req := range reqs {
			t, err := target.Generate(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				errs++
				lastErr = err
				break
			}
			if i == 0 {
				if r := t.PromptRate(); r > 0 {
					pp = append(pp, r)
				}
				ttft = append(ttft, float64(t.TTFT)/float64(time.Millisecond))
			} else {
				if r := t.GenRate(); r > 0 {
					tg = append(tg, r)
				}
				gaps = append(gaps, t.Gaps...)
			}
			if t.Load > load {
				load = t.Load
			}
		}
	}
	if errs == spec.Reps {
		return nil, fmt.Errorf("%s %s: every request failed: %w", target.Runtime(), target.Model(), lastErr)
	}
	base := Row{Runtime: target.Runtime(), Model: target.Model(), Requests: spec.Reps, Errors: errs, LoadMs: float64(load) / float64(time.Millisecond)}
	ppRow, tgRow := base, base
	ppRow.Test = fmt.Sprintf("pp%d", spec.PromptTokens)
	ppRow.TokensPerSec = NewStat(pp)
	ppRow.TTFTms = NewStat(ttft)
	tgRow.Test = fmt.Sprintf("tg%d", spec.GenTokens)
	tgRow.TokensPerSec = NewStat(tg)
	tgRow.TTFTms = NewStat(ttft)
	tgRow.TokenLatency = NewPercentiles(gaps)
	tgRow.LatencyMs = millis(gaps)
	return []Row{ppRow, tgRow}, nil
}

// RunLoad drives target with c concurrent clients for each c in levels;
// every client sends spec.Reps requests back to back. A row reports the
// aggregate generation rate (all generated tokens over the wall time), TTFT
// and inter-token latency percentiles, and errors.
func RunLoad(ctx context.Context, target Target, spec Spec, levels []int) ([]Row, error) {
	spec.defaults()
	var rows []Row
	for _, c := range levels {
		if c <= 0 {
			return nil, fmt.Errorf("concurrency must be positive, got %d", c)
		}
		var mu sync.Mutex
		var ttfts, gaps []time.Duration
		tokens, errs := 0, 0
		var wg sync.WaitGroup
		start := time.Now()
		for client := 0; client < c; client++ {
			wg.Add(1)
			go func(client int) {
				defer wg.Done()
				for rep := 0; rep < spec.Reps; rep++ {
					req := Request{Prompt: Prompt(spec.PromptTokens, spec.Seed, 1000*c+100*client+rep), PromptLen: spec.PromptTokens, NumPredict: spec.GenTokens, Seed: spec.Seed, NumCtx: spec.NumCtx}
					t, err := target.Generate(ctx, req)
					mu.Lock()
					if err != nil {
						errs++
					} else {
						ttfts = append(ttfts, t.TTFT)
						gaps = append(gaps, t.Gaps...)
						tokens += len(t.Gaps) + 1
						if t.GenTokens > len(t.Gaps)+1 {
							tokens += t.GenTokens - len(t.Gaps) - 1
						}
					}
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
				}
			}(client)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
		wall := time.Since(start)
		row := Row{Runtime: target.Runtime(), Model: target.Model(), Test: fmt.Sprintf("c%d", c), Requests: c * spec.Reps, Errors: errs}
		row.TokensPerSec = Stat{Mean: float64(tokens) / wall.Seconds(), N: 1}
		row.TTFTLatency = NewPercentiles(ttfts)
		row.TTFTms = Stat{Mean: row.TTFTLatency.P50, N: len(ttfts)}
		row.TokenLatency = NewPercentiles(gaps)
		row.LatencyMs = millis(gaps)
		rows = append(rows, row)
	}
	return rows, nil
}

func millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}
