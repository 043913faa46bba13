//go:build !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// BenchmarkKernelAB times each kernel that replaced another against the one
// it replaced, alternating them in one run (the machine's speed drifts), on
// benchThreads goroutines splitting the rows of a 2048-wide matrix in cache
// (2 MiB) and from DRAM (96 MiB). speedup = old time ÷ new time. Decode
// kernels see one activation; batched ones 8 (the serving case), in the
// engine's 64-row chunks.
func BenchmarkKernelAB(b *testing.B) {
	if !cpu.VNNI {
		b.Skip("the replaced kernels are the AVX-512 VNNI paths")
	}
	type pair struct {
		name     string
		typ      quant.Type
		batch    int
		old, new matMulFunc
	}
	matvecOnly := func(k *kernel) matMulFunc {
		return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
			for j := 0; j < nBatch; j++ {
				k.matvec(w, rowBytes, rows, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy:])
			}
		}
	}
	q40 := func(quads bool) matMulFunc {
		return func(w []byte, rowBytes, rows, cols int, act []byte, _, _ int, y []float32, _ int) {
			nb := cols / 32
			var prep [64 * 144]byte
			if quads {
				prepQ4_0Quads(act, nb, prep[:])
				q4_0MatVecQ4(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
				return
			}
			prepQ4_0(act, nb, prep[:])
			q4_0MatVecQP(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
		}
	}
	rawMV := func(f func(w *byte, rowBytes, rows, nb int, act *byte, y *float32)) matMulFunc {
		return func(w []byte, rowBytes, rows, cols int, act []byte, _, _ int, y []float32, _ int) {
			f(unsafe.SliceData(w), rowBytes, rows, cols/256, unsafe.SliceData(act), unsafe.SliceData(y))
		}
	}
	pairs := []pair{
		{"Q4_0 matvec QP→Q4", quant.Q4_0, 1, q40(false), q40(true)},
		{"Q6_K matvec AVX2→VNNI", quant.Q6_K, 1, rawMV(q6_KMatVecAVX2), rawMV(q6_KMatVecVNNI)},
		{"Q8_0 tile 4x4→lane", quant.Q8_0, 8, tiledMatMul(table[quant.Q8_0], q8_0Tile4x4VNNI, 32, 4), table[quant.Q8_0].matmul},
		{"Q4_K tile 1x4→lane", quant.Q4_K, 8, rowTiledMatMul(table[quant.Q4_K], q4_KTile1x4, 256), table[quant.Q4_K].matmul},
		{"Q5_K matvecs→lane", quant.Q5_K, 8, matvecOnly(table[quant.Q5_K]), table[quant.Q5_K].matmul},
		{"Q6_K tile 1x4→lane", quant.Q6_K, 8, rowTiledMatMul(table[quant.Q6_K], q6_KTile1x4, 256), table[quant.Q6_K].matmul},
	}
	for _, p := range pairs {
		for _, mb := range []int{1, 96} {
			b.Run(fmt.Sprintf("%s/%dMiB", p.name, mb), func(b *testing.B) {
				const cols = 2048
				k := table[p.typ]
				rb := RowBytes(p.typ, cols)
				rows := (mb << 20) / rb / 128 * 128
				w := make([]byte, rows*rb)
				rng := rand.New(rand.NewPCG(1, 1))
				if err := synthetic.FillBlocks(p.typ, w, rng, 0.05); err != nil {
					b.Fatal(err)
				}
				ab := ActivationSize(k.act, cols)
				acts := make([]byte, p.batch*ab)
				x := make([]float32, cols)
				for j := 0; j < p.batch; j++ {
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					QuantizeActivations(k.act, x, acts[j*ab:])
				}
				y := make([]float32, p.batch*rows)
				reps := max(1, 96/mb/4)
				th := benchThreads()
				fs := [2]matMulFunc{p.old, p.new}
				var dur [2]time.Duration
				run := func(f int) {
					start := time.Now()
					var wg sync.WaitGroup
					for t := 0; t < th; t++ {
						r0, r1 := t*rows/th, (t+1)*rows/th
						wg.Add(1)
						go func() {
							defer wg.Done()
							for range reps {
								if p.batch == 1 {
									fs[f](w[r0*rb:], rb, r1-r0, cols, acts, ab, 1, y[r0:], rows)
									continue
								}
								for c := r0; c < r1; c += 64 {
									fs[f](w[c*rb:], rb, min(64, r1-c), cols, acts, ab, p.batch, y[c:], rows)
								}
							}
						}()
					}
					wg.Wait()
					dur[f] += time.Since(start)
				}
				run(0)
				run(1)
				dur = [2]time.Duration{}
				for i := 0; i < b.N; i++ {
					run(i & 1)
					run(1 - i&1)
				}
				b.ReportMetric(float64(dur[0])/float64(dur[1]), "speedup")
			})
		}
	}
}
