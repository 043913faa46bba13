package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// TestMatMulBatchSizes checks MatMul against the portable reference for
// every batch size from 1 to 10 and row counts around the tile height, so
// each way a batch is split (whole tiles, a tile overlapping the previous
// group for 4+2 and 4+3, matvecs for a lone remainder, row edges) is
// covered. Tolerance as in TestFastPathsMatchReference.
func TestMatMulBatchSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []quant.Type{quant.Q4_0, quant.Q8_0, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.F16} {
		k := table[typ]
		const cols = 512
		for _, rows := range []int{3, 8, 17} {
			for batch := 1; batch <= 10; batch++ {
				t.Run(fmt.Sprintf("%v/rows=%d/batch=%d", typ, rows, batch), func(t *testing.T) {
					rb := RowBytes(typ, cols)
					w := make([]byte, rows*rb)
					if err := synthetic.FillBlocks(typ, w, rng, 0.05); err != nil {
						t.Fatal(err)
					}
					ab := ActivationSize(k.act, cols)
					acts := make([]byte, batch*ab)
					x := make([]float32, cols)
					for b := 0; b < batch; b++ {
						for i := range x {
							x[i] = float32(rng.NormFloat64())
						}
						QuantizeActivations(k.act, x, acts[b*ab:])
					}
					ld := rows + 3
					ym := make([]float32, batch*ld)
					for i := range ym {
						ym[i] = float32(math.NaN())
					}
					MatMulStrided(typ, w, rows, cols, acts, batch, ym, ld)
					for b := 0; b < batch; b++ {
						act := acts[b*ab : (b+1)*ab]
						for r := 0; r < ld; r++ {
							got := ym[b*ld+r]
							if r >= rows {
								if !math.IsNaN(float64(got)) {
									t.Fatalf("batch %d: MatMul wrote %g past row %d", b, got, rows)
								}
								continue
							}
							row := w[r*rb : (r+1)*rb]
							want := k.ref(cols, row, act)
							mag := blockMagnitude(typ, k, row, act, cols)
							if d := math.Abs(float64(got) - float64(want)); !(d <= 1e-5*mag) {
								t.Fatalf("activation %d row %d: MatMul %g, reference %g (magnitude %g)", b, r, got, want, mag)
							}
						}
					}
				})
			}
		}
	}
}
