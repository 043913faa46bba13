package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
)

// Writer builds a safetensors file. Tensors are declared first; their bytes
// are produced by callbacks during WriteTo, one at a time, so memory stays
// about one tensor.
//
// The output is deterministic: tensors are laid out by element size
// (largest first) and then by name, which keeps every tensor aligned to its
// element size as the reference implementation does, and the header is
// padded with spaces to a multiple of 8 bytes so the data section starts
// 8-byte aligned.
type Writer struct {
	Metadata map[string]string
	tensors  []pending
	names    map[string]bool
}

type pending struct {
	info  TensorInfo
	write func(io.Writer) error
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer { return &Writer{names: map[string]bool{}} }

// Add declares a tensor; write must produce exactly its bytes
// (elements × dtype size) when WriteTo calls it.
func (w *Writer) Add(name string, dtype DType, shape []uint64, write func(io.Writer) error) error {
	if w.names[name] {
		return fmt.Errorf("safetensors: duplicate tensor %q", name)
	}
	if name == "__metadata__" || name == "" {
		return fmt.Errorf("safetensors: invalid tensor name %q", name)
	}
	if !dtype.Known() {
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, dtype)
	}
	size := uint64(dtype.Size())
	for _, d := range shape {
		hi, lo := bits.Mul64(size, d)
		if hi != 0 {
			return fmt.Errorf("safetensors: tensor %q: shape %v overflows", name, shape)
		}
		size = lo
	}
	w.names[name] = true
	w.tensors = append(w.tensors, pending{
		info:  TensorInfo{Name: name, DType: dtype, Shape: append([]uint64{}, shape...), End: size},
		write: write,
	})
	return nil
}

// AddData declares a tensor whose bytes are in memory.
func (w *Writer) AddData(name string, dtype DType, shape []uint64, data []byte) error {
	return w.Add(name, dtype, shape, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
}

// layout orders the tensors and assigns offsets.
func (w *Writer) layout() {
	sort.SliceStable(w.tensors, func(i, j int) bool {
		a, b := &w.tensors[i].info, &w.tensors[j].info
		if sa, sb := a.DType.Size(), b.DType.Size(); sa != sb {
			return sa > sb
		}
		return a.Name < b.Name
	})
	off := uint64(0)
	for i := range w.tensors {
		t := &w.tensors[i].info
		size := t.End - t.Begin
		t.Begin, t.End = off, off+size
		off += size
	}
}

func (w *Writer) header() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if len(w.Metadata) > 0 {
		keys := make([]string, 0, len(w.Metadata))
		for k := range w.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, w.Metadata[k])
		}
		b.WriteByte('}')
		first = false
	}
	for _, p := range w.tensors {
		t := &p.info
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"`)
		b.WriteString(string(t.DType))
		b.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(d, 10))
		}
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.FormatUint(t.Begin, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatUint(t.End, 10))
		b.WriteString("]}")
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // strings always marshal
	b.Write(enc)
}

// WriteTo writes the file. progress, when non-nil, is called after each
// tensor with the number written so far and the total.
func (w *Writer) WriteTo(out io.Writer) (int64, error) { return w.WriteToProgress(out, nil) }

// WriteToProgress is WriteTo with a callback after each tensor.
func (w *Writer) WriteToProgress(out io.Writer, progress func(done, total int)) (int64, error) {
	w.layout()
	h := w.header()
	bw := bufio.NewWriterSize(out, 1<<20)
	cw := &countWriter{w: bw}
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(h)))
	cw.Write(n8[:])
	cw.Write(h)
	for i, p := range w.tensors {
		start := cw.n
		if err := p.write(cw); err != nil {
			return cw.n, fmt.Errorf("safetensors: writing tensor %q: %w", p.info.Name, err)
		}
		if cw.err != nil {
			return cw.n, cw.err
		}
		if got := uint64(cw.n - start); got != p.info.Size() {
			return cw.n, fmt.Errorf("safetensors: tensor %q: wrote %d bytes, expected %d", p.info.Name, got, p.info.Size())
		}
		if progress != nil {
			progress(i+1, len(w.tensors))
		}
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, bw.Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
