package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

func build(t *testing.T, add func(w *Writer)) []byte {
	t.Helper()
	w := NewWriter()
	add(w)
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriterRoundTrip(t *testing.T) {
	a := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	c := []byte{9, 10, 11}
	d := bytes.Repeat([]byte{7}, 2*3*4)
	img := build(t, func(w *Writer) {
		w.Metadata = map[string]string{"format": "pt", "b": "x\"y"}
		w.AddData("z.small", U8, []uint64{3}, c)
		w.AddData("a.half", F16, []uint64{2, 2}, a)
		w.AddData("m.f32", F32, []uint64{2, 3}, d)
	})
	if n := binary.LittleEndian.Uint64(img); (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-aligned", 8+n)
	}
	f, err := Parse("mem", img)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || f.Metadata["b"] != "x\"y" {
		t.Errorf("metadata %v", f.Metadata)
	}
	for name, want := range map[string][]byte{"z.small": c, "a.half": a, "m.f32": d} {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if !bytes.Equal(f.Data(ti), want) {
			t.Errorf("%s: data %v want %v", name, f.Data(ti), want)
		}
		if ti.Begin%uint64(ti.DType.Size()) != 0 {
			t.Errorf("%s at %d is not aligned to %d", name, ti.Begin, ti.DType.Size())
		}
	}
	// Larger elements first, then by name: m.f32, a.half, z.small.
	if ti, _ := f.Tensor("m.f32"); ti.Begin != 0 {
		t.Errorf("m.f32 should come first, at %d", ti.Begin)
	}
	// Deterministic: declaring in another order gives identical bytes.
	img2 := build(t, func(w *Writer) {
		w.Metadata = map[string]string{"b": "x\"y", "format": "pt"}
		w.AddData("m.f32", F32, []uint64{2, 3}, d)
		w.AddData("a.half", F16, []uint64{2, 2}, a)
		w.AddData("z.small", U8, []uint64{3}, c)
	})
	if !bytes.Equal(img, img2) {
		t.Error("writer output depends on declaration order")
	}
}

func TestWriterRejectsWrongSize(t *testing.T) {
	w := NewWriter()
	w.AddData("x", F32, []uint64{2}, []byte{1, 2, 3})
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("err = %v", err)
	}
	if err := w.AddData("x", F32, []uint64{1}, nil); err == nil {
		t.Error("duplicate name accepted")
	}
}

func header(js string, data int) []byte {
	b := make([]byte, 8, 8+len(js)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(js)))
	b = append(b, js...)
	return append(b, make([]byte, data)...)
}

func TestBadInput(t *testing.T) {
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<60)
	cases := []struct {
		name string
		img  []byte
		want string
	}{
		{"short", []byte{1, 2}, "too short"},
		{"huge header", huge, "exceeds"},
		{"header past end", header(`{}`, 0)[:9], "past the end"},
		{"not json", header(`[1]`, 0), "does not start"},
		{"bad json", header(`{"a":`, 0), "header"},
		{"unknown dtype", header(`{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}`, 1), "unknown dtype"},
		{"missing field", header(`{"a":{"dtype":"F32","shape":[1]}}`, 4), "needs dtype"},
		{"negative dim", header(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "not a non-negative"},
		{"float dim", header(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "not a non-negative"},
		{"size mismatch", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8 bytes"},
		{"past end", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "past the end"},
		{"end before begin", header(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, 4), "end before"},
		{"absurd shape", header(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,16,16],"data_offsets":[0,4]}}`, 4), "overflows"},
		{"overlap", header(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), "overlap"},
		{"gap", header(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), "gap"},
		{"trailing", header(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 4), "trailing"},
		{"duplicate", header(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), "twice"},
		{"metadata not string", header(`{"__metadata__":{"x":1}}`, 0), "not a string"},
		{"junk after", header(`{} x`, 0), "unexpected bytes"},
		{"bad utf8", header("{\"\xff\":{}}", 0), "UTF-8"},
	}
	for _, c := range cases {
		_, err := Parse("f.safetensors", c.img)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "f.safetensors") {
			t.Errorf("%s: error %q should mention %q and the file", c.name, err, c.want)
		}
	}
}

func TestOracleFiles(t *testing.T) {
	dir := testdata.Path(t, "oracle")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		s, err := OpenDir(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if len(s.Names()) == 0 {
			t.Errorf("%s: no tensors", e.Name())
		}
		r, ok := s.Get("model.embed_tokens.weight")
		if !ok || len(r.Shape) != 2 || uint64(len(r.Data())) != r.Elements()*uint64(r.DType.Size()) {
			t.Errorf("%s: embed_tokens %+v", e.Name(), r.TensorInfo)
		}
		s.Close()
	}
}

func TestShardedFolder(t *testing.T) {
	src := testdata.Path(t, "oracle", "mistral")
	s, err := OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Files) != 5 {
		t.Errorf("%d files, want 5", len(s.Files))
	}
	if _, ok := s.Get("lm_head.weight"); !ok {
		t.Error("lm_head.weight missing")
	}
	s.Close()

	// A folder whose index names a shard that is not there.
	tmp := t.TempDir()
	idx, _ := os.ReadFile(filepath.Join(src, IndexFile))
	os.WriteFile(filepath.Join(tmp, IndexFile), idx, 0o644)
	for _, n := range []string{"model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors"} {
		b, _ := os.ReadFile(filepath.Join(src, n))
		os.WriteFile(filepath.Join(tmp, n), b, 0o644)
	}
	_, err = OpenDir(tmp)
	if err == nil || !strings.Contains(err.Error(), "model-00003-of-00005.safetensors") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing shard: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(header(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2))
	f.Add(header(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}`, 4))
	f.Add(header(`{"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"b":{"dtype":"I64","shape":[0],"data_offsets":[2,2]}}`, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for i := range file.Tensors {
			ti := &file.Tensors[i]
			if uint64(len(file.Data(ti))) != ti.Elements()*uint64(ti.DType.Size()) {
				t.Fatalf("%s: size mismatch accepted", ti.Name)
			}
		}
	})
}
