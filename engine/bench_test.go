package engine

import (
	"os"
	"testing"

	"github.com/ferryhq/ferry/model"
)

// benchModel opens FERRY_BENCH_MODEL (default synthetic:llama3.2-1b:q4_0,
// generated and cached on first use).
func benchModel(b *testing.B) *model.Model {
	name := os.Getenv("FERRY_BENCH_MODEL")
	if name == "" {
		name = "synthetic:llama3.2-1b:q4_0"
	}
	m, err := model.Open(name)
	if err != nil {
		b.Skipf("%s: %v", name, err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkDecode measures single-sequence decode (tokens/s) at a short
// context.
func BenchmarkDecode(b *testing.B) { benchDecode(b, 1) }

// BenchmarkDecodeDepth512 is decode after a 512-token prompt, the position
// of `ferry bench`'s tg rows (llama-bench's tg starts from an empty cache):
// the gap to BenchmarkDecode is the attention over the cache.
func BenchmarkDecodeDepth512(b *testing.B) { benchDecode(b, 512) }

func benchDecode(b *testing.B, depth int) {
	m := benchModel(b)
	e, err := Load(m, Options{Context: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s := e.NewSeq()
	prompt := make([]int32, depth)
	for i := range prompt {
		prompt[i] = int32(i * 7 % e.Vocab())
	}
	if _, err := e.Step([]SeqTokens{{Seq: s, Tokens: prompt}}); err != nil {
		b.Fatal(err)
	}
	tok := []SeqTokens{{Seq: s, Tokens: []int32{1}}}
	d0 := e.pool.dispatched
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Len() >= depth+128 {
			s.Truncate(depth)
		}
		if _, err := e.Step(tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(e.pool.dispatched-d0)/float64(b.N), "dispatches/token")
}

// BenchmarkPrefill measures prompt processing of 128-token chunks.
func BenchmarkPrefill(b *testing.B) {
	m := benchModel(b)
	e, err := Load(m, Options{Context: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s := e.NewSeq()
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(i * 7 % e.Vocab())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Truncate(0)
		if _, err := e.Step([]SeqTokens{{Seq: s, Tokens: prompt}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tokens/s")
}
