package kernels

import (
	"fmt"
	"unsafe"

	"github.com/ferryhq/ferry/quant"
)

// dotFunc returns the dot product of n elements of one weight row w (storage
// type t) with an activation a in ActivationType(t) layout.
type dotFunc func(n int, w, a []byte) float32

// matVecFunc computes y[r] = row r · act for rows consecutive rows of
// rowBytes bytes each.
type matVecFunc func(w []byte, rowBytes, rows, cols int, act []byte, y []float32)

// matMulFunc computes y[b*ldy+r] = row r · act b for a batch of activations
// of actBytes bytes each.
type matMulFunc func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int)

// kernel is one weight type's entry: activation format, portable dot, and the
// (possibly accelerated) row loops.
type kernel struct {
	act    quant.Type
	ref    dotFunc // portable reference, never replaced
	dot    dotFunc // fastest available single-row dot
	matvec matVecFunc
	matmul matMulFunc
}

var table = map[quant.Type]*kernel{
	quant.F32:    {act: quant.F32, ref: dotF32Ref},
	quant.F16:    {act: quant.F32, ref: dotF16Ref},
	quant.BF16:   {act: quant.F32, ref: dotBF16Ref},
	quant.Q4_0:   {act: quant.Q8_0, ref: dotQ4_0Ref},
	quant.Q4_1:   {act: quant.Q8_1, ref: dotQ4_1Ref},
	quant.Q5_0:   {act: quant.Q8_0, ref: dotQ5_0Ref},
	quant.Q5_1:   {act: quant.Q8_1, ref: dotQ5_1Ref},
	quant.Q8_0:   {act: quant.Q8_0, ref: dotQ8_0Ref},
	quant.Q2_K:   {act: quant.Q8_K, ref: dotQ2KRef},
	quant.Q3_K:   {act: quant.Q8_K, ref: dotQ3KRef},
	quant.Q4_K:   {act: quant.Q8_K, ref: dotQ4KRef},
	quant.Q5_K:   {act: quant.Q8_K, ref: dotQ5KRef},
	quant.Q6_K:   {act: quant.Q8_K, ref: dotQ6KRef},
	quant.IQ4_NL: {act: quant.Q8_0, ref: dotIQ4NLRef},
	quant.IQ4_XS: {act: quant.Q8_K, ref: dotIQ4XSRef},
}

// actQuantizers holds the activation quantizer per activation type; fast
// paths replace entries at init.
var actQuantizers = map[quant.Type]func(x []float32, dst []byte){
	quant.Q8_0: quantizeQ8_0Ref,
	quant.Q8_1: quantizeQ8_1Ref,
	quant.Q8_K: quantizeQ8KRef,
	quant.F32:  quantizeF32,
}

func init() {
	for _, k := range table {
		k.dot = k.ref
		k.matvec = genericMatVec(k)
		k.matmul = genericMatMul(k)
	}
	installFast() // per-architecture assembly (no-op under purego)
}

func genericMatVec(k *kernel) matVecFunc {
	return func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
		dot := k.dot
		for r := 0; r < rows; r++ {
			y[r] = dot(cols, w[r*rowBytes:(r+1)*rowBytes], act)
		}
	}
}

func genericMatMul(k *kernel) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		mv := k.matvec
		for b := 0; b < nBatch; b++ {
			mv(w, rowBytes, rows, cols, acts[b*actBytes:(b+1)*actBytes], y[b*ldy:b*ldy+rows])
		}
	}
}

// Supported reports whether MatVec/MatMul handle weights of type t.
func Supported(t quant.Type) bool { _, ok := table[t]; return ok }

// ActivationType is the format activations must be quantized to before they
// are dotted with weights of type t: ggml's vec_dot_type (Q8_0, Q8_1, Q8_K)
// for quantized weights, and F32 for F32/F16/BF16 weights.
func ActivationType(t quant.Type) quant.Type {
	if k, ok := table[t]; ok {
		return k.act
	}
	return quant.F32
}

// ActivationSize is the byte size of n activation values in format vt.
func ActivationSize(vt quant.Type, n int) int {
	switch vt {
	case quant.F32:
		return 4 * n
	case quant.Q8_0:
		return n / 32 * q8_0Bytes
	case quant.Q8_1:
		return n / 32 * q8_1Bytes
	case quant.Q8_K:
		return n / 256 * q8KBytes
	}
	panic(fmt.Sprintf("kernels: %v is not an activation type", vt))
}

// QuantizeActivations converts x into activation format vt (see
// ActivationType) in dst, which must hold ActivationSize(vt, len(x)) bytes.
// len(x) must be a multiple of vt's block size (32, or 256 for Q8_K).
func QuantizeActivations(vt quant.Type, x []float32, dst []byte) {
	q, ok := actQuantizers[vt]
	if !ok {
		panic(fmt.Sprintf("kernels: %v is not an activation type", vt))
	}
	if bs := vt.BlockSize(); len(x)%bs != 0 {
		panic(fmt.Sprintf("kernels: %d activations is not a multiple of %v's block size %d", len(x), vt, bs))
	}
	if need := ActivationSize(vt, len(x)); len(dst) < need {
		panic(fmt.Sprintf("kernels: activation buffer of %d bytes, %v needs %d", len(dst), vt, need))
	}
	q(x, dst)
}

func quantizeF32(x []float32, dst []byte) { copy(dst, F32Bytes(x)) }

// F32Bytes views a float32 slice as its little-endian bytes without copying
// (ferry's targets are all little-endian), the activation layout for F32,
// F16 and BF16 weights.
func F32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// Float32s views little-endian F32 bytes as []float32 without copying. len(b)
// must be a multiple of 4 and b 4-byte aligned (true for GGUF tensor data).
func Float32s(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func lookup(t quant.Type, cols int) (*kernel, int) {
	k, ok := table[t]
	if !ok {
		panic(fmt.Sprintf("kernels: no dot product for weight type %v", t))
	}
	bs := t.BlockSize()
	if k.act == quant.Q8_K {
		bs = 256
	}
	if cols%bs != 0 || cols%k.act.BlockSize() != 0 {
		panic(fmt.Sprintf("kernels: row length %d is not a multiple of %v's block size %d", cols, t, bs))
	}
	return k, cols / t.BlockSize() * t.BytesPerBlock()
}

// RowBytes is the storage size of one row of cols elements of type t.
func RowBytes(t quant.Type, cols int) int { return cols / t.BlockSize() * t.BytesPerBlock() }

// DotRow returns the dot product of one weight row w (cols elements of type t)
// with activation act (ActivationType(t) layout).
func DotRow(t quant.Type, w []byte, cols int, act []byte) float32 {
	k, rb := lookup(t, cols)
	if cols == 0 {
		return 0
	}
	return k.dot(cols, w[:rb], act[:ActivationSize(k.act, cols)])
}

// MatVec computes y[r] = dot(row r of w, act) for r < rows. w holds rows
// rows of cols elements of type t, stored contiguously (a GGUF tensor or a
// row range of one); act is one activation vector in ActivationType(t)
// layout (see QuantizeActivations); y has at least rows elements.
func MatVec(t quant.Type, w []byte, rows, cols int, act []byte, y []float32) {
	k, rb := lookup(t, cols)
	if len(w) < rows*rb || len(y) < rows || len(act) < ActivationSize(k.act, cols) {
		panic(fmt.Sprintf("kernels: MatVec %v %dx%d: weights %d bytes (need %d), act %d bytes (need %d), y %d (need %d)",
			t, rows, cols, len(w), rows*rb, len(act), ActivationSize(k.act, cols), len(y), rows))
	}
	if rows == 0 {
		return
	}
	if cols == 0 { // the assembly loops assume at least one block
		clear(y[:rows])
		return
	}
	k.matvec(w, rb, rows, cols, act, y)
}

// MatMul computes y[b*rows+r] = dot(row r of w, activation b) for a batch of
// nBatch activations stored one after another in acts (each
// ActivationSize(ActivationType(t), cols) bytes).
func MatMul(t quant.Type, w []byte, rows, cols int, acts []byte, nBatch int, y []float32) {
	MatMulStrided(t, w, rows, cols, acts, nBatch, y, rows)
}

// MatMulStrided is MatMul writing y[b*ldy+r], so a worker handling a row
// range of a larger matrix writes straight into the full output.
func MatMulStrided(t quant.Type, w []byte, rows, cols int, acts []byte, nBatch int, y []float32, ldy int) {
	k, rb := lookup(t, cols)
	ab := ActivationSize(k.act, cols)
	if len(w) < rows*rb || len(acts) < nBatch*ab || ldy < rows || (nBatch > 0 && len(y) < (nBatch-1)*ldy+rows) {
		panic(fmt.Sprintf("kernels: MatMul %v %dx%d batch %d: weights %d bytes (need %d), acts %d bytes (need %d), y %d, ldy %d",
			t, rows, cols, nBatch, len(w), rows*rb, len(acts), nBatch*ab, len(y), ldy))
	}
	if rows == 0 || nBatch == 0 {
		return
	}
	if cols == 0 {
		for b := 0; b < nBatch; b++ {
			clear(y[b*ldy : b*ldy+rows])
		}
		return
	}
	k.matmul(w, rb, rows, cols, acts, ab, nBatch, y, ldy)
}
