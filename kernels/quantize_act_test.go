package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ferryhq/ferry/quant"
)

// TestQuantizeQ8_0MatchesRef checks the installed Q8_0 activation quantizer
// (assembly where the CPU has it) byte for byte against the reference, over
// magnitudes from f16-subnormal scales to huge ones, all-zero blocks, and
// values that land exactly on a half after scaling (the rounding tie).
func TestQuantizeQ8_0MatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 32 * 64
	x := make([]float32, n)
	for _, scale := range []float64{1e-9, 1e-6, 3e-5, 1e-3, 1, 7.5, 1e3, 1e20} {
		for trial := 0; trial < 20; trial++ {
			for i := range x {
				x[i] = float32(rng.NormFloat64() * scale)
			}
			switch trial {
			case 1: // a zero block and a block of one repeated value
				clear(x[:32])
				for i := 32; i < 64; i++ {
					x[i] = float32(-scale)
				}
			case 2: // ties: amax 127 gives d = 1, so k+0.5 stays a tie
				for b := 0; b < n/32; b++ {
					x[b*32] = 127
					for i := 1; i < 32; i++ {
						x[b*32+i] = float32(rng.IntN(253)-126) + 0.5*float32(rng.IntN(2))
					}
				}
			case 3: // just below and above a half
				for i := range x {
					x[i] = math.Nextafter32(float32(i%200-100)+0.5, float32(2*(i%2)-1)*1000)
				}
			}
			want := make([]byte, ActivationSize(quant.Q8_0, n))
			got := make([]byte, len(want))
			quantizeQ8_0Ref(x, want)
			QuantizeActivations(quant.Q8_0, x, got)
			if !bytes.Equal(got, want) {
				for b := 0; b < n/32; b++ {
					if g, w := got[b*34:b*34+34], want[b*34:b*34+34]; !bytes.Equal(g, w) {
						t.Fatalf("scale %g trial %d block %d: got %v, want %v (inputs %v)", scale, trial, b, g, w, x[b*32:b*32+32])
					}
				}
			}
		}
	}
}
