//go:build !purego

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/ferryhq/ferry/quant"
)

//go:noescape
func q8_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q6_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_1MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_1MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func iq4_NLMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q3_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q2_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func iq4_XSMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func f32MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)

//go:noescape
func f16MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)

//go:noescape
func bf16MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)

// floatMatVecNEON runs a float-weight NEON loop over the first multiple of
// 16 elements of every row and adds the tail with the reference.
func floatMatVecNEON(f func(w *byte, rowBytes, rows, n int, x *byte, y *float32), ref dotFunc, esz int) matVecFunc {
	return func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
		n16 := cols &^ 15
		if n16 > 0 {
			f(unsafe.SliceData(w), rowBytes, rows, n16, unsafe.SliceData(act), unsafe.SliceData(y))
		} else {
			clear(y[:rows])
		}
		if n16 < cols {
			for r := 0; r < rows; r++ {
				y[r] += ref(cols-n16, w[r*rowBytes+n16*esz:(r+1)*rowBytes], act[4*n16:])
			}
		}
	}
}

// fastPaths lists, for the tests, which kernels were replaced.
var fastPaths = map[quant.Type]string{}

// installFast swaps in the NEON kernels when the CPU has the dot-product
// extension (every Apple M chip, Graviton 2+, Cortex-A76+); older cores keep
// the portable code.
func installFast() {
	// Float weights need only base NEON (every arm64 CPU) and F16 conversion
	// (ARMv8.0 FCVTL).
	setFloat := func(t quant.Type, mv matVecFunc) {
		k := table[t]
		k.matvec = mv
		k.dot = func(n int, w, a []byte) float32 {
			var y [1]float32
			mv(w, len(w), 1, n, a, y[:])
			return y[0]
		}
		fastPaths[t] = "neon"
	}
	setFloat(quant.F32, floatMatVecNEON(f32MatVecNEON, dotF32Ref, 4))
	setFloat(quant.F16, floatMatVecNEON(f16MatVecNEON, dotF16Ref, 2))
	setFloat(quant.BF16, floatMatVecNEON(bf16MatVecNEON, dotBF16Ref, 2))
	if !cpu.ARM64.HasASIMDDP {
		return
	}
	set := func(t quant.Type, f func(w *byte, rowBytes, rows, nb int, act *byte, y *float32), bs int) {
		k := table[t]
		mv := func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
			f(unsafe.SliceData(w), rowBytes, rows, cols/bs, unsafe.SliceData(act), unsafe.SliceData(y))
		}
		k.matvec = mv
		k.dot = func(n int, w, a []byte) float32 {
			var y [1]float32
			mv(w, len(w), 1, n, a, y[:])
			return y[0]
		}
		fastPaths[t] = "neon-dotprod"
	}
	set(quant.Q8_0, q8_0MatVecNEON, 32)
	set(quant.Q4_0, q4_0MatVecNEON, 32)
	set(quant.Q4_K, q4_KMatVecNEON, 256)
	set(quant.Q6_K, q6_KMatVecNEON, 256)
	set(quant.Q5_K, q5_KMatVecNEON, 256)
	set(quant.Q5_0, q5_0MatVecNEON, 32)
	set(quant.Q4_1, q4_1MatVecNEON, 32)
	set(quant.Q5_1, q5_1MatVecNEON, 32)
	set(quant.IQ4_NL, iq4_NLMatVecNEON, 32)
	set(quant.Q3_K, q3_KMatVecNEON, 256)
	set(quant.IQ4_XS, iq4_XSMatVecNEON, 256)
	set(quant.Q2_K, q2_KMatVecNEON, 256)
}

func loadSum(b []byte) uint64 { return loadSumGo(b) }
