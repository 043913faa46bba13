package synthetic

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ferryhq/ferry/quant"
)

// FillBlocks fills dst (whole blocks of type t) with random quantized data
// whose dequantized values have roughly standard deviation std: random
// quants, and block scales set so the values land near that spread. Writing
// blocks directly is what makes a multi-GiB synthetic model quick to build:
// nothing is quantized from floats.
func FillBlocks(t quant.Type, dst []byte, rng *rand.Rand, std float32) error {
	bpb := t.BytesPerBlock()
	if bpb == 0 || len(dst)%bpb != 0 {
		return fmt.Errorf("synthetic: %d bytes is not a whole number of %v blocks", len(dst), t)
	}
	switch t {
	case quant.F32:
		for i := 0; i+4 <= len(dst); i += 4 {
			binary.LittleEndian.PutUint32(dst[i:], math.Float32bits(float32(rng.NormFloat64())*std))
		}
		return nil
	case quant.F16:
		for i := 0; i+2 <= len(dst); i += 2 {
			binary.LittleEndian.PutUint16(dst[i:], f32ToF16(float32(rng.NormFloat64())*std))
		}
		return nil
	case quant.BF16:
		for i := 0; i+2 <= len(dst); i += 2 {
			binary.LittleEndian.PutUint16(dst[i:], uint16(math.Float32bits(float32(rng.NormFloat64())*std)>>16))
		}
		return nil
	}
	// Random bytes for every quant, then overwrite the scale fields.
	fillBytes(rng, dst)
	// f16 scale fields: byte offset and the value relative to std (roughly
	// std / typical |quant × sub-scale|).
	type field struct {
		off    int
		factor float32
	}
	var fields []field
	switch t {
	case quant.Q4_0, quant.IQ4_NL:
		fields = []field{{0, 1.0 / 5}}
		if t == quant.IQ4_NL {
			fields = []field{{0, 1.0 / 70}}
		}
	case quant.Q4_1:
		fields = []field{{0, 1.0 / 5}, {2, -1.5}}
	case quant.Q5_0:
		fields = []field{{0, 1.0 / 10}}
	case quant.Q5_1:
		fields = []field{{0, 1.0 / 10}, {2, -3}}
	case quant.Q8_0:
		fields = []field{{0, 1.0 / 70}}
	case quant.Q2_K:
		fields = []field{{80, 1.0 / 12}, {82, 1.0 / 12}}
	case quant.Q3_K:
		fields = []field{{108, 1.0 / 40}}
	case quant.Q4_K:
		fields = []field{{0, 1.0 / 250}, {2, 1.0 / 250}}
	case quant.Q5_K:
		fields = []field{{0, 1.0 / 500}, {2, 1.0 / 500}}
	case quant.Q6_K:
		fields = []field{{208, 1.0 / 1500}}
	case quant.IQ4_XS:
		fields = []field{{0, 1.0 / 1000}}
	default:
		return fmt.Errorf("synthetic: no random block generator for %v", t)
	}
	for b := 0; b < len(dst); b += bpb {
		for _, f := range fields {
			jit := 0.75 + 0.5*rng.Float32()
			binary.LittleEndian.PutUint16(dst[b+f.off:], f32ToF16(std*f.factor*jit))
		}
	}
	return nil
}

func fillBytes(rng *rand.Rand, dst []byte) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], rng.Uint64())
	}
	for ; i < len(dst); i++ {
		dst[i] = byte(rng.Uint32())
	}
}

// f32ToF16 rounds to the nearest IEEE half, subnormals included: small
// super-block scales (Q6_K, Q5_K, IQ4_XS at std 0.02) are subnormal halves,
// and flushing them to zero would silently zero whole tensors.
func f32ToF16(f float32) uint16 { return quant.F32ToF16(f) }
