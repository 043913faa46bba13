package engine

import (
	"strings"

	"errors"
	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
	"math"
	"testing"
)

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestContinuousBatching checks that a step mixing sequences (one decoding,
// one prefilling, one forked from a shared prefix) gives each sequence the
// logits it gets when run alone, across chunk boundaries.
func TestContinuousBatching(t *testing.T) {
	_, g := loadOracle(t, "qwen2")
	m := openModel(t, "oracle", "qwen2")
	e, err := Load(m, Options{Threads: 2, BatchSize: 7, CacheTokens: 1024, Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a, b := g.Prompts[0].IDs, g.Prompts[1].IDs

	solo := func(toks []int32) [][]float32 {
		s := e.NewSeq()
		defer e.Free(s)
		out, err := e.Step([]SeqTokens{{Seq: s, Tokens: toks, AllLogits: true}})
		if err != nil {
			t.Fatal(err)
		}
		rows := make([][]float32, len(out))
		for i := range out {
			rows[i] = append([]float32(nil), out[i]...)
		}
		return rows
	}
	refA, refB := solo(a), solo(b)

	// Sequence A prefilled up to its last token; B starts from scratch.
	sa, sb := e.NewSeq(), e.NewSeq()
	if _, err := e.Step([]SeqTokens{{Seq: sa, Tokens: a[:len(a)-1]}}); err != nil {
		t.Fatal(err)
	}
	// Fork A's first 10 tokens (shares pages), to continue with A's tokens.
	sc, err := e.Fork(sa, 10)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Step([]SeqTokens{
		{Seq: sa, Tokens: a[len(a)-1:]},              // decode one token
		{Seq: sb, Tokens: b[:20], AllLogits: true},   // prefill a chunk
		{Seq: sc, Tokens: a[10:15], AllLogits: true}, // continue the fork
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1+20+5 {
		t.Fatalf("%d logits rows, want 26", len(out))
	}
	check := func(what string, got, want []float32) {
		if d := maxAbsDiff(got, want); d > 1e-4 {
			t.Errorf("%s: differs from the solo run by %.3g", what, d)
		}
	}
	check("decode A", out[0], refA[len(a)-1])
	for i := 0; i < 20; i++ {
		check("prefill B", out[1+i], refB[i])
	}
	for i := 0; i < 5; i++ {
		check("fork of A", out[21+i], refA[10+i])
	}
	if sa.Len() != len(a) || sb.Len() != 20 || sc.Len() != 15 {
		t.Fatalf("lengths %d %d %d", sa.Len(), sb.Len(), sc.Len())
	}
	// A must be unaffected by the fork's writes into the shared page.
	if err := sa.Truncate(12); err != nil {
		t.Fatal(err)
	}
	out, err = e.Step([]SeqTokens{{Seq: sa, Tokens: a[12:14], AllLogits: true}})
	if err != nil {
		t.Fatal(err)
	}
	check("A after truncate", out[1], refA[13])

	// Errors leave lengths unchanged.
	if _, err := e.Step([]SeqTokens{{Seq: sb, Tokens: []int32{int32(e.Vocab())}}}); err == nil {
		t.Error("out-of-vocabulary token accepted")
	}
	long := make([]int32, 300)
	var ce *ContextError
	if _, err := e.Step([]SeqTokens{{Seq: sb, Tokens: long}}); !errors.As(err, &ce) {
		t.Errorf("context overflow: got %v", err)
	}
	if sb.Len() != 20 {
		t.Errorf("failed steps changed the length to %d", sb.Len())
	}
	e.Free(sa)
	e.Free(sb)
	e.Free(sc)
	if e.FreeTokens() != 1024 {
		t.Errorf("%d free tokens after freeing everything, want 1024", e.FreeTokens())
	}
}

// TestCacheFull: running out of KV pages is an error, not a crash.
func TestCacheFull(t *testing.T) {
	m := openModel(t, "oracle", "llama2")
	e, err := Load(m, Options{Threads: 1, Context: 64, CacheTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s1, s2 := e.NewSeq(), e.NewSeq()
	toks := make([]int32, 40)
	if _, err := e.Step([]SeqTokens{{Seq: s1, Tokens: toks}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step([]SeqTokens{{Seq: s2, Tokens: toks}}); err == nil {
		t.Fatal("cache overflow not reported")
	}
	e.Free(s1)
	if _, err := e.Step([]SeqTokens{{Seq: s2, Tokens: toks}}); err != nil {
		t.Fatalf("after freeing: %v", err)
	}
}

// TestDecodeAllocs: a decode step allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	m := openModel(t, "oracle", "mixtral")
	e, err := Load(m, Options{Threads: 2, Context: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.NewSeq()
	batch := []SeqTokens{{Seq: s, Tokens: []int32{5}}}
	if _, err := e.Step(batch); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := e.Step(batch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per decode step", allocs)
	}
}

func TestLoadErrors(t *testing.T) {
	m := openModel(t, "oracle", "llama2")
	variant := func(drop string, edit func(*model.Model)) *model.Model {
		c := &model.Model{Path: "variant", Metadata: m.Metadata, RopeNeoX: m.RopeNeoX}
		c.Metadata.KV = append([]gguf.KV(nil), m.Metadata.KV...)
		c.Metadata = gguf.Metadata{KV: c.Metadata.KV}
		for _, tn := range m.Tensors {
			if tn.Name != drop {
				cp := *tn
				c.AddTensor(&cp)
			}
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	cases := []struct {
		name, want string
		m          *model.Model
		opts       Options
	}{
		{"missing tensor", "blk.1.attn_k.weight", variant("blk.1.attn_k.weight", nil), Options{}},
		{"bad shape", "blk.0.ffn_up.weight", variant("", func(c *model.Model) { c.Tensor("blk.0.ffn_up.weight").Shape = []uint64{64, 100} }), Options{}},
		{"short data", "blk.0.attn_q.weight", variant("", func(c *model.Model) { tn := c.Tensor("blk.0.attn_q.weight"); tn.Data = tn.Data[:10] }), Options{}},
		{"unknown arch", "not supported", variant("", func(c *model.Model) { c.Set("general.architecture", "mamba") }), Options{}},
		{"missing hyperparameter", "llama.block_count", variant("", func(c *model.Model) {
			var kv []gguf.KV
			for _, x := range c.KV {
				if x.Key != "llama.block_count" {
					kv = append(kv, x)
				}
			}
			c.Metadata = gguf.Metadata{KV: kv}
		}), Options{}},
		{"kv type", "KV cache type", m, Options{KVCacheType: "q4_0"}},
		{"q8_0 cache with 16-wide heads", "multiples of 32", m, Options{KVCacheType: "q8_0"}},
	}
	for _, c := range cases {
		e, err := Load(c.m, c.opts)
		if err == nil {
			e.Close()
			t.Errorf("%s: loaded without error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

// TestQ8Cache: a Q8_0 KV cache (qwen3's 32-wide heads allow it) keeps the
// reference's greedy path and top tokens.
func TestQ8Cache(t *testing.T) {
	_, g := loadOracle(t, "qwen3")
	m := openModel(t, "oracle", "qwen3")
	r := runOracle(t, m, g, Options{Threads: 3, KVCacheType: "q8_0"}, nil)
	t.Logf("q8_0 cache: max |Δlogit| %.2e, top-1 %d/%d, KL %.2e, greedy %v", r.maxDiff, r.top1, r.positions, r.kl, r.greedyOK)
	if r.top1 != r.positions || r.kl > 1e-3 {
		t.Errorf("q8_0 cache: top-1 %d/%d, KL %.3g", r.top1, r.positions, r.kl)
	}
}

// TestThreadCounts: results do not depend on how work is split.
func TestThreadCounts(t *testing.T) {
	g, ref := loadStoriesGolden(t)
	m := openModel(t, "models", "stories260K", "stories260K.gguf")
	for _, n := range []int{1, 3, 5} {
		checkStoriesAgainst(t, m, Options{KVCacheType: "f32", Threads: n, BatchSize: 50}, g, ref, 1e-4, true, true)
	}
	// Decoding with more workers than KV heads splits the query groups.
	checkStoriesAgainst(t, m, Options{KVCacheType: "f32", Threads: 7}, g, ref, 1e-4, false, true)
}

// TestHostileMetadata: odd hyperparameter values give an error or a working
// engine, never a panic or a huge allocation.
func TestHostileMetadata(t *testing.T) {
	base := openModel(t, "models", "stories260K", "stories260K.gguf")
	vals := []any{uint32(0), uint32(1), uint32(3), uint32(1 << 20), uint64(1 << 40), float32(-1), float32(0), "x"}
	for _, kv := range base.KV {
		if !strings.HasPrefix(kv.Key, "llama.") {
			continue
		}
		for _, v := range vals {
			c := &model.Model{Path: "hostile"}
			c.Metadata = gguf.Metadata{KV: append([]gguf.KV(nil), base.KV...)}
			if err := c.Set(kv.Key, v); err != nil {
				t.Fatal(err)
			}
			for _, tn := range base.Tensors {
				c.AddTensor(tn)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s = %v: panic %v", kv.Key, v, r)
					}
				}()
				e, err := Load(c, Options{Threads: 2, Context: 64})
				if err != nil {
					return
				}
				defer e.Close()
				s := e.NewSeq()
				if _, err := e.Step([]SeqTokens{{Seq: s, Tokens: []int32{1, 2, 3}}}); err != nil {
					t.Logf("%s = %v: step: %v", kv.Key, v, err)
				}
			}()
		}
	}
}

// TestSlidingWindowAcrossPages: windows longer than a cache page give the
// same logits through batched prefill, small chunks and token-by-token
// decoding; a window longer than the prompt equals full attention.
func TestSlidingWindowAcrossPages(t *testing.T) {
	_, g := loadOracle(t, "gemma2")
	base := openModel(t, "oracle", "gemma2")
	ids := g.Prompts[len(g.Prompts)-1].IDs // 120 random ids
	run := func(window int, opts Options, stepwise bool) [][]float32 {
		m := &model.Model{Path: "window", RopeNeoX: base.RopeNeoX}
		m.Metadata = gguf.Metadata{KV: append([]gguf.KV(nil), base.KV...)}
		m.Set("gemma2.attention.sliding_window", uint32(window))
		for _, tn := range base.Tensors {
			m.AddTensor(tn)
		}
		e, err := Load(m, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		s := e.NewSeq()
		var rows [][]float32
		if stepwise {
			for _, id := range ids {
				out, err := e.Step([]SeqTokens{{Seq: s, Tokens: []int32{id}}})
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, append([]float32(nil), out[0]...))
			}
			return rows
		}
		out, err := e.Step([]SeqTokens{{Seq: s, Tokens: ids, AllLogits: true}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			rows = append(rows, append([]float32(nil), r...))
		}
		return rows
	}
	f32 := Options{Threads: 2, KVCacheType: "f32"}
	small := Options{Threads: 3, KVCacheType: "f32", BatchSize: 7}
	ref := run(45, f32, false)
	for name, got := range map[string][][]float32{
		"chunks of 7": run(45, small, false),
		"decode":      run(45, f32, true),
	} {
		for i := range ref {
			if d := maxAbsDiff(ref[i], got[i]); d > 1e-4 {
				t.Fatalf("%s: position %d differs by %.3g", name, i, d)
			}
		}
	}
	full, wide := run(0, f32, false), run(1000, f32, false)
	var dWide, dWin float64
	for i := range full {
		dWide = math.Max(dWide, maxAbsDiff(full[i], wide[i]))
		dWin = math.Max(dWin, maxAbsDiff(full[i], ref[i]))
	}
	if dWide > 1e-4 {
		t.Errorf("window wider than the prompt differs from full attention by %.3g", dWide)
	}
	if dWin < 1e-3 {
		t.Errorf("a 45-token window changed nothing (%.3g)", dWin)
	}
}
