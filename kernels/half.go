package kernels

import "github.com/ferryhq/ferry/quant"

// The conversions themselves live in quant (one implementation, bit-exact
// with ggml); kernels keeps its own table only because the assembly loads
// F16 scales through its address.

// f16tab maps every IEEE half bit pattern to its float32 value; 256 KiB, built
// once, it makes the portable dot products' scale loads a single lookup.
var f16tab = func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = quant.F16ToF32(uint16(i))
	}
	return t
}()

// F16ToF32 converts an IEEE 754 half-precision bit pattern to float32.
func F16ToF32(h uint16) float32 { return f16tab[h] }

// F32ToF16 converts float32 to the nearest IEEE half (round to nearest even),
// matching ggml's GGML_FP32_TO_FP16 / the F16C instruction.
func F32ToF16(f float32) uint16 { return quant.F32ToF16(f) }

// BF16ToF32 converts a bfloat16 bit pattern to float32.
func BF16ToF32(h uint16) float32 { return quant.BF16ToF32(h) }

// F32ToBF16 rounds float32 to bfloat16 (nearest even; NaN stays NaN), as ggml does.
func F32ToBF16(f float32) uint16 { return quant.F32ToBF16(f) }
