package engine

import (
	"errors"
	"math"
	"testing"

	"github.com/ferryhq/ferry/quant"
)

func storiesEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	m := openModel(t, "models", "stories260K", "stories260K.gguf")
	if o.KVCacheType == "" {
		o.KVCacheType = "f32"
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	e, err := Load(m, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// outputWeight is the output projection dequantised on its own (the tied
// embedding when the model has no output.weight), rows of Dim.
func outputWeight(t *testing.T, e *Engine) []float32 {
	t.Helper()
	w := e.Model().Tensor("output.weight")
	if w == nil {
		w = e.Model().Tensor("token_embd.weight")
	}
	out := make([]float32, e.cfg.Vocab*e.cfg.Dim)
	if err := quant.Dequantize(w.Type, w.Data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func clone(rows [][]float32) [][]float32 {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		out[i] = append([]float32(nil), r...)
	}
	return out
}

// The hidden rows are the input of the output projection: applying the
// output weight to them, independently of the engine, gives the logits
// the engine returns.
func TestHiddenReproducesLogits(t *testing.T) {
	e := storiesEngine(t, Options{})
	g, _ := loadStoriesGolden(t)
	toks := g.Greedy.PromptIDs
	toks = append(toks, g.Greedy.GeneratedIDs[:10]...)
	a, b := e.NewSeq(), e.NewSeq()
	lr, err := e.Step([]SeqTokens{{Seq: a, Tokens: toks, AllLogits: true}})
	if err != nil {
		t.Fatal(err)
	}
	logits := clone(lr)
	hr, err := e.Step([]SeqTokens{{Seq: b, Tokens: toks, AllLogits: true, Hidden: true}})
	if err != nil {
		t.Fatal(err)
	}
	hidden := clone(hr)
	if len(hidden) != len(toks) || len(hidden[0]) != e.cfg.Dim {
		t.Fatalf("hidden rows %d×%d, want %d×%d", len(hidden), len(hidden[0]), len(toks), e.cfg.Dim)
	}
	w := outputWeight(t, e)
	dim := e.cfg.Dim
	worst := 0.0
	for i, h := range hidden {
		for v := 0; v < e.cfg.Vocab; v++ {
			var s float64
			for k := 0; k < dim; k++ {
				s += float64(w[v*dim+k]) * float64(h[k])
			}
			worst = max(worst, math.Abs(s-float64(logits[i][v])))
		}
	}
	if worst > 1e-4 {
		t.Fatalf("output weight · hidden differs from the logits by %g", worst)
	}
	// A hidden step appends to the sequence like any other: decoding on
	// from it gives the same logits as from the logits-only sequence.
	next := g.Greedy.GeneratedIDs[10]
	ra, err := e.Step([]SeqTokens{{Seq: a, Tokens: []int32{next}}, {Seq: b, Tokens: []int32{next}}})
	if err != nil {
		t.Fatal(err)
	}
	for v := range ra[0] {
		if d := math.Abs(float64(ra[0][v] - ra[1][v])); d > 1e-5 {
			t.Fatalf("logit %d after the hidden step: %g vs %g", v, ra[1][v], ra[0][v])
		}
	}
}

func TestEmbedPooling(t *testing.T) {
	e := storiesEngine(t, Options{})
	small := storiesEngine(t, Options{BatchSize: 3}) // Embed chunks the input
	g, _ := loadStoriesGolden(t)
	toks := append(append([]int32(nil), g.Greedy.PromptIDs...), g.Greedy.GeneratedIDs[:7]...)
	s := e.NewSeq()
	hr, err := e.Step([]SeqTokens{{Seq: s, Tokens: toks, AllLogits: true, Hidden: true}})
	if err != nil {
		t.Fatal(err)
	}
	hidden := clone(hr)
	dim := e.cfg.Dim
	mean := make([]float32, dim)
	for i := range mean {
		var sum float64
		for _, h := range hidden {
			sum += float64(h[i])
		}
		mean[i] = float32(sum / float64(len(hidden)))
	}
	want := map[Pooling][]float32{
		PoolingNone: hidden[len(hidden)-1],
		PoolingLast: hidden[len(hidden)-1],
		PoolingCLS:  hidden[0],
		PoolingMean: mean,
	}
	for p, w := range want {
		for name, en := range map[string]*Engine{"batch512": e, "batch3": small} {
			for _, reuse := range []bool{false, true} {
				var seq *Seq
				if reuse {
					// A sequence holding other tokens is emptied first.
					seq = en.NewSeq()
					if _, err := en.Step([]SeqTokens{{Seq: seq, Tokens: toks[:5]}}); err != nil {
						t.Fatal(err)
					}
				}
				v, err := en.Embed(seq, toks, p)
				if err != nil {
					t.Fatal(err)
				}
				if reuse {
					if seq.Len() != len(toks) {
						t.Fatalf("%v: sequence holds %d tokens after Embed, want %d", p, seq.Len(), len(toks))
					}
					en.Free(seq)
				}
				for i := range w {
					if d := math.Abs(float64(v[i] - w[i])); d > 1e-5 {
						t.Fatalf("%v %s reuse=%v: element %d = %g, want %g", p, name, reuse, i, v[i], w[i])
					}
				}
			}
		}
	}
	if e.Pooling() != PoolingNone {
		t.Fatalf("stories260K has no pooling_type; Pooling() = %v", e.Pooling())
	}
}

func TestEmbedErrors(t *testing.T) {
	e := storiesEngine(t, Options{Context: 16})
	if _, err := e.Embed(nil, nil, PoolingMean); err == nil {
		t.Fatal("Embed of no tokens: no error")
	}
	if _, err := e.Embed(nil, []int32{1, 2}, PoolingRank); err == nil {
		t.Fatal("rank pooling: no error")
	}
	var ce *ContextError
	if _, err := e.Embed(nil, make([]int32, 17), PoolingMean); !errors.As(err, &ce) {
		t.Fatalf("17 tokens in a context of 16: %v, want a ContextError", err)
	}
	s := e.NewSeq()
	if _, err := e.Embed(s, []int32{1, 2, 100000}, PoolingLast); err == nil {
		t.Fatal("token outside the vocabulary: no error")
	}
	if s.Len() != 0 {
		t.Fatalf("failed Embed left %d tokens in the sequence", s.Len())
	}
	a, b := e.NewSeq(), e.NewSeq()
	if _, err := e.Step([]SeqTokens{{Seq: a, Tokens: []int32{1}}, {Seq: b, Tokens: []int32{1}, Hidden: true}}); err == nil {
		t.Fatal("step mixing hidden and logits entries: no error")
	}
	if a.Len() != 0 || b.Len() != 0 {
		t.Fatal("rejected step changed sequence lengths")
	}
}
