package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

func readF32File(t testing.TB, path string) []float32 {
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

var referenceFiles = map[string]Type{
	"f16": F16, "bf16": BF16, "q4_0": Q4_0, "q4_1": Q4_1, "q5_0": Q5_0, "q5_1": Q5_1,
	"q8_0": Q8_0, "q2_K": Q2_K, "q3_K": Q3_K, "q4_K": Q4_K, "q5_K": Q5_K, "q6_K": Q6_K,
	"iq4_nl": IQ4_NL, "iq4_xs": IQ4_XS,
}

// TestReferenceQuantization reproduces ggml's quantization and
// dequantization of ../shared/testdata/quant byte for byte.
func TestReferenceQuantization(t *testing.T) {
	dir := testdata.Path(t, "quant")
	input := readF32File(t, filepath.Join(dir, "input.f32"))
	if len(input) != 16*512 {
		t.Fatalf("input.f32 has %d values, want 16x512", len(input))
	}
	for name, typ := range referenceFiles {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if err := Quantize(typ, input, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				rowBytes := len(want) / 16
				for r := 0; r < 16; r++ {
					g, w := got[r*rowBytes:(r+1)*rowBytes], want[r*rowBytes:(r+1)*rowBytes]
					if !bytes.Equal(g, w) {
						for i := range g {
							if g[i] != w[i] {
								t.Errorf("row %d: first difference at byte %d (block %d offset %d): got %#x want %#x", r, i, i/typ.BytesPerBlock(), i%typ.BytesPerBlock(), g[i], w[i])
								break
							}
						}
					}
				}
			}
			// Dequantize ggml's bytes (not ours) so the two checks are independent.
			wantDeq, err := os.ReadFile(filepath.Join(dir, name+".dequant.f32"))
			if err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, len(input))
			if err := Dequantize(typ, want, deq); err != nil {
				t.Fatal(err)
			}
			gotDeq := make([]byte, 4*len(deq))
			for i, v := range deq {
				binary.LittleEndian.PutUint32(gotDeq[4*i:], math.Float32bits(v))
			}
			if !bytes.Equal(gotDeq, wantDeq) {
				for i := 0; i < len(deq); i++ {
					if !bytes.Equal(gotDeq[4*i:4*i+4], wantDeq[4*i:4*i+4]) {
						t.Errorf("dequantized value %d (row %d col %d) = %g, want %g", i, i/512, i%512, deq[i], math.Float32frombits(binary.LittleEndian.Uint32(wantDeq[4*i:])))
						break
					}
				}
			}
		})
	}
}
