package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures in testdata/ are written by this file's generator, which
// pickles by hand what torch.save writes: pickle protocol 2, an
// OrderedDict built with GLOBAL 'collections OrderedDict' + EMPTY_TUPLE +
// REDUCE, each tensor as REDUCE of torch._utils._rebuild_tensor_v2 on
// (storage, storage_offset, size, stride, requires_grad, backward_hooks),
// the storage a BINPERSID of ('storage', torch.XStorage, key, 'cpu',
// numel), BINPUT after every memoizable object, and the storages as
// uncompressed zip entries ARCHIVE/data/KEY next to ARCHIVE/data.pkl,
// ARCHIVE/version and ARCHIVE/byteorder.
//
//	go test ./pytorch -run TestFixtures -update
var update = flag.Bool("update", false, "rewrite the fixture files in testdata/")

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

// fixtureTensor is a tensor to pickle: a view into a storage.
type fixtureTensor struct {
	name      string
	storage   string // key
	offset    int64
	shape     []int64
	stride    []int64
	parameter bool // wrap in torch._utils._rebuild_parameter
}

type fixtureStorage struct {
	key   string
	class string // "FloatStorage"
	dtype DType
	data  []byte
}

// values fills n elements of dtype with a recognisable sequence.
func values(dtype DType, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		x := float32(i)*0.5 - 1
		switch dtype {
		case F32:
			binary.Write(&b, binary.LittleEndian, x)
		case F16:
			binary.Write(&b, binary.LittleEndian, f16(x))
		case BF16:
			binary.Write(&b, binary.LittleEndian, uint16(math.Float32bits(x)>>16))
		case I64:
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

// pickleStateDict writes data.pkl for an OrderedDict of tensors, optionally
// nested as {"model": state_dict, "epoch": 3}.
func pickleStateDict(proto int, storages []fixtureStorage, tensors []fixtureTensor, nested bool) []byte {
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
	byKey := map[string]fixtureStorage{}
	for _, s := range storages {
		byKey[s.key] = s
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
		p.str(t.name)
		if t.parameter {
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
		st := byKey[t.storage]
		p.tuple(
			func() {
				if id, ok := storageMemo[st.key]; ok {
					get(id)
					return
				}
				p.tuple(
					func() { p.str("storage") },
					func() {
						if id, ok := classMemo[st.class]; ok {
							get(id)
						} else {
							p.global("torch", st.class)
							classMemo[st.class] = p.memo - 1
						}
					},
					func() { p.str(st.key) },
					func() { p.str("cpu") },
					func() { p.int(int64(len(st.data) / st.dtype.Size())) },
				)
				p.WriteByte(opBinPersID)
				p.put()
				storageMemo[st.key] = p.memo - 1
			},
			func() { p.int(t.offset) },
			func() { p.ints(t.shape) },
			func() { p.ints(t.stride) },
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
		if t.parameter {
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

// writeTorchZip assembles the archive; extra entries may be added by tests.
func writeTorchZip(archive string, pkl []byte, storages []fixtureStorage, method uint16) []byte {
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
		add("data/"+s.key, s.data, method)
	}
	add("version", []byte("3\n"), zip.Store)
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// fixtureStorages and fixtureTensors describe testdata/state_dict.pt.
func fixtureStorages() []fixtureStorage {
	return []fixtureStorage{
		{"0", "FloatStorage", F32, values(F32, 12)},
		{"1", "HalfStorage", F16, values(F16, 4)},
		{"2", "BFloat16Storage", BF16, values(BF16, 4)},
		{"3", "LongStorage", I64, values(I64, 3)},
	}
}

func fixtureTensors() []fixtureTensor {
	return []fixtureTensor{
		{name: "layers.0.weight", storage: "0", shape: []int64{2, 3}, stride: []int64{3, 1}},
		{name: "layers.0.weight_t", storage: "0", shape: []int64{3, 2}, stride: []int64{1, 3}},      // transposed view
		{name: "layers.0.tail", storage: "0", offset: 6, shape: []int64{6}, stride: []int64{1}},     // second half
		{name: "norm.weight", storage: "1", shape: []int64{4}, stride: []int64{1}, parameter: true}, // nn.Parameter
		{name: "embed.weight", storage: "2", shape: []int64{2, 2}, stride: []int64{2, 1}},
		{name: "position_ids", storage: "3", shape: []int64{1, 3}, stride: []int64{3, 1}},
	}
}

func TestFixtures(t *testing.T) {
	files := map[string][]byte{
		"state_dict.pt":  writeTorchZip("state_dict", pickleStateDict(2, fixtureStorages(), fixtureTensors(), false), fixtureStorages(), zip.Store),
		"checkpoint.pth": writeTorchZip("archive", pickleStateDict(4, fixtureStorages(), fixtureTensors(), true), fixtureStorages(), zip.Store),
	}
	for name, b := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, b) {
			t.Errorf("%s differs from the generator's output; run with -update", path)
		}
	}
}
