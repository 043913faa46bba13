package eval

import (
	"math"
	"path/filepath"
	"testing"
)

// bigram is a scorer whose next-token logits depend only on the current
// token, so expected values can be computed independently.
type bigram struct {
	vocab int
	temp  float64 // logits are scaled by 1/temp
}

func (b bigram) VocabSize() int { return b.vocab }

func (b bigram) logits(cur int32) []float32 {
	l := make([]float32, b.vocab)
	for i := range l {
		// A peaked distribution around cur+1.
		d := float64((i - int(cur) - 1 + b.vocab) % b.vocab)
		l[i] = float32(-d / b.temp)
	}
	return l
}

func (b bigram) Score(tokens []int32, fn func(int, []float32)) error {
	for i, t := range tokens {
		fn(i, b.logits(t))
	}
	return nil
}

type uniform struct{ vocab int }

func (u uniform) VocabSize() int { return u.vocab }
func (u uniform) Score(tokens []int32, fn func(int, []float32)) error {
	l := make([]float32, u.vocab)
	for i := range tokens {
		fn(i, l)
	}
	return nil
}

func text(n, vocab int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32((i*7 + i*i) % vocab)
	}
	return t
}

func TestPerplexityUniform(t *testing.T) {
	r, err := Perplexity(uniform{50}, text(256, 50), Options{Ctx: 64, BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.PPL-50) > 1e-9 || r.PPLErr > 1e-5 {
		t.Fatalf("uniform over 50 tokens: ppl %v ± %v", r.PPL, r.PPLErr)
	}
	// 4 chunks, positions 32..62 scored in each.
	if r.Chunks != 4 || r.Tokens != 4*31 {
		t.Fatalf("chunks %d tokens %d", r.Chunks, r.Tokens)
	}
}

func TestPerplexityBigram(t *testing.T) {
	b := bigram{vocab: 10, temp: 1}
	toks := text(100, 10)
	r, err := Perplexity(b, toks, Options{Ctx: 20, BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Direct computation of the same quantity.
	var nll float64
	n := 0
	for c := 0; c < 5; c++ {
		for p := 10; p < 19; p++ {
			cur, next := toks[c*20+p], toks[c*20+p+1]
			l := b.logits(cur)
			var z float64
			for _, v := range l {
				z += math.Exp(float64(v))
			}
			nll += -(float64(l[next]) - math.Log(z))
			n++
		}
	}
	want := math.Exp(nll / float64(n))
	if math.Abs(r.PPL-want) > 1e-9*want || r.PPLErr <= 0 {
		t.Fatalf("ppl %v ± %v, want %v", r.PPL, r.PPLErr, want)
	}
}

func TestKLD(t *testing.T) {
	toks := text(200, 16)
	opt := Options{Ctx: 40, BOS: -1}
	ref := bigram{vocab: 16, temp: 1}
	same, err := KLD(ref, &LiveReference{Model: ref, Tokens: toks, Opt: opt}, toks, opt)
	if err != nil {
		t.Fatal(err)
	}
	if same.Mean > 1e-12 || same.Top1 != 1 || same.DeltaPPL != 0 {
		t.Fatalf("identical models: %+v", same)
	}
	// A slightly and a strongly perturbed model: KLD grows with the error.
	near, _ := KLD(bigram{16, 1.1}, &LiveReference{Model: ref, Tokens: toks, Opt: opt}, toks, opt)
	far, _ := KLD(bigram{16, 2}, &LiveReference{Model: ref, Tokens: toks, Opt: opt}, toks, opt)
	if !(0 < near.Mean && near.Mean < far.Mean) || near.Top1 != 1 {
		t.Fatalf("kld near %v far %v", near.Mean, far.Mean)
	}
	// A stored reference gives the same answer within float32 rounding.
	path := filepath.Join(t.TempDir(), "ref.lpb")
	if err := SaveReference(path, ref, toks, opt); err != nil {
		t.Fatal(err)
	}
	st, err := OpenReference(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Matches(toks, opt); err != nil {
		t.Fatal(err)
	}
	if err := st.Matches(text(200, 15), opt); err == nil {
		t.Fatal("different tokens should not match")
	}
	far2, err := KLD(bigram{16, 2}, st, toks, opt)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(far2.Mean-far.Mean) > 1e-5*far.Mean {
		t.Fatalf("stored %v vs live %v", far2.Mean, far.Mean)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Perplexity(uniform{8}, text(10, 8), Options{Ctx: 64}); err == nil {
		t.Fatal("a text shorter than one chunk must be an error")
	}
	if _, err := OpenReference(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file")
	}
	// Token ids beyond the model's vocabulary (a tokenizer with added
	// tokens the output layer lacks) are an error, not an index panic.
	toks, opt, m := text(200, 20), Options{Ctx: 40, BOS: -1}, bigram{vocab: 16, temp: 1}
	if _, err := Perplexity(m, toks, opt); err == nil {
		t.Error("perplexity: token outside the vocabulary accepted")
	}
	if _, err := KLD(m, &LiveReference{Model: m, Tokens: toks, Opt: opt}, toks, opt); err == nil {
		t.Error("kld: token outside the vocabulary accepted")
	}
}
