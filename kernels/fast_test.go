package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// blockMagnitude is Σ |w_i·a_i| over the dequantized weights and
// activations: the scale against which reordered float sums (SIMD lanes,
// per-lane int→float conversion) are judged.
func blockMagnitude(typ quant.Type, k *kernel, w, act []byte, cols int) float64 {
	wf := make([]float32, cols)
	if err := quant.Dequantize(typ, w, wf); err != nil {
		panic(err)
	}
	af := dequantAct(k.act, act, cols)
	var mag float64
	for i := range wf {
		mag += math.Abs(float64(wf[i]) * float64(af[i]))
	}
	return mag
}

// TestFastPathsMatchReference runs every weight type's selected MatVec and
// MatMul (assembly where the CPU has it) against the portable reference on
// random blocks. The integer parts are exact; the per-block float products
// are summed in a different order (SIMD lanes), so results must agree to
// 1e-5 of Σ|w·a| (dequantized weights times dequantized activations).
func TestFastPathsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range sortedTypes() {
		k := table[typ]
		const tol = 1e-5
		t.Run(typ.String()+"/"+fastPaths[typ], func(t *testing.T) {
			for _, cols := range []int{5, 96, 192, 256, 512, 1003, 2048, 2112, 2336, 4864} {
				if bs := RowBytes(typ, 1); k.act == quant.Q8_K && cols%256 != 0 || cols%typ.BlockSize() != 0 || bs < 0 {
					continue
				}
				const rows, batch = 9, 6
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
				y := make([]float32, rows)
				ym := make([]float32, batch*(rows+2))
				MatMulStrided(typ, w, rows, cols, acts, batch, ym, rows+2)
				for b := 0; b < batch; b++ {
					act := acts[b*ab : (b+1)*ab]
					MatVec(typ, w, rows, cols, act, y)
					for r := 0; r < rows; r++ {
						row := w[r*rb : (r+1)*rb]
						want := k.ref(cols, row, act)
						mag := blockMagnitude(typ, k, row, act, cols)
						if d := math.Abs(float64(y[r]) - float64(want)); d > tol*mag || math.IsNaN(float64(y[r])) {
							t.Fatalf("cols %d batch %d row %d: MatVec %g, reference %g (magnitude %g)", cols, b, r, y[r], want, mag)
						}
						if got := ym[b*(rows+2)+r]; math.Abs(float64(got)-float64(want)) > tol*mag {
							t.Fatalf("cols %d batch %d row %d: MatMul %g, reference %g", cols, b, r, got, want)
						}
						if got := DotRow(typ, row, cols, act); math.Abs(float64(got)-float64(want)) > tol*mag {
							t.Fatalf("cols %d row %d: DotRow %g, reference %g", cols, r, got, want)
						}
					}
				}
			}
		})
	}
}

func TestLoadSum(t *testing.T) {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, 127, 128, 256, 999, 1000} {
		if got, want := loadSum(b[:n]), loadSumGo(b[:n]); got != want {
			// Both sum the same uint64 words plus tail bytes, in the same
			// grouping of full 128-byte chunks.
			t.Errorf("loadSum(%d) = %d, want %d", n, got, want)
		}
	}
}

func sortedTypes() []quant.Type {
	var ts []quant.Type
	for t := range table {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// TestNoAllocations: the engine calls these in its decode loop, which must
// not allocate.
func TestNoAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, typ := range sortedTypes() {
		k := table[typ]
		const rows, cols, batch = 8, 2048, 4
		w := make([]byte, rows*RowBytes(typ, cols))
		if err := synthetic.FillBlocks(typ, w, rng, 0.05); err != nil {
			t.Fatal(err)
		}
		acts := make([]byte, batch*ActivationSize(k.act, cols))
		x := make([]float32, cols)
		y := make([]float32, rows*batch)
		if n := testing.AllocsPerRun(5, func() {
			QuantizeActivations(k.act, x, acts)
			MatVec(typ, w, rows, cols, acts, y)
			MatMul(typ, w, rows, cols, acts, batch, y)
		}); n != 0 {
			t.Errorf("%v: %v allocations per call", typ, n)
		}
	}
}

// TestEdgeShapes: empty rows or columns must return (the assembly loops
// run at least once), and bad shapes must panic with a message, not
// corrupt memory.
func TestEdgeShapes(t *testing.T) {
	for _, typ := range sortedTypes() {
		y := []float32{7, 7}
		MatVec(typ, nil, 2, 0, nil, y)
		if y[0] != 0 || y[1] != 0 {
			t.Errorf("%v: zero-length rows gave %v", typ, y)
		}
		MatVec(typ, nil, 0, 256, make([]byte, ActivationSize(ActivationType(typ), 256)), nil)
		MatMul(typ, nil, 2, 0, nil, 1, y)
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%v: short weights accepted", typ)
				}
			}()
			MatVec(typ, make([]byte, 10), 4, 256, make([]byte, ActivationSize(ActivationType(typ), 256)), make([]float32, 4))
		}()
	}
}
