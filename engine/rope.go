package engine

import "math"

// rope rotates query/key heads by position. One rope exists per distinct
// base (Gemma 3's local layers use another base than its global ones).
type rope struct {
	neox bool
	dim  int
	// theta[i] is the angle per position of pair i after frequency factors
	// and scaling (before YaRN's ramp mixing).
	theta  []float64
	extrap []float64 // unscaled angles, for YaRN mixing
	yarn   bool
	ramp   []float64 // YaRN: weight of the extrapolated angle per pair
	mscale float64
}

// newRope builds a rope for base. factors, when non-nil, are per-pair
// frequency divisors (GGUF's rope_freqs tensor, llama3 scaling).
func newRope(rc RopeConfig, base float64, factors []float32) *rope {
	half := rc.Dim / 2
	r := &rope{neox: rc.NeoX, dim: rc.Dim, theta: make([]float64, half), extrap: make([]float64, half), mscale: 1}
	if factors == nil && rc.Scaling == "llama3" {
		factors = llama3Factors(rc, base)
	}
	freqScale := 1.0
	if rc.Scaling == "linear" || rc.Scaling == "yarn" {
		freqScale = 1 / rc.Factor
	}
	for i := 0; i < half; i++ {
		f := math.Pow(base, -2*float64(i)/float64(rc.Dim))
		if factors != nil && i < len(factors) && factors[i] != 0 {
			f /= float64(factors[i])
		}
		r.extrap[i] = f
		r.theta[i] = f * freqScale
	}
	if rc.Scaling == "yarn" && rc.ExtFactor != 0 {
		// ggml's rope_yarn: blend interpolated and extrapolated angles over
		// the dimensions between the beta_fast and beta_slow corrections.
		r.yarn = true
		corr := func(nRot float64) float64 {
			return float64(rc.Dim) * math.Log(float64(rc.OrigCtx)/(nRot*2*math.Pi)) / (2 * math.Log(base))
		}
		lo := math.Max(0, math.Floor(corr(rc.BetaFast)))
		hi := math.Min(float64(rc.Dim-1), math.Ceil(corr(rc.BetaSlow)))
		r.ramp = make([]float64, half)
		for i := 0; i < half; i++ {
			y := (float64(i) - lo) / math.Max(0.001, hi-lo)
			r.ramp[i] = (1 - math.Min(1, math.Max(0, y))) * rc.ExtFactor
		}
		r.mscale = rc.AttnFac * (1 + 0.1*math.Log(1/freqScale))
	}
	if rc.Scaling == "longrope" {
		r.mscale = rc.AttnFac // Phi-3's sqrt(1 + ln(s)/ln(orig)) from the converter
	}
	return r
}

// llama3Factors reproduces the rope_freqs llama.cpp's converter writes for
// Llama 3.1-style scaling.
func llama3Factors(rc RopeConfig, base float64) []float32 {
	half := rc.Dim / 2
	out := make([]float32, half)
	old := float64(rc.OrigCtx)
	lowWave := old / rc.LowFreq
	highWave := old / rc.HighFreq
	for i := 0; i < half; i++ {
		freq := math.Pow(base, -2*float64(i)/float64(rc.Dim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(rc.Factor)
		default:
			smooth := (old/wave - rc.LowFreq) / (rc.HighFreq - rc.LowFreq)
			out[i] = float32(1 / ((1-smooth)/rc.Factor + smooth))
		}
	}
	return out
}

// angles fills cos/sin (len dim/2) for position pos.
func (r *rope) angles(pos int, cos, sin []float32) {
	p := float64(pos)
	for i := range r.theta {
		th := p * r.theta[i]
		if r.yarn {
			m := r.ramp[i]
			th = th*(1-m) + p*r.extrap[i]*m
		}
		s, c := math.Sincos(th)
		cos[i] = float32(c * r.mscale)
		sin[i] = float32(s * r.mscale)
	}
}

// apply rotates one head in place.
func (r *rope) apply(x, cos, sin []float32) {
	half := r.dim / 2
	if r.neox {
		a, b := x[:half], x[half:r.dim]
		for i := 0; i < half; i++ {
			x0, x1 := a[i], b[i]
			a[i] = x0*cos[i] - x1*sin[i]
			b[i] = x0*sin[i] + x1*cos[i]
		}
		return
	}
	for i := 0; i < half; i++ {
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*cos[i] - x1*sin[i]
		x[2*i+1] = x0*sin[i] + x1*cos[i]
	}
}
