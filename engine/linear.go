package engine

import (
	"fmt"
	"unsafe"

	"github.com/ferryhq/ferry/kernels"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
)

// linear is a weight matrix used in place: out rows of in elements each,
// stored in typ's layout (GGUF order: a row is contiguous). For a 3-D expert
// tensor, experts are consecutive matrices of out rows.
type linear struct {
	name     string
	typ      quant.Type
	data     []byte
	in, out  int
	rowBytes int
	experts  int // 0 for a plain matrix
	// A view of one expert of a stacked tensor: its index and the stacked
	// tensor's expert count (0 otherwise), reported to Options.Observe.
	expertIdx, expertOf int
}

func (l *linear) ok() bool { return l != nil && l.data != nil }

// expert returns expert e's matrix as a plain linear.
func (l *linear) expert(e int) linear {
	n := l.out * l.rowBytes
	c := *l
	c.data = l.data[e*n : (e+1)*n]
	c.experts = 0
	c.expertIdx, c.expertOf = e, l.experts
	return c
}

// newLinear checks t against the expected shape (in, out[, experts]) and
// wraps its bytes without copying.
func newLinear(t *model.Tensor, in, out, experts int) (linear, error) {
	want := []uint64{uint64(in), uint64(out)}
	if experts > 0 {
		want = append(want, uint64(experts))
	}
	if !shapeEq(t.Shape, want) {
		return linear{}, fmt.Errorf("tensor %s: shape %v, expected %v", t.Name, t.Shape, want)
	}
	if !supportedWeight(t.Type) {
		return linear{}, fmt.Errorf("tensor %s: type %s is not supported for matrix products", t.Name, t.Type)
	}
	if bs := actType(t.Type).BlockSize(); in%t.Type.BlockSize() != 0 || in%bs != 0 {
		return linear{}, fmt.Errorf("tensor %s: row length %d is not a multiple of the %s block size", t.Name, in, t.Type)
	}
	rb, err := quant.RowSize(t.Type, int64(in))
	if err != nil {
		return linear{}, fmt.Errorf("tensor %s: %v", t.Name, err)
	}
	n := int(rb) * out
	if experts > 0 {
		n *= experts
	}
	if len(t.Data) < n {
		return linear{}, fmt.Errorf("tensor %s: %d bytes of data, %s %v needs %d", t.Name, len(t.Data), t.Type, t.Shape, n)
	}
	return linear{name: t.Name, typ: t.Type, data: t.Data[:n], in: in, out: out, rowBytes: int(rb), experts: experts}, nil
}

func shapeEq(a, b []uint64) bool {
	// Trailing 1s are insignificant in GGUF shapes.
	for len(a) > 1 && a[len(a)-1] == 1 {
		a = a[:len(a)-1]
	}
	for len(b) > 1 && b[len(b)-1] == 1 {
		b = b[:len(b)-1]
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// actType is the activation format dot products with weights of type t use
// (llama.cpp's vec_dot_type: Q8_0, Q8_1, Q8_K); full-precision weights take
// F32 activations so F16/BF16 models are computed in F32 like the reference.
func actType(t quant.Type) quant.Type { return kernels.ActivationType(t) }

func supportedWeight(t quant.Type) bool { return kernels.Supported(t) }

// actRowBytes is the size of one quantized activation row of n elements.
func actRowBytes(t quant.Type, n int) int { return kernels.ActivationSize(actType(t), n) }

// quantizeAct converts x into the activation format for weights of type t.
func quantizeAct(t quant.Type, x []float32, dst []byte) {
	kernels.QuantizeActivations(actType(t), x, dst)
}

// mulRows computes rows [r0, r1) of W·x for n activation rows, writing
// y[t*l.out + r].
func mulRows(l *linear, r0, r1 int, act []byte, n int, y []float32) {
	kernels.MatMulStrided(l.typ, l.data[r0*l.rowBytes:r1*l.rowBytes], r1-r0, l.in, act, n, y[r0:], l.out)
}

// rowF32 dequantizes row r of l (an embedding lookup) into dst.
func rowF32(l *linear, r int, dst []float32) error {
	b := l.data[r*l.rowBytes : (r+1)*l.rowBytes]
	switch l.typ {
	case quant.F32:
		copy(dst, bytesF32(b))
	case quant.F16:
		for i, h := range bytesU16(b)[:l.in] {
			dst[i] = kernels.F16ToF32(h)
		}
	case quant.BF16:
		for i, h := range bytesU16(b)[:l.in] {
			dst[i] = kernels.BF16ToF32(h)
		}
	default:
		if err := quant.Dequantize(l.typ, b, dst[:l.in]); err != nil {
			return fmt.Errorf("tensor %s: %v", l.name, err)
		}
	}
	return nil
}

// vecF32 reads a small tensor (norm weights, biases) as float32. Those are
// tiny, so converting F16/BF16 ones once at load costs nothing.
func vecF32(t *model.Tensor, n int) ([]float32, error) {
	if t.Elements() != uint64(n) {
		return nil, fmt.Errorf("tensor %s: shape %v, expected %d elements", t.Name, t.Shape, n)
	}
	l := linear{name: t.Name, typ: t.Type, in: n, out: 1}
	rb, err := quant.RowSize(t.Type, int64(n))
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %v", t.Name, err)
	}
	if int64(len(t.Data)) < rb {
		return nil, fmt.Errorf("tensor %s: %d bytes of data, need %d", t.Name, len(t.Data), rb)
	}
	l.rowBytes = int(rb)
	l.data = t.Data[:rb]
	if t.Type == quant.F32 && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return bytesF32(l.data)[:n], nil
	}
	out := make([]float32, n)
	if err := rowF32(&l, 0, out); err != nil {
		return nil, err
	}
	return out, nil
}

func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// bytesF32 views little-endian bytes as float32s. GGUF aligns tensor data
// to 32 bytes, and every target is little-endian.
func bytesF32(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func bytesU16(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}
