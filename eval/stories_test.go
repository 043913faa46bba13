package eval

import (
	"os"
	"testing"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/kernels"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/tokenizer"
)

// quantized returns a copy of m (F32 weights) whose matrices are quantized
// to t where their rows allow it, as a quantizer without a recipe would.
func quantized(tb testing.TB, m *model.Model, t quant.Type) *model.Model {
	q := &model.Model{Path: m.Path, Format: m.Format, Metadata: m.Metadata, RopeNeoX: m.RopeNeoX}
	for _, src := range m.Tensors {
		if len(src.Shape) != 2 || src.Type != quant.F32 || int(src.Shape[0])%t.BlockSize() != 0 {
			q.AddTensor(src)
			continue
		}
		dst := make([]byte, int(src.Elements())/t.BlockSize()*t.BytesPerBlock())
		if err := quant.Quantize(t, kernels.Float32s(src.Data), dst); err != nil {
			tb.Fatalf("%s: %v", src.Name, err)
		}
		q.AddTensor(&model.Tensor{Name: src.Name, Type: t, Shape: src.Shape, Data: dst})
	}
	return q
}

func TestStoriesPerplexityAndKLD(t *testing.T) {
	path := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("testdata/tinystory.txt")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(string(text), true, false)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Ctx: 128, BOS: tok.BOS()}
	load := func(m *model.Model) *engine.Engine {
		e, err := engine.Load(m, engine.Options{Context: 128, KVCacheType: "f32"})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ref := load(m)
	defer ref.Close()
	p1, err := Perplexity(EngineScorer{ref}, ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Perplexity(EngineScorer{ref}, ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	// A 260K-parameter model trained on TinyStories reads such text far
	// better than chance (vocabulary 512) but is no oracle either.
	if p1.PPL != p2.PPL || p1.PPL < 1.5 || p1.PPL > 60 || p1.PPLErr <= 0 || p1.PPLErr > p1.PPL {
		t.Fatalf("perplexity %v ± %v (repeat %v), %d tokens", p1.PPL, p1.PPLErr, p2.PPL, p1.Tokens)
	}
	t.Logf("stories260K F32: ppl %.4f ± %.4f over %d tokens (%d chunks of %d)", p1.PPL, p1.PPLErr, p1.Tokens, p1.Chunks, opt.Ctx)

	results := map[quant.Type]KLDResult{}
	for _, qt := range []quant.Type{quant.Q8_0, quant.Q4_0} {
		qm := quantized(t, m, qt)
		e := load(qm)
		r, err := KLD(EngineScorer{e}, &LiveReference{Model: EngineScorer{ref}, Tokens: ids, Opt: opt}, ids, opt)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		results[qt] = r
		t.Logf("stories260K %v vs F32: KLD mean %.6f median %.6f max %.4f, top-1 %.2f%%, ppl %.4f (Δ %+.4f)",
			qt, r.Mean, r.Median, r.Max, 100*r.Top1, r.PPL.PPL, r.DeltaPPL)
	}
	q8, q4 := results[quant.Q8_0], results[quant.Q4_0]
	if !(q8.Mean > 0 && q8.Mean < q4.Mean) {
		t.Fatalf("KLD should order Q8_0 (%v) below Q4_0 (%v)", q8.Mean, q4.Mean)
	}
	if q8.Top1 < 0.9 || q8.Top1 < q4.Top1 {
		t.Fatalf("top-1 agreement Q8_0 %v, Q4_0 %v", q8.Top1, q4.Top1)
	}
}
