package quant

import "math"

// TQ1_0 (qs[48] qh[4] d), TQ2_0 (qs[64] d) and MXFP4 (e qs[16]).

func lroundf(x float32) int { return int(math.Round(float64(x))) }

func quantizeTQ1_0(x []float32, y []byte) {
	pow := func(q uint8) uint8 { return uint8((uint16(q)*256 + 242) / 243) }
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*54:i*54+54]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d := amax
		id := inv(d)
		putF16(yb[52:], d)
		qs, qh := yb[0:48], yb[48:52]
		o := 0
		for j := 0; j < 32; j += 32 {
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 5; n++ {
					q = q*3 + uint8(lroundf(float32(xb[o+m+n*32]*id))+1)
				}
				qs[j+m] = pow(q)
			}
			o += 160
		}
		for j := 32; j < 48; j += 16 {
			for m := 0; m < 16; m++ {
				var q uint8
				for n := 0; n < 5; n++ {
					q = q*3 + uint8(lroundf(float32(xb[o+m+n*16]*id))+1)
				}
				qs[j+m] = pow(q)
			}
			o += 80
		}
		for j := 0; j < 4; j++ {
			var q uint8
			for m := 0; m < 4; m++ {
				q = q*3 + uint8(lroundf(float32(xb[o+j+m*4]*id))+1)
			}
			q *= 3
			qh[j] = pow(q)
		}
	}
}

func dequantizeTQ1_0(x []byte, y []float32) {
	pow3 := [6]uint8{1, 3, 9, 27, 81, 243}
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*54:i*54+54], y[i*256:i*256+256]
		d := getF16(xb[52:])
		o := 0
		trit := func(b uint8, n int) float32 {
			q := b * pow3[n]
			return float32(int16((uint16(q)*3)>>8) - 1)
		}
		for j := 0; j < 32; j += 32 {
			for n := 0; n < 5; n++ {
				for m := 0; m < 32; m++ {
					yb[o] = trit(xb[j+m], n) * d
					o++
				}
			}
		}
		for j := 32; j < 48; j += 16 {
			for n := 0; n < 5; n++ {
				for m := 0; m < 16; m++ {
					yb[o] = trit(xb[j+m], n) * d
					o++
				}
			}
		}
		for n := 0; n < 4; n++ {
			for j := 0; j < 4; j++ {
				yb[o] = trit(xb[48+j], n) * d
				o++
			}
		}
	}
}

func quantizeTQ2_0(x []float32, y []byte) {
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*66:i*66+66]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		id := inv(amax)
		putF16(yb[64:], amax)
		for j := 0; j < 64; j += 32 {
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 4; n++ {
					xi := lroundf(float32(xb[j*4+m+n*32]*id)) + 1
					q += uint8(xi&3) << (2 * n)
				}
				yb[j+m] = q
			}
		}
	}
}

func dequantizeTQ2_0(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*66:i*66+66], y[i*256:i*256+256]
		d := getF16(xb[64:])
		o := 0
		for j := 0; j < 64; j += 32 {
			for l := uint(0); l < 4; l++ {
				for m := 0; m < 32; m++ {
					yb[o] = float32(int((xb[j+m]>>(2*l))&3)-1) * d
					o++
				}
			}
		}
	}
}

func dotTQ1_0(n int, w, a []byte) float32 {
	var sumf float32
	tmp := make([]float32, 256)
	for i := 0; i < n/256; i++ {
		x, y := w[i*54:i*54+54], a[i*292:i*292+292]
		// The trits decode to the same order as the dequantized row, so the
		// integer sum matches ggml's generic loop.
		dequantizeTQ1_0(append(append([]byte{}, x[:52]...), 0, 0x3c), tmp) // d = 1.0
		sum := 0
		for j := 0; j < 256; j++ {
			sum += int(tmp[j]) * int(int8(y[4+j]))
		}
		sumf += float32(float32(sum) * float32(getF16(x[52:])*q8KD(y)))
	}
	return sumf
}

func dotTQ2_0(n int, w, a []byte) float32 {
	var sumf float32
	for i := 0; i < n/256; i++ {
		x, y := w[i*66:i*66+66], a[i*292:i*292+292]
		var sumi int32
		for j := 0; j < 64; j += 32 {
			for l := uint(0); l < 4; l++ {
				for k := 0; k < 32; k++ {
					sumi += int32(int8(y[4+j*4+int(l)*32+k])) * int32(int((x[j+k]>>(2*l))&3)-1)
				}
			}
		}
		d := float32(q8KD(y) * getF16(x[64:]))
		sumf += float32(float32(sumi) * d)
	}
	return sumf
}

var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// e8m0Half is ggml's GGML_E8M0_TO_FP32_HALF: 2^(e-127) / 2.
func e8m0Half(e uint8) float32 {
	var bits uint32
	if e < 2 {
		bits = 0x00200000 << e
	} else {
		bits = uint32(e-1) << 23
	}
	return math.Float32frombits(bits)
}

func bestIndexMXFP4(x, e float32) uint8 {
	best := 0
	bestErr := abs32(float32(float32(kvaluesMXFP4[0])*e) - x)
	for i := 1; i < 16; i++ {
		if err := abs32(float32(float32(kvaluesMXFP4[i])*e) - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return uint8(best)
}

func quantizeMXFP4(x []float32, y []byte) {
	for i := 0; i < len(x)/32; i++ {
		xb, yb := x[i*32:i*32+32], y[i*17:i*17+17]
		var amax float32
		for _, v := range xb {
			if amax < abs32(v) {
				amax = abs32(v)
			}
		}
		var e uint8
		if amax > 0 {
			l := float32(math.Log2(float64(amax)))
			e = uint8(int(float32(math.Floor(float64(l))) - 2 + 127))
		}
		d := e8m0Half(e)
		yb[0] = e
		for j := 0; j < 16; j++ {
			yb[1+j] = bestIndexMXFP4(xb[j], d) | bestIndexMXFP4(xb[16+j], d)<<4
		}
	}
}

func dequantizeMXFP4(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*17:i*17+17], y[i*32:i*32+32]
		d := e8m0Half(xb[0])
		for j := 0; j < 16; j++ {
			yb[j] = float32(kvaluesMXFP4[xb[1+j]&0xf]) * d
			yb[j+16] = float32(kvaluesMXFP4[xb[1+j]>>4]) * d
		}
	}
}

func dotMXFP4(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*17:ib*17+17], a[ib*34:ib*34+34]
		d := float32(getF16(y) * e8m0Half(x[0]))
		var s1, s2 int32
		for j := 0; j < 16; j++ {
			s1 += int32(int8(y[2+j])) * int32(kvaluesMXFP4[x[1+j]&0xf])
			s2 += int32(int8(y[18+j])) * int32(kvaluesMXFP4[x[1+j]>>4])
		}
		sumf += float32(d * float32(s1+s2))
	}
	return sumf
}

func init() {
	register(TQ1_0, &traits{quantize: quantizeTQ1_0, dequantize: dequantizeTQ1_0, vecDotType: Q8_K, vecDot: dotTQ1_0})
	register(TQ2_0, &traits{quantize: quantizeTQ2_0, dequantize: dequantizeTQ2_0, vecDotType: Q8_K, vecDot: dotTQ2_0})
	register(MXFP4, &traits{quantize: quantizeMXFP4, dequantize: dequantizeMXFP4, vecDotType: Q8_0, vecDot: dotMXFP4})
}
