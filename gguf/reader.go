package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/mmap"
	"github.com/ferryhq/ferry/quant"
)

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// maxArrayDepth bounds nested arrays so hostile input cannot recurse deeply.
const maxArrayDepth = 8

// maxArrayLen bounds one metadata array. The largest real arrays (token
// lists and merges) hold well under a million entries; the bound keeps a
// crafted header inside a large file from allocating gigabytes.
const maxArrayLen = 1 << 26

// maxElements bounds one tensor dimension and the element count (2^50 elements
// is a petabyte of F8; ggml itself stores dimensions as int64).
const maxElements = 1 << 50

// preallocCap bounds slices sized from header counts: a count is checked
// against the bytes left, but in a 40 GB file that still allows billions,
// so larger tables grow as entries are actually parsed.
const preallocCap = 1 << 16

// File is an open GGUF file. Its tensor data stays in the mapping.
type File struct {
	Path    string
	Version uint32
	Metadata
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset uint64 // absolute offset of the data section
	Size       uint64 // file size

	tensorIndex map[string]int
	m           *mmap.File
	data        []byte
}

// FormatError describes a malformed GGUF file: where and what.
type FormatError struct {
	Path   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%s: gguf: at byte %d: %s", e.Path, e.Offset, e.Msg)
	}
	return fmt.Sprintf("%s: gguf: %s", e.Path, e.Msg)
}

// ErrNotGGUF is wrapped by the error Open returns for a file that does not
// start with the GGUF magic.
var ErrNotGGUF = errors.New("not a GGUF file")

// Open maps path and parses the GGUF header and tensor table.
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

// Parse parses a GGUF image held in memory. name is used in errors. The
// returned File refers to data; it does not copy it.
func Parse(name string, data []byte) (*File, error) {
	return parse(name, data, uint64(len(data)))
}

// maxHeaderRead bounds what ReadHeader reads: real headers (metadata with
// the largest vocabularies and merge lists, tensor tables) stay far below.
const maxHeaderRead = 128 << 20

// errNeedMore reports that a header prefix ended before the header did.
var errNeedMore = errors.New("header continues past the bytes read")

// ReadHeader parses the header and tensor table of a GGUF file by reading
// only its first bytes (growing the read until the header fits), without
// mapping the file: what inspecting needs, on every platform. The File
// has no tensor data: TensorData returns nil.
func ReadHeader(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := uint64(st.Size())
	n := min(size, 2<<20)
	for {
		buf := make([]byte, n)
		if _, err := fh.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		f, err := parse(path, buf, size)
		if errors.Is(err, errNeedMore) {
			if n >= maxHeaderRead {
				return nil, &FormatError{Path: path, Offset: -1, Msg: fmt.Sprintf("header larger than %d MB (a string or array claims most of the file?)", maxHeaderRead>>20)}
			}
			n = min(size, n*4, maxHeaderRead)
			continue
		}
		if err != nil {
			return nil, err
		}
		f.data = nil
		return f, nil
	}
}

// parse reads a GGUF image of which data is the first bytes (all of them
// unless called from ReadHeader); size is the whole file's length.
func parse(name string, data []byte, size uint64) (*File, error) {
	r := &reader{name: name, b: data, size: size}
	if len(data) < 4 || string(data[:4]) != Magic {
		if l, ok := SniffLegacy(data); ok {
			return nil, &LegacyError{Path: name, Legacy: l}
		}
		return nil, fmt.Errorf("%s: %w (magic %q)", name, ErrNotGGUF, printable(data[:min(4, len(data))]))
	}
	r.off = 4
	f := &File{Path: name, Size: size, data: data}
	f.Version = r.u32()
	if r.err == nil && (f.Version < 2 || f.Version > 3) {
		if f.Version&0xFFFF == 0 && bits.ReverseBytes32(f.Version) <= 3 {
			return nil, r.errf(4, "big-endian GGUF (version %d stored byte-swapped) is not supported; use a little-endian file", bits.ReverseBytes32(f.Version))
		}
		if f.Version == 1 {
			return nil, r.errf(4, "GGUF version 1 is obsolete and not supported; reconvert the model")
		}
		return nil, r.errf(4, "unsupported GGUF version %d (ferry reads 2 and 3)", f.Version)
	}
	nTensors := r.u64()
	nKV := r.u64()
	if r.err != nil {
		return nil, r.err
	}
	// Every KV needs at least 12 bytes and every tensor info at least 24, so
	// counts beyond what the file could hold are rejected before allocating.
	rest := size - uint64(r.off)
	if nKV > rest/12 {
		return nil, r.errf(16, "metadata count %d is impossible for a %d-byte file", nKV, size)
	}
	if nTensors > rest/24 {
		return nil, r.errf(8, "tensor count %d is impossible for a %d-byte file", nTensors, size)
	}
	f.KV = make([]KV, 0, min(nKV, preallocCap))
	f.index = make(map[string]int, min(nKV, preallocCap))
	for i := uint64(0); i < nKV; i++ {
		at := r.off
		key := r.str()
		if r.err != nil {
			return nil, r.err
		}
		if !utf8.ValidString(key) {
			return nil, r.errf(at, "metadata key %q is not valid UTF-8", key)
		}
		vt := ValueType(r.u32())
		v := r.value(vt, 0)
		if r.err != nil {
			return nil, fmt.Errorf("%w (key %q)", r.err, key)
		}
		if _, dup := f.index[key]; dup {
			return nil, r.errf(at, "duplicate metadata key %q", key)
		}
		f.index[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Type: vt, Value: v})
	}
	f.Alignment = DefaultAlignment
	if kv, ok := f.Get("general.alignment"); ok {
		a, ok := kv.Value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, r.errf(-1, "general.alignment must be a power-of-two uint32, got %v", kv.Value)
		}
		f.Alignment = uint64(a)
	}
	f.Tensors = make([]TensorInfo, 0, min(nTensors, preallocCap))
	f.tensorIndex = make(map[string]int, min(nTensors, preallocCap))
	for i := uint64(0); i < nTensors; i++ {
		at := r.off
		var t TensorInfo
		t.Name = r.str()
		nd := r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if !utf8.ValidString(t.Name) {
			return nil, r.errf(at, "tensor name %q is not valid UTF-8", t.Name)
		}
		if nd > maxDims {
			return nil, r.errf(at, "tensor %q has %d dimensions (at most %d)", t.Name, nd, maxDims)
		}
		t.Shape = make([]uint64, nd)
		n := uint64(1)
		overflow := false
		for j := range t.Shape {
			t.Shape[j] = r.u64()
			hi, lo := bits.Mul64(n, t.Shape[j])
			overflow = overflow || hi != 0 || t.Shape[j] > maxElements
			n = lo
		}
		t.Type = quant.Type(r.u32())
		t.Offset = r.u64()
		if r.err != nil {
			return nil, r.err
		}
		if overflow || n > maxElements {
			return nil, r.errf(at, "tensor %q has an absurd shape %v", t.Name, t.Shape)
		}
		if !t.Type.Known() {
			return nil, r.errf(at, "tensor %q has unknown type %d", t.Name, uint32(t.Type))
		}
		if len(t.Shape) > 0 && t.Shape[0]%uint64(t.Type.BlockSize()) != 0 {
			return nil, r.errf(at, "tensor %q: row length %d is not a multiple of %s's block size %d", t.Name, t.Shape[0], t.Type, t.Type.BlockSize())
		}
		t.Size = n / uint64(t.Type.BlockSize()) * uint64(t.Type.BytesPerBlock())
		if _, dup := f.tensorIndex[t.Name]; dup {
			return nil, r.errf(at, "duplicate tensor name %q", t.Name)
		}
		f.tensorIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	f.DataOffset = alignUp(uint64(r.off), f.Alignment)
	if f.DataOffset > size && len(f.Tensors) > 0 {
		return nil, r.errf(-1, "file truncated: data section would start at byte %d of %d", f.DataOffset, size)
	}
	dataLen := size - min(f.DataOffset, size)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return nil, r.errf(-1, "tensor %q: offset %d is not aligned to %d", t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return nil, r.errf(-1, "tensor %q: bytes %d..%d lie past the end of the data section (%d bytes; file truncated?)", t.Name, t.Offset, t.Offset+t.Size, dataLen)
		}
	}
	if err := checkOverlap(f); err != nil {
		return nil, err
	}
	return f, nil
}

func checkOverlap(f *File) error {
	idx := make([]int, len(f.Tensors))
	for i := range idx {
		idx[i] = i
	}
	sortByOffset(idx, f.Tensors)
	for k := 1; k < len(idx); k++ {
		a, b := &f.Tensors[idx[k-1]], &f.Tensors[idx[k]]
		if a.Size > 0 && b.Size > 0 && a.Offset+a.Size > b.Offset {
			return &FormatError{Path: f.Path, Offset: -1, Msg: fmt.Sprintf("tensors %q and %q overlap", a.Name, b.Name)}
		}
	}
	return nil
}

// Close releases the mapping; tensor data slices become invalid.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	f.data = nil
	return err
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of t inside the mapping, without copying,
// or nil for a File from ReadHeader or a closed one.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + t.Offset
	if uint64(len(f.data)) < start+t.Size {
		return nil
	}
	return f.data[start : start+t.Size : start+t.Size]
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

type reader struct {
	name string
	b    []byte // the file, or its first bytes (ReadHeader)
	size uint64 // the file's length
	off  int
	err  error
}

func (r *reader) errf(off int, format string, args ...any) error {
	return &FormatError{Path: r.name, Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
}

func (r *reader) need(n uint64) bool {
	if r.err != nil {
		return false
	}
	if n > uint64(len(r.b)-r.off) {
		if uint64(len(r.b)) < r.size && n <= r.size-uint64(r.off) {
			r.err = errNeedMore
			return false
		}
		r.err = r.errf(r.off, "file truncated: need %d more bytes, %d left", n, r.size-uint64(r.off))
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) str() string {
	n := r.u64()
	if !r.need(n) {
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// elemSize is the minimum encoded size of one value of type t, used to
// reject array lengths the file cannot hold before allocating.
func elemSize(t ValueType) uint64 {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return 1
}

func (r *reader) value(t ValueType, depth int) any {
	if r.err != nil {
		return nil
	}
	switch t {
	case TypeUint8:
		return r.u8()
	case TypeInt8:
		return int8(r.u8())
	case TypeUint16:
		return r.u16()
	case TypeInt16:
		return int16(r.u16())
	case TypeUint32:
		return r.u32()
	case TypeInt32:
		return int32(r.u32())
	case TypeFloat32:
		return math.Float32frombits(r.u32())
	case TypeBool:
		at := r.off
		v := r.u8()
		if r.err == nil && v > 1 {
			r.err = r.errf(at, "bool value %d is neither 0 nor 1", v)
		}
		return v == 1
	case TypeString:
		return r.str()
	case TypeUint64:
		return r.u64()
	case TypeInt64:
		return int64(r.u64())
	case TypeFloat64:
		return math.Float64frombits(r.u64())
	case TypeArray:
		if depth >= maxArrayDepth {
			r.err = r.errf(r.off, "arrays nested deeper than %d", maxArrayDepth)
			return nil
		}
		at := r.off
		et := ValueType(r.u32())
		n := r.u64()
		if r.err != nil {
			return nil
		}
		if et > TypeFloat64 {
			r.err = r.errf(at, "array of unknown value type %d", uint32(et))
			return nil
		}
		if n > (r.size-uint64(r.off))/elemSize(et) {
			r.err = r.errf(at, "array length %d is impossible with %d bytes left", n, r.size-uint64(r.off))
			return nil
		}
		if n > maxArrayLen {
			r.err = r.errf(at, "array length %d exceeds ferry's limit of %d", n, maxArrayLen)
			return nil
		}
		return Array{Type: et, Values: r.array(et, int(n), depth)}
	}
	r.err = r.errf(r.off-4, "unknown metadata value type %d", uint32(t))
	return nil
}

func (r *reader) array(t ValueType, n int, depth int) any {
	switch t {
	case TypeUint8:
		v := make([]uint8, n)
		for i := range v {
			v[i] = r.u8()
		}
		return v
	case TypeInt8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(r.u8())
		}
		return v
	case TypeUint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = r.u16()
		}
		return v
	case TypeInt16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(r.u16())
		}
		return v
	case TypeUint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = r.u32()
		}
		return v
	case TypeInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(r.u32())
		}
		return v
	case TypeFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(r.u32())
		}
		return v
	case TypeBool:
		v := make([]bool, n)
		for i := range v {
			v[i] = r.u8() != 0
		}
		return v
	case TypeString:
		v := make([]string, n)
		for i := range v {
			v[i] = r.str()
			if r.err != nil {
				return nil
			}
		}
		return v
	case TypeUint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = r.u64()
		}
		return v
	case TypeInt64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(r.u64())
		}
		return v
	case TypeFloat64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(r.u64())
		}
		return v
	case TypeArray:
		v := make([]Array, n)
		for i := range v {
			a, _ := r.value(TypeArray, depth+1).(Array)
			if r.err != nil {
				return nil
			}
			v[i] = a
		}
		return v
	}
	return nil
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
