// Package sample picks the next token from a row of logits with the
// sampling options Ollama exposes (same names and defaults): repetition,
// presence and frequency penalties over a window, top-k, typical-p, top-p,
// min-p, temperature, and a seed for reproducible runs. Temperature 0 is
// greedy decoding. It also computes log-probabilities for responses that
// report them, and finds stop strings in streamed text.
package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// Options are the sampling parameters, named after Ollama's options.
type Options struct {
	Temperature      float32 // 0: greedy
	TopK             int     // 0: disabled
	TopP             float32 // 1: disabled
	MinP             float32 // 0: disabled
	TypicalP         float32 // 1: disabled
	RepeatLastN      int     // window for the penalties; 0 disables them, -1 means the whole history
	RepeatPenalty    float32 // 1: disabled
	PresencePenalty  float32
	FrequencyPenalty float32
	Seed             int64 // -1: random
}

// Defaults returns Ollama's defaults: temperature 0.8, top_k 40, top_p 0.9,
// min_p 0, typical_p 1, repeat_last_n 64, repeat_penalty 1.1, seed random.
func Defaults() Options {
	return Options{
		Temperature:   0.8,
		TopK:          40,
		TopP:          0.9,
		MinP:          0,
		TypicalP:      1,
		RepeatLastN:   64,
		RepeatPenalty: 1.1,
		Seed:          -1,
	}
}

type cand struct {
	id int32
	l  float32 // logit, later probability
}

// Sampler draws tokens. It remembers the tokens it was told about (prompt
// and generated) for the penalties. Buffers are allocated once per
// vocabulary size, so sampling allocates nothing.
type Sampler struct {
	opts    Options
	rng     *rand.Rand
	history []int32
	cands   []cand
	counts  map[int32]int
}

// New returns a sampler with opts.
func New(opts Options) *Sampler {
	seed := opts.Seed
	if seed < 0 {
		seed = time.Now().UnixNano()
	}
	return &Sampler{opts: opts, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), counts: map[int32]int{}}
}

// Options returns the sampler's options.
func (s *Sampler) Options() Options { return s.opts }

// Accept records tokens (the prompt, then each generated token) for the
// repetition penalties.
func (s *Sampler) Accept(toks ...int32) {
	s.history = append(s.history, toks...)
	// Bound memory: only the window matters.
	if w := s.opts.RepeatLastN; w > 0 && len(s.history) > 4*w+1024 {
		s.history = append(s.history[:0], s.history[len(s.history)-w:]...)
	}
}

// Reset forgets the history.
func (s *Sampler) Reset() { s.history = s.history[:0] }

// Sample picks a token from logits (not modified).
func (s *Sampler) Sample(logits []float32) int32 {
	o := &s.opts
	if cap(s.cands) < len(logits) {
		s.cands = make([]cand, len(logits))
	}
	c := s.cands[:len(logits)]
	for i, l := range logits {
		c[i] = cand{int32(i), l}
	}
	s.penalize(c)
	if o.Temperature <= 0 {
		best := 0
		for i := range c {
			if c[i].l > c[best].l {
				best = i
			}
		}
		return c[best].id
	}
	if o.TopK > 0 && o.TopK < len(c) {
		c = topK(c, o.TopK)
	} else {
		sortDesc(c)
	}
	// c is sorted by logit, descending. Turn logits into probabilities.
	softmax(c, 1)
	if o.TypicalP > 0 && o.TypicalP < 1 {
		c = typical(c, o.TypicalP)
	}
	if o.TopP > 0 && o.TopP < 1 {
		var cum float32
		for i := range c {
			cum += c[i].l
			if cum >= o.TopP {
				c = c[:i+1]
				break
			}
		}
	}
	if o.MinP > 0 {
		lim := c[0].l * o.MinP
		for i := 1; i < len(c); i++ {
			if c[i].l < lim {
				c = c[:i]
				break
			}
		}
	}
	// Temperature on the surviving candidates: p^(1/T), renormalised,
	// equals softmax(logit/T) restricted to them.
	inv := 1 / o.Temperature
	var sum float64
	for i := range c {
		p := math.Pow(float64(c[i].l), float64(inv))
		c[i].l = float32(p)
		sum += p
	}
	r := s.rng.Float64() * sum
	for i := range c {
		r -= float64(c[i].l)
		if r <= 0 {
			return c[i].id
		}
	}
	return c[len(c)-1].id
}

// penalize applies llama.cpp's repetition (divide positive logits, multiply
// negative ones), frequency and presence penalties over the window.
func (s *Sampler) penalize(c []cand) {
	o := &s.opts
	if o.RepeatLastN == 0 || (o.RepeatPenalty == 1 || o.RepeatPenalty == 0) && o.PresencePenalty == 0 && o.FrequencyPenalty == 0 {
		return
	}
	win := s.history
	if o.RepeatLastN > 0 && len(win) > o.RepeatLastN {
		win = win[len(win)-o.RepeatLastN:]
	}
	clear(s.counts)
	for _, t := range win {
		if int(t) >= 0 && int(t) < len(c) {
			s.counts[t]++
		}
	}
	for t, n := range s.counts {
		l := c[t].l
		if o.RepeatPenalty != 0 && o.RepeatPenalty != 1 {
			if l > 0 {
				l /= o.RepeatPenalty
			} else {
				l *= o.RepeatPenalty
			}
		}
		l -= float32(n)*o.FrequencyPenalty + o.PresencePenalty
		c[t].l = l
	}
}

// topK moves the k largest candidates to the front, sorted, and returns them.
func topK(c []cand, k int) []cand {
	// Min-heap of the k best seen so far in c[:k].
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(c); i++ {
		if c[i].l > h[0].l {
			h[0], c[i] = c[i], h[0]
			siftDown(h, 0)
		}
	}
	sortDesc(h)
	return h
}

func siftDown(h []cand, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].l < h[l].l {
			m = r
		}
		if h[i].l <= h[m].l {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func byLogitDesc(a, b cand) int {
	switch {
	case a.l > b.l:
		return -1
	case a.l < b.l:
		return 1
	}
	return int(a.id - b.id)
}

func sortDesc(c []cand) { slices.SortFunc(c, byLogitDesc) }

// softmax turns logits (c sorted descending) into probabilities.
func softmax(c []cand, temp float32) {
	m := c[0].l
	var sum float64
	for i := range c {
		e := math.Exp(float64((c[i].l - m) / temp))
		c[i].l = float32(e)
		sum += e
	}
	for i := range c {
		c[i].l = float32(float64(c[i].l) / sum)
	}
}

// typical keeps the candidates whose surprise is closest to the entropy
// until their mass reaches p (locally typical sampling), re-sorted by
// probability.
func typical(c []cand, p float32) []cand {
	var ent float64
	for _, x := range c {
		if x.l > 0 {
			ent -= float64(x.l) * math.Log(float64(x.l))
		}
	}
	sort.SliceStable(c, func(i, j int) bool {
		return math.Abs(-math.Log(float64(c[i].l))-ent) < math.Abs(-math.Log(float64(c[j].l))-ent)
	})
	var cum float32
	n := len(c)
	for i := range c {
		cum += c[i].l
		if cum >= p {
			n = i + 1
			break
		}
	}
	c = c[:n]
	var sum float32
	for _, x := range c {
		sum += x.l
	}
	for i := range c {
		c[i].l /= sum
	}
	sort.Slice(c, func(i, j int) bool { return c[i].l > c[j].l })
	return c
}

// TokenLogprob is one token's log-probability.
type TokenLogprob struct {
	ID      int32
	Logprob float32
}

// Logprobs returns the log-probability of tok under the model's
// distribution (softmax of the raw logits) and the top n alternatives,
// most likely first, appended to dst.
func Logprobs(logits []float32, tok int32, n int, dst []TokenLogprob) (float32, []TokenLogprob) {
	m := logits[0]
	for _, l := range logits {
		if l > m {
			m = l
		}
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l - m))
	}
	lse := float32(math.Log(sum)) + m
	var lp float32
	if int(tok) >= 0 && int(tok) < len(logits) {
		lp = logits[tok] - lse
	}
	if n <= 0 {
		return lp, dst
	}
	start := len(dst)
	for i, l := range logits {
		e := TokenLogprob{int32(i), l - lse}
		k := len(dst) - start
		if k < n {
			dst = append(dst, e)
		} else if e.Logprob <= dst[len(dst)-1].Logprob {
			continue
		} else {
			dst[len(dst)-1] = e
		}
		// Insertion sort the new entry into place (n is small).
		for j := len(dst) - 1; j > start && dst[j].Logprob > dst[j-1].Logprob; j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return lp, dst
}
