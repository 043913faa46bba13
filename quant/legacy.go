package quant

import (
	"encoding/binary"
	"math"
)

// Float conversions in this package wrap products in float32(...) before
// they are added to something: the Go spec lets a compiler fuse x*y+z into
// one FMA instruction (it does on arm64), which would change rounding and
// break bit-exactness with ggml's reference C code.

func getF16(b []byte) float32    { return F16ToF32(binary.LittleEndian.Uint16(b)) }
func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

// roundHalfAway is C's roundf: round to nearest, ties away from zero.
func roundHalfAway(x float32) int { return int(math.Round(float64(x))) }

func init() {
	register(F32, &traits{
		quantize: func(x []float32, y []byte) {
			for i, v := range x {
				binary.LittleEndian.PutUint32(y[4*i:], math.Float32bits(v))
			}
		},
		dequantize: func(x []byte, y []float32) {
			for i := range y {
				y[i] = math.Float32frombits(binary.LittleEndian.Uint32(x[4*i:]))
			}
		},
		vecDotType: F32,
		vecDot: func(n int, w, a []byte) float32 {
			var sum float64
			for i := 0; i < n; i++ {
				x := math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
				y := math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:]))
				sum += float64(float32(x * y))
			}
			return float32(sum)
		},
	})
	register(F16, &traits{
		quantize: func(x []float32, y []byte) {
			for i, v := range x {
				binary.LittleEndian.PutUint16(y[2*i:], F32ToF16(v))
			}
		},
		dequantize: func(x []byte, y []float32) {
			for i := range y {
				y[i] = F16ToF32(binary.LittleEndian.Uint16(x[2*i:]))
			}
		},
		vecDotType: F16,
		vecDot: func(n int, w, a []byte) float32 {
			var sum float64
			for i := 0; i < n; i++ {
				sum += float64(float32(getF16(w[2*i:]) * getF16(a[2*i:])))
			}
			return float32(sum)
		},
	})
	register(BF16, &traits{
		quantize: func(x []float32, y []byte) {
			for i, v := range x {
				binary.LittleEndian.PutUint16(y[2*i:], F32ToBF16(v))
			}
		},
		dequantize: func(x []byte, y []float32) {
			for i := range y {
				y[i] = BF16ToF32(binary.LittleEndian.Uint16(x[2*i:]))
			}
		},
		vecDotType: BF16,
		vecDot: func(n int, w, a []byte) float32 {
			var sum float64
			for i := 0; i < n; i++ {
				x := BF16ToF32(binary.LittleEndian.Uint16(w[2*i:]))
				y := BF16ToF32(binary.LittleEndian.Uint16(a[2*i:]))
				sum += float64(float32(x * y))
			}
			return float32(sum)
		},
	})
	register(Q4_0, &traits{quantize: quantizeQ4_0, quantizeW: quantizeQ4_0W, dequantize: dequantizeQ4_0, vecDotType: Q8_0, vecDot: dotQ4_0})
	register(Q4_1, &traits{quantize: quantizeQ4_1, quantizeW: quantizeQ4_1W, dequantize: dequantizeQ4_1, vecDotType: Q8_1, vecDot: dotQ4_1})
	register(Q5_0, &traits{quantize: quantizeQ5_0, quantizeW: quantizeQ5_0W, dequantize: dequantizeQ5_0, vecDotType: Q8_0, vecDot: dotQ5_0})
	register(Q5_1, &traits{quantize: quantizeQ5_1, quantizeW: quantizeQ5_1W, dequantize: dequantizeQ5_1, vecDotType: Q8_1, vecDot: dotQ5_1})
	register(Q8_0, &traits{quantize: quantizeQ8_0, dequantize: dequantizeQ8_0, vecDotType: Q8_0, vecDot: dotQ8_0})
	register(Q8_1, &traits{quantize: quantizeQ8_1, dequantize: dequantizeQ8_1, vecDotType: Q8_1})
}

// absMax returns the largest |v| and the signed value that has it (the
// first one on ties), as ggml's reference quantizers pick them.
func absMax(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return
}

func inv(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func quantizeQ4_0(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*18:i*18+18]
		_, max := absMax(xb)
		d := max / -8
		id := inv(d)
		putF16(yb, d)
		for j := 0; j < 16; j++ {
			x0 := float32(xb[j] * id)
			x1 := float32(xb[16+j] * id)
			xi0 := min(15, int(int8(int32(x0+8.5))))
			xi1 := min(15, int(int8(int32(x1+8.5))))
			yb[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func dequantizeQ4_0(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*18:i*18+18], y[i*32:i*32+32]
		d := getF16(xb)
		for j := 0; j < 16; j++ {
			yb[j] = float32(int(xb[2+j]&0x0f)-8) * d
			yb[j+16] = float32(int(xb[2+j]>>4)-8) * d
		}
	}
}

func quantizeQ4_1(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*20:i*20+20]
		lo, hi := minMax(xb)
		d := (hi - lo) / 15
		id := inv(d)
		putF16(yb, d)
		putF16(yb[2:], lo)
		for j := 0; j < 16; j++ {
			x0 := float32((xb[j] - lo) * id)
			x1 := float32((xb[16+j] - lo) * id)
			xi0 := min(15, int(int8(int32(x0+0.5))))
			xi1 := min(15, int(int8(int32(x1+0.5))))
			yb[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func dequantizeQ4_1(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*20:i*20+20], y[i*32:i*32+32]
		d, m := getF16(xb), getF16(xb[2:])
		for j := 0; j < 16; j++ {
			yb[j] = float32(float32(xb[4+j]&0x0f)*d) + m
			yb[j+16] = float32(float32(xb[4+j]>>4)*d) + m
		}
	}
}

func quantizeQ5_0(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*22:i*22+22]
		_, max := absMax(xb)
		d := max / -16
		id := inv(d)
		putF16(yb, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := float32(xb[j] * id)
			x1 := float32(xb[16+j] * id)
			xi0 := uint8(min(31, int(int8(int32(x0+16.5)))))
			xi1 := uint8(min(31, int(int8(int32(x1+16.5)))))
			yb[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(yb[2:], qh)
	}
}

func dequantizeQ5_0(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*22:i*22+22], y[i*32:i*32+32]
		d := getF16(xb)
		qh := binary.LittleEndian.Uint32(xb[2:])
		for j := 0; j < 16; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			yb[j] = float32(int(xb[6+j]&0x0f|xh0)-16) * d
			yb[j+16] = float32(int(xb[6+j]>>4|xh1)-16) * d
		}
	}
}

func quantizeQ5_1(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*24:i*24+24]
		lo, hi := minMax(xb)
		d := (hi - lo) / 31
		id := inv(d)
		putF16(yb, d)
		putF16(yb[2:], lo)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := float32((xb[j] - lo) * id)
			x1 := float32((xb[16+j] - lo) * id)
			xi0 := uint8(int32(x0 + 0.5))
			xi1 := uint8(int32(x1 + 0.5))
			yb[8+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(yb[4:], qh)
	}
}

func dequantizeQ5_1(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*24:i*24+24], y[i*32:i*32+32]
		d, m := getF16(xb), getF16(xb[2:])
		qh := binary.LittleEndian.Uint32(xb[4:])
		for j := 0; j < 16; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			yb[j] = float32(float32(xb[8+j]&0x0f|xh0)*d) + m
			yb[j+16] = float32(float32(xb[8+j]>>4|xh1)*d) + m
		}
	}
}

func quantizeQ8_0(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*34:i*34+34]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		id := inv(d)
		putF16(yb, d)
		for j, v := range xb {
			yb[2+j] = uint8(int8(roundHalfAway(v * id)))
		}
	}
}

func dequantizeQ8_0(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*34:i*34+34], y[i*32:i*32+32]
		d := getF16(xb)
		for j := range yb {
			yb[j] = float32(int8(xb[2+j])) * d
		}
	}
}

func quantizeQ8_1(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*36:i*36+36]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		id := inv(d)
		putF16(yb, d)
		sum := 0
		for j := 0; j < 16; j++ {
			q0 := int8(roundHalfAway(xb[j] * id))
			q1 := int8(roundHalfAway(xb[16+j] * id))
			yb[4+j], yb[20+j] = uint8(q0), uint8(q1)
			sum += int(q0) + int(q1)
		}
		putF16(yb[2:], float32(sum)*d)
	}
}

func dequantizeQ8_1(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*36:i*36+36], y[i*32:i*32+32]
		d := getF16(xb)
		for j := range yb {
			yb[j] = float32(int8(xb[4+j])) * d
		}
	}
}

func dotQ4_0(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*18:ib*18+18], a[ib*34:ib*34+34]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			s0 += int32(int(x[2+j]&0x0f)-8) * int32(int8(y[2+j]))
			s1 += int32(int(x[2+j]>>4)-8) * int32(int8(y[18+j]))
		}
		sumf += float32(float32(float32(s0+s1)*getF16(x)) * getF16(y))
	}
	return sumf
}

func dotQ4_1(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*20:ib*20+20], a[ib*36:ib*36+36]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			s0 += int32(x[4+j]&0x0f) * int32(int8(y[4+j]))
			s1 += int32(x[4+j]>>4) * int32(int8(y[20+j]))
		}
		t1 := float32(float32(getF16(x)*getF16(y)) * float32(s0+s1))
		t2 := float32(getF16(x[2:]) * getF16(y[2:]))
		sumf += float32(t1 + t2)
	}
	return sumf
}

func dotQ5_0(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*22:ib*22+22], a[ib*34:ib*34+34]
		qh := binary.LittleEndian.Uint32(x[2:])
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			s0 += int32(int(x[6+j]&0x0f|xh0)-16) * int32(int8(y[2+j]))
			s1 += int32(int(x[6+j]>>4|xh1)-16) * int32(int8(y[18+j]))
		}
		sumf += float32(float32(getF16(x)*getF16(y)) * float32(s0+s1))
	}
	return sumf
}

func dotQ5_1(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*24:ib*24+24], a[ib*36:ib*36+36]
		qh := binary.LittleEndian.Uint32(x[4:])
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			s0 += int32(x[8+j]&0x0f|xh0) * int32(int8(y[4+j]))
			s1 += int32(x[8+j]>>4|xh1) * int32(int8(y[20+j]))
		}
		t1 := float32(float32(getF16(x)*getF16(y)) * float32(s0+s1))
		t2 := float32(getF16(x[2:]) * getF16(y[2:]))
		sumf += float32(t1 + t2)
	}
	return sumf
}

func dotQ8_0(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*34:ib*34+34], a[ib*34:ib*34+34]
		var s int32
		for j := 0; j < 32; j++ {
			s += int32(int8(x[2+j])) * int32(int8(y[2+j]))
		}
		sumf += float32(float32(s) * float32(getF16(x)*getF16(y)))
	}
	return sumf
}
