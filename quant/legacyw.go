package quant

import "encoding/binary"

// Importance-weighted paths of the 32-element types (llama.cpp's
// quantize_row_q4_0_impl and friends): the row's mean square sets a floor
// under every weight so that small values still count.

func rowSigma2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

func legacyWeights(xb, qw []float32, sigma2 float32, weight []float32) {
	for j := range weight {
		weight[j] = float32(qw[j] * sqrt32(sigma2+float32(xb[j]*xb[j])))
	}
}

func quantizeQ4_0W(x []float32, y []byte, qw []float32) {
	var weight [32]float32
	var L [32]int8
	sigma2 := rowSigma2(x)
	for ib := 0; ib < len(x)/32; ib++ {
		xb, yb := x[ib*32:ib*32+32], y[ib*18:ib*18+18]
		legacyWeights(xb, qw[ib*32:], sigma2, weight[:])
		d := makeQxQuants(32, 8, xb, L[:], 1, weight[:])
		putF16(yb, d)
		for j := 0; j < 16; j++ {
			yb[2+j] = uint8(L[j]) | uint8(L[j+16])<<4
		}
	}
}

func quantizeQ4_1W(x []float32, y []byte, qw []float32) {
	var weight [32]float32
	var L, Laux [32]uint8
	sigma2 := rowSigma2(x)
	for ib := 0; ib < len(x)/32; ib++ {
		xb, yb := x[ib*32:ib*32+32], y[ib*20:ib*20+20]
		legacyWeights(xb, qw[ib*32:], sigma2, weight[:])
		var min float32
		d := makeQkx3Quants(32, 15, xb, weight[:], L[:], &min, Laux[:], -0.9, 0.05, 36, false)
		putF16(yb, d)
		putF16(yb[2:], -min)
		for j := 0; j < 16; j++ {
			yb[4+j] = L[j] | L[j+16]<<4
		}
	}
}

func quantizeQ5_0W(x []float32, y []byte, qw []float32) {
	var weight [32]float32
	var L [32]int8
	sigma2 := rowSigma2(x)
	for ib := 0; ib < len(x)/32; ib++ {
		xb, yb := x[ib*32:ib*32+32], y[ib*22:ib*22+22]
		legacyWeights(xb, qw[ib*32:], sigma2, weight[:])
		d := makeQxQuants(32, 16, xb, L[:], 1, weight[:])
		putF16(yb, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0, xi1 := uint8(L[j]), uint8(L[j+16])
			yb[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(yb[2:], qh)
	}
}

func quantizeQ5_1W(x []float32, y []byte, qw []float32) {
	var weight [32]float32
	var L, Laux [32]uint8
	sigma2 := rowSigma2(x)
	for ib := 0; ib < len(x)/32; ib++ {
		xb, yb := x[ib*32:ib*32+32], y[ib*24:ib*24+24]
		legacyWeights(xb, qw[ib*32:], sigma2, weight[:])
		var min float32
		d := makeQkx3Quants(32, 31, xb, weight[:], L[:], &min, Laux[:], -0.9, 0.05, 36, false)
		putF16(yb, d)
		putF16(yb[2:], -min)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0, xi1 := L[j], L[j+16]
			yb[8+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(yb[4:], qh)
	}
}
