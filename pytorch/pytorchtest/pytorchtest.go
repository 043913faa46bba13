// Package pytorchtest writes PyTorch checkpoints the way torch.save does,
// for tests: there is no PyTorch in ferry's test environment, so fixtures
// are pickled by hand from the format's facts — pickle protocol 2 (4 on
// request), an OrderedDict built with GLOBAL collections.OrderedDict +
// EMPTY_TUPLE + REDUCE, each tensor a REDUCE of
// torch._utils._rebuild_tensor_v2 on (storage, storage_offset, size,
// stride, requires_grad, backward_hooks), each storage a BINPERSID of
// ('storage', torch.XStorage, key, 'cpu', numel), BINPUT after every
// memoizable object, the state dict's _metadata set by BUILD, and the
// storages as uncompressed zip entries ARCHIVE/data/KEY next to
// ARCHIVE/data.pkl, ARCHIVE/byteorder and ARCHIVE/version.
package pytorchtest

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
)

// Pickle opcodes used by the writer (see CPython's pickle.py).
const (
	opMark        = '('
	opStop        = '.'
	opBinInt      = 'J'
	opBinInt1     = 'K'
	opBinInt2     = 'M'
	opBinPersID   = 'Q'
	opReduce      = 'R'
	opBinUnicode  = 'X'
	opBuild       = 'b'
	opGlobal      = 'c'
	opBinGet      = 'h'
	opLongBinGet  = 'j'
	opBinPut      = 'q'
	opLongBinPut  = 'r'
	opSetItem     = 's'
	opTuple       = 't'
	opSetItems    = 'u'
	opEmptyDict   = '}'
	opEmptyTuple  = ')'
	opProto       = 0x80
	opTuple1      = 0x85
	opTuple3      = 0x87
	opNewTrue     = 0x88
	opNewFalse    = 0x89
	opLong1       = 0x8a
	opShortBinUni = 0x8c
	opStackGlobal = 0x93
	opMemoize     = 0x94
	opFrame       = 0x95
)

// Tensor is a contiguous tensor for StateDict.
type Tensor struct {
	Name  string
	DType string // "F32", "F16", "BF16", "I64", "I32", "U8", ...
	Shape []int64
	Data  []byte
}

var classes = map[string]struct {
	class string
	size  int
}{
	"F32": {"FloatStorage", 4}, "F64": {"DoubleStorage", 8}, "F16": {"HalfStorage", 2}, "BF16": {"BFloat16Storage", 2},
	"I64": {"LongStorage", 8}, "I32": {"IntStorage", 4}, "I16": {"ShortStorage", 2}, "I8": {"CharStorage", 1},
	"U8": {"ByteStorage", 1}, "BOOL": {"BoolStorage", 1},
}

// StateDict returns a torch.save'd OrderedDict of the tensors, each in its
// own storage, in an archive named archive.
func StateDict(archive string, tensors []Tensor) []byte {
	var st []Storage
	var views []View
	for i, t := range tensors {
		c, ok := classes[t.DType]
		if !ok {
			panic("pytorchtest: dtype " + t.DType)
		}
		key := itoa(i)
		st = append(st, Storage{Key: key, Class: c.class, ElemSize: c.size, Data: t.Data})
		stride := make([]int64, len(t.Shape))
		s := int64(1)
		for d := len(t.Shape) - 1; d >= 0; d-- {
			stride[d] = s
			s *= t.Shape[d]
		}
		views = append(views, View{Name: t.Name, Storage: key, Shape: t.Shape, Stride: stride})
	}
	return Zip(archive, Pickle(2, st, views, false), st, zip.Store)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// pickler writes pickle opcodes the way CPython's protocol-2/4 pickler does.
type pickler struct {
	bytes.Buffer
	memo  uint32
	proto int
}

func (p *pickler) put() {
	if p.proto >= 4 {
		p.WriteByte(opMemoize)
	} else if p.memo < 256 {
		p.WriteByte(opBinPut)
		p.WriteByte(byte(p.memo))
	} else {
		p.WriteByte(opLongBinPut)
		binary.Write(p, binary.LittleEndian, p.memo)
	}
	p.memo++
}

func (p *pickler) global(mod, name string) {
	if p.proto >= 4 {
		p.str(mod)
		p.str(name)
		p.WriteByte(opStackGlobal)
	} else {
		p.WriteByte(opGlobal)
		p.WriteString(mod + "\n" + name + "\n")
	}
	p.put()
}

func (p *pickler) str(s string) {
	if p.proto >= 4 && len(s) < 256 {
		p.WriteByte(opShortBinUni)
		p.WriteByte(byte(len(s)))
	} else {
		p.WriteByte(opBinUnicode)
		binary.Write(p, binary.LittleEndian, uint32(len(s)))
	}
	p.WriteString(s)
	p.put()
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.WriteByte(opBinInt1)
		p.WriteByte(byte(v))
	case v >= 0 && v < 65536:
		p.WriteByte(opBinInt2)
		binary.Write(p, binary.LittleEndian, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.WriteByte(opBinInt)
		binary.Write(p, binary.LittleEndian, int32(v))
	default:
		p.WriteByte(opLong1)
		p.WriteByte(8)
		binary.Write(p, binary.LittleEndian, v)
	}
}

// tuple writes n already-pushed items (after a MARK when n > 3).
func (p *pickler) tuple(items ...func()) {
	switch len(items) {
	case 0:
		p.WriteByte(opEmptyTuple)
		return
	case 1, 2, 3:
		for _, f := range items {
			f()
		}
		p.WriteByte(opTuple1 + byte(len(items)-1))
	default:
		p.WriteByte(opMark)
		for _, f := range items {
			f()
		}
		p.WriteByte(opTuple)
	}
	p.put()
}

func (p *pickler) ints(v []int64) {
	fs := make([]func(), len(v))
	for i, x := range v {
		x := x
		fs[i] = func() { p.int(x) }
	}
	p.tuple(fs...)
}

// View is a tensor to pickle: a view into a storage.
type View struct {
	Name      string
	Storage   string // key
	Offset    int64
	Shape     []int64
	Stride    []int64
	Parameter bool // wrap in torch._utils._rebuild_parameter
}

// Storage is one storage: the zip entry ARCHIVE/data/Key holding Data, pickled
// as torch.Class with len(Data)/ElemSize elements.
type Storage struct {
	Key      string
	Class    string // "FloatStorage"
	ElemSize int
	Data     []byte
}

// Values fills n elements of dtype with a recognisable sequence.
func Values(dtype string, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		x := float32(i)*0.5 - 1
		switch dtype {
		case "F32":
			binary.Write(&b, binary.LittleEndian, x)
		case "F16":
			binary.Write(&b, binary.LittleEndian, f16(x))
		case "BF16":
			binary.Write(&b, binary.LittleEndian, uint16(math.Float32bits(x)>>16))
		case "I64":
			binary.Write(&b, binary.LittleEndian, int64(i*1000-7))
		}
	}
	return b.Bytes()
}

// f16 converts the small exact values used here to IEEE half.
func f16(x float32) uint16 {
	if x == 0 {
		return 0
	}
	bits := math.Float32bits(x)
	sign := uint16(bits>>16) & 0x8000
	exp := int((bits>>23)&0xff) - 127 + 15
	mant := uint16((bits >> 13) & 0x3ff)
	return sign | uint16(exp)<<10 | mant
}

// Pickle writes data.pkl for an OrderedDict of tensors, optionally
// nested as {"model": state_dict, "epoch": 3}.
func Pickle(proto int, storages []Storage, tensors []View, nested bool) []byte {
	p := &pickler{proto: proto}
	p.WriteByte(opProto)
	p.WriteByte(byte(proto))
	if proto >= 4 {
		p.WriteByte(opFrame)
		binary.Write(p, binary.LittleEndian, uint64(0)) // length unchecked by readers that stream
	}
	if nested {
		p.WriteByte(opEmptyDict)
		p.put()
		p.WriteByte(opMark)
		p.str("epoch")
		p.int(3)
		p.str("model")
	}
	p.global("collections", "OrderedDict")
	odict := p.memo - 1
	p.WriteByte(opEmptyTuple)
	p.WriteByte(opReduce)
	p.put()
	p.WriteByte(opMark)
	classMemo := map[string]uint32{}
	storageMemo := map[string]uint32{}
	var rebuildMemo, paramMemo int64 = -1, -1
	byKey := map[string]Storage{}
	for _, s := range storages {
		byKey[s.Key] = s
	}
	get := func(id uint32) {
		if id < 256 {
			p.WriteByte(opBinGet)
			p.WriteByte(byte(id))
		} else {
			p.WriteByte(opLongBinGet)
			binary.Write(p, binary.LittleEndian, id)
		}
	}
	for _, t := range tensors {
		p.str(t.Name)
		if t.Parameter {
			if paramMemo < 0 {
				p.global("torch._utils", "_rebuild_parameter")
				paramMemo = int64(p.memo - 1)
			} else {
				get(uint32(paramMemo))
			}
		}
		if rebuildMemo < 0 {
			p.global("torch._utils", "_rebuild_tensor_v2")
			rebuildMemo = int64(p.memo - 1)
		} else {
			get(uint32(rebuildMemo))
		}
		st := byKey[t.Storage]
		p.tuple(
			func() {
				if id, ok := storageMemo[st.Key]; ok {
					get(id)
					return
				}
				p.tuple(
					func() { p.str("storage") },
					func() {
						if id, ok := classMemo[st.Class]; ok {
							get(id)
						} else {
							p.global("torch", st.Class)
							classMemo[st.Class] = p.memo - 1
						}
					},
					func() { p.str(st.Key) },
					func() { p.str("cpu") },
					func() { p.int(int64(len(st.Data) / st.ElemSize)) },
				)
				p.WriteByte(opBinPersID)
				p.put()
				storageMemo[st.Key] = p.memo - 1
			},
			func() { p.int(t.Offset) },
			func() { p.ints(t.Shape) },
			func() { p.ints(t.Stride) },
			func() { p.WriteByte(opNewFalse) },
			func() {
				get(odict)
				p.WriteByte(opEmptyTuple)
				p.WriteByte(opReduce)
				p.put()
			},
		)
		p.WriteByte(opReduce)
		p.put()
		if t.Parameter {
			// _rebuild_parameter(data, requires_grad, backward_hooks)
			p.WriteByte(opNewTrue)
			get(odict)
			p.WriteByte(opEmptyTuple)
			p.WriteByte(opReduce)
			p.put()
			p.WriteByte(opTuple3)
			p.put()
			p.WriteByte(opReduce)
			p.put()
		}
	}
	p.WriteByte(opSetItems)
	// state_dict() sets _metadata on the OrderedDict: BUILD with its __dict__.
	p.WriteByte(opEmptyDict)
	p.put()
	p.str("_metadata")
	get(odict)
	p.WriteByte(opEmptyTuple)
	p.WriteByte(opReduce)
	p.put()
	p.WriteByte(opSetItem)
	p.WriteByte(opBuild)
	if nested {
		p.WriteByte(opSetItems)
	}
	p.WriteByte(opStop)
	return p.Bytes()
}

// Zip assembles the archive; extra entries may be added by tests.
func Zip(archive string, pkl []byte, storages []Storage, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, m uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: archive + "/" + name, Method: m})
		if err != nil {
			panic(err)
		}
		w.Write(data)
	}
	add("data.pkl", pkl, zip.Store)
	add("byteorder", []byte("little"), zip.Store)
	for _, s := range storages {
		add("data/"+s.Key, s.Data, method)
	}
	add("version", []byte("3\n"), zip.Store)
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
