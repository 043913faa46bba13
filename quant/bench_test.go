package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Benchmarks report MB/s of float32 input (quantize) or output (dequantize),
// on one core and on all cores (QuantizeRows/DequantizeRows), for a
// 256-row × 4096-column matrix. cpu-MB/s divides by the CPU time used
// instead of wall time (unix only), which stays meaningful on a busy machine.
func BenchmarkQuantize(b *testing.B) {
	const rows, cols = 256, 4096
	x := gaussRows(rand.New(rand.NewPCG(1, 1)), rows, cols, 0.02)
	for _, typ := range allQuantTypes {
		for _, workers := range []int{1, 0} {
			name := fmt.Sprintf("%s/cores=%s", typ, map[int]string{1: "1", 0: "all"}[workers])
			b.Run(name, func(b *testing.B) {
				dst := make([]byte, rows*rowBytes(typ, cols))
				b.SetBytes(int64(4 * len(x)))
				c0 := cpuTime()
				for b.Loop() {
					if err := QuantizeRows(typ, x, rows, cols, dst, nil, workers); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, c0, 4*len(x))
			})
		}
	}
}

func BenchmarkDequantize(b *testing.B) {
	const rows, cols = 256, 4096
	x := gaussRows(rand.New(rand.NewPCG(1, 1)), rows, cols, 0.02)
	for _, typ := range allQuantTypes {
		src := make([]byte, rows*rowBytes(typ, cols))
		if err := Quantize(typ, x, src); err != nil {
			b.Fatal(err)
		}
		for _, workers := range []int{1, 0} {
			name := fmt.Sprintf("%s/cores=%s", typ, map[int]string{1: "1", 0: "all"}[workers])
			b.Run(name, func(b *testing.B) {
				dst := make([]float32, rows*cols)
				b.SetBytes(int64(4 * len(dst)))
				c0 := cpuTime()
				for b.Loop() {
					if err := DequantizeRows(typ, src, rows, cols, dst, workers); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, c0, 4*len(dst))
			})
		}
	}
}

func BenchmarkVecDot(b *testing.B) {
	const n = 4096
	rng := rand.New(rand.NewPCG(2, 2))
	w, a := gaussRows(rng, 1, n, 0.02), gaussRows(rng, 1, n, 1)
	for _, typ := range allQuantTypes {
		b.Run(typ.String(), func(b *testing.B) {
			wq := make([]byte, rowBytes(typ, n))
			aq := make([]byte, rowBytes(VecDotType(typ), n))
			Quantize(typ, w, wq)
			Quantize(VecDotType(typ), a, aq)
			b.SetBytes(int64(len(wq)))
			for b.Loop() {
				VecDot(typ, n, wq, aq)
			}
		})
	}
}

func reportCPU(b *testing.B, c0 time.Duration, bytes int) {
	if d := cpuTime() - c0; d > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/1e6/d.Seconds(), "cpu-MB/s")
	}
}
