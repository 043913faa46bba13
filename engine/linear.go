package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

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
}

func (l *linear) ok() bool { return l != nil && l.data != nil }

// expert returns expert e's matrix as a plain linear.
func (l *linear) expert(e int) linear {
	n := l.out * l.rowBytes
	c := *l
	c.data = l.data[e*n : (e+1)*n]
	c.experts = 0
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
// (llama.cpp's vec_dot_type); full-precision weights take F32 activations so
// F16/BF16 models are computed in F32 like the reference.
func actType(t quant.Type) quant.Type {
	switch t {
	case quant.F32, quant.F16, quant.BF16:
		return quant.F32
	case quant.Q8_0:
		return quant.Q8_0
	}
	return quant.F32
}

func supportedWeight(t quant.Type) bool {
	switch t {
	case quant.F32, quant.F16, quant.BF16, quant.Q8_0:
		return true
	}
	return false
}

// actRowBytes is the size of one quantized activation row of n elements.
func actRowBytes(t quant.Type, n int) int {
	rb, err := quant.RowSize(actType(t), int64(n))
	if err != nil {
		// n not a multiple of the block: callers checked shapes already.
		return 4 * n
	}
	return int(rb)
}

// quantizeAct converts x into the activation format for weights of type t.
func quantizeAct(t quant.Type, x []float32, dst []byte) {
	switch actType(t) {
	case quant.F32:
		copy(dst, f32Bytes(x))
	case quant.Q8_0:
		quantizeQ8_0(x, dst)
	}
}

// dotRows computes y[r-r0] = row r · act for r in [r0, r1).
func dotRows(l *linear, r0, r1 int, act []byte, y []float32) {
	n := l.in
	switch l.typ {
	case quant.F32:
		a := bytesF32(act)[:n]
		for r := r0; r < r1; r++ {
			w := bytesF32(l.data[r*l.rowBytes : (r+1)*l.rowBytes])
			y[r-r0] = dotF32(w, a)
		}
	case quant.F16:
		a := bytesF32(act)[:n]
		for r := r0; r < r1; r++ {
			w := bytesU16(l.data[r*l.rowBytes : (r+1)*l.rowBytes])
			var s0, s1 float32
			i := 0
			for ; i+2 <= n; i += 2 {
				s0 += f16Table[w[i]] * a[i]
				s1 += f16Table[w[i+1]] * a[i+1]
			}
			for ; i < n; i++ {
				s0 += f16Table[w[i]] * a[i]
			}
			y[r-r0] = s0 + s1
		}
	case quant.BF16:
		a := bytesF32(act)[:n]
		for r := r0; r < r1; r++ {
			w := bytesU16(l.data[r*l.rowBytes : (r+1)*l.rowBytes])
			var s float32
			for i := 0; i < n; i++ {
				s += bf16ToFloat(w[i]) * a[i]
			}
			y[r-r0] = s
		}
	case quant.Q8_0:
		for r := r0; r < r1; r++ {
			y[r-r0] = dotQ8_0(n, l.data[r*l.rowBytes:(r+1)*l.rowBytes], act)
		}
	}
}

func quantizeQ8_0(x []float32, dst []byte) {
	for b := 0; b*32 < len(x); b++ {
		xs := x[b*32 : b*32+32]
		out := dst[b*34 : b*34+34]
		var amax float32
		for _, v := range xs {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(out, floatToHalf(d))
		for j, v := range xs {
			out[2+j] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

func dotQ8_0(n int, w, a []byte) float32 {
	var s float32
	for b := 0; b*32 < n; b++ {
		wb := w[b*34 : b*34+34]
		ab := a[b*34 : b*34+34]
		var acc int32
		for j := 2; j < 34; j++ {
			acc += int32(int8(wb[j])) * int32(int8(ab[j]))
		}
		s += float32(acc) * f16Table[binary.LittleEndian.Uint16(wb)] * f16Table[binary.LittleEndian.Uint16(ab)]
	}
	return s
}

// rowF32 dequantizes row r of l (an embedding lookup) into dst.
func rowF32(l *linear, r int, dst []float32) error {
	b := l.data[r*l.rowBytes : (r+1)*l.rowBytes]
	switch l.typ {
	case quant.F32:
		copy(dst, bytesF32(b))
	case quant.F16:
		for i, h := range bytesU16(b)[:l.in] {
			dst[i] = f16Table[h]
		}
	case quant.BF16:
		for i, h := range bytesU16(b)[:l.in] {
			dst[i] = bf16ToFloat(h)
		}
	case quant.Q8_0:
		for blk := 0; blk*32 < l.in; blk++ {
			d := f16Table[binary.LittleEndian.Uint16(b[blk*34:])]
			for j := 0; j < 32; j++ {
				dst[blk*32+j] = d * float32(int8(b[blk*34+2+j]))
			}
		}
	default:
		return fmt.Errorf("tensor %s: cannot read rows of type %s", l.name, l.typ)
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
