package quant

import (
	"encoding/binary"
	"math"
)

// The K-quant dot products follow ggml's *_generic C code step by step,
// including its eight float partial sums, so results match it exactly.

func q8KD(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

func q8KBsum(b []byte, j int) int {
	return int(int16(binary.LittleEndian.Uint16(b[260+2*j:])))
}

func dotQ2_K(n int, w, a []byte) float32 {
	var sumf float32
	for i := 0; i < n/256; i++ {
		x, y := w[i*84:i*84+84], a[i*292:i*292+292]
		q2 := x[16:80]
		q8 := y[4:260]
		sc := x[:16]
		summs := 0
		for j := 0; j < 16; j++ {
			summs += q8KBsum(y, j) * int(sc[j]>>4)
		}
		yd := q8KD(y)
		dall := float32(yd * getF16(x[80:]))
		dmin := float32(yd * getF16(x[82:]))
		isum, is := 0, 0
		for k := 0; k < 2; k++ {
			shift := uint(0)
			for j := 0; j < 4; j++ {
				d := int(sc[is] & 0xf)
				is++
				isuml := 0
				for l := 0; l < 16; l++ {
					isuml += int(int8(q8[l])) * int((q2[l]>>shift)&3)
				}
				isum += d * isuml
				d = int(sc[is] & 0xf)
				is++
				isuml = 0
				for l := 16; l < 32; l++ {
					isuml += int(int8(q8[l])) * int((q2[l]>>shift)&3)
				}
				isum += d * isuml
				shift += 2
				q8 = q8[32:]
			}
			q2 = q2[32:]
		}
		sumf += float32(dall*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// kDotAccum multiplies the 256 int8 weights in aux with the Q8_K values q8
// using one scale per 16 (scale16) or 32 (scale32) values, accumulating in
// eight int32 lanes as ggml's generic code does.
func kDotAccum(aux *[256]int8, q8 []byte, scale func(j int) int32, groups, per int) [8]int32 {
	var aux32 [8]int32
	o := 0
	for j := 0; j < groups; j++ {
		s := scale(j)
		for k := 0; k < per; k++ {
			for l := 0; l < 8; l++ {
				aux16 := int16(int16(int8(q8[o+l])) * int16(aux[o+l]))
				aux32[l] += s * int32(aux16)
			}
			o += 8
		}
	}
	return aux32
}

func dotQ3_K(n int, w, a []byte) float32 {
	var sums [8]float32
	var aux8 [256]int8
	for i := 0; i < n/256; i++ {
		x, y := w[i*110:i*110+110], a[i*292:i*292+292]
		q3 := x[32:96]
		hm := x[:32]
		o := 0
		m := uint8(1)
		for j := 0; j < 256; j += 128 {
			for s := uint(0); s < 8; s += 2 {
				for l := 0; l < 32; l++ {
					v := int8((q3[l] >> s) & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					aux8[o+l] = v
				}
				o += 32
				m <<= 1
			}
			q3 = q3[32:]
		}
		scales := q3Scales16(x[96:108])
		aux32 := kDotAccum(&aux8, y[4:260], func(j int) int32 { return int32(scales[j]) - 32 }, 16, 2)
		d := float32(getF16(x[108:]) * q8KD(y))
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(aux32[l]))
		}
	}
	var sumf float32
	for l := 0; l < 8; l++ {
		sumf += sums[l]
	}
	return sumf
}

// unpackK4Scales returns the eight 6-bit scales and mins of a Q4_K/Q5_K block.
func unpackK4Scales(sc []byte) (scales, mins [8]uint8) {
	for j := 0; j < 8; j++ {
		scales[j], mins[j] = getScaleMinK4(j, sc)
	}
	return
}

func dotQ45K(n int, w, a []byte, five bool) float32 {
	bs := 144
	if five {
		bs = 176
	}
	var sums [8]float32
	var aux8 [256]int8
	var sumf float32
	for i := 0; i < n/256; i++ {
		x, y := w[i*bs:(i+1)*bs], a[i*292:i*292+292]
		var q4, hm []byte
		if five {
			hm, q4 = x[16:48], x[48:176]
		} else {
			q4 = x[16:144]
		}
		o := 0
		m := uint8(1)
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				v := int8(q4[l] & 0xf)
				if five && hm[l]&m != 0 {
					v += 16
				}
				aux8[o+l] = v
			}
			o += 32
			m <<= 1
			for l := 0; l < 32; l++ {
				v := int8(q4[l] >> 4)
				if five && hm[l]&m != 0 {
					v += 16
				}
				aux8[o+l] = v
			}
			o += 32
			m <<= 1
			q4 = q4[32:]
		}
		scales, mins := unpackK4Scales(x[4:16])
		sumi := 0
		for j := 0; j < 16; j++ {
			sumi += q8KBsum(y, j) * int(mins[j/2])
		}
		aux32 := kDotAccum(&aux8, y[4:260], func(j int) int32 { return int32(scales[j]) }, 8, 4)
		yd := q8KD(y)
		d := float32(getF16(x) * yd)
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(aux32[l]))
		}
		dmin := float32(getF16(x[2:]) * yd)
		sumf -= float32(dmin * float32(sumi))
	}
	for l := 0; l < 8; l++ {
		sumf += sums[l]
	}
	return sumf
}

func dotQ4_K(n int, w, a []byte) float32 { return dotQ45K(n, w, a, false) }
func dotQ5_K(n int, w, a []byte) float32 { return dotQ45K(n, w, a, true) }

func dotQ6_K(n int, w, a []byte) float32 {
	var sums [8]float32
	var aux8 [256]int8
	for i := 0; i < n/256; i++ {
		x, y := w[i*210:i*210+210], a[i*292:i*292+292]
		q4, qh := x[0:128], x[128:192]
		o := 0
		for j := 0; j < 256; j += 128 {
			for l := 0; l < 32; l++ {
				aux8[o+l] = int8(q4[l]&0xf|((qh[l]>>0)&3)<<4) - 32
				aux8[o+l+32] = int8(q4[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
				aux8[o+l+64] = int8(q4[l]>>4|((qh[l]>>4)&3)<<4) - 32
				aux8[o+l+96] = int8(q4[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
			}
			o += 128
			q4 = q4[64:]
			qh = qh[32:]
		}
		sc := x[192:208]
		aux32 := kDotAccum(&aux8, y[4:260], func(j int) int32 { return int32(int8(sc[j])) }, 16, 2)
		d := float32(getF16(x[208:]) * q8KD(y))
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(aux32[l]))
		}
	}
	var sumf float32
	for l := 0; l < 8; l++ {
		sumf += sums[l]
	}
	return sumf
}
