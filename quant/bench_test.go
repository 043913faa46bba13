package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks report MB/s of float32 input (quantize) or output (dequantize),
// on one core and on all cores (QuantizeRows/DequantizeRows), for a
// 256-row × 4096-column matrix.
func BenchmarkQuantize(b *testing.B) {
	const rows, cols = 256, 4096
	x := gaussRows(rand.New(rand.NewPCG(1, 1)), rows, cols, 0.02)
	for _, typ := range allQuantTypes {
		for _, workers := range []int{1, 0} {
			name := fmt.Sprintf("%s/cores=%s", typ, map[int]string{1: "1", 0: "all"}[workers])
			b.Run(name, func(b *testing.B) {
				dst := make([]byte, rows*rowBytes(typ, cols))
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					if err := QuantizeRows(typ, x, rows, cols, dst, nil, workers); err != nil {
						b.Fatal(err)
					}
				}
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
				for b.Loop() {
					if err := DequantizeRows(typ, src, rows, cols, dst, workers); err != nil {
						b.Fatal(err)
					}
				}
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
