// Package kernels holds the hot loops of inference: quantizing activations,
// quantized matrix-vector and matrix-matrix products, and small F32 vector
// helpers. Every operation has a portable Go implementation (the reference)
// and, where it pays, a Go assembly version chosen at run time from the CPU's
// features. Build with the `purego` tag to force the portable code.
//
// Contract with callers (the engine):
//   - Weights stay in their storage type (GGUF blocks); activations are
//     quantized once per vector into ActivationType(t) with
//     QuantizeActivations and then dotted with every weight row.
//   - For F32, F16 and BF16 weights the activation is plain little-endian F32
//     bytes (F32Bytes turns a []float32 into that view without copying), so
//     full-precision models are computed in F32 like the HF reference.
//   - Functions never allocate and keep no shared mutable state, so callers
//     may run them concurrently on disjoint output ranges (the engine splits
//     weight rows across its worker pool).
package kernels
