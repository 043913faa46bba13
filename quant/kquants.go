package quant

import (
	"encoding/binary"
	"math"
)

// groupMaxEps is ggml's GROUP_MAX_EPS: groups whose largest magnitude is
// below it are treated as all zero.
const groupMaxEps = 1e-15

// nearestInt is ggml's nearest_int: adding 1.5*2^23 makes the float adder
// round to an integer (ties to even), which is then read from the mantissa.
func nearestInt(f float32) int {
	v := float32(f + 12582912)
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// makeQxQuants is ggml's make_qx_quants: symmetric quantization of x to
// [-nmax, nmax-1] (stored offset by nmax in L) searching for the scale with
// the smallest weighted error.
func makeQxQuants(n, nmax int, x []float32, L []int8, rmseType int, qw []float32) float32 {
	var max, amax float32
	for i := 0; i < n; i++ {
		if ax := abs32(x[i]); ax > amax {
			amax, max = ax, x[i]
		}
	}
	if amax < groupMaxEps {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	if rmseType == 0 {
		for i := 0; i < n; i++ {
			l := nearestInt(float32(iscale * x[i]))
			L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	// The weights do not change between the scale trials: compute them once.
	var wbuf [64]float32
	wts := wbuf[:n]
	if n > len(wbuf) {
		wts = make([]float32, n)
	}
	for i := 0; i < n; i++ {
		switch {
		case qw != nil:
			wts[i] = qw[i]
		case rmseType == 1:
			wts[i] = float32(x[i] * x[i])
		case rmseType == 2:
			wts[i] = 1
		case rmseType == 3:
			wts[i] = abs32(x[i])
		default:
			wts[i] = sqrt32(abs32(x[i]))
		}
	}
	weight := func(i int) float32 { return wts[i] }
	var sumlx, suml2 float32
	for i := 0; i < n; i++ {
		l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := weight(i)
		fl := float32(l)
		sumlx += float32(float32(w*x[i]) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	scale := float32(0)
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return float32(0.5) * float32(scale+1/iscale)
		}
		return 1 / iscale
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(float32(0.1)*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i := 0; i < n; i++ {
			l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
			w := weight(i)
			fl := float32(l)
			sumlx += float32(float32(w*x[i]) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i := 0; i < n; i++ {
				l := nearestInt(float32(iscale * x[i]))
				L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants (used by the Q3_K reference path).
func makeQ3Quants(n, nmax int, x []float32, L []int8, doRmse bool) float32 {
	var max, amax float32
	for i := 0; i < n; i++ {
		if ax := abs32(x[i]); ax > amax {
			amax, max = ax, x[i]
		}
	}
	if amax < groupMaxEps {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	if doRmse {
		var sumlx, suml2 float32
		for i := 0; i < n; i++ {
			l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
			L[i] = int8(l)
			w := float32(x[i] * x[i])
			fl := float32(l)
			sumlx += float32(float32(w*x[i]) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		for itry := 0; itry < 5; itry++ {
			nChanged := 0
			for i := 0; i < n; i++ {
				w := float32(x[i] * x[i])
				fli := float32(L[i])
				slx := sumlx - float32(float32(w*x[i])*fli)
				if slx > 0 {
					sl2 := suml2 - float32(float32(w*fli)*fli)
					newL := clampInt(nearestInt(float32(x[i]*sl2)/slx), -nmax, nmax-1)
					if newL != int(L[i]) {
						fn := float32(newL)
						slx += float32(float32(w*x[i]) * fn)
						sl2 += float32(float32(w*fn) * fn)
						if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
							L[i] = int8(newL)
							sumlx, suml2 = slx, sl2
							nChanged++
						}
					}
				}
			}
			if nChanged == 0 {
				break
			}
		}
		for i := 0; i < n; i++ {
			L[i] += int8(nmax)
		}
		if suml2 > 0 {
			return sumlx / suml2
		}
		return 0
	}
	for i := 0; i < n; i++ {
		l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
		L[i] = int8(l + nmax)
	}
	return 1 / iscale
}

// fitError is the weighted error of x reconstructed as scale*L + min, by
// absolute difference (useMad) or squared, summed in order as ggml does.
func fitError(x, w []float32, L []uint8, scale, min float32, useMad bool) float32 {
	var sum float32
	for i := range x {
		diff := float32(float32(scale*float32(L[i]))+min) - x[i]
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		sum += float32(w[i] * diff)
	}
	return sum
}

// makeQkx2Quants is ggml's make_qkx2_quants: asymmetric (scale and min)
// quantization to [0, nmax] with a grid search over the scale.
func makeQkx2Quants(n, nmax int, x, weights []float32, L []uint8, theMin *float32, Laux []uint8, rmin, rdelta float32, nstep int, useMad bool) float32 {
	min := x[0]
	max := x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		*theMin = -min
		return 0
	}
	iscale := float32(nmax) / (max - min)
	scale := 1 / iscale
	for i := 0; i < n; i++ {
		L[i] = uint8(clampInt(nearestInt(float32(iscale*(x[i]-min))), 0, nmax))
	}
	bestError := fitError(x[:n], weights, L, scale, min, useMad)
	if nstep < 1 {
		*theMin = -min
		return scale
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+float32(nmax)) / (max - min)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := clampInt(nearestInt(float32(iscale*(x[i]-min))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			if curError := fitError(x[:n], weights, Laux, thisScale, thisMin, useMad); curError < bestError {
				copy(L[:n], Laux[:n])
				bestError = curError
				scale = thisScale
				min = thisMin
			}
		}
	}
	*theMin = -min
	return scale
}

// makeQkx3Quants is ggml's make_qkx3_quants (importance-weighted paths);
// weights nil means x².
func makeQkx3Quants(n, nmax int, x, weights []float32, L []uint8, theMin *float32, Laux []uint8, rmin, rdelta float32, nstep int, useMad bool) float32 {
	var wbuf [64]float32
	wts := wbuf[:n]
	if n > len(wbuf) {
		wts = make([]float32, n)
	}
	for i := 0; i < n; i++ {
		if weights != nil {
			wts[i] = weights[i]
		} else {
			wts[i] = float32(x[i] * x[i])
		}
	}
	min := x[0]
	max := x[0]
	sumW := wts[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := wts[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max <= min {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		*theMin = -min
		return 0
	}
	iscale := float32(nmax) / (max - min)
	scale := 1 / iscale
	for i := 0; i < n; i++ {
		L[i] = uint8(clampInt(nearestInt(float32(iscale*(x[i]-min))), 0, nmax))
	}
	bestMad := fitError(x[:n], wts, L, scale, min, useMad)
	if nstep < 1 {
		*theMin = -min
		return scale
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+float32(nmax)) / (max - min)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			v := float32(iscale * (x[i] - min))
			l := 0
			if v > 0 {
				l = nearestInt(float32(math.Min(float64(v), float64(nmax))))
			}
			Laux[i] = uint8(l)
			w := wts[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			if mad := fitError(x[:n], wts, Laux, thisScale, thisMin, useMad); mad < bestMad {
				copy(L[:n], Laux[:n])
				bestMad = mad
				scale = thisScale
				min = thisMin
			}
		}
	}
	*theMin = -min
	return scale
}

// makeQpQuants is ggml's make_qp_quants: quantizes positive values (block
// scales or mins) to [0, nmax] with importance weights.
func makeQpQuants(n, nmax int, x []float32, L []uint8, qw []float32) float32 {
	var max float32
	for i := 0; i < n; i++ {
		max = float32(math.Max(float64(max), float64(x[i])))
	}
	if max < groupMaxEps {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(nmax) / max
	for i := 0; i < n; i++ {
		L[i] = uint8(nearestInt(float32(iscale * x[i])))
	}
	scale := 1 / iscale
	var bestMse float32
	for i := 0; i < n; i++ {
		diff := x[i] - float32(scale*float32(L[i]))
		bestMse += float32(float32(qw[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := float32(float32(float32(0.1)*float32(is))+float32(nmax)) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i := 0; i < n; i++ {
			l := min(nmax, nearestInt(float32(iscaleIs*x[i])))
			diff := x[i] - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMse {
			bestMse = mse
			iscale = iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i := 0; i < n; i++ {
		l := min(nmax, nearestInt(float32(iscale*x[i])))
		L[i] = uint8(l)
		w := qw[i]
		fl := float32(l)
		sumlx += float32(float32(w*x[i]) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		nChanged := 0
		for i := 0; i < n; i++ {
			w := qw[i]
			fli := float32(L[i])
			slx := sumlx - float32(float32(w*x[i])*fli)
			sl2 := suml2 - float32(float32(w*fli)*fli)
			if slx > 0 && sl2 > 0 {
				newL := min(nmax, nearestInt(float32(x[i]*sl2)/slx))
				if newL != int(L[i]) {
					fn := float32(newL)
					slx += float32(float32(w*x[i]) * fn)
					sl2 += float32(float32(w*fn) * fn)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = uint8(newL)
						sumlx, suml2 = slx, sl2
						nChanged++
					}
				}
			}
		}
		if nChanged == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j of a Q4_K or
// Q5_K block.
func getScaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	d = q[j+4]&0xf | (q[j-4]>>6)<<4
	m = q[j+4]>>4 | (q[j]>>6)<<4
	return
}

// packScaleMinK4 stores 6-bit scales and mins the way getScaleMinK4 reads them.
func packScaleMinK4(scales []byte, ls, lm []uint8) {
	for j := 0; j < 8; j++ {
		if j < 4 {
			scales[j] = ls[j]
			scales[j+4] = lm[j]
		} else {
			scales[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			scales[j-4] |= (ls[j] >> 4) << 6
			scales[j] |= (lm[j] >> 4) << 6
		}
	}
}

func packQ2(qs []byte, L []uint8) {
	for j := 0; j < 256; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// ---- Q2_K: scales[16] qs[64] d dmin ----

func quantizeQ2_K(x []float32, y []byte) {
	var L [256]uint8
	var Laux [16]uint8
	var weights [16]float32
	var mins, scales [16]float32
	const q4scale = 15
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*84:i*84+84]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			for l := 0; l < 16; l++ {
				weights[l] = abs32(xb[16*j+l])
			}
			scales[j] = makeQkx2Quants(16, 3, xb[16*j:], weights[:], L[16*j:], &mins[j], Laux[:], -0.5, 0.1, 15, true)
			maxScale = max(maxScale, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		sc := yb[:16]
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := 0; j < 16; j++ {
				sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			putF16(yb[80:], maxScale/q4scale)
		} else {
			for j := range sc {
				sc[j] = 0
			}
			putF16(yb[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := 0; j < 16; j++ {
				sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			putF16(yb[82:], maxMin/q4scale)
		} else {
			putF16(yb[82:], 0)
		}
		requantQ2(xb, yb, L[:])
		packQ2(yb[16:80], L[:])
	}
}

func requantQ2(xb []float32, yb []byte, L []uint8) {
	dAll, mAll := getF16(yb[80:]), getF16(yb[82:])
	for j := 0; j < 16; j++ {
		d := float32(dAll * float32(yb[j]&0xf))
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(yb[j]>>4))
		for ii := 0; ii < 16; ii++ {
			l := nearestInt((xb[16*j+ii] + dm) / d)
			L[16*j+ii] = uint8(clampInt(l, 0, 3))
		}
	}
}

func quantizeQ2_KW(x []float32, y []byte, qwRow []float32) {
	var L [256]uint8
	var Laux [16]uint8
	var mins, scales, sw, weight [16]float32
	var Ls, Lm [16]uint8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*84:i*84+84]
		sw = [16]float32{}
		var sumx2 float32
		for j := 0; j < 256; j++ {
			sumx2 += float32(xb[j] * xb[j])
		}
		sigma2 := sumx2 / 256
		for j := 0; j < 16; j++ {
			qw := qwRow[256*i+16*j:]
			for l := 0; l < 16; l++ {
				weight[l] = float32(qw[l] * sqrt32(sigma2+float32(xb[16*j+l]*xb[16*j+l])))
			}
			for l := 0; l < 16; l++ {
				sw[j] += weight[l]
			}
			scales[j] = makeQkx3Quants(16, 3, xb[16*j:], weight[:], L[16*j:], &mins[j], Laux[:], -0.9, 0.05, 36, false)
		}
		dm := makeQpQuants(16, 15, scales[:], Ls[:], sw[:])
		mm := makeQpQuants(16, 15, mins[:], Lm[:], sw[:])
		putF16(yb[80:], dm)
		putF16(yb[82:], mm)
		for j := 0; j < 16; j++ {
			yb[j] = Ls[j] | Lm[j]<<4
		}
		requantQ2(xb, yb, L[:])
		packQ2(yb[16:80], L[:])
	}
}

func dequantizeQ2_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*84:i*84+84], y[i*256:i*256+256]
		d, min := getF16(xb[80:]), getF16(xb[82:])
		q := xb[16:80]
		is := 0
		o := 0
		for n := 0; n < 256; n += 128 {
			shift := uint(0)
			for j := 0; j < 4; j++ {
				sc := xb[is]
				is++
				dl, ml := float32(d*float32(sc&0xf)), float32(min*float32(sc>>4))
				for l := 0; l < 16; l++ {
					yb[o] = float32(dl*float32((q[l]>>shift)&3)) - ml
					o++
				}
				sc = xb[is]
				is++
				dl, ml = float32(d*float32(sc&0xf)), float32(min*float32(sc>>4))
				for l := 0; l < 16; l++ {
					yb[o] = float32(dl*float32((q[l+16]>>shift)&3)) - ml
					o++
				}
				shift += 2
			}
			q = q[32:]
		}
	}
}

// ---- Q3_K: hmask[32] qs[64] scales[12] d ----

func packQ3Scales(sc []byte, l int, j int) {
	if j < 8 {
		sc[j] = uint8(l & 0xf)
	} else {
		sc[j-8] |= uint8((l & 0xf) << 4)
	}
	l >>= 4
	sc[j%4+8] |= uint8(l << (2 * (j / 4)))
}

func q3Scale(sc []byte, j int) int {
	var s int
	if j < 8 {
		s = int(sc[j] & 0xf)
	} else {
		s = int(sc[j-8] >> 4)
	}
	return (s | int((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
}

func finishQ3(xb []float32, yb []byte, L []int8) {
	d0 := getF16(yb[108:])
	for j := 0; j < 16; j++ {
		d := float32(d0 * float32(int8(q3Scale(yb[96:108], j))))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := clampInt(nearestInt(xb[16*j+ii]/d), -4, 3)
			L[16*j+ii] = int8(l + 4)
		}
	}
	hmask := yb[:32]
	for j := range hmask {
		hmask[j] = 0
	}
	m := 0
	hm := uint8(1)
	for j := 0; j < 256; j++ {
		if L[j] > 3 {
			hmask[m] |= hm
			L[j] -= 4
		}
		m++
		if m == 32 {
			m = 0
			hm <<= 1
		}
	}
	qs := yb[32:96]
	for j := 0; j < 256; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = uint8(L[j+l]) | uint8(L[j+l+32])<<2 | uint8(L[j+l+64])<<4 | uint8(L[j+l+96])<<6
		}
	}
}

func quantizeQ3_K(x []float32, y []byte) {
	var L [256]int8
	var scales [16]float32
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*110:i*110+110]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(16, 4, xb[16*j:], L[16*j:], true)
			if s := abs32(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		sc := yb[96:108]
		for j := range sc {
			sc[j] = 0
		}
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := int(int8(nearestInt(float32(iscale * scales[j]))))
				l = clampInt(l, -32, 31) + 32
				packQ3Scales(sc, l, j)
			}
			putF16(yb[108:], 1/iscale)
		} else {
			putF16(yb[108:], 0)
		}
		finishQ3(xb, yb, L[:])
	}
}

func quantizeQ3_KW(x []float32, y []byte, qwRow []float32) {
	var L [256]int8
	var scales, weight, sw [16]float32
	var Ls [16]int8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*110:i*110+110]
		var sumx2 float32
		for j := 0; j < 256; j++ {
			sumx2 += float32(xb[j] * xb[j])
		}
		sigma2 := 2 * sumx2 / 256
		for j := 0; j < 16; j++ {
			qw := qwRow[256*i+16*j:]
			for l := 0; l < 16; l++ {
				weight[l] = float32(qw[l] * sqrt32(sigma2+float32(xb[16*j+l]*xb[16*j+l])))
			}
			var sumw float32
			for l := 0; l < 16; l++ {
				sumw += weight[l]
			}
			sw[j] = sumw
			scales[j] = makeQxQuants(16, 4, xb[16*j:], L[16*j:], 1, weight[:])
		}
		sc := yb[96:108]
		for j := range sc {
			sc[j] = 0
		}
		dBlock := makeQxQuants(16, 32, scales[:], Ls[:], 1, sw[:])
		for j := 0; j < 16; j++ {
			packQ3Scales(sc, int(Ls[j]), j)
		}
		putF16(yb[108:], dBlock)
		finishQ3(xb, yb, L[:])
	}
}

func q3Scales16(sc []byte) [16]int8 {
	var out [16]int8
	for j := 0; j < 16; j++ {
		out[j] = int8(q3Scale(sc, j) + 32)
	}
	return out
}

func dequantizeQ3_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*110:i*110+110], y[i*256:i*256+256]
		dAll := getF16(xb[108:])
		scales := q3Scales16(xb[96:108])
		q := xb[32:96]
		hm := xb[:32]
		m := uint8(1)
		is, o := 0, 0
		for n := 0; n < 256; n += 128 {
			shift := uint(0)
			for j := 0; j < 4; j++ {
				dl := float32(dAll * float32(int(scales[is])-32))
				is++
				for l := 0; l < 16; l++ {
					v := int((q[l]>>shift)&3) - b2i(hm[l]&m == 0)*4
					yb[o] = dl * float32(v)
					o++
				}
				dl = float32(dAll * float32(int(scales[is])-32))
				is++
				for l := 0; l < 16; l++ {
					v := int((q[l+16]>>shift)&3) - b2i(hm[l+16]&m == 0)*4
					yb[o] = dl * float32(v)
					o++
				}
				shift += 2
				m <<= 1
			}
			q = q[32:]
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- Q4_K: d dmin scales[12] qs[128] ----

func finishQ4K(xb []float32, yb []byte, L []uint8, nmax int) {
	d0, m0 := getF16(yb), getF16(yb[2:])
	for j := 0; j < 8; j++ {
		sc, m := getScaleMinK4(j, yb[4:16])
		d := float32(d0 * float32(sc))
		if d == 0 {
			continue
		}
		dm := float32(m0 * float32(m))
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((xb[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(clampInt(l, 0, nmax))
		}
	}
}

func kScalesRef(xb []float32, L []uint8, nmax int, rmin, rdelta float32, nstep int, yb []byte) {
	var Laux [32]uint8
	var weights [32]float32
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		var sumX2 float32
		for l := 0; l < 32; l++ {
			sumX2 += float32(xb[32*j+l] * xb[32*j+l])
		}
		avX := sqrt32(sumX2 / 32)
		for l := 0; l < 32; l++ {
			weights[l] = avX + abs32(xb[32*j+l])
		}
		scales[j] = makeQkx2Quants(32, nmax, xb[32*j:], weights[:], L[32*j:], &mins[j], Laux[:], rmin, rdelta, nstep, false)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	packScaleMinK4(yb[4:16], ls[:], lm[:])
	putF16(yb, maxScale/63)
	putF16(yb[2:], maxMin/63)
}

func kScalesWeighted(xb []float32, qw []float32, L []uint8, nmax int, yb []byte) {
	var Laux [32]uint8
	var weights [32]float32
	var mins, scales, sw [8]float32
	var Ls, Lm [8]uint8
	var sumX2 float32
	for l := 0; l < 256; l++ {
		sumX2 += float32(xb[l] * xb[l])
	}
	sigma2 := 2 * sumX2 / 256
	avX := sqrt32(sigma2)
	for j := 0; j < 8; j++ {
		if qw != nil {
			for l := 0; l < 32; l++ {
				weights[l] = float32(qw[32*j+l] * sqrt32(sigma2+float32(xb[32*j+l]*xb[32*j+l])))
			}
		} else {
			for l := 0; l < 32; l++ {
				weights[l] = avX + abs32(xb[32*j+l])
			}
		}
		var sumw float32
		for l := 0; l < 32; l++ {
			sumw += weights[l]
		}
		sw[j] = sumw
		scales[j] = makeQkx3Quants(32, nmax, xb[32*j:], weights[:], L[32*j:], &mins[j], Laux[:], -0.9, 0.05, 36, false)
	}
	dBlock := makeQpQuants(8, 63, scales[:], Ls[:], sw[:])
	mBlock := makeQpQuants(8, 63, mins[:], Lm[:], sw[:])
	for j := range Ls {
		Ls[j] = min(63, Ls[j])
		Lm[j] = min(63, Lm[j])
	}
	sc := yb[4:16]
	for j := range sc {
		sc[j] = 0
	}
	packScaleMinK4(sc, Ls[:], Lm[:])
	putF16(yb, dBlock)
	putF16(yb[2:], mBlock)
}

func packQ4K(qs []byte, L []uint8) {
	for j, o := 0, 0; j < 256; j += 64 {
		for l := 0; l < 32; l++ {
			qs[o+l] = L[j+l] | L[j+l+32]<<4
		}
		o += 32
	}
}

func quantizeQ4_K(x []float32, y []byte) {
	var L [256]uint8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*144:i*144+144]
		kScalesRef(xb, L[:], 15, -1, 0.1, 20, yb)
		finishQ4K(xb, yb, L[:], 15)
		packQ4K(yb[16:], L[:])
	}
}

func quantizeQ4_KW(x []float32, y []byte, qwRow []float32) {
	var L [256]uint8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*144:i*144+144]
		kScalesWeighted(xb, qwRow[256*i:], L[:], 15, yb)
		finishQ4K(xb, yb, L[:], 15)
		packQ4K(yb[16:], L[:])
	}
}

func dequantizeQ4_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*144:i*144+144], y[i*256:i*256+256]
		d, min := getF16(xb), getF16(xb[2:])
		q := xb[16:]
		is, o := 0, 0
		for j := 0; j < 256; j += 64 {
			sc, m := getScaleMinK4(is, xb[4:16])
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = getScaleMinK4(is+1, xb[4:16])
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			for l := 0; l < 32; l++ {
				yb[o+l] = float32(d1*float32(q[l]&0xf)) - m1
			}
			for l := 0; l < 32; l++ {
				yb[o+32+l] = float32(d2*float32(q[l]>>4)) - m2
			}
			o += 64
			q = q[32:]
			is += 2
		}
	}
}

// ---- Q5_K: d dmin scales[12] qh[32] qs[128] ----

func packQ5K(yb []byte, L []uint8) {
	qh := yb[16:48]
	ql := yb[48:176]
	for j := range qh {
		qh[j] = 0
	}
	m1, m2 := uint8(1), uint8(2)
	for n := 0; n < 256; n += 64 {
		for j := 0; j < 32; j++ {
			l1 := L[n+j]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			l2 := L[n+j+32]
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
		ql = ql[32:]
	}
}

func quantizeQ5_K(x []float32, y []byte) {
	var L [256]uint8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*176:i*176+176]
		kScalesRef(xb, L[:], 31, -0.5, 0.1, 15, yb)
		finishQ4K(xb, yb, L[:], 31)
		packQ5K(yb, L[:])
	}
}

func quantizeQ5_KW(x []float32, y []byte, qwRow []float32) {
	var L [256]uint8
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*176:i*176+176]
		kScalesWeighted(xb, qwRow[256*i:], L[:], 31, yb)
		finishQ4K(xb, yb, L[:], 31)
		packQ5K(yb, L[:])
	}
}

func dequantizeQ5_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*176:i*176+176], y[i*256:i*256+256]
		d, min := getF16(xb), getF16(xb[2:])
		qh := xb[16:48]
		ql := xb[48:]
		is, o := 0, 0
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < 256; j += 64 {
			sc, m := getScaleMinK4(is, xb[4:16])
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = getScaleMinK4(is+1, xb[4:16])
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			for l := 0; l < 32; l++ {
				v := int(ql[l]&0xf) + b2i(qh[l]&u1 != 0)*16
				yb[o+l] = float32(d1*float32(v)) - m1
			}
			for l := 0; l < 32; l++ {
				v := int(ql[l]>>4) + b2i(qh[l]&u2 != 0)*16
				yb[o+32+l] = float32(d2*float32(v)) - m2
			}
			o += 64
			ql = ql[32:]
			is += 2
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// ---- Q6_K: ql[128] qh[64] scales[16] d ----

func quantizeQ6_KRow(x []float32, y []byte, qwRow []float32) {
	var L [256]int8
	var scales [16]float32
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*210:i*210+210]
		var maxScale, maxAbsScale float32
		for ib := 0; ib < 16; ib++ {
			var qw []float32
			if qwRow != nil {
				qw = qwRow[256*i+16*ib:]
			}
			scale := makeQxQuants(16, 32, xb[16*ib:], L[16*ib:], 1, qw)
			scales[ib] = scale
			if a := abs32(scale); a > maxAbsScale {
				maxAbsScale, maxScale = a, scale
			}
		}
		if maxAbsScale < groupMaxEps {
			for j := range yb {
				yb[j] = 0
			}
			continue
		}
		iscale := -128 / maxScale
		putF16(yb[208:], 1/iscale)
		sc := yb[192:208]
		for ib := 0; ib < 16; ib++ {
			sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		d0 := getF16(yb[208:])
		for j := 0; j < 16; j++ {
			d := float32(d0 * float32(int8(sc[j])))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := clampInt(nearestInt(xb[16*j+ii]/d), -32, 31)
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql, qh := yb[0:128], yb[128:192]
		for j := 0; j < 256; j += 128 {
			for l := 0; l < 32; l++ {
				q1 := uint8(L[j+l]) & 0xf
				q2 := uint8(L[j+l+32]) & 0xf
				q3 := uint8(L[j+l+64]) & 0xf
				q4 := uint8(L[j+l+96]) & 0xf
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
			}
			ql = ql[64:]
			qh = qh[32:]
		}
	}
}

func quantizeQ6_K(x []float32, y []byte)                { quantizeQ6_KRow(x, y, nil) }
func quantizeQ6_KW(x []float32, y []byte, qw []float32) { quantizeQ6_KRow(x, y, qw) }

func dequantizeQ6_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*210:i*210+210], y[i*256:i*256+256]
		d := getF16(xb[208:])
		ql, qh, sc := xb[0:128], xb[128:192], xb[192:208]
		o := 0
		for n := 0; n < 256; n += 128 {
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(int8(ql[l]&0xf|((qh[l]>>0)&3)<<4)) - 32
				q2 := int(int8(ql[l+32]&0xf|((qh[l]>>2)&3)<<4)) - 32
				q3 := int(int8(ql[l]>>4|((qh[l]>>4)&3)<<4)) - 32
				q4 := int(int8(ql[l+32]>>4|((qh[l]>>6)&3)<<4)) - 32
				yb[o+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				yb[o+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				yb[o+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				yb[o+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			o += 128
			ql = ql[64:]
			qh = qh[32:]
			sc = sc[8:]
		}
	}
}

// ---- Q8_K: float32 d, qs[256], bsums[16] int16 (activations) ----

func quantizeQ8_K(x []float32, y []byte) {
	for i := 0; i < len(x)/256; i++ {
		xb, yb := x[i*256:i*256+256], y[i*292:i*292+292]
		var max, amax float32
		for _, v := range xb {
			if ax := abs32(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax == 0 {
			for j := range yb {
				yb[j] = 0
			}
			continue
		}
		iscale := -127 / max
		qs := yb[4:260]
		for j, v := range xb {
			qs[j] = uint8(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for j := 0; j < 16; j++ {
			sum := 0
			for ii := 0; ii < 16; ii++ {
				sum += int(int8(qs[16*j+ii]))
			}
			binary.LittleEndian.PutUint16(yb[260+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(yb, math.Float32bits(1/iscale))
	}
}

func dequantizeQ8_K(x []byte, y []float32) {
	for i := 0; i < len(y)/256; i++ {
		xb, yb := x[i*292:i*292+292], y[i*256:i*256+256]
		d := math.Float32frombits(binary.LittleEndian.Uint32(xb))
		for j := range yb {
			yb[j] = d * float32(int8(xb[4+j]))
		}
	}
}

func init() {
	register(Q2_K, &traits{quantize: quantizeQ2_K, quantizeW: quantizeQ2_KW, dequantize: dequantizeQ2_K, vecDotType: Q8_K, vecDot: dotQ2_K})
	register(Q3_K, &traits{quantize: quantizeQ3_K, quantizeW: quantizeQ3_KW, dequantize: dequantizeQ3_K, vecDotType: Q8_K, vecDot: dotQ3_K})
	register(Q4_K, &traits{quantize: quantizeQ4_K, quantizeW: quantizeQ4_KW, dequantize: dequantizeQ4_K, vecDotType: Q8_K, vecDot: dotQ4_K})
	register(Q5_K, &traits{quantize: quantizeQ5_K, quantizeW: quantizeQ5_KW, dequantize: dequantizeQ5_K, vecDotType: Q8_K, vecDot: dotQ5_K})
	register(Q6_K, &traits{quantize: quantizeQ6_K, quantizeW: quantizeQ6_KW, dequantize: dequantizeQ6_K, vecDotType: Q8_K, vecDot: dotQ6_K})
	register(Q8_K, &traits{quantize: quantizeQ8_K, dequantize: dequantizeQ8_K, vecDotType: Q8_K})
}
