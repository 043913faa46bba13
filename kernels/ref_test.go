package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
)

// dequantAct expands an activation vector back to float32 (test helper).
func dequantAct(vt quant.Type, b []byte, n int) []float32 {
	out := make([]float32, n)
	switch vt {
	case quant.F32:
		copy(out, Float32s(b[:4*n]))
	case quant.Q8_0:
		for i := range out {
			blk := b[(i/32)*q8_0Bytes:]
			out[i] = f16at(blk) * float32(int8(blk[2+i%32]))
		}
	case quant.Q8_1:
		for i := range out {
			blk := b[(i/32)*q8_1Bytes:]
			out[i] = f16at(blk) * float32(int8(blk[4+i%32]))
		}
	case quant.Q8_K:
		for i := range out {
			blk := b[(i/256)*q8KBytes:]
			out[i] = q8Kd(blk) * float32(int8(blk[4+i%256]))
		}
	}
	return out
}

func readF32File(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

var refFiles = map[quant.Type]string{
	quant.F16: "f16", quant.BF16: "bf16", quant.Q4_0: "q4_0", quant.Q4_1: "q4_1",
	quant.Q5_0: "q5_0", quant.Q5_1: "q5_1", quant.Q8_0: "q8_0", quant.Q2_K: "q2_K",
	quant.Q3_K: "q3_K", quant.Q4_K: "q4_K", quant.Q5_K: "q5_K", quant.Q6_K: "q6_K",
	quant.IQ4_NL: "iq4_nl", quant.IQ4_XS: "iq4_xs",
}

// TestReferenceAgainstGGML checks every portable dot product on llama.cpp's
// own quantized rows: the dot of the weights with a quantized activation must
// equal (to float rounding) the dot of ggml's dequantized weights with the
// dequantized activation, which pins down every block layout.
func TestReferenceAgainstGGML(t *testing.T) {
	const rows, cols = 16, 512
	rng := rand.New(rand.NewPCG(1, 2))
	for typ, name := range refFiles {
		t.Run(name, func(t *testing.T) {
			bin, err := os.ReadFile(testdata.Path(t, "quant", name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			deq := readF32File(t, testdata.Path(t, "quant", name+".dequant.f32"))
			rb := RowBytes(typ, cols)
			if len(bin) != rows*rb || len(deq) != rows*cols {
				t.Fatalf("%s: unexpected sizes %d, %d", name, len(bin), len(deq))
			}
			vt := ActivationType(typ)
			x := make([]float32, cols)
			act := make([]byte, ActivationSize(vt, cols))
			y := make([]float32, rows)
			for trial := 0; trial < 4; trial++ {
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				QuantizeActivations(vt, x, act)
				a := dequantAct(vt, act, cols)
				MatVec(typ, bin, rows, cols, act, y)
				for r := 0; r < rows; r++ {
					var want, mag float64
					for i := 0; i < cols; i++ {
						w := float64(deq[r*cols+i])
						if vt == quant.Q8_1 {
							// Q8_1 carries its block sum as an F16 (s), which
							// ggml uses for the min term: mirror that here.
							blk := i / 32
							m := float64(f16at(bin[r*rb+blk*typ.BytesPerBlock()+2:]))
							w -= m
							if i%32 == 0 {
								want += m * float64(f16at(act[blk*q8_1Bytes+2:]))
							}
						}
						p := w * float64(a[i])
						want += p
						mag += math.Abs(p)
					}
					got := float64(table[typ].ref(cols, bin[r*rb:(r+1)*rb], act))
					if d := math.Abs(got - want); d > 1e-5*mag+1e-30 {
						t.Errorf("%s row %d: ref dot %g, dequantized dot %g (|diff| %g, scale %g)", name, r, got, want, d, mag)
					}
					if y[r] != float32(got) && !closeRel(y[r], float32(got), mag) {
						t.Errorf("%s row %d: MatVec %g, reference %g", name, r, y[r], got)
					}
				}
			}
		})
	}
}

func closeRel(a, b float32, mag float64) bool {
	return math.Abs(float64(a)-float64(b)) <= 2e-6*mag+1e-30
}

// TestActivationQuantizers checks the quantizers against their definition:
// the round trip error is within half a step of each block's scale.
func TestActivationQuantizers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 3
	}
	x[5] = 0
	for i := 256; i < 512; i++ {
		x[i] = 0 // an all-zero block must give d = 0, not NaN
	}
	for _, vt := range []quant.Type{quant.Q8_0, quant.Q8_1, quant.Q8_K, quant.F32} {
		buf := make([]byte, ActivationSize(vt, len(x)))
		QuantizeActivations(vt, x, buf)
		back := dequantAct(vt, buf, len(x))
		bs := vt.BlockSize()
		if vt == quant.Q8_K {
			bs = 256
		}
		for b := 0; b < len(x)/bs; b++ {
			var amax float32
			for _, v := range x[b*bs : (b+1)*bs] {
				amax = max(amax, abs32(v))
			}
			step := amax / 127
			for i := b * bs; i < (b+1)*bs; i++ {
				if d := abs32(back[i] - x[i]); d > step*0.5001+abs32(x[i])*1e-3 || math.IsNaN(float64(back[i])) {
					t.Fatalf("%v: element %d: %g -> %g (step %g)", vt, i, x[i], back[i], step)
				}
			}
		}
		if vt == quant.Q8_K {
			for j := 0; j < len(x)/16; j++ {
				blk := buf[(j/16)*q8KBytes:]
				var s int32
				for i := 0; i < 16; i++ {
					s += int32(int8(blk[4+(j%16)*16+i]))
				}
				if got := q8Kbsum(blk, j%16); got != s {
					t.Fatalf("Q8_K bsum %d = %d, want %d", j, got, s)
				}
			}
		}
	}
}

func TestHalf(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("f16 %#04x -> %g -> %#04x", h, f, back)
		}
	}
	if F32ToF16(1.0/3) != 0x3555 || F32ToF16(65520) != 0x7c00 || F32ToF16(5.96e-8) != 1 {
		t.Fatalf("rounding: %#x %#x %#x", F32ToF16(1.0/3), F32ToF16(65520), F32ToF16(5.96e-8))
	}
	if F32ToBF16(1.00390625) != 0x3f80 || F32ToBF16(1.01171875) != 0x3f82 {
		t.Fatalf("bf16 rounding %#x %#x", F32ToBF16(1.00390625), F32ToBF16(1.01171875))
	}
}
