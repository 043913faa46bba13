// Package pytorch reads PyTorch checkpoints (.bin, .pt, .pth) as written by
// torch.save since PyTorch 1.6: a zip archive (entries stored, not
// compressed) holding ARCHIVE/data.pkl, a pickle describing the object, and
// ARCHIVE/data/KEY, the raw little-endian bytes of each storage.
//
// The pickle is interpreted by a small machine that knows only the opcodes
// and globals torch.save uses to rebuild tensors and dicts; anything else is
// an error, so loading a checkpoint never runs code. Tensor bytes are
// slices of the mapped zip, never copied.
package pytorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/internal/mmap"
)

// DType is a tensor element type, named as safetensors names them.
type DType string

// Element types of torch storages.
const (
	F32    DType = "F32"
	F64    DType = "F64"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U8     DType = "U8"
	Bool   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

// Size is the number of bytes per element.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	}
	return 1
}

// Tensor is one tensor of a checkpoint. Shape and Stride are PyTorch's
// (row-major; strides in elements).
type Tensor struct {
	Name          string
	DType         DType
	Shape         []int64
	Stride        []int64
	StorageKey    string
	StorageOffset int64 // in elements

	st *storageEntry
}

// Elements is the product of the dimensions.
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Contiguous reports whether the tensor's elements are laid out row-major
// without gaps, so its bytes are one slice of the storage.
func (t *Tensor) Contiguous() bool {
	want := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.Stride[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

type storageEntry struct {
	name   string // zip entry
	offset int64  // of the entry's data in the file
	size   int64
}

// File is an open checkpoint.
type File struct {
	Path string
	// Archive is the zip's top folder ("archive", or the file's stem).
	Archive string
	Tensors []*Tensor

	data  []byte
	m     *mmap.File
	index map[string]int
}

// maxPickle bounds data.pkl (real ones are a few hundred KB).
const maxPickle = 256 << 20

// legacyMagic starts pre-1.6 (non-zip) torch.save files: pickle protocol 2
// and the LONG1 magic number 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// Sniff reports whether b starts like a torch zip checkpoint. Only the zip
// signature can be checked without reading the central directory.
func Sniff(b []byte) bool { return len(b) >= 4 && string(b[:4]) == "PK\x03\x04" }

// Open maps a checkpoint and reads its tensor table.
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

// Parse reads a checkpoint held in memory; name is used in errors.
func Parse(name string, data []byte) (*File, error) {
	return parse(name, bytes.NewReader(data), int64(len(data)), data)
}

// ReadHeader reads a checkpoint's tensor table from the zip's central
// directory and data.pkl only, without mapping the file. The File has no
// tensor data: Data and StorageBytes return nil.
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
	return parse(path, fh, st.Size(), nil)
}

// parse reads the archive through ra (size bytes); data is the mapped file
// when tensor bytes will be served, nil otherwise.
func parse(name string, ra io.ReaderAt, size int64, data []byte) (*File, error) {
	fail := func(format string, a ...any) (*File, error) {
		return nil, fmt.Errorf("%s: pytorch: %s", name, fmt.Sprintf(format, a...))
	}
	head := make([]byte, len(legacyMagic))
	n, _ := ra.ReadAt(head, 0)
	head = head[:n]
	if bytes.HasPrefix(head, legacyMagic) {
		return fail("legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a current PyTorch or convert it to safetensors")
	}
	if !Sniff(head) {
		return fail("not a zip archive (PyTorch checkpoints since 1.6 are zip files)")
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return fail("zip: %v", err)
	}
	var pkl *zip.File
	entries := map[string]*zip.File{}
	for _, zf := range zr.File {
		entries[zf.Name] = zf
		if strings.HasSuffix(zf.Name, "/data.pkl") && strings.Count(zf.Name, "/") == 1 {
			if pkl != nil {
				return fail("two data.pkl entries (%s, %s)", pkl.Name, zf.Name)
			}
			pkl = zf
		}
	}
	if pkl == nil {
		return fail("no ARCHIVE/data.pkl entry: not a torch.save checkpoint")
	}
	f := &File{Path: name, Archive: strings.TrimSuffix(pkl.Name, "/data.pkl"), data: data, index: map[string]int{}}
	if pkl.UncompressedSize64 > maxPickle {
		return fail("%s is %d bytes", pkl.Name, pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return fail("%s: %v", pkl.Name, err)
	}
	pb, err := io.ReadAll(io.LimitReader(rc, maxPickle+1))
	rc.Close()
	if err != nil {
		return fail("%s: %v", pkl.Name, err)
	}

	storages := map[string]*storageEntry{}
	fileSize := size
	mach := &machine{b: pb}
	mach.tensor = func(st *storage, offset int64, shape, stride []int64) (*Tensor, error) {
		se, ok := storages[st.key]
		if !ok {
			entry := f.Archive + "/data/" + st.key
			zf, ok := entries[entry]
			if !ok {
				return nil, fmt.Errorf("storage %q: entry %s missing", st.key, entry)
			}
			if zf.Method != zip.Store {
				return nil, fmt.Errorf("storage %q: entry %s is compressed (method %d); torch stores storages uncompressed", st.key, entry, zf.Method)
			}
			off, err := zf.DataOffset()
			if err != nil {
				return nil, fmt.Errorf("storage %q: %v", st.key, err)
			}
			size := int64(zf.UncompressedSize64)
			if zf.UncompressedSize64 > uint64(fileSize) || off < 0 || off > fileSize-size {
				return nil, fmt.Errorf("storage %q: entry %s lies past the end of the file", st.key, entry)
			}
			hi, lo := bits.Mul64(uint64(st.numel), uint64(st.dtype.Size()))
			if hi != 0 || lo != uint64(size) {
				return nil, fmt.Errorf("storage %q: %d %s elements need %d bytes, entry %s has %d", st.key, st.numel, st.dtype, lo, entry, size)
			}
			se = &storageEntry{name: entry, offset: off, size: size}
			storages[st.key] = se
		}
		if offset > st.numel {
			return nil, fmt.Errorf("storage offset %d is past storage %q (%d elements)", offset, st.key, st.numel)
		}
		// The largest element index the tensor touches must lie inside
		// its storage.
		last := offset
		for i, d := range shape {
			if d == 0 {
				last = -1
				break
			}
			hi, lo := bits.Mul64(uint64(d-1), uint64(stride[i]))
			if hi != 0 || lo > 1<<62 {
				return nil, fmt.Errorf("storage %q: shape %v stride %v overflows", st.key, shape, stride)
			}
			last += int64(lo)
			if last > 1<<62 {
				return nil, fmt.Errorf("storage %q: shape %v stride %v overflows", st.key, shape, stride)
			}
		}
		if last >= st.numel {
			return nil, fmt.Errorf("tensor of shape %v stride %v at offset %d reads past storage %q (%d elements)", shape, stride, offset, st.key, st.numel)
		}
		return &Tensor{DType: st.dtype, Shape: shape, Stride: stride, StorageKey: st.key, StorageOffset: offset, st: se}, nil
	}
	root, err := mach.run()
	if err != nil {
		return fail("%s: %v", pkl.Name, err)
	}
	if err := f.collect("", root, 0); err != nil {
		return fail("%v", err)
	}
	if len(f.Tensors) == 0 {
		return fail("no tensors in %s", pkl.Name)
	}
	return f, nil
}

// collect walks the unpickled object and names every tensor by its path
// of dict keys and list indices, joined with dots (a state dict's keys
// are already the full names).
func (f *File) collect(prefix string, v any, depth int) error {
	if depth > maxNesting {
		return errors.New("objects nested too deeply")
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case *Tensor:
		if prefix == "" {
			prefix = "tensor"
		}
		if _, dup := f.index[prefix]; dup {
			return fmt.Errorf("tensor name %q appears twice", prefix)
		}
		t := *x
		t.Name = prefix
		f.index[prefix] = len(f.Tensors)
		f.Tensors = append(f.Tensors, &t)
	case *pyDict:
		for i, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int64:
				ks = strconv.FormatInt(kk, 10)
			default:
				continue
			}
			if err := f.collect(join(ks), x.vals[i], depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		for i, e := range x.items {
			if err := f.collect(join(strconv.Itoa(i)), e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := f.collect(join(strconv.Itoa(i)), e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return f.Tensors[i], true
}

// Names returns the tensor names sorted.
func (f *File) Names() []string {
	out := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		out[i] = t.Name
	}
	sort.Strings(out)
	return out
}

// Data returns a contiguous tensor's bytes inside the mapping, without
// copying. A strided view (a transposed or sliced tensor saved as is) is an
// error: its elements are not one run of bytes.
func (f *File) Data(t *Tensor) ([]byte, error) {
	if !t.Contiguous() {
		return nil, fmt.Errorf("%s: pytorch: tensor %q is not contiguous (shape %v, stride %v)", f.Path, t.Name, t.Shape, t.Stride)
	}
	if f.data == nil {
		return nil, fmt.Errorf("%s: pytorch: opened for its header only", f.Path)
	}
	es := int64(t.DType.Size())
	start := t.st.offset + t.StorageOffset*es
	end := start + t.Elements()*es
	return f.data[start:end:end], nil
}

// StorageBytes returns the whole storage behind t, for strided access.
func (f *File) StorageBytes(t *Tensor) []byte {
	if f.data == nil {
		return nil
	}
	return f.data[t.st.offset : t.st.offset+t.st.size : t.st.offset+t.st.size]
}

// Close releases the mapping.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m, f.data = nil, nil
	return err
}
