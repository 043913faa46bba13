package model

import (
	"encoding/binary"
	"math"
)

// f32Bytes encodes float32 values little-endian, for the few tensors the
// loaders compute (norm offsets, rope factors, dequantized MLX weights).
func f32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}
