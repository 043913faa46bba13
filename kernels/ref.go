package kernels

import (
	"encoding/binary"
	"math"
)

// The portable dot products below are the reference every fast path is tested
// against. Within a block all arithmetic is integer (exact); the float
// accumulation runs block after block in order, like ggml's generic code.

func le16(b []byte) uint16   { return binary.LittleEndian.Uint16(b) }
func f16at(b []byte) float32 { return f16tab[binary.LittleEndian.Uint16(b)] }

func dotF32Ref(n int, w, a []byte) float32 {
	var s float32
	for i := 0; i < n; i++ {
		s += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) *
			math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:]))
	}
	return s
}

func dotF16Ref(n int, w, a []byte) float32 {
	var s float32
	for i := 0; i < n; i++ {
		s += f16tab[le16(w[2*i:])] * math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:]))
	}
	return s
}

func dotBF16Ref(n int, w, a []byte) float32 {
	var s float32
	for i := 0; i < n; i++ {
		s += BF16ToF32(le16(w[2*i:])) * math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:]))
	}
	return s
}

func dotQ4_0Ref(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := (*[18]byte)(w[b*18:])
		y := (*[34]byte)(a[b*34:])
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += (int32(x[2+j]&15) - 8) * int32(int8(y[2+j]))
			sumi += (int32(x[2+j]>>4) - 8) * int32(int8(y[18+j]))
		}
		s += f16at(x[:]) * f16at(y[:]) * float32(sumi)
	}
	return s
}

func dotQ4_1Ref(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := w[b*20 : b*20+20]
		y := a[b*36 : b*36+36]
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += int32(x[4+j]&15) * int32(int8(y[4+j]))
			sumi += int32(x[4+j]>>4) * int32(int8(y[20+j]))
		}
		s += f16at(x)*f16at(y)*float32(sumi) + f16at(x[2:])*f16at(y[2:])
	}
	return s
}

func dotQ5_0Ref(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := w[b*22 : b*22+22]
		y := a[b*34 : b*34+34]
		qh := binary.LittleEndian.Uint32(x[2:])
		var sumi int32
		for j := 0; j < 16; j++ {
			h0 := byte((qh>>uint(j))<<4) & 0x10
			h1 := byte(qh>>uint(j+12)) & 0x10
			sumi += (int32(x[6+j]&15|h0) - 16) * int32(int8(y[2+j]))
			sumi += (int32(x[6+j]>>4|h1) - 16) * int32(int8(y[18+j]))
		}
		s += f16at(x) * f16at(y) * float32(sumi)
	}
	return s
}

func dotQ5_1Ref(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := w[b*24 : b*24+24]
		y := a[b*36 : b*36+36]
		qh := binary.LittleEndian.Uint32(x[4:])
		var sumi int32
		for j := 0; j < 16; j++ {
			h0 := byte((qh>>uint(j))<<4) & 0x10
			h1 := byte(qh>>uint(j+12)) & 0x10
			sumi += int32(x[8+j]&15|h0) * int32(int8(y[4+j]))
			sumi += int32(x[8+j]>>4|h1) * int32(int8(y[20+j]))
		}
		s += f16at(x)*f16at(y)*float32(sumi) + f16at(x[2:])*f16at(y[2:])
	}
	return s
}

func dotQ8_0Ref(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := (*[34]byte)(w[b*34:])
		y := (*[34]byte)(a[b*34:])
		var sumi int32
		for j := 2; j < 34; j++ {
			sumi += int32(int8(x[j])) * int32(int8(y[j]))
		}
		s += f16at(x[:]) * f16at(y[:]) * float32(sumi)
	}
	return s
}

// iq4nlValues is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func dotIQ4NLRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/32; b++ {
		x := w[b*18 : b*18+18]
		y := a[b*34 : b*34+34]
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += int32(iq4nlValues[x[2+j]&15]) * int32(int8(y[2+j]))
			sumi += int32(iq4nlValues[x[2+j]>>4]) * int32(int8(y[18+j]))
		}
		s += f16at(x) * f16at(y) * float32(sumi)
	}
	return s
}

// q8K views one Q8_K activation block.
func q8Kd(y []byte) float32         { return math.Float32frombits(binary.LittleEndian.Uint32(y)) }
func q8Kq(y []byte, i int) int32    { return int32(int8(y[4+i])) }
func q8Kbsum(y []byte, i int) int32 { return int32(int16(le16(y[260+2*i:]))) }

// scaleMinK4 unpacks the 6-bit scale and min j of a Q4_K/Q5_K block.
func scaleMinK4(j int, q []byte) (sc, m int32) {
	if j < 4 {
		return int32(q[j] & 63), int32(q[j+4] & 63)
	}
	return int32(q[j+4]&0xF | (q[j-4]>>6)<<4), int32(q[j+4]>>4 | (q[j]>>6)<<4)
}

func dotQ4KRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := (*[144]byte)(w[b*144:])
		y := (*[q8KBytes]byte)(a[b*q8KBytes:])
		var sumi, summ int32
		for j := 0; j < 4; j++ {
			q := (*[32]byte)(x[16+32*j:])
			lo := (*[32]byte)(y[4+64*j:])
			hi := (*[32]byte)(y[36+64*j:])
			var s0, s1 int32
			for l := 0; l < 32; l++ {
				v := q[l]
				s0 += int32(v&15) * int32(int8(lo[l]))
				s1 += int32(v>>4) * int32(int8(hi[l]))
			}
			sc0, m0 := scaleMinK4(2*j, x[4:16])
			sc1, m1 := scaleMinK4(2*j+1, x[4:16])
			sumi += sc0*s0 + sc1*s1
			summ += m0*(q8Kbsum(y[:], 4*j)+q8Kbsum(y[:], 4*j+1)) + m1*(q8Kbsum(y[:], 4*j+2)+q8Kbsum(y[:], 4*j+3))
		}
		d := q8Kd(y[:])
		s += f16at(x[:])*d*float32(sumi) - f16at(x[2:])*d*float32(summ)
	}
	return s
}

func dotQ5KRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := w[b*176 : b*176+176]
		y := a[b*q8KBytes : b*q8KBytes+q8KBytes]
		sc := x[4:16]
		qh := x[16:48]
		qs := x[48:]
		var sumi, summ int32
		for sub := 0; sub < 8; sub++ {
			scale, min := scaleMinK4(sub, sc)
			summ += min * (q8Kbsum(y, 2*sub) + q8Kbsum(y, 2*sub+1))
			q := qs[32*(sub/2):]
			var si int32
			for l := 0; l < 32; l++ {
				v := int32(q[l] & 15)
				if sub&1 == 1 {
					v = int32(q[l] >> 4)
				}
				v |= int32((qh[l]>>uint(sub))&1) << 4
				si += v * q8Kq(y, 32*sub+l)
			}
			sumi += scale * si
		}
		d := q8Kd(y)
		s += f16at(x)*d*float32(sumi) - f16at(x[2:])*d*float32(summ)
	}
	return s
}

func dotQ6KRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := (*[210]byte)(w[b*210:])
		y := (*[q8KBytes]byte)(a[b*q8KBytes:])
		var sumi int32
		for h := 0; h < 2; h++ {
			ql := (*[64]byte)(x[64*h:])
			qh := (*[32]byte)(x[128+32*h:])
			sc := (*[8]byte)(x[192+8*h:])
			q8 := (*[128]byte)(y[4+128*h:])
			for half := 0; half < 2; half++ {
				var s0, s1, s2, s3 int32
				for l := 16 * half; l < 16*half+16; l++ {
					hb := qh[l]
					lo, hi := ql[l], ql[l+32]
					s0 += (int32(lo&15|(hb&3)<<4) - 32) * int32(int8(q8[l]))
					s1 += (int32(hi&15|(hb>>2&3)<<4) - 32) * int32(int8(q8[l+32]))
					s2 += (int32(lo>>4|(hb>>4&3)<<4) - 32) * int32(int8(q8[l+64]))
					s3 += (int32(hi>>4|(hb>>6)<<4) - 32) * int32(int8(q8[l+96]))
				}
				sumi += int32(int8(sc[half]))*s0 + int32(int8(sc[half+2]))*s1 +
					int32(int8(sc[half+4]))*s2 + int32(int8(sc[half+6]))*s3
			}
		}
		s += f16at(x[208:]) * q8Kd(y[:]) * float32(sumi)
	}
	return s
}

func dotQ2KRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := (*[84]byte)(w[b*84:])
		y := (*[q8KBytes]byte)(a[b*q8KBytes:])
		var summ, sumi int32
		for j := 0; j < 16; j++ {
			summ += int32(x[j]>>4) * q8Kbsum(y[:], j)
		}
		for h := 0; h < 2; h++ {
			q := (*[32]byte)(x[16+32*h:])
			for k := 0; k < 4; k++ { // shift 2k
				y8 := (*[32]byte)(y[4+128*h+32*k:])
				shift := uint(2 * k)
				var s0, s1 int32
				for l := 0; l < 16; l++ {
					s0 += int32(q[l]>>shift&3) * int32(int8(y8[l]))
					s1 += int32(q[l+16]>>shift&3) * int32(int8(y8[l+16]))
				}
				is := 8*h + 2*k
				sumi += int32(x[is]&15)*s0 + int32(x[is+1]&15)*s1
			}
		}
		d := q8Kd(y[:])
		s += f16at(x[80:])*d*float32(sumi) - f16at(x[82:])*d*float32(summ)
	}
	return s
}

// q3KScales unpacks the sixteen signed 6-bit scales of a Q3_K block.
func q3KScales(p []byte) (out [16]int32) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	a0 := binary.LittleEndian.Uint32(p)
	a1 := binary.LittleEndian.Uint32(p[4:])
	tmp := binary.LittleEndian.Uint32(p[8:])
	aux := [4]uint32{
		a0&kmask2 | ((tmp>>0)&kmask1)<<4,
		a1&kmask2 | ((tmp>>2)&kmask1)<<4,
		(a0>>4)&kmask2 | ((tmp>>4)&kmask1)<<4,
		(a1>>4)&kmask2 | ((tmp>>6)&kmask1)<<4,
	}
	for i := range out {
		out[i] = int32(int8(byte(aux[i/4]>>(8*uint(i%4))))) - 32
	}
	return out
}

func dotQ3KRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := (*[110]byte)(w[b*110:])
		y := (*[q8KBytes]byte)(a[b*q8KBytes:])
		hm := (*[32]byte)(x[:32])
		scales := q3KScales(x[96:108])
		var sumi int32
		for h := 0; h < 2; h++ {
			q := (*[32]byte)(x[32+32*h:])
			for k := 0; k < 4; k++ { // shift 2k, high-bit mask bit 4h+k
				y8 := (*[32]byte)(y[4+128*h+32*k:])
				shift, bit := uint(2*k), uint(4*h+k)
				var s0, s1 int32
				for l := 0; l < 16; l++ {
					// quant = low two bits - 4 unless the hmask bit is set
					v0 := int32(q[l]>>shift&3) - int32(^hm[l]>>bit&1)<<2
					v1 := int32(q[l+16]>>shift&3) - int32(^hm[l+16]>>bit&1)<<2
					s0 += v0 * int32(int8(y8[l]))
					s1 += v1 * int32(int8(y8[l+16]))
				}
				is := 8*h + 2*k
				sumi += scales[is]*s0 + scales[is+1]*s1
			}
		}
		s += f16at(x[108:]) * q8Kd(y[:]) * float32(sumi)
	}
	return s
}

func dotIQ4XSRef(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b < n/256; b++ {
		x := w[b*136 : b*136+136]
		y := a[b*q8KBytes : b*q8KBytes+q8KBytes]
		sh := le16(x[2:])
		sl := x[4:8]
		qs := x[8:]
		var sumi int32
		for ib := 0; ib < 8; ib++ {
			ls := int32((sl[ib/2]>>(4*uint(ib%2)))&15) | int32((sh>>(2*uint(ib)))&3)<<4
			q := qs[16*ib:]
			var si int32
			for j := 0; j < 16; j++ {
				si += int32(iq4nlValues[q[j]&15]) * q8Kq(y, 32*ib+j)
				si += int32(iq4nlValues[q[j]>>4]) * q8Kq(y, 32*ib+16+j)
			}
			sumi += (ls - 32) * si
		}
		s += f16at(x) * q8Kd(y) * float32(sumi)
	}
	return s
}
