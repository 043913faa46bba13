package kernels

import "math"

// Expf is exp for float32 arguments, accurate to about 2 ulp: range
// reduction by ln 2 and a degree-6 Taylor polynomial. It is several times
// faster than math.Exp, which matters in attention's softmax over long
// contexts and in the FFN's SiLU; SiLUMul's assembly evaluates the same
// operations in the same order.
func Expf(x float32) float32 {
	switch {
	case x > 88:
		return float32(math.Inf(1))
	case x < -87.3:
		return 0
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// SiLU is x·sigmoid(x), with Expf.
func SiLU(x float32) float32 { return x / (1 + Expf(-x)) }

// SiLUMul writes SiLU(g[i])·u[i] into dst[i] (the gated FFN's activation;
// dst may alias g or u). A batched decode step evaluates it for every FFN
// unit of every token, so amd64 has it in assembly.
func SiLUMul(dst, g, u []float32) {
	n := len(dst)
	g, u = g[:n], u[:n]
	done := siluMulFast(dst, g, u)
	for i := done; i < n; i++ {
		dst[i] = SiLU(g[i]) * u[i]
	}
}

// siluMulFast handles a prefix of the slices (all equally long) with a
// vector kernel where there is one and returns its length.
var siluMulFast = func(dst, g, u []float32) int { return 0 }
