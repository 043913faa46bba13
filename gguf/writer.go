package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/ferryhq/ferry/quant"
)

// Writer builds a GGUF v3 file. Metadata and tensor infos are collected
// first; tensor bytes are produced by callbacks during WriteTo, one tensor at
// a time, so a converter holds about one tensor in memory.
type Writer struct {
	Alignment uint64
	Metadata
	tensors []pendingTensor
	names   map[string]bool
}

type pendingTensor struct {
	info  TensorInfo
	write func(io.Writer) error
}

// NewWriter returns a Writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{Alignment: DefaultAlignment, names: map[string]bool{}}
}

// AddTensor declares a tensor. write is called once during WriteTo and must
// write exactly the tensor's size in bytes.
func (w *Writer) AddTensor(name string, typ quant.Type, shape []uint64, write func(io.Writer) error) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(shape) == 0 || len(shape) > maxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions (1 to %d allowed)", name, len(shape), maxDims)
	}
	n := uint64(1)
	for _, d := range shape {
		n *= d
	}
	if !typ.Known() {
		return fmt.Errorf("gguf: tensor %q: unknown type %d", name, uint32(typ))
	}
	if shape[0]%uint64(typ.BlockSize()) != 0 {
		return fmt.Errorf("gguf: tensor %q: row length %d is not a multiple of %s's block size %d", name, shape[0], typ, typ.BlockSize())
	}
	size := n / uint64(typ.BlockSize()) * uint64(typ.BytesPerBlock())
	w.names[name] = true
	w.tensors = append(w.tensors, pendingTensor{
		info:  TensorInfo{Name: name, Shape: append([]uint64(nil), shape...), Type: typ, Size: size},
		write: write,
	})
	return nil
}

// AddTensorData declares a tensor whose bytes are already in memory.
func (w *Writer) AddTensorData(name string, typ quant.Type, shape []uint64, data []byte) error {
	return w.AddTensor(name, typ, shape, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
}

// Tensors returns the declared tensor infos with their final offsets.
func (w *Writer) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(w.tensors))
	off := uint64(0)
	for i, t := range w.tensors {
		out[i] = t.info
		out[i].Offset = off
		off = alignUp(off+t.info.Size, w.Alignment)
	}
	return out
}

// WriteTo writes the whole file to out. progress, if non-nil, is called after
// each tensor with its index.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	return w.write(out, nil)
}

// WriteToProgress is WriteTo with a callback after each tensor is written.
func (w *Writer) WriteToProgress(out io.Writer, progress func(done int, t TensorInfo)) (int64, error) {
	return w.write(out, progress)
}

func (w *Writer) write(out io.Writer, progress func(int, TensorInfo)) (int64, error) {
	if a, ok := w.Uint("general.alignment"); ok {
		if a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return 0, fmt.Errorf("gguf: general.alignment %d is not a power of two", a)
		}
		w.Alignment = a
	}
	cw := &countWriter{w: bufio.NewWriterSize(out, 1<<20)}
	e := encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.KV)))
	for _, kv := range w.KV {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		e.value(kv.Type, kv.Value)
	}
	infos := w.Tensors()
	for _, t := range infos {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	if e.err != nil {
		return cw.n, e.err
	}
	e.pad(w.Alignment)
	for i, t := range w.tensors {
		start := cw.n
		if err := t.write(cw); err != nil {
			return cw.n, fmt.Errorf("gguf: writing tensor %q: %w", t.info.Name, err)
		}
		if got := uint64(cw.n - start); got != t.info.Size {
			return cw.n, fmt.Errorf("gguf: tensor %q: wrote %d bytes, expected %d", t.info.Name, got, t.info.Size)
		}
		if i+1 < len(w.tensors) {
			e.pad(w.Alignment)
		}
		if e.err != nil {
			return cw.n, e.err
		}
		if progress != nil {
			progress(i, infos[i])
		}
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type encoder struct {
	w   *countWriter
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *encoder) u8(v uint8) { e.raw([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.raw(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.raw(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.raw(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.raw([]byte(s))
}
func (e *encoder) pad(a uint64) {
	n := alignUp(uint64(e.w.n), a) - uint64(e.w.n)
	if n > 0 {
		e.raw(make([]byte, n))
	}
}

func (e *encoder) value(t ValueType, v any) {
	switch t {
	case TypeUint8:
		e.u8(v.(uint8))
	case TypeInt8:
		e.u8(uint8(v.(int8)))
	case TypeUint16:
		e.u16(v.(uint16))
	case TypeInt16:
		e.u16(uint16(v.(int16)))
	case TypeUint32:
		e.u32(v.(uint32))
	case TypeInt32:
		e.u32(uint32(v.(int32)))
	case TypeFloat32:
		e.u32(math.Float32bits(v.(float32)))
	case TypeBool:
		if v.(bool) {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case TypeString:
		e.str(v.(string))
	case TypeUint64:
		e.u64(v.(uint64))
	case TypeInt64:
		e.u64(uint64(v.(int64)))
	case TypeFloat64:
		e.u64(math.Float64bits(v.(float64)))
	case TypeArray:
		a := v.(Array)
		e.u32(uint32(a.Type))
		e.u64(uint64(a.Len()))
		e.array(a)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("gguf: cannot encode value type %d", t)
		}
	}
}

func (e *encoder) array(a Array) {
	switch vs := a.Values.(type) {
	case []uint8:
		e.raw(vs)
	case []int8:
		for _, v := range vs {
			e.u8(uint8(v))
		}
	case []uint16:
		for _, v := range vs {
			e.u16(v)
		}
	case []int16:
		for _, v := range vs {
			e.u16(uint16(v))
		}
	case []uint32:
		for _, v := range vs {
			e.u32(v)
		}
	case []int32:
		for _, v := range vs {
			e.u32(uint32(v))
		}
	case []float32:
		for _, v := range vs {
			e.u32(math.Float32bits(v))
		}
	case []bool:
		for _, v := range vs {
			e.value(TypeBool, v)
		}
	case []string:
		for _, v := range vs {
			e.str(v)
		}
	case []uint64:
		for _, v := range vs {
			e.u64(v)
		}
	case []int64:
		for _, v := range vs {
			e.u64(uint64(v))
		}
	case []float64:
		for _, v := range vs {
			e.u64(math.Float64bits(v))
		}
	case []Array:
		for _, v := range vs {
			e.u32(uint32(v.Type))
			e.u64(uint64(v.Len()))
			e.array(v)
		}
	}
}

// typed maps a Go value to its GGUF value type.
func typed(v any) (ValueType, any, error) {
	switch x := v.(type) {
	case uint8:
		return TypeUint8, x, nil
	case int8:
		return TypeInt8, x, nil
	case uint16:
		return TypeUint16, x, nil
	case int16:
		return TypeInt16, x, nil
	case uint32:
		return TypeUint32, x, nil
	case int32:
		return TypeInt32, x, nil
	case float32:
		return TypeFloat32, x, nil
	case bool:
		return TypeBool, x, nil
	case string:
		return TypeString, x, nil
	case uint64:
		return TypeUint64, x, nil
	case int64:
		return TypeInt64, x, nil
	case float64:
		return TypeFloat64, x, nil
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return TypeInt32, int32(x), nil
		}
		return TypeInt64, int64(x), nil
	case Array:
		return TypeArray, x, nil
	case []uint8:
		return TypeArray, Array{TypeUint8, x}, nil
	case []int8:
		return TypeArray, Array{TypeInt8, x}, nil
	case []uint16:
		return TypeArray, Array{TypeUint16, x}, nil
	case []int16:
		return TypeArray, Array{TypeInt16, x}, nil
	case []uint32:
		return TypeArray, Array{TypeUint32, x}, nil
	case []int32:
		return TypeArray, Array{TypeInt32, x}, nil
	case []float32:
		return TypeArray, Array{TypeFloat32, x}, nil
	case []bool:
		return TypeArray, Array{TypeBool, x}, nil
	case []string:
		return TypeArray, Array{TypeString, x}, nil
	case []uint64:
		return TypeArray, Array{TypeUint64, x}, nil
	case []int64:
		return TypeArray, Array{TypeInt64, x}, nil
	case []float64:
		return TypeArray, Array{TypeFloat64, x}, nil
	case []Array:
		t := TypeArray
		return TypeArray, Array{t, x}, nil
	}
	return 0, nil, fmt.Errorf("unsupported metadata value of Go type %T", v)
}
