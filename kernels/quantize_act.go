package kernels

import (
	"encoding/binary"
	"math"
)

// Block sizes of the activation formats.
const (
	q8_0Bytes = 34  // f16 d + 32 int8
	q8_1Bytes = 36  // f16 d + f16 s + 32 int8
	q8KBytes  = 292 // f32 d + 256 int8 + 16 int16 bsums
)

// roundHalfAway is C's roundf (ties away from zero), used by ggml's Q8_0/Q8_1
// reference quantizers.
func roundHalfAway(x float32) int32 { return int32(math.Round(float64(x))) }

// nearestInt is ggml's nearest_int (round half to even via the 1.5*2^23
// trick) used by the K-quant activation quantizer.
func nearestInt(fval float32) int32 {
	val := fval + 12582912.0
	i := int32(math.Float32bits(val))
	return (i & 0x007fffff) - 0x00400000
}

func quantizeQ8_0Ref(x []float32, dst []byte) {
	for b := 0; b*32 < len(x); b++ {
		xs := x[b*32 : b*32+32]
		out := dst[b*q8_0Bytes : b*q8_0Bytes+q8_0Bytes]
		var amax float32
		for _, v := range xs {
			if a := abs32(v); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(out, F32ToF16(d))
		for j, v := range xs {
			out[2+j] = byte(int8(roundHalfAway(v * id)))
		}
	}
}

func quantizeQ8_1Ref(x []float32, dst []byte) {
	for b := 0; b*32 < len(x); b++ {
		xs := x[b*32 : b*32+32]
		out := dst[b*q8_1Bytes : b*q8_1Bytes+q8_1Bytes]
		var amax float32
		for _, v := range xs {
			if a := abs32(v); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sum int32
		for j, v := range xs {
			q := roundHalfAway(v * id)
			sum += q
			out[4+j] = byte(int8(q))
		}
		binary.LittleEndian.PutUint16(out, F32ToF16(d))
		binary.LittleEndian.PutUint16(out[2:], F32ToF16(float32(sum)*d))
	}
}

func quantizeQ8KRef(x []float32, dst []byte) {
	for b := 0; b*256 < len(x); b++ {
		xs := x[b*256 : b*256+256]
		out := dst[b*q8KBytes : b*q8KBytes+q8KBytes]
		var amax, max float32
		for _, v := range xs {
			if a := abs32(v); a > amax {
				amax, max = a, v
			}
		}
		if amax == 0 {
			clear(out)
			continue
		}
		iscale := -127 / max
		for j, v := range xs {
			q := nearestInt(iscale * v)
			if q > 127 {
				q = 127
			}
			out[4+j] = byte(int8(q))
		}
		for j := 0; j < 16; j++ {
			var s int16
			for _, q := range out[4+16*j : 4+16*j+16] {
				s += int16(int8(q))
			}
			binary.LittleEndian.PutUint16(out[260+2*j:], uint16(s))
		}
		binary.LittleEndian.PutUint32(out, math.Float32bits(1/iscale))
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
