package pytorch

import (
	"archive/zip"
	"bytes"
	"reflect"
	"strings"
	"testing"

	pt "github.com/ferryhq/ferry/pytorch/pytorchtest"
)

func TestReadFixtures(t *testing.T) {
	for _, c := range []struct {
		file, prefix, archive string
	}{
		{"testdata/state_dict.pt", "", "state_dict"},
		{"testdata/checkpoint.pth", "model.", "archive"},
	} {
		f, err := Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if f.Archive != c.archive || len(f.Tensors) != len(fixtureTensors()) {
			t.Fatalf("%s: archive %q, %d tensors", c.file, f.Archive, len(f.Tensors))
		}
		st := map[string]pt.Storage{}
		for _, s := range fixtureStorages() {
			st[s.Key] = s
		}
		for i, want := range fixtureTensors() {
			got := f.Tensors[i]
			if got.Name != c.prefix+want.Name || got.DType != storageDTypes[want.Storage] || !reflect.DeepEqual(got.Shape, want.Shape) ||
				!reflect.DeepEqual(got.Stride, want.Stride) || got.StorageOffset != want.Offset || got.StorageKey != want.Storage {
				t.Fatalf("%s: tensor %d = %+v, want %+v", c.file, i, got, want)
			}
			es := int64(got.DType.Size())
			whole := st[want.Storage].Data
			if !bytes.Equal(f.StorageBytes(got), whole) {
				t.Errorf("%s: storage bytes differ", got.Name)
			}
			data, err := f.Data(got)
			if strings.HasSuffix(want.Name, "_t") {
				if err == nil || got.Contiguous() {
					t.Errorf("%s: transposed view reported contiguous", got.Name)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if exp := whole[want.Offset*es : (want.Offset+got.Elements())*es]; !bytes.Equal(data, exp) {
				t.Errorf("%s: bytes differ", got.Name)
			}
		}
		f.Close()
	}
}

func build(pkl []byte) []byte { return pt.Zip("archive", pkl, fixtureStorages(), zip.Store) }

func TestBadInput(t *testing.T) {
	good := pt.Pickle(2, fixtureStorages(), fixtureTensors(), false)
	evil := func(body string) []byte { return []byte("\x80\x02" + body) }
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"not zip":       {[]byte("hello world"), "not a zip"},
		"legacy":        {append(legacyMagic, 0, 0), "legacy"},
		"no data.pkl":   {pt.Zip("a", nil, nil, zip.Store)[:0], "not a zip"},
		"os.system":     {build(evil("cos\nsystem\n(S'echo hi'\ntR.")), "global os.system is not allowed"},
		"builtins eval": {build(evil("\x8c\x08builtins\x8c\x04eval\x93.")), "builtins.eval is not allowed"},
		"INST opcode":   {build(evil("(ios\nsystem\n.")), "not allowed"},
		"truncated":     {build(good[:len(good)/2]), "truncated"},
		"no stop":       {build(good[:len(good)-1]), "no STOP"},
		"memo miss":     {build(evil("h\x07.")), "memo key 7"},
		"underflow":     {build(evil("t.")), "no MARK"},
		"bad reduce":    {build(evil("ccollections\nOrderedDict\nK\x01R.")), "REDUCE arguments"},
		"compressed":    {pt.Zip("archive", good, fixtureStorages(), zip.Deflate), "compressed"},
		"missing entry": {pt.Zip("archive", good, fixtureStorages()[:2], zip.Store), "missing"},
		"size mismatch": {pt.Zip("archive", good, append([]pt.Storage{{Key: "0", Class: "FloatStorage", ElemSize: 4, Data: pt.Values("F32", 11)}}, fixtureStorages()[1:]...), zip.Store), "need 48 bytes"},
		"no tensors":    {build(evil("}.")), "no tensors"},
		"protocol 9":    {build([]byte("\x80\x09}.")), "protocol 9"},
	}
	for name, c := range cases {
		_, err := Parse(name, c.b)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), name+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to name the file and say %q", name, err, c.want)
		}
	}
}

// TestViewPastStorage: a view whose last element lies past its storage.
func TestViewPastStorage(t *testing.T) {
	ts := []pt.View{{Name: "x", Storage: "0", Offset: 8, Shape: []int64{2, 3}, Stride: []int64{3, 1}}}
	b := pt.Zip("archive", pt.Pickle(2, fixtureStorages(), ts, false), fixtureStorages(), zip.Store)
	if _, err := Parse("past.pt", b); err == nil || !strings.Contains(err.Error(), "past storage") {
		t.Fatalf("err = %v", err)
	}
	ts[0].Offset, ts[0].Shape, ts[0].Stride = 1<<40, []int64{0}, []int64{1}
	b = pt.Zip("archive", pt.Pickle(2, fixtureStorages(), ts, false), fixtureStorages(), zip.Store)
	if _, err := Parse("offset.pt", b); err == nil {
		t.Fatal("offset past storage accepted")
	}
}

func FuzzPickle(f *testing.F) {
	f.Add(pt.Pickle(2, fixtureStorages(), fixtureTensors(), false))
	f.Add(pt.Pickle(4, fixtureStorages(), fixtureTensors(), true))
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01K\x02eu."))
	f.Fuzz(func(t *testing.T, pkl []byte) {
		b := pt.Zip("archive", pkl, fixtureStorages(), zip.Store)
		fl, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for _, ts := range fl.Tensors {
			if d, err := fl.Data(ts); err == nil && int64(len(d)) != ts.Elements()*int64(ts.DType.Size()) {
				t.Fatalf("%s: %d bytes", ts.Name, len(d))
			}
			fl.StorageBytes(ts)
		}
	})
}

// FuzzParse mutates whole archives (zip structure included).
func FuzzParse(f *testing.F) {
	f.Add(build(pt.Pickle(2, fixtureStorages(), fixtureTensors(), false)))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for _, ts := range fl.Tensors {
			fl.Data(ts)
		}
	})
}

func TestReadHeader(t *testing.T) {
	for _, p := range []string{"testdata/state_dict.pt", "testdata/checkpoint.pth"} {
		a, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Tensors) != len(b.Tensors) {
			t.Fatalf("%s: %d vs %d tensors", p, len(a.Tensors), len(b.Tensors))
		}
		for i := range a.Tensors {
			x, y := *a.Tensors[i], *b.Tensors[i]
			if x.Name != y.Name || x.DType != y.DType || !reflect.DeepEqual(x.Shape, y.Shape) || *x.st != *y.st {
				t.Fatalf("%s: tensor %d differs", p, i)
			}
		}
		if _, err := b.Data(b.Tensors[0]); err == nil || b.StorageBytes(b.Tensors[0]) != nil {
			t.Fatal("header-only file served data")
		}
		a.Close()
	}
}
