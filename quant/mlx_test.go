package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/safetensors"
)

// TestMLXStories quantizes the stories260K weights (HF layout, cast to F16
// as mlx_lm.convert does before quantizing) and compares the packed
// weights, scales and biases with the MLX folders byte for byte.
func TestMLXStories(t *testing.T) {
	hf, err := safetensors.Open(filepath.Join(testdata.Path(t, "models", "stories260K-hf"), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	for _, bits := range []int{4, 8} {
		dir := testdata.Path(t, "models", map[int]string{4: "stories260K-mlx-4bit", 8: "stories260K-mlx-8bit"}[bits])
		mf, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, ti := range mf.Header.Tensors {
			name, ok := strings.CutSuffix(ti.Name, ".scales")
			if !ok {
				continue
			}
			src, ok := hf.Tensor(name + ".weight")
			if !ok {
				t.Fatalf("HF folder has no %s.weight", name)
			}
			if src.DType != safetensors.F32 {
				t.Fatalf("%s: HF dtype %s", name, src.DType)
			}
			raw := hf.Data(src)
			w := make([]float32, src.Elements())
			for i := range w {
				w[i] = F16ToF32(F32ToF16(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))))
			}
			cols := int(src.Shape[len(src.Shape)-1])
			packed, scales, biases, err := MLXQuantize(w, cols, 64, bits, F16)
			if err != nil {
				t.Fatal(err)
			}
			wantW, _ := mf.Tensor(name + ".weight")
			wantB, _ := mf.Tensor(name + ".biases")
			sc, _ := mf.Tensor(name + ".scales")
			for _, c := range []struct {
				what      string
				got, want []byte
			}{{"weight", packed, mf.Data(wantW)}, {"scales", scales, mf.Data(sc)}, {"biases", biases, mf.Data(wantB)}} {
				if !bytes.Equal(c.got, c.want) {
					n := 0
					for i := range c.got {
						if i < len(c.want) && c.got[i] != c.want[i] {
							n++
						}
					}
					t.Errorf("%d-bit %s.%s: %d of %d bytes differ", bits, name, c.what, n, len(c.want))
				}
			}
			// Dequantizing the folder's data is within 1.5 steps (MLX's
			// scale choice can clip the far end of a group).
			y := make([]float32, len(w))
			if err := MLXDequantize(mf.Data(wantW), mf.Data(sc), mf.Data(wantB), F16, cols, 64, bits, y); err != nil {
				t.Fatal(err)
			}
			for g := 0; g < len(w)/64; g++ {
				step := float64(abs32(getScalar(mf.Data(sc), g, F16)))
				for i := g * 64; i < (g+1)*64; i++ {
					if d := math.Abs(float64(w[i] - y[i])); d > 1.5*step*1.01+1e-6 {
						t.Fatalf("%s: value %d off by %g (step %g)", name, i, d, step)
					}
				}
			}
			checked++
		}
		mf.Close()
		if checked < 5*6 {
			t.Errorf("%d-bit: only %d quantized tensors compared", bits, checked)
		}
	}
}

// TestMLXPacking pins the bit layout: element k at bit k*bits of the
// little-endian stream, and round trip for every supported width and group.
func TestMLXPacking(t *testing.T) {
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{32, 64, 128} {
			n := 2 * gs
			// Values that quantize to 0,1,2,... exactly: scale 1, bias 0.
			w := make([]float32, n)
			nb := 1<<bits - 1
			for i := range w {
				w[i] = float32(i % (nb + 1))
			}
			w[0], w[gs] = 0, 0
			w[gs-1], w[n-1] = float32(nb), float32(nb)
			packed, sc, bi, err := MLXQuantize(w, n, gs, bits, F16)
			if err != nil {
				t.Fatal(err)
			}
			for k := range w {
				bit := k * bits
				v := (binary.LittleEndian.Uint64(append(packed[bit/8:], make([]byte, 8)...)) >> (bit % 8)) & uint64(nb)
				want := uint64(w[k])
				// scale is max/nb = 1 and negative unless |min| > |max|: max is the edge.
				if getScalar(sc, 0, F16) < 0 {
					want = uint64(nb) - want
				}
				if v != want {
					t.Fatalf("bits %d group %d: element %d packed as %d, want %d", bits, gs, k, v, want)
				}
			}
			y := make([]float32, n)
			if err := MLXDequantize(packed, sc, bi, F16, n, gs, bits, y); err != nil {
				t.Fatal(err)
			}
			for i := range w {
				if y[i] != w[i] {
					t.Fatalf("bits %d group %d: value %d -> %g, want %g", bits, gs, i, y[i], w[i])
				}
			}
			// Random data: error within half a step, except that MLX's
			// choice of scale (edge/q0) can clip the far end of the group
			// by up to one more step.
			rng := rand.New(rand.NewPCG(uint64(bits), uint64(gs)))
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			w[3] = 0
			for _, dt := range []Type{F16, BF16, F32} {
				packed, sc, bi, err = MLXQuantize(w, n, gs, bits, dt)
				if err != nil {
					t.Fatal(err)
				}
				if err := MLXDequantize(packed, sc, bi, dt, n, gs, bits, y); err != nil {
					t.Fatal(err)
				}
				step := math.Abs(float64(getScalar(sc, 0, dt)))
				// Zero is exact with F32 scales; F16/BF16 rounding of the
				// scale and bias moves it by a small fraction of a step.
				if (dt == F32 && y[3] != 0) || (dt == F16 && math.Abs(float64(y[3])) > step*0.1) {
					t.Errorf("bits %d group %d %s: zero dequantized to %g (step %g)", bits, gs, dt, y[3], step)
				}
				for i := 0; i < gs; i++ {
					if d := math.Abs(float64(w[i] - y[i])); d > 1.52*step {
						t.Errorf("bits %d group %d %s: value %d off by %g (step %g)", bits, gs, dt, i, d, step)
						break
					}
				}
			}
		}
	}
	if _, _, _, err := MLXQuantize(make([]float32, 64), 64, 64, 7, F16); err == nil {
		t.Error("7 bits accepted")
	}
	if _, _, _, err := MLXQuantize(make([]float32, 96), 96, 64, 4, F16); err == nil {
		t.Error("row of 96 with groups of 64 accepted")
	}
}

func TestMLXMXFP4(t *testing.T) {
	// Exact values: a group whose max is 6 has scale 2^0 (e = 127).
	w := make([]float32, 64)
	vals := []float32{0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.5, -6}
	for i := range w[:32] {
		w[i] = vals[i%len(vals)]
	}
	for i := 32; i < 64; i++ {
		w[i] = float32(i-32) * 0.01 // max 0.31 -> scale 2^round(log2(0.0517)) = 2^-4
	}
	packed, scales, err := MLXQuantizeMXFP4(w, 64)
	if err != nil {
		t.Fatal(err)
	}
	if scales[0] != 127 || scales[1] != 127-4 {
		t.Fatalf("scales %v", scales)
	}
	if packed[0] != 0x10 || packed[3] != 0x76 { // codes 0,1 then 6,7 (4.0, 6.0)
		t.Fatalf("packed % x", packed[:4])
	}
	y := make([]float32, 64)
	if err := MLXDequantizeMXFP4(packed, scales, y); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 32; i++ {
		if y[i] != w[i] {
			t.Fatalf("value %d: %g, want %g", i, y[i], w[i])
		}
	}
	// Ties go to the even mantissa: 2.5 -> 2, 3.5 -> 4, 5 -> 4, 0.25 -> 0.
	for in, want := range map[float32]float32{2.5: 2, 3.5: 4, 5: 4, 0.25: 0, 0.75: 1, 1.25: 1, 1.75: 2, 7: 6, -2.5: -2} {
		if got := fp4LUT[toFP4E2M1(in)]; got != want {
			t.Errorf("E2M1(%g) = %g, want %g", in, got, want)
		}
	}
	if _, _, err := MLXQuantizeMXFP4(make([]float32, 48), 48); err == nil {
		t.Error("row of 48 accepted")
	}
}
