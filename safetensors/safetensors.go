// Package safetensors reads and writes Hugging Face safetensors files and
// sharded safetensors folders.
//
// A safetensors file is: an 8-byte little-endian header length N, N bytes of
// JSON mapping each tensor name to {"dtype", "shape", "data_offsets"} (plus
// an optional "__metadata__" object of strings), then the tensor bytes.
// Offsets are relative to the end of the header, tensors are row-major and
// little-endian, and together they must cover the data section exactly with
// no gaps or overlaps. Open maps the file; tensor data is never copied.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/mmap"
)

// MaxHeaderSize bounds the JSON header, as the reference implementation does
// (100 MB): a header claiming more is rejected before anything is allocated.
const MaxHeaderSize = 100 << 20

// maxDims bounds the rank of a tensor; real checkpoints use at most 5.
const maxDims = 8

// DType is a safetensors element type name ("F32", "BF16", ...).
type DType string

// Element types defined by the safetensors specification.
const (
	F64     DType = "F64"
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I64     DType = "I64"
	I32     DType = "I32"
	I16     DType = "I16"
	I8      DType = "I8"
	U64     DType = "U64"
	U32     DType = "U32"
	U16     DType = "U16"
	U8      DType = "U8"
	Bool    DType = "BOOL"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	F8E8M0  DType = "F8_E8M0"
	F8E4M3U DType = "F8_E4M3FNUZ"
	F8E5M2U DType = "F8_E5M2FNUZ"
)

var dtypeSizes = map[DType]int{
	F64: 8, F32: 4, F16: 2, BF16: 2,
	I64: 8, I32: 4, I16: 2, I8: 1,
	U64: 8, U32: 4, U16: 2, U8: 1,
	Bool: 1, F8E4M3: 1, F8E5M2: 1, F8E8M0: 1, F8E4M3U: 1, F8E5M2U: 1,
}

// Size is the number of bytes per element, or 0 for an unknown type.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype ferry knows the element size of.
func (d DType) Known() bool { return dtypeSizes[d] > 0 }

// TensorInfo describes one tensor. Shape is in safetensors (row-major,
// PyTorch) order: the last dimension varies fastest.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []uint64
	Begin uint64 // offset in the data section
	End   uint64
}

// Elements is the product of the dimensions (1 for a scalar).
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Size is the number of bytes of tensor data.
func (t *TensorInfo) Size() uint64 { return t.End - t.Begin }

// Header is a parsed safetensors header.
type Header struct {
	Metadata map[string]string
	// Tensors in name order.
	Tensors []TensorInfo
	// DataOffset is where the data section starts in the file (8 + header length).
	DataOffset uint64
}

// File is an open, mapped safetensors file.
type File struct {
	Path string
	Header
	m     *mmap.File
	data  []byte // the data section
	index map[string]int
}

// Error is a malformed-file error naming the file and, where known, the
// tensor.
type Error struct {
	Path   string
	Tensor string
	Msg    string
}

func (e *Error) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("%s: safetensors: tensor %q: %s", e.Path, e.Tensor, e.Msg)
	}
	return fmt.Sprintf("%s: safetensors: %s", e.Path, e.Msg)
}

// Open maps path and validates its header against the file size.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, m.Data())
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Parse validates a safetensors image held in memory. name is used in
// errors; the returned File refers to data without copying it.
func Parse(name string, data []byte) (*File, error) {
	h, err := ParseHeader(name, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: name, Header: *h, data: data[h.DataOffset:]}
	f.index = make(map[string]int, len(f.Tensors))
	for i, t := range f.Tensors {
		f.index[t.Name] = i
	}
	return f, nil
}

// ParseHeader parses and validates the header of a safetensors image. data
// must hold the whole file: the tensors are checked to cover the data
// section exactly.
func ParseHeader(name string, data []byte) (*Header, error) {
	fail := func(format string, a ...any) error { return &Error{Path: name, Msg: fmt.Sprintf(format, a...)} }
	if len(data) < 8 {
		return nil, fail("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the %d-byte limit (corrupt or not a safetensors file)", n, MaxHeaderSize)
	}
	if n > uint64(len(data))-8 {
		return nil, fail("header length %d runs past the end of the file (%d bytes): truncated?", n, len(data))
	}
	raw := data[8 : 8+n]
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fail("header does not start with '{' (not a safetensors file)")
	}
	h, err := parseJSON(name, raw)
	if err != nil {
		return nil, err
	}
	h.DataOffset = 8 + n
	if err := validate(name, h, uint64(len(data))-h.DataOffset); err != nil {
		return nil, err
	}
	return h, nil
}

type rawTensor struct {
	DType       *string        `json:"dtype"`
	Shape       *[]json.Number `json:"shape"`
	DataOffsets *[]json.Number `json:"data_offsets"`
}

func parseJSON(name string, raw []byte) (*Header, error) {
	fail := func(tensor, format string, a ...any) error {
		return &Error{Path: name, Tensor: tensor, Msg: fmt.Sprintf(format, a...)}
	}
	if !utf8.Valid(raw) {
		return nil, fail("", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fail("", "header is not a JSON object")
	}
	h := &Header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("", "header JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fail("", "header JSON: expected a key")
		}
		if seen[key] {
			return nil, fail(key, "appears twice in the header")
		}
		seen[key] = true
		if key == "__metadata__" {
			var md map[string]any
			if err := dec.Decode(&md); err != nil {
				return nil, fail("", "__metadata__: %v", err)
			}
			h.Metadata = make(map[string]string, len(md))
			for k, v := range md {
				s, ok := v.(string)
				if !ok {
					return nil, fail("", "__metadata__ value for %q is not a string", k)
				}
				h.Metadata[k] = s
			}
			continue
		}
		var rt rawTensor
		if err := dec.Decode(&rt); err != nil {
			return nil, fail(key, "header entry: %v", err)
		}
		if rt.DType == nil || rt.Shape == nil || rt.DataOffsets == nil {
			return nil, fail(key, "header entry needs dtype, shape and data_offsets")
		}
		t := TensorInfo{Name: key, DType: DType(*rt.DType)}
		if len(*rt.Shape) > maxDims {
			return nil, fail(key, "%d dimensions (at most %d supported)", len(*rt.Shape), maxDims)
		}
		t.Shape = make([]uint64, len(*rt.Shape))
		for i, d := range *rt.Shape {
			v, err := strconv.ParseUint(d.String(), 10, 64)
			if err != nil {
				return nil, fail(key, "dimension %d is %s, not a non-negative integer", i, d)
			}
			t.Shape[i] = v
		}
		if len(*rt.DataOffsets) != 2 {
			return nil, fail(key, "data_offsets has %d values, want 2", len(*rt.DataOffsets))
		}
		for i, o := range *rt.DataOffsets {
			v, err := strconv.ParseUint(o.String(), 10, 64)
			if err != nil {
				return nil, fail(key, "data offset %s is not a non-negative integer", o)
			}
			if i == 0 {
				t.Begin = v
			} else {
				t.End = v
			}
		}
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail("", "header JSON: %v", err)
	}
	// Anything after the object must be the spaces the writer pads with.
	rest, _ := io.ReadAll(dec.Buffered())
	if len(bytes.Trim(rest, " \t\r\n\x00")) != 0 {
		return nil, fail("", "unexpected bytes after the header JSON object")
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	return h, nil
}

func validate(name string, h *Header, dataLen uint64) error {
	order := make([]int, len(h.Tensors))
	for i := range h.Tensors {
		t := &h.Tensors[i]
		order[i] = i
		fail := func(format string, a ...any) error {
			return &Error{Path: name, Tensor: t.Name, Msg: fmt.Sprintf(format, a...)}
		}
		if !t.DType.Known() {
			return fail("unknown dtype %q", t.DType)
		}
		if t.End < t.Begin {
			return fail("data_offsets [%d, %d] end before they begin", t.Begin, t.End)
		}
		if t.End > dataLen {
			return fail("data_offsets [%d, %d] run past the end of the data section (%d bytes): truncated file?", t.Begin, t.End, dataLen)
		}
		size := uint64(t.DType.Size())
		for _, d := range t.Shape {
			hi, lo := bits.Mul64(size, d)
			if hi != 0 {
				return fail("shape %v of %s overflows a 64-bit byte count", t.Shape, t.DType)
			}
			size = lo
		}
		if size != t.End-t.Begin {
			return fail("shape %v of %s needs %d bytes but data_offsets [%d, %d] hold %d", t.Shape, t.DType, size, t.Begin, t.End, t.End-t.Begin)
		}
	}
	sort.Slice(order, func(a, b int) bool {
		ta, tb := &h.Tensors[order[a]], &h.Tensors[order[b]]
		if ta.Begin != tb.Begin {
			return ta.Begin < tb.Begin
		}
		return ta.End < tb.End
	})
	pos := uint64(0)
	for _, i := range order {
		t := &h.Tensors[i]
		if t.Begin < pos {
			return &Error{Path: name, Tensor: t.Name, Msg: fmt.Sprintf("data_offsets [%d, %d] overlap the previous tensor (which ends at %d)", t.Begin, t.End, pos)}
		}
		if t.Begin > pos {
			return &Error{Path: name, Tensor: t.Name, Msg: fmt.Sprintf("gap in the data section: previous tensor ends at %d, this one begins at %d", pos, t.Begin)}
		}
		pos = t.End
	}
	if pos != dataLen {
		return &Error{Path: name, Msg: fmt.Sprintf("tensors cover %d bytes but the data section holds %d (trailing bytes or truncated)", pos, dataLen)}
	}
	return nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Data returns the bytes of t, aliasing the mapping: read-only.
func (f *File) Data(t *TensorInfo) []byte { return f.data[t.Begin:t.End:t.End] }

// Close unmaps the file.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}
