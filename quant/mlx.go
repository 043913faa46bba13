package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MLX affine quantization (mlx.core.quantize, mode "affine"): each group of
// groupSize consecutive values in a row gets a scale and a bias, values
// become bits-wide integers q with w ≈ q·scale + bias. Packed integers form
// a little-endian bit stream, element k of a row at bit k·bits, stored as
// uint32 words (so for 2, 4 and 8 bits element k sits in word k/(32/bits)
// at bit (k mod (32/bits))·bits, and 3-, 5- and 6-bit values cross word
// boundaries exactly as MLX's packing in 3-byte / 5-byte units does).

// MLXBitsSupported reports whether MLX affine quantization supports bits.
func MLXBitsSupported(bits int) bool {
	switch bits {
	case 2, 3, 4, 5, 6, 8:
		return true
	}
	return false
}

func checkMLX(n, cols, groupSize, bits int, dtype Type) error {
	if !MLXBitsSupported(bits) {
		return fmt.Errorf("mlx affine: %d bits is not supported (2, 3, 4, 5, 6, 8)", bits)
	}
	switch groupSize {
	case 32, 64, 128:
	default:
		return fmt.Errorf("mlx affine: group size %d is not supported (32, 64, 128)", groupSize)
	}
	if dtype != F16 && dtype != BF16 && dtype != F32 {
		return fmt.Errorf("mlx affine: scales and biases must be F16, BF16 or F32, not %s", dtype)
	}
	if cols <= 0 || cols%groupSize != 0 || n%cols != 0 {
		return fmt.Errorf("mlx affine: row length %d is not a multiple of the group size %d", cols, groupSize)
	}
	return nil
}

// MLXPackedRowBytes is the size of one packed row of cols values.
func MLXPackedRowBytes(cols, bits int) int { return cols * bits / 8 }

func putScalar(b []byte, i int, v float32, dtype Type) {
	switch dtype {
	case F16:
		binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(v))
	case BF16:
		binary.LittleEndian.PutUint16(b[2*i:], F32ToBF16(v))
	default:
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
}

func getScalar(b []byte, i int, dtype Type) float32 {
	switch dtype {
	case F16:
		return F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	case BF16:
		return BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	default:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// rint rounds half to even, like C's rint in the default rounding mode.
func rint(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

// MLXQuantize quantizes w (rows of cols values) like MLX's affine_quantize
// and returns the packed weights (little-endian uint32 words, as bytes),
// and the scales and biases encoded in dtype (F16, BF16 or F32; MLX uses
// the weights' dtype). Per group, in float32:
//
//	scale = max((max-min)/(2^bits-1), 1e-7), negated unless |min| > |max|
//	edge  = min if |min| > |max| else max
//	q0    = rint(edge/scale); if q0 != 0 { scale = edge/q0; bias = edge } else bias = 0
//	q     = clamp(rint((w-bias)/scale), 0, 2^bits-1)
//
// Choosing the bias at the group's edge value and the scale so that edge
// is an exact multiple keeps 0 exactly representable.
func MLXQuantize(w []float32, cols, groupSize, bits int, dtype Type) (packed, scales, biases []byte, err error) {
	if err := checkMLX(len(w), cols, groupSize, bits, dtype); err != nil {
		return nil, nil, nil, err
	}
	nGroups := len(w) / groupSize
	packed = make([]byte, len(w)*bits/8)
	scales = make([]byte, nGroups*dtype.BytesPerBlock())
	biases = make([]byte, nGroups*dtype.BytesPerBlock())
	nBins := float32(int(1)<<bits - 1)
	const eps = float32(1e-7)
	for g := 0; g < nGroups; g++ {
		x := w[g*groupSize : (g+1)*groupSize]
		wMin, wMax := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range x {
			wMax = max(wMax, v)
			wMin = min(wMin, v)
		}
		mask := abs32(wMin) > abs32(wMax)
		scale := max((wMax-wMin)/nBins, eps)
		if !mask {
			scale = -scale
		}
		edge := wMax
		if mask {
			edge = wMin
		}
		q0 := rint(edge / scale)
		var bias float32
		if q0 != 0 {
			scale = edge / q0
			bias = edge
		}
		// The group's bits start at a byte boundary: groupSize*bits is a
		// multiple of 32 for every supported combination.
		out := packed[g*groupSize*bits/8 : (g+1)*groupSize*bits/8]
		var acc uint64
		nacc, o := 0, 0
		for _, v := range x {
			q := rint((v - bias) / scale)
			q = min(max(q, 0), nBins)
			acc |= uint64(q) << nacc
			nacc += bits
			for nacc >= 8 {
				out[o] = byte(acc)
				o++
				acc >>= 8
				nacc -= 8
			}
		}
		putScalar(scales, g, scale, dtype)
		putScalar(biases, g, bias, dtype)
	}
	return packed, scales, biases, nil
}

// MLXDequantize expands MLX affine-quantized rows into dst (float32,
// w = q·scale + bias with scale and bias read from dtype and the product
// and sum taken in float32).
func MLXDequantize(packed, scales, biases []byte, dtype Type, cols, groupSize, bits int, dst []float32) error {
	if err := checkMLX(len(dst), cols, groupSize, bits, dtype); err != nil {
		return err
	}
	nGroups := len(dst) / groupSize
	if len(packed) != len(dst)*bits/8 {
		return fmt.Errorf("mlx affine: %d packed bytes for %d values at %d bits (want %d)", len(packed), len(dst), bits, len(dst)*bits/8)
	}
	if len(scales) != nGroups*dtype.BytesPerBlock() || len(biases) != len(scales) {
		return fmt.Errorf("mlx affine: %d groups need %d scale and bias bytes, have %d and %d", nGroups, nGroups*dtype.BytesPerBlock(), len(scales), len(biases))
	}
	mask := uint64(1)<<bits - 1
	for g := 0; g < nGroups; g++ {
		s, b := getScalar(scales, g, dtype), getScalar(biases, g, dtype)
		in := packed[g*groupSize*bits/8:]
		y := dst[g*groupSize : (g+1)*groupSize]
		var acc uint64
		nacc, i := 0, 0
		for j := range y {
			for nacc < bits {
				acc |= uint64(in[i]) << nacc
				i++
				nacc += 8
			}
			q := acc & mask
			acc >>= bits
			nacc -= bits
			y[j] = float32(s*float32(q)) + b
		}
	}
	return nil
}

// MLX's "mxfp4" mode (mx.quantize(w, group_size=32, bits=4, mode="mxfp4")):
// groups of 32 values share one uint8 E8M0 scale 2^(e-127); each value is
// an FP4 E2M1 code (sign bit 3, magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6),
// packed two per byte, low nibble first (8 per little-endian uint32 word);
// there are no biases. MLX reads e = 0 as 2^-127.

var fp4LUT = [16]float32{0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6}

// e8m0Scale is MLX's dequantize_scale for group size 32.
func e8m0Scale(e uint8) float32 {
	if e == 0 {
		return BF16ToF32(0x40)
	}
	return BF16ToF32(uint16(e) << 7)
}

// toE8M0 is MLX's to_fp8_e8m0: the power of two nearest in log2 (ties
// away from zero), clamped to 2^±127.
func toE8M0(x float32) uint8 {
	if math.IsInf(float64(x), 0) || x != x {
		return 0xff
	}
	if x <= 0 {
		return 0 // MLX: negative -> 0; log2(0) = -inf clamps to -127 -> 0
	}
	n := int(math.Round(math.Log2(float64(x))))
	n = max(-127, min(127, n))
	return uint8(n + 127)
}

// toFP4E2M1 is MLX's to_fp4_e2m1 (round to nearest, ties to the even
// mantissa, saturating at 6; NaN -> 0x7).
func toFP4E2M1(x float32) uint8 {
	if x != x {
		return 0x7
	}
	var sign uint8
	if math.Signbit(float64(x)) {
		sign = 0x8
	}
	x = abs32(x)
	var b uint8
	switch {
	case x > 5:
		b = 7
	case x >= 3.5:
		b = 6
	case x > 2.5:
		b = 5
	case x >= 1.75:
		b = 4
	case x > 1.25:
		b = 3
	case x >= 0.75:
		b = 2
	case x > 0.25:
		b = 1
	}
	return b | sign
}

// MLXQuantizeMXFP4 quantizes w (rows of cols values, cols a multiple of
// 32) to MLX's mxfp4 layout as MLX's CPU reference does: scale =
// E8M0(max|w|/6), code = E2M1(w/scale).
func MLXQuantizeMXFP4(w []float32, cols int) (packed, scales []byte, err error) {
	if cols <= 0 || cols%32 != 0 || len(w)%cols != 0 {
		return nil, nil, fmt.Errorf("mlx mxfp4: row length %d is not a multiple of 32", cols)
	}
	packed = make([]byte, len(w)/2)
	scales = make([]byte, len(w)/32)
	for g := range scales {
		x := w[g*32 : (g+1)*32]
		var amax float32
		for _, v := range x {
			amax = max(amax, abs32(v))
		}
		e := toE8M0(amax / 6)
		scales[g] = e
		s := e8m0Scale(e)
		for j := 0; j < 32; j += 2 {
			var c0, c1 uint8
			if s != 0 {
				c0, c1 = toFP4E2M1(x[j]/s), toFP4E2M1(x[j+1]/s)
			}
			packed[g*16+j/2] = c0 | c1<<4
		}
	}
	return packed, scales, nil
}

// MLXDequantizeMXFP4 expands MLX mxfp4 data: w = FP4(code) · 2^(e-127).
func MLXDequantizeMXFP4(packed, scales []byte, dst []float32) error {
	if len(dst)%32 != 0 || len(packed) != len(dst)/2 || len(scales) != len(dst)/32 {
		return fmt.Errorf("mlx mxfp4: %d values need %d packed bytes and %d scales, have %d and %d",
			len(dst), len(dst)/2, len(dst)/32, len(packed), len(scales))
	}
	for g := range scales {
		s := e8m0Scale(scales[g])
		for j := 0; j < 16; j++ {
			b := packed[g*16+j]
			dst[g*32+2*j] = s * fp4LUT[b&0xf]
			dst[g*32+2*j+1] = s * fp4LUT[b>>4]
		}
	}
	return nil
}
