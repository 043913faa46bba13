package quantize

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/imatrix"
)

// TestEngineRunsQuantized quantizes stories260K with several recipes, runs
// the engine on the greedy reference sequence and compares the logits with
// the F32 reference: top-1 agreement and mean KL divergence must stay
// within what each bit width allows.
func TestEngineRunsQuantized(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	var golden struct {
		Greedy struct {
			PromptIDs    []int32 `json:"prompt_ids"`
			GeneratedIDs []int32 `json:"generated_ids"`
		} `json:"greedy"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	ref := f32s(mustRead(t, filepath.Join(dir, "greedy_logits.f32")))
	const vocab = 512
	ids := append(append([]int32{}, golden.Greedy.PromptIDs...), golden.Greedy.GeneratedIDs...)
	n := len(ref) / vocab
	ids = ids[:n]
	for _, c := range []struct {
		ft      quant.FileType
		minTop1 float64
		maxKL   float64
	}{
		{quant.FileMostlyQ6_K, 0.97, 0.002}, // Q8_0 fallbacks
		{quant.FileMostlyQ4_K_M, 0.93, 0.015},
		{quant.FileMostlyIQ4XS, 0.90, 0.05}, // IQ4_NL fallbacks
		{quant.FileMostlyQ3_K_M, 0.85, 0.05},
	} {
		out := filepath.Join(t.TempDir(), c.ft.String()+".gguf")
		if _, err := File(filepath.Join(dir, "stories260K.gguf"), out, Options{FileType: c.ft}); err != nil {
			t.Fatal(err)
		}
		m, err := model.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Load(m, engine.Options{Threads: 2, KVCacheType: "f32", Context: 512})
		if err != nil {
			m.Close()
			t.Fatalf("%s: engine: %v", c.ft, err)
		}
		s := e.NewSeq()
		logits, err := e.Step([]engine.SeqTokens{{Seq: s, Tokens: ids, AllLogits: true}})
		if err != nil {
			t.Fatal(err)
		}
		agree, kl := 0, 0.0
		for i := 0; i < n; i++ {
			r := ref[i*vocab : (i+1)*vocab]
			g := logits[i]
			if argmax(r) == argmax(g) {
				agree++
			}
			kl += klDiv(r, g)
		}
		top1, meanKL := float64(agree)/float64(n), kl/float64(n)
		t.Logf("%-7s top-1 agreement %.3f, mean KL %.5f", c.ft, top1, meanKL)
		if top1 < c.minTop1 || meanKL > c.maxKL {
			t.Errorf("%s: top-1 %.3f (min %.2f), mean KL %.5f (max %.3f)", c.ft, top1, c.minTop1, meanKL, c.maxKL)
		}
		e.Close()
		m.Close()
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// klDiv is KL(softmax(p) || softmax(q)).
func klDiv(p, q []float32) float64 {
	lse := func(x []float32) float64 {
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		s := 0.0
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		return m + math.Log(s)
	}
	lp, lq := lse(p), lse(q)
	kl := 0.0
	for i := range p {
		a := float64(p[i]) - lp
		kl += math.Exp(a) * (a - (float64(q[i]) - lq))
	}
	return kl
}

// TestImatrixImprovesQuantized: an importance matrix computed by
// the engine (observed by imatrix.Collector) on the reference story lowers the KL divergence
// of a low-bit quantization of stories260K on that story.
func TestImatrixImprovesQuantized(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	in := filepath.Join(dir, "stories260K.gguf")
	var golden struct {
		Greedy struct {
			PromptIDs    []int32 `json:"prompt_ids"`
			GeneratedIDs []int32 `json:"generated_ids"`
		} `json:"greedy"`
	}
	json.Unmarshal(mustRead(t, filepath.Join(dir, "golden.json")), &golden)
	ref := f32s(mustRead(t, filepath.Join(dir, "greedy_logits.f32")))
	ids := append(append([]int32{}, golden.Greedy.PromptIDs...), golden.Greedy.GeneratedIDs...)[:len(ref)/512]

	m, err := model.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	col := imatrix.NewCollector()
	ce, err := engine.Load(m, engine.Options{Threads: 2, Context: 64, KVCacheType: "f32", Observe: col.Observe})
	if err != nil {
		t.Fatal(err)
	}
	d, err := col.Run(ids, imatrix.RunOptions{Context: 64, AddBOS: true, BOS: 1}, func(chunk []int32) error {
		s := ce.NewSeq()
		defer ce.Free(s)
		_, err := ce.Step([]engine.SeqTokens{{Seq: s, Tokens: chunk}})
		return err
	})
	ce.Close()
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	im := d.Values()
	kl := func(opts Options) float64 {
		out := filepath.Join(t.TempDir(), "q.gguf")
		if _, err := File(in, out, opts); err != nil {
			t.Fatal(err)
		}
		qm, err := model.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer qm.Close()
		e, err := engine.Load(qm, engine.Options{Threads: 2, KVCacheType: "f32", Context: 512})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		logits, err := e.Step([]engine.SeqTokens{{Seq: e.NewSeq(), Tokens: ids, AllLogits: true}})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i := range ids {
			s += klDiv(ref[i*512:(i+1)*512], logits[i])
		}
		return s / float64(len(ids))
	}
	for _, ft := range []quant.FileType{quant.FileMostlyQ3_K_M, quant.FileMostlyIQ4XS} {
		plain := kl(Options{FileType: ft})
		weighted := kl(Options{FileType: ft, Imatrix: im})
		t.Logf("%s: mean KL %.5f without imatrix, %.5f with", ft, plain, weighted)
		if !(weighted < plain) {
			t.Errorf("%s: imatrix did not help (%.5f >= %.5f)", ft, weighted, plain)
		}
	}
}
