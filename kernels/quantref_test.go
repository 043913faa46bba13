package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// TestAgainstQuantPackage ties the kernels to quant's portable reference
// (ggml's generic C code ported): the activation quantizers must produce
// the same bytes as quant.Quantize, and every weight type's dot product —
// reference and fast path — must equal quant.VecDot (within 1e-5 of Σ|w·a|).
func TestAgainstQuantPackage(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const cols = 1024
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 2
	}
	for _, vt := range []quant.Type{quant.Q8_0, quant.Q8_1, quant.Q8_K} {
		mine := make([]byte, ActivationSize(vt, cols))
		theirs := make([]byte, len(mine))
		QuantizeActivations(vt, x, mine)
		if err := quant.Quantize(vt, x, theirs); err != nil {
			t.Fatalf("%v: %v", vt, err)
		}
		if !bytes.Equal(mine, theirs) {
			t.Errorf("%v: activation bytes differ from quant.Quantize", vt)
		}
	}
	for _, typ := range sortedTypes() {
		k := table[typ]
		const tol = 1e-5
		if k.act == quant.F32 {
			continue // F32/F16/BF16 take F32 activations here, ggml's own type in quant
		}
		if quant.VecDotType(typ) != k.act {
			t.Errorf("%v: activation type %v, quant says %v", typ, k.act, quant.VecDotType(typ))
			continue
		}
		const rows = 5
		rb := RowBytes(typ, cols)
		w := make([]byte, rows*rb)
		if err := synthetic.FillBlocks(typ, w, rng, 0.1); err != nil {
			t.Fatal(err)
		}
		act := make([]byte, ActivationSize(k.act, cols))
		QuantizeActivations(k.act, x, act)
		y := make([]float32, rows)
		MatVec(typ, w, rows, cols, act, y)
		for r := 0; r < rows; r++ {
			row := w[r*rb : (r+1)*rb]
			want := quant.VecDot(typ, cols, row, act)
			mag := blockMagnitude(typ, k, row, act, cols)
			if got := k.ref(cols, row, act); math.Abs(float64(got-want)) > tol*mag {
				t.Errorf("%v row %d: reference %g, quant.VecDot %g", typ, r, got, want)
			}
			if math.Abs(float64(y[r]-want)) > tol*mag {
				t.Errorf("%v row %d: MatVec (%s) %g, quant.VecDot %g", typ, r, fastPaths[typ], y[r], want)
			}
		}
	}
}
