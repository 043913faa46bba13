package quant

import "encoding/binary"

// kvaluesIQ4NL are the 16 non-linear levels of IQ4_NL and IQ4_XS.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// bestIndexInt8 is ggml's best_index_int8: the index of the level nearest to
// x in the sorted table val (ties go up), computed as ggml does by comparing
// 2x with the sum of neighbouring levels.
func bestIndexInt8(val []int8, x float32) int {
	x2 := x + x
	idx := 0
	for step := len(val) >> 1; step > 0; step >>= 1 {
		j := idx + step
		if x2 >= float32(int(val[j-1])+int(val[j])) {
			idx = j
		}
	}
	return idx
}

// quantizeIQ4Impl is ggml's quantize_row_iq4_nl_impl for 16 levels: one
// super-block of sbs values split in blocks of 32, weighted by qw (nil:
// x²), with a search over 2*ntry+1 scales. It writes L (levels) and returns
// the super-block scale and (for IQ4_XS) per-block 6-bit scales.
func quantizeIQ4Impl(sbs int, x []float32, dh []byte, q4 []byte, scalesH []byte, scalesL []byte, qw []float32, ntry int) {
	var L [256]uint8
	var scales [8]float32
	var weight [32]float32
	values := kvaluesIQ4NL[:]
	var sigma2 float32
	for j := 0; j < sbs; j++ {
		sigma2 += float32(x[j] * x[j])
	}
	sigma2 *= 2 / float32(sbs)
	for j := 0; j < sbs/2; j++ {
		q4[j] = 0
	}
	putF16(dh, 0)
	var maxScale, amaxScale float32
	nb := sbs / 32
	for ib := 0; ib < nb; ib++ {
		xb := x[ib*32 : ib*32+32]
		Lb := L[ib*32 : ib*32+32]
		if qw != nil {
			q := qw[ib*32:]
			for j := 0; j < 32; j++ {
				weight[j] = float32(q[j] * sqrt32(sigma2+float32(xb[j]*xb[j])))
			}
		} else {
			for j := 0; j < 32; j++ {
				weight[j] = float32(xb[j] * xb[j])
			}
		}
		amax, max := absMax(xb)
		if amax < groupMaxEps {
			scales[ib] = 0
			for j := range Lb {
				Lb[j] = 0
			}
			continue
		}
		var d float32
		if ntry > 0 {
			d = -max / float32(values[0])
		} else {
			d = max / float32(values[0])
		}
		id := 1 / d
		var sumqx, sumq2 float32
		for j := 0; j < 32; j++ {
			al := float32(id * xb[j])
			l := bestIndexInt8(values, al)
			Lb[j] = uint8(l)
			q := float32(values[l])
			w := weight[j]
			sumqx += float32(float32(w*q) * xb[j])
			sumq2 += float32(float32(w*q) * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := float32(d * sumqx)
		for itry := -ntry; itry <= ntry; itry++ {
			id = float32(itry+int(values[0])) / max
			sumqx, sumq2 = 0, 0
			for j := 0; j < 32; j++ {
				al := float32(id * xb[j])
				l := bestIndexInt8(values, al)
				q := float32(values[l])
				w := weight[j]
				sumqx += float32(float32(w*q) * xb[j])
				sumq2 += float32(float32(w*q) * q)
			}
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = float32(d * sumqx)
			}
		}
		scales[ib] = d
		if a := abs32(d); a > amaxScale {
			amaxScale, maxScale = a, d
		}
	}
	if nb > 1 {
		var sh uint16
		d := -maxScale / 32
		putF16(dh, d)
		id := inv(d)
		for ib := 0; ib < nb; ib++ {
			l := clampInt(nearestInt(float32(id*scales[ib])), -32, 31)
			dl := float32(d * float32(l))
			idl := inv(dl)
			Lb := L[ib*32 : ib*32+32]
			xb := x[ib*32 : ib*32+32]
			for j := 0; j < 32; j++ {
				Lb[j] = uint8(bestIndexInt8(values, float32(idl*xb[j])))
			}
			l += 32
			lL := uint8(l & 0xf)
			lH := uint16(l >> 4)
			if ib%2 == 0 {
				scalesL[ib/2] = lL
			} else {
				scalesL[ib/2] |= lL << 4
			}
			sh |= lH << (2 * (ib % 8))
		}
		binary.LittleEndian.PutUint16(scalesH, sh)
	} else {
		putF16(dh, scales[0])
		if ntry > 0 {
			id := inv(scales[0])
			for j := 0; j < sbs; j++ {
				L[j] = uint8(bestIndexInt8(values, float32(id*x[j])))
			}
		}
	}
	for i := 0; i < sbs/32; i++ {
		for j := 0; j < 16; j++ {
			q4[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

func quantizeIQ4NL(x []float32, y []byte) {
	for ib := 0; ib < len(x)/32; ib++ {
		yb := y[ib*18 : ib*18+18]
		quantizeIQ4Impl(32, x[ib*32:], yb, yb[2:], nil, nil, nil, 7)
	}
}

func quantizeIQ4NLW(x []float32, y []byte, qw []float32) {
	for ib := 0; ib < len(x)/32; ib++ {
		yb := y[ib*18 : ib*18+18]
		quantizeIQ4Impl(32, x[ib*32:], yb, yb[2:], nil, nil, qw[ib*32:], 7)
	}
}

func dequantizeIQ4NL(x []byte, y []float32) {
	for i := 0; i < len(y)/32; i++ {
		xb, yb := x[i*18:i*18+18], y[i*32:i*32+32]
		d := getF16(xb)
		for j := 0; j < 16; j++ {
			yb[j] = d * float32(kvaluesIQ4NL[xb[2+j]&0xf])
			yb[j+16] = d * float32(kvaluesIQ4NL[xb[2+j]>>4])
		}
	}
}

// IQ4_XS: d, scales_h (uint16), scales_l[4], qs[128].

func quantizeIQ4XS(x []float32, y []byte) {
	for ib := 0; ib < len(x)/256; ib++ {
		yb := y[ib*136 : ib*136+136]
		quantizeIQ4Impl(256, x[ib*256:], yb, yb[8:], yb[2:4], yb[4:8], nil, 7)
	}
}

func quantizeIQ4XSW(x []float32, y []byte, qw []float32) {
	for ib := 0; ib < len(x)/256; ib++ {
		yb := y[ib*136 : ib*136+136]
		quantizeIQ4Impl(256, x[ib*256:], yb, yb[8:], yb[2:4], yb[4:8], qw[ib*256:], 7)
	}
}

func dequantizeIQ4XS(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*136:i*136+136], y[i*256:i*256+256]
		d := getF16(xb)
		sh := binary.LittleEndian.Uint16(xb[2:])
		qs := xb[8:]
		for ib := 0; ib < 8; ib++ {
			ls := int((xb[4+ib/2]>>(4*(ib%2)))&0xf) | int((sh>>(2*ib))&3)<<4
			dl := float32(d * float32(ls-32))
			for j := 0; j < 16; j++ {
				yb[32*ib+j] = dl * float32(kvaluesIQ4NL[qs[j]&0xf])
				yb[32*ib+j+16] = dl * float32(kvaluesIQ4NL[qs[j]>>4])
			}
			qs = qs[16:]
		}
	}
}

func dotIQ4NL(n int, w, a []byte) float32 {
	var sumf float32
	for ib := 0; ib < n/32; ib++ {
		x, y := w[ib*18:ib*18+18], a[ib*34:ib*34+34]
		d := float32(getF16(y) * getF16(x))
		var s1, s2 int32
		for j := 0; j < 16; j++ {
			s1 += int32(int8(y[2+j])) * int32(kvaluesIQ4NL[x[2+j]&0xf])
			s2 += int32(int8(y[18+j])) * int32(kvaluesIQ4NL[x[2+j]>>4])
		}
		sumf += float32(d * float32(s1+s2))
	}
	return sumf
}

func dotIQ4XS(n int, w, a []byte) float32 {
	var sumf float32
	for ibl := 0; ibl < n/256; ibl++ {
		x, y := w[ibl*136:ibl*136+136], a[ibl*292:ibl*292+292]
		d4d8 := float32(getF16(x) * q8KD(y))
		h := binary.LittleEndian.Uint16(x[2:])
		qs := x[8:]
		q8 := y[4:260]
		for ib := 0; ib < 8; ib += 2 {
			ls1 := int(x[4+ib/2]&0xf) | int((h<<4)&0x30)
			ls2 := int(x[4+ib/2]>>4) | int((h<<2)&0x30)
			h >>= 4
			d1 := float32(d4d8 * float32(ls1-32))
			d2 := float32(d4d8 * float32(ls2-32))
			var s1, s2 int32
			for j := 0; j < 16; j++ {
				s1 += int32(int8(q8[j])) * int32(kvaluesIQ4NL[qs[j]&0xf])
				s2 += int32(int8(q8[j+16])) * int32(kvaluesIQ4NL[qs[j]>>4])
			}
			sumf += float32(d1 * float32(s1+s2))
			qs, q8 = qs[16:], q8[32:]
			s1, s2 = 0, 0
			for j := 0; j < 16; j++ {
				s1 += int32(int8(q8[j])) * int32(kvaluesIQ4NL[qs[j]&0xf])
				s2 += int32(int8(q8[j+16])) * int32(kvaluesIQ4NL[qs[j]>>4])
			}
			sumf += float32(d2 * float32(s1+s2))
			qs, q8 = qs[16:], q8[32:]
		}
	}
	return sumf
}

func init() {
	register(IQ4_NL, &traits{quantize: quantizeIQ4NL, quantizeW: quantizeIQ4NLW, dequantize: dequantizeIQ4NL, vecDotType: Q8_0, vecDot: dotIQ4NL})
	register(IQ4_XS, &traits{quantize: quantizeIQ4XS, quantizeW: quantizeIQ4XSW, dequantize: dequantizeIQ4XS, vecDotType: Q8_K, vecDot: dotIQ4XS})
}
