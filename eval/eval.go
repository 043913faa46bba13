// Package eval measures model quality the way llama.cpp's perplexity tool
// does: perplexity over chunks of a text (scoring the second half of each
// chunk, so every scored token has at least half a context behind it), and
// the KL divergence of a model's next-token distributions against a
// reference's, which is the honest measure of what quantization cost.
package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Scorer evaluates a sequence of tokens from an empty context and calls fn
// with the logits at every position (logits[i] predicts token i+1). The
// slice passed to fn is only valid during the call.
type Scorer interface {
	Score(tokens []int32, fn func(pos int, logits []float32)) error
	VocabSize() int
}

// Options controls chunking.
type Options struct {
	Ctx int // chunk length in tokens
	// BOS, when >= 0, replaces the first token of every chunk, as llama.cpp
	// does for models whose tokenizer adds a BOS.
	BOS int32
	// MaxChunks limits the number of chunks (0 = all).
	MaxChunks int
	// Progress, if set, is called after each chunk.
	Progress func(done, total int)
}

// chunks splits tokens into whole chunks of opt.Ctx.
func chunks(tokens []int32, opt Options) ([][]int32, error) {
	if opt.Ctx < 4 {
		return nil, fmt.Errorf("context %d is too small to score (need at least 4)", opt.Ctx)
	}
	n := len(tokens) / opt.Ctx
	if opt.MaxChunks > 0 && n > opt.MaxChunks {
		n = opt.MaxChunks
	}
	if n == 0 {
		return nil, fmt.Errorf("the text has %d tokens, fewer than one chunk of %d: use a longer text or a smaller --ctx", len(tokens), opt.Ctx)
	}
	out := make([][]int32, n)
	for i := range out {
		c := append([]int32(nil), tokens[i*opt.Ctx:(i+1)*opt.Ctx]...)
		if opt.BOS >= 0 {
			c[0] = opt.BOS
		}
		out[i] = c
	}
	return out, nil
}

// PerplexityResult is the outcome of a perplexity run.
type PerplexityResult struct {
	PPL    float64 `json:"ppl"`
	PPLErr float64 `json:"ppl_error"` // ± one standard error
	NLL    float64 `json:"mean_nll"`
	Tokens int     `json:"scored_tokens"`
	Chunks int     `json:"chunks"`
	Ctx    int     `json:"ctx"`
}

// logSoftmax writes log p(token) for every token into dst (float64 for
// accuracy over large vocabularies).
func logSoftmax(logits []float32, dst []float64) {
	mx := math.Inf(-1)
	for _, l := range logits {
		if float64(l) > mx {
			mx = float64(l)
		}
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - mx)
	}
	lse := mx + math.Log(sum)
	for i, l := range logits {
		dst[i] = float64(l) - lse
	}
}

// scoreChunks runs s over every chunk and, at each scored position (the
// second half of the chunk, except the last token, which predicts nothing
// inside it), puts the log-probabilities into lp and calls fn with the token
// that follows.
func scoreChunks(s Scorer, cs [][]int32, opt Options, lp []float64, fn func(ci, pos int, next int32) error) error {
	first := opt.Ctx / 2
	for ci, c := range cs {
		var scoreErr error
		err := s.Score(c, func(pos int, logits []float32) {
			if pos < first || pos >= len(c)-1 || scoreErr != nil {
				return
			}
			if len(logits) != len(lp) {
				scoreErr = fmt.Errorf("scorer returned %d logits, vocabulary is %d", len(logits), len(lp))
				return
			}
			next := c[pos+1]
			if next < 0 || int(next) >= len(lp) {
				scoreErr = fmt.Errorf("token %d is outside the vocabulary", next)
				return
			}
			logSoftmax(logits, lp)
			scoreErr = fn(ci, pos, next)
		})
		if err == nil {
			err = scoreErr
		}
		if err != nil {
			return fmt.Errorf("chunk %d: %w", ci, err)
		}
		if opt.Progress != nil {
			opt.Progress(ci+1, len(cs))
		}
	}
	return nil
}

// Perplexity scores tokens in chunks of opt.Ctx.
func Perplexity(s Scorer, tokens []int32, opt Options) (PerplexityResult, error) {
	cs, err := chunks(tokens, opt)
	if err != nil {
		return PerplexityResult{}, err
	}
	lp := make([]float64, s.VocabSize())
	var nll, nll2 float64
	count := 0
	err = scoreChunks(s, cs, opt, lp, func(_, _ int, next int32) error {
		v := -lp[next]
		nll += v
		nll2 += v * v
		count++
		return nil
	})
	if err != nil {
		return PerplexityResult{}, err
	}
	if count == 0 {
		return PerplexityResult{}, errors.New("no tokens were scored")
	}
	return pplFrom(nll, nll2, count, len(cs), opt.Ctx), nil
}

// KLDResult compares a model against a reference over the same positions.
type KLDResult struct {
	Mean      float64          `json:"kld_mean"`
	MeanErr   float64          `json:"kld_mean_error"`
	Median    float64          `json:"kld_median"`
	P99       float64          `json:"kld_p99"`
	Max       float64          `json:"kld_max"`
	Top1      float64          `json:"top1_agreement"` // fraction of positions with the same argmax
	PPL       PerplexityResult `json:"ppl"`
	RefPPL    PerplexityResult `json:"reference_ppl"`
	DeltaPPL  float64          `json:"delta_ppl"`
	Positions int              `json:"positions"`
}

// RefLogProbs is a source of reference log-probabilities for the scored
// positions of each chunk: a live reference model or stored logits.
type RefLogProbs interface {
	// LogProbs returns the reference log-probabilities at position pos of
	// chunk ci (a slice of the vocabulary size, valid until the next call).
	LogProbs(ci, pos int) ([]float64, error)
}

// KLD evaluates s on tokens and compares it with ref position by position.
func KLD(s Scorer, ref RefLogProbs, tokens []int32, opt Options) (KLDResult, error) {
	cs, err := chunks(tokens, opt)
	if err != nil {
		return KLDResult{}, err
	}
	n := s.VocabSize()
	lp := make([]float64, n)
	var klds []float64
	var sum, sum2 float64
	agree := 0
	var nll, refNLL, nll2, refNLL2 float64
	err = scoreChunks(s, cs, opt, lp, func(ci, pos int, next int32) error {
		r, err := ref.LogProbs(ci, pos)
		if err != nil {
			return err
		}
		if len(r) != n {
			return fmt.Errorf("reference has %d log-probs per position, model vocabulary is %d: the tokenizers differ", len(r), n)
		}
		k := 0.0
		am, rm := 0, 0
		for i := range lp {
			if r[i] > math.Inf(-1) {
				k += math.Exp(r[i]) * (r[i] - lp[i])
			}
			if lp[i] > lp[am] {
				am = i
			}
			if r[i] > r[rm] {
				rm = i
			}
		}
		if k < 0 { // rounding
			k = 0
		}
		klds = append(klds, k)
		sum += k
		sum2 += k * k
		if am == rm {
			agree++
		}
		v, rv := -lp[next], -r[next]
		nll += v
		nll2 += v * v
		refNLL += rv
		refNLL2 += rv * rv
		return nil
	})
	if err != nil {
		return KLDResult{}, err
	}
	m := len(klds)
	if m == 0 {
		return KLDResult{}, errors.New("no positions were scored")
	}
	res := KLDResult{Positions: m}
	res.Mean = sum / float64(m)
	if v := sum2/float64(m) - res.Mean*res.Mean; v > 0 && m > 1 {
		res.MeanErr = math.Sqrt(v / float64(m-1))
	}
	sort.Float64s(klds)
	res.Median = klds[(m-1)/2]
	if m%2 == 0 {
		res.Median = (klds[m/2-1] + klds[m/2]) / 2
	}
	res.P99 = klds[min(m-1, int(math.Ceil(0.99*float64(m)))-1)]
	res.Max = klds[m-1]
	res.Top1 = float64(agree) / float64(m)
	res.PPL = pplFrom(nll, nll2, m, len(cs), opt.Ctx)
	res.RefPPL = pplFrom(refNLL, refNLL2, m, len(cs), opt.Ctx)
	res.DeltaPPL = res.PPL.PPL - res.RefPPL.PPL
	return res, nil
}

func pplFrom(nll, nll2 float64, count, chunks, ctx int) PerplexityResult {
	r := PerplexityResult{Tokens: count, Chunks: chunks, Ctx: ctx}
	r.NLL = nll / float64(count)
	r.PPL = math.Exp(r.NLL)
	if v := nll2/float64(count) - r.NLL*r.NLL; v > 0 && count > 1 {
		r.PPLErr = math.Sqrt(v/float64(count-1)) * r.PPL
	}
	return r
}

// LiveReference scores the reference model chunk by chunk on demand and
// keeps one chunk's log-probabilities.
type LiveReference struct {
	Model  Scorer
	Tokens []int32
	Opt    Options

	chunk int
	lps   [][]float64
}

// LogProbs implements RefLogProbs.
func (l *LiveReference) LogProbs(ci, pos int) ([]float64, error) {
	if l.lps == nil || l.chunk != ci {
		cs, err := chunks(l.Tokens, l.Opt)
		if err != nil {
			return nil, err
		}
		if ci >= len(cs) {
			return nil, fmt.Errorf("chunk %d out of range", ci)
		}
		c := cs[ci]
		n := l.Model.VocabSize()
		l.lps = make([][]float64, len(c))
		err = l.Model.Score(c, func(p int, logits []float32) {
			if p >= l.Opt.Ctx/2 && p < len(c)-1 {
				row := make([]float64, n)
				logSoftmax(logits, row)
				l.lps[p] = row
			}
		})
		if err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
		l.chunk = ci
	}
	if pos >= len(l.lps) || l.lps[pos] == nil {
		return nil, fmt.Errorf("reference has no log-probs at position %d", pos)
	}
	return l.lps[pos], nil
}
