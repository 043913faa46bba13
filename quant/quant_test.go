package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// allQuantTypes are the types with quantize, dequantize and dot product.
var allQuantTypes = []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, TQ2_0, TQ1_0, MXFP4}

func gaussRows(rng *rand.Rand, rows, cols int, sigma float64) []float32 {
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * sigma)
	}
	return x
}

func rowBytes(t Type, n int) int { return n / t.BlockSize() * t.BytesPerBlock() }

func relRMSE(a, b []float32) float64 {
	var se, ss float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
		ss += float64(a[i]) * float64(a[i])
	}
	return math.Sqrt(se / ss)
}

// TestRoundTripError checks the relative RMS error of quantize+dequantize on
// Gaussian rows of 4096 and 11008 values (many rows) against per-type
// bounds about 15% above what ggml's algorithms achieve (measured once).
func TestRoundTripError(t *testing.T) {
	bounds := map[Type]float64{
		F32: 0, F16: 2.5e-4, BF16: 1.95e-3, Q8_0: 6.2e-3, Q6_K: 2.05e-2, Q5_0: 4.9e-2, Q5_1: 4.4e-2, Q5_K: 4.2e-2,
		Q4_0: 9.9e-2, Q4_1: 9e-2, Q4_K: 8.2e-2, IQ4_NL: 8.8e-2, IQ4_XS: 8.8e-2, Q3_K: 1.74e-1, Q2_K: 3.4e-1,
		MXFP4: 1.31e-1, TQ2_0: 0.93, TQ1_0: 0.93,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cols := range []int{4096, 11008 - 11008%256} {
		rows := 48
		x := gaussRows(rng, rows, cols, 0.02)
		for _, typ := range allQuantTypes {
			q := make([]byte, rows*rowBytes(typ, cols))
			if err := QuantizeRows(typ, x, rows, cols, q, nil, 0); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := DequantizeRows(typ, q, rows, cols, y, 0); err != nil {
				t.Fatal(err)
			}
			e := relRMSE(x, y)
			t.Logf("%-7s cols=%5d rel RMSE %.5f (bound %.5f)", typ, cols, e, bounds[typ])
			if e > bounds[typ] || math.IsNaN(e) {
				t.Errorf("%s cols=%d: relative RMSE %.5f exceeds %.5f", typ, cols, e, bounds[typ])
			}
		}
	}
}

// TestParallelMatchesSerial: splitting rows over workers must not change a byte.
func TestParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows, cols := 37, 512
	x := gaussRows(rng, rows, cols, 1)
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(rng.Float64() * 3)
	}
	for _, typ := range allQuantTypes {
		n := rows * rowBytes(typ, cols)
		a, b := make([]byte, n), make([]byte, n)
		if err := QuantizeWeighted(typ, x, a, cols, im); err != nil {
			t.Fatal(err)
		}
		if err := QuantizeRows(typ, x, rows, cols, b, im, 5); err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s: parallel quantization differs from serial", typ)
		}
	}
}

// TestImatrixHelps: with importance weights the weighted error must drop.
func TestImatrixHelps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows, cols := 64, 1024
	x := gaussRows(rng, rows, cols, 1)
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(math.Exp(rng.NormFloat64() * 1.5)) // a few columns matter a lot
	}
	werr := func(y []float32) float64 {
		var s float64
		for i := range x {
			d := float64(x[i] - y[i])
			s += float64(im[i%cols]) * d * d
		}
		return s
	}
	for _, typ := range []Type{Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, Q4_0, Q4_1, Q5_0, Q5_1} {
		if !HasImatrix(typ) {
			t.Errorf("%s has no importance-matrix path", typ)
			continue
		}
		n := rows * rowBytes(typ, cols)
		plain, weighted := make([]byte, n), make([]byte, n)
		Quantize(typ, x, plain)
		if err := QuantizeWeighted(typ, x, weighted, cols, im); err != nil {
			t.Fatal(err)
		}
		yp, yw := make([]float32, len(x)), make([]float32, len(x))
		Dequantize(typ, plain, yp)
		Dequantize(typ, weighted, yw)
		ep, ew := werr(yp), werr(yw)
		t.Logf("%-7s weighted error without imatrix %.4g, with %.4g", typ, ep, ew)
		if !(ew < ep) {
			t.Errorf("%s: imatrix did not reduce the weighted error (%.4g >= %.4g)", typ, ew, ep)
		}
	}
}

// TestVecDotConsistent compares VecDot with the float dot product of the
// dequantized weight and activation rows.
func TestVecDotConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 2048
	for _, typ := range allQuantTypes {
		for trial := 0; trial < 4; trial++ {
			w := gaussRows(rng, 1, n, 0.05)
			a := gaussRows(rng, 1, n, 1)
			if trial == 3 {
				for i := range a {
					a[i] = 0 // zero activations: exact zero result
				}
			}
			vt := VecDotType(typ)
			wq := make([]byte, rowBytes(typ, n))
			aq := make([]byte, rowBytes(vt, n))
			if err := Quantize(typ, w, wq); err != nil {
				t.Fatal(err)
			}
			if err := Quantize(vt, a, aq); err != nil {
				t.Fatal(err)
			}
			wd, ad := make([]float32, n), make([]float32, n)
			Dequantize(typ, wq, wd)
			Dequantize(vt, aq, ad)
			var ref, mag float64
			for i := range wd {
				ref += float64(wd[i]) * float64(ad[i])
				mag += math.Abs(float64(wd[i]) * float64(ad[i]))
			}
			if vt == Q8_1 {
				// ggml uses the block sum s = fp16(d*Σq) stored in Q8_1
				// instead of the exact sum: apply the same rounding.
				wb, ab := typ.BytesPerBlock(), vt.BytesPerBlock()
				for b := 0; b < n/32; b++ {
					m := float64(getF16(wq[b*wb+2:]))
					var exact float64
					for _, v := range ad[b*32 : b*32+32] {
						exact += float64(v)
					}
					ref += m * (float64(getF16(aq[b*ab+2:])) - exact)
				}
			}
			got := float64(VecDot(typ, n, wq, aq))
			if math.Abs(got-ref) > 1e-5*mag+1e-30 {
				t.Errorf("%s (act %s) trial %d: VecDot %.7g, dequantized dot %.7g", typ, vt, trial, got, ref)
			}
		}
	}
}

func TestVecDotTypes(t *testing.T) {
	want := map[Type]Type{Q4_0: Q8_0, Q5_0: Q8_0, Q8_0: Q8_0, IQ4_NL: Q8_0, Q4_1: Q8_1, Q5_1: Q8_1,
		Q2_K: Q8_K, Q3_K: Q8_K, Q4_K: Q8_K, Q5_K: Q8_K, Q6_K: Q8_K, IQ4_XS: Q8_K, F16: F16, BF16: BF16, F32: F32}
	for typ, vt := range want {
		if got := VecDotType(typ); got != vt {
			t.Errorf("VecDotType(%s) = %s, want %s", typ, got, vt)
		}
	}
}

func TestF16Edges(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff},
		{65520, 0x7c00},                  // rounds up to Inf (halfway between max and 2^16)
		{65519.996, 0x7bff},              // just below the halfway point
		{float32(math.Inf(1)), 0x7c00},   // Inf
		{float32(math.Inf(-1)), 0xfc00},  // -Inf
		{1e10, 0x7c00},                   // overflow
		{5.960464477539063e-08, 0x0001},  // smallest subnormal 2^-24
		{2.9802322387695312e-08, 0x0000}, // 2^-25: tie between 0 and 2^-24 -> even (0)
		{4.470348358154297e-08, 0x0001},  // 1.5*2^-25 rounds to 2^-24
		{8.940696716308594e-08, 0x0002},  // 1.5*2^-24: tie -> even (2)
		{6.097555160522461e-05, 0x03ff},  // largest subnormal
		{6.103515625e-05, 0x0400},        // smallest normal
		{1.0009765625, 0x3c01},           // 1 + 2^-10
		{1.00048828125, 0x3c00},          // 1 + 2^-11: tie -> even (down)
		{1.00146484375, 0x3c02},          // 1 + 3*2^-11: tie -> even (up)
		{float32(math.NaN()), 0x7e00},    // NaN -> quiet NaN
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if got := F32ToF16(-float32(math.NaN())); got&0x7fff != 0x7e00 {
		t.Errorf("negative NaN -> %#04x", got)
	}
	// Every half value survives a round trip through float32.
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f {
			if uint16(h)&0x7c00 != 0x7c00 || uint16(h)&0x3ff == 0 {
				t.Fatalf("%#04x decoded to NaN", h)
			}
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f, back)
		}
	}
	// Against float64 rounding on random values (a different algorithm).
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 200000; i++ {
		f := math.Float32frombits(rng.Uint32())
		if f != f {
			continue
		}
		if got, want := F32ToF16(f), f16Reference(f); got != want {
			t.Fatalf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

// f16Reference rounds with exact float64 arithmetic: find the nearest half
// by comparing distances, ties to the even mantissa.
func f16Reference(f float32) uint16 {
	x := float64(f)
	sign := uint16(0)
	if math.Signbit(x) {
		sign = 0x8000
		x = -x
	}
	if math.IsInf(x, 0) || x >= 65520 {
		return sign | 0x7c00
	}
	best := uint16(0)
	bestD := math.Inf(1)
	// Binary search over the monotone positive halves.
	lo, hi := 0, 0x7bff
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if float64(f16ToF32Slow(uint16(mid))) <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for _, c := range []int{lo, lo + 1} {
		if c > 0x7bff {
			continue
		}
		d := math.Abs(float64(f16ToF32Slow(uint16(c))) - x)
		if d < bestD || (d == bestD && c%2 == 0) {
			best, bestD = uint16(c), d
		}
	}
	return sign | best
}

func TestBF16Edges(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0}, {1, 0x3f80}, {-1, 0xbf80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie -> even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie -> even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float rounds to Inf
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x00000001), 0x0000}, // tiny subnormal rounds to 0
		{math.Float32frombits(0x00018000), 0x0002}, // subnormal tie -> even, not flushed
		{math.Float32frombits(0x7fc00000), 0x7fc0}, // quiet NaN
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN made quiet (payload in low bits is lost)
		{math.Float32frombits(0xff810000), 0xffc1}, // NaN keeps sign and upper payload, bit 6 set
	}
	for _, c := range cases {
		if got := F32ToBF16(c.f); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(c.f), got, c.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if f == f && F32ToBF16(f) != uint16(h) {
			t.Fatalf("bf16 round trip %#04x", h)
		}
	}
}

func TestBadBuffers(t *testing.T) {
	x := make([]float32, 64)
	if err := Quantize(Q4_K, x, make([]byte, 144)); err == nil {
		t.Error("64 values quantized to Q4_K (block 256)")
	}
	if err := Quantize(Q4_0, x, make([]byte, 10)); err == nil {
		t.Error("short destination accepted")
	}
	if err := Dequantize(Q8_0, make([]byte, 35), make([]float32, 32)); err == nil {
		t.Error("wrong source size accepted")
	}
	if err := Dequantize(Type(99), nil, nil); err == nil {
		t.Error("unknown type accepted")
	}
	if err := QuantizeWeighted(Q4_K, make([]float32, 512), make([]byte, 288), 512, make([]float32, 100)); err == nil {
		t.Error("imatrix of the wrong length accepted")
	}
	if err := QuantizeRows(Q4_0, x, 3, 32, make([]byte, 54), nil, 2); err == nil {
		t.Error("rows*cols != len accepted")
	}
}
