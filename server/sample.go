package server

import (
	"math"
	"sort"

	"github.com/ferryhq/ferry/sample"
)

// SampleOptions are Ollama's sampling options (same names and defaults).
type SampleOptions struct {
	Temperature      float64 // 0.8; 0 = greedy
	TopK             int     // 40; <= 0 disables
	TopP             float64 // 0.9; >= 1 disables
	MinP             float64 // 0.0
	TypicalP         float64 // 1.0 (disabled)
	RepeatPenalty    float64 // 1.1; 1 disables
	RepeatLastN      int     // 64; -1 = whole context, 0 disables
	PresencePenalty  float64 // 0
	FrequencyPenalty float64 // 0
	Seed             int64   // -1 = random
}

// DefaultSampleOptions are Ollama's defaults.
func DefaultSampleOptions() SampleOptions {
	return SampleOptions{Temperature: 0.8, TopK: 40, TopP: 0.9, TypicalP: 1, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: -1}
}

// toSample converts to the sample package's options (shared with
// `ferry run`, so a seeded request samples the same tokens in both).
func toSample(o SampleOptions) sample.Options {
	return sample.Options{
		Temperature: float32(o.Temperature), TopK: o.TopK, TopP: float32(o.TopP), MinP: float32(o.MinP),
		TypicalP: float32(o.TypicalP), RepeatLastN: o.RepeatLastN, RepeatPenalty: float32(o.RepeatPenalty),
		PresencePenalty: float32(o.PresencePenalty), FrequencyPenalty: float32(o.FrequencyPenalty), Seed: o.Seed,
	}
}

func argmax(l []float32) int32 {
	best := 0
	for i, v := range l {
		if v > l[best] {
			best = i
		}
	}
	return int32(best)
}

// topK returns the indices of the k largest logits, largest first.
func topK(l []float32, k int, dst []int32) []int32 {
	if k >= len(l) {
		for i := range l {
			dst = append(dst, int32(i))
		}
		sort.SliceStable(dst, func(a, b int) bool { return l[dst[a]] > l[dst[b]] })
		return dst
	}
	// Min-heap of size k: O(V log k) for the common small k.
	h := dst
	less := func(a, b int32) bool { return l[a] < l[b] || l[a] == l[b] && a > b }
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && less(h[c+1], h[c]) {
				c++
			}
			if !less(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := range l {
		id := int32(i)
		if len(h) < k {
			h = append(h, id)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !less(h[j], h[p]) {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
			continue
		}
		if less(h[0], id) {
			h[0] = id
			down(0)
		}
	}
	sort.Slice(h, func(a, b int) bool { return less(h[b], h[a]) })
	return h
}

// logSoftmax returns log p(id) and the top n alternatives of raw logits.
func logprobsOf(logits []float32, id int32, n int) (float64, []int32, []float64) {
	maxl := float64(logits[argmax(logits)])
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - maxl)
	}
	lse := maxl + math.Log(sum)
	lp := float64(logits[id]) - lse
	if n <= 0 {
		return lp, nil, nil
	}
	top := topK(logits, n, nil)
	tl := make([]float64, len(top))
	for i, t := range top {
		tl[i] = float64(logits[t]) - lse
	}
	return lp, top, tl
}
