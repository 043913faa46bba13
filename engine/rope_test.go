package engine

import (
	"math"
	"testing"

	"github.com/ferryhq/ferry/model"
)

// hfYarnInvFreq is transformers' _compute_yarn_parameters, written
// independently of ggml's formulation used by the engine.
func hfYarnInvFreq(dim int, base, factor float64, orig int, betaFast, betaSlow float64) ([]float64, float64) {
	corr := func(rot float64) float64 {
		return float64(dim) * math.Log(float64(orig)/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	low := math.Max(math.Floor(corr(betaFast)), 0)
	high := math.Min(math.Ceil(corr(betaSlow)), float64(dim-1))
	if low == high {
		high += 0.001
	}
	inv := make([]float64, dim/2)
	for i := range inv {
		posFreq := math.Pow(base, float64(2*i)/float64(dim))
		extra, inter := 1/posFreq, 1/(factor*posFreq)
		ramp := math.Min(1, math.Max(0, (float64(i)-low)/(high-low)))
		ef := 1 - ramp
		inv[i] = inter*(1-ef) + extra*ef
	}
	return inv, 0.1*math.Log(factor) + 1
}

func TestRopeScaling(t *testing.T) {
	const dim, pos = 64, 1234
	cos, sin := make([]float32, dim/2), make([]float32, dim/2)
	check := func(name string, r *rope, inv []float64, mscale float64) {
		t.Helper()
		r.angles(pos, cos, sin)
		for i := range inv {
			th := float64(pos) * inv[i]
			if math.Abs(float64(cos[i])-math.Cos(th)*mscale) > 1e-4 || math.Abs(float64(sin[i])-math.Sin(th)*mscale) > 1e-4 {
				t.Fatalf("%s: pair %d: cos/sin %v/%v, want %v/%v", name, i, cos[i], sin[i], math.Cos(th)*mscale, math.Sin(th)*mscale)
			}
		}
	}
	base := 10000.0
	plain := make([]float64, dim/2)
	for i := range plain {
		plain[i] = math.Pow(base, -2*float64(i)/dim)
	}
	check("none", newRope(RopeConfig{Dim: dim, Factor: 1, AttnFac: 1}, base, nil), plain, 1)

	lin := make([]float64, dim/2)
	for i := range lin {
		lin[i] = plain[i] / 4
	}
	check("linear", newRope(RopeConfig{Dim: dim, Scaling: "linear", Factor: 4, AttnFac: 1}, base, nil), lin, 1)

	inv, ms := hfYarnInvFreq(dim, base, 8, 4096, 32, 1)
	check("yarn", newRope(RopeConfig{Dim: dim, Scaling: "yarn", Factor: 8, OrigCtx: 4096, ExtFactor: 1, AttnFac: 1, BetaFast: 32, BetaSlow: 1}, base, nil), inv, ms)

	// llama3: factors computed from metadata equal the converter's
	// rope_freqs tensor.
	rc := RopeConfig{Dim: dim, Scaling: "llama3", Factor: 8, OrigCtx: 64, LowFreq: 1, HighFreq: 4, AttnFac: 1}
	want := model.Llama3RopeFactors(dim, base, 8, 1, 4, 64)
	got := llama3Factors(rc, base)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("llama3 factor %d: %v, converter %v", i, got[i], want[i])
		}
	}
	l3 := make([]float64, dim/2)
	for i := range l3 {
		l3[i] = plain[i] / float64(want[i])
	}
	check("llama3", newRope(rc, base, nil), l3, 1)

	lr := RopeConfig{Dim: dim, Scaling: "longrope", Factor: 1, AttnFac: 1.19}
	fac := make([]float32, dim/2)
	lrInv := make([]float64, dim/2)
	for i := range fac {
		fac[i] = 1 + float32(i)/4
		lrInv[i] = plain[i] / float64(fac[i])
	}
	check("longrope", newRope(lr, base, fac), lrInv, 1.19)
}
