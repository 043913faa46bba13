package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x <= 88; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(Expf(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 5e-7 {
		t.Errorf("max relative error %.3g", worst)
	}
	if Expf(-100) != 0 || !math.IsInf(float64(Expf(100)), 1) || Expf(0) != 1 || !math.IsNaN(float64(Expf(float32(math.NaN())))) {
		t.Error("edge cases")
	}
}

// TestSiLUMul checks the installed SiLUMul (assembly on amd64) against
// SiLU(g)·u element by element, over ordinary values, the saturation ends
// of Expf (±88, ±87.3 and beyond), zeros, infinities and NaN, at lengths
// that leave a scalar tail, and with dst aliasing g.
func TestSiLUMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), 88, -88, 87.3, -87.3, 88.1, -88.1, 87.2, -87.4, 100, -100, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30}
	for _, n := range []int{1, 7, 8, 9, 64, 100, 8192} {
		g := make([]float32, n)
		u := make([]float32, n)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 4)
			u[i] = float32(rng.NormFloat64())
			if i < len(special) && n >= 64 {
				g[i] = special[i]
			}
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = SiLU(g[i]) * u[i]
		}
		got := make([]float32, n)
		SiLUMul(got, g, u)
		gg := append([]float32(nil), g...)
		SiLUMul(gg, gg, u) // in place
		for i := range want {
			for _, v := range []float32{got[i], gg[i]} {
				w := want[i]
				if math.IsNaN(float64(w)) != math.IsNaN(float64(v)) || !math.IsNaN(float64(w)) && !close32(v, w) {
					t.Fatalf("n=%d i=%d g=%g u=%g: got %g, want %g", n, i, g[i], u[i], v, w)
				}
			}
		}
	}
}

// close32 allows a couple of ulp: a GOAMD64=v3 build may fuse the Go
// reference's multiply-adds, which the assembly keeps separate.
func close32(a, b float32) bool {
	if a == b {
		return true
	}
	d := math.Abs(float64(a) - float64(b))
	return d <= 4e-7*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}
