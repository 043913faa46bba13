package quant

import "math"

// f16Table holds the float32 value of every IEEE half-precision bit pattern;
// a table lookup is both exact and faster than decoding on the fly.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32Slow(uint16(i))
	}
	return &t
}()

func f16ToF32Slow(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0: // zero or subnormal: mant * 2^-24 is exact in float32
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
}

// F16ToF32 converts an IEEE 754 half-precision value (as its bits) to float32.
// Every half value is exactly representable, so the conversion is exact.
func F16ToF32(h uint16) float32 { return f16Table[h] }

// F32ToF16 converts f to half precision with round-to-nearest-even, the way
// ggml's portable ggml_compute_fp32_to_fp16 does: overflow becomes ±Inf,
// values below the smallest subnormal round to ±0, and every NaN becomes the
// quiet NaN 0x7E00 with f's sign.
func F32ToF16(f float32) uint16 {
	// The float arithmetic below performs the rounding: scaling by 2^112 then
	// 2^-110 moves the value so that adding a power of two aligned with the
	// half-precision mantissa rounds it (to nearest even) in float32 hardware.
	const scaleToInf = float32(0x1.0p+112)
	const scaleToZero = float32(0x1.0p-110)
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)

	w := math.Float32bits(f)
	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xff000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = float32(math.Float32frombits((bias>>1)+0x07800000) + base)
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007c00
	mantBits := bits & 0x00000fff
	nonsign := expBits + mantBits
	if shl1w > 0xff000000 {
		nonsign = 0x7e00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// BF16ToF32 converts a bfloat16 value (as its bits) to float32 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts f to bfloat16 with round-to-nearest-even, as ggml's
// ggml_compute_fp32_to_bf16 does: NaNs are made quiet (bit 6 of the result
// set) and keep their sign and upper payload; subnormals are rounded, not
// flushed.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + ((u >> 16) & 1))) >> 16)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
