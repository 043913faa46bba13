package server

import (
	"math"
	"math/rand/v2"
	"sort"
)

// SampleOptions are Ollama's sampling options (same names and defaults).
type SampleOptions struct {
	Temperature      float64 // 0.8; 0 = greedy
	TopK             int     // 40; <= 0 disables
	TopP             float64 // 0.9; >= 1 disables
	MinP             float64 // 0.0
	RepeatPenalty    float64 // 1.1; 1 disables
	RepeatLastN      int     // 64; -1 = whole context, 0 disables
	PresencePenalty  float64 // 0
	FrequencyPenalty float64 // 0
	Seed             int64   // -1 = random
}

// DefaultSampleOptions are Ollama's defaults.
func DefaultSampleOptions() SampleOptions {
	return SampleOptions{Temperature: 0.8, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: -1}
}

// sampler picks tokens from logits. It keeps its own random stream so that
// a seeded request is reproducible regardless of what else is batched.
type sampler struct {
	o   SampleOptions
	rng *rand.Rand
	idx []int32
	p   []float64
}

func newSampler(o SampleOptions) *sampler {
	seed := uint64(o.Seed)
	if o.Seed < 0 {
		seed = rand.Uint64()
	}
	return &sampler{o: o, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// penalize applies repeat/presence/frequency penalties in place over the
// recent history (llama.cpp's formulation).
func (s *sampler) penalize(logits []float32, history []int32) {
	o := s.o
	if (o.RepeatPenalty == 1 || o.RepeatPenalty == 0) && o.PresencePenalty == 0 && o.FrequencyPenalty == 0 {
		return
	}
	n := o.RepeatLastN
	if n < 0 || n > len(history) {
		n = len(history)
	}
	if n == 0 {
		return
	}
	counts := map[int32]int{}
	for _, t := range history[len(history)-n:] {
		counts[t]++
	}
	for t, c := range counts {
		if t < 0 || int(t) >= len(logits) {
			continue
		}
		l := logits[t]
		if o.RepeatPenalty > 0 && o.RepeatPenalty != 1 {
			if l > 0 {
				l /= float32(o.RepeatPenalty)
			} else {
				l *= float32(o.RepeatPenalty)
			}
		}
		l -= float32(float64(c)*o.FrequencyPenalty + o.PresencePenalty)
		logits[t] = l
	}
}

// sample returns the chosen token. logits may be modified.
func (s *sampler) sample(logits []float32, history []int32) int32 {
	s.penalize(logits, history)
	o := s.o
	if o.Temperature <= 0 {
		return argmax(logits)
	}
	// Candidates sorted by logit, cut to top_k.
	k := o.TopK
	if k <= 0 || k > len(logits) {
		k = len(logits)
	}
	s.idx = topK(logits, k, s.idx[:0])
	s.p = s.p[:0]
	maxl := float64(logits[s.idx[0]])
	sum := 0.0
	for _, id := range s.idx {
		e := math.Exp((float64(logits[id]) - maxl) / o.Temperature)
		s.p = append(s.p, e)
		sum += e
	}
	for i := range s.p {
		s.p[i] /= sum
	}
	n := len(s.p)
	if o.MinP > 0 {
		thr := s.p[0] * o.MinP
		for n > 1 && s.p[n-1] < thr {
			n--
		}
	}
	if o.TopP > 0 && o.TopP < 1 {
		c := 0.0
		for i := 0; i < n; i++ {
			c += s.p[i]
			if c >= o.TopP {
				n = i + 1
				break
			}
		}
	}
	total := 0.0
	for i := 0; i < n; i++ {
		total += s.p[i]
	}
	r := s.rng.Float64() * total
	for i := 0; i < n; i++ {
		r -= s.p[i]
		if r <= 0 {
			return s.idx[i]
		}
	}
	return s.idx[n-1]
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
