package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/quant"
)

// hb builds GGUF bytes by hand so tests can write what the Writer refuses.
type hb struct{ bytes.Buffer }

func (b *hb) u32(v uint32) *hb { binary.Write(b, binary.LittleEndian, v); return b }
func (b *hb) u8(v uint8) *hb   { b.WriteByte(v); return b }
func (b *hb) u64(v uint64) *hb { binary.Write(b, binary.LittleEndian, v); return b }
func (b *hb) str(s string) *hb { b.u64(uint64(len(s))); b.WriteString(s); return b }
func (b *hb) head(nt, nkv uint64) *hb {
	b.WriteString("GGUF")
	return b.u32(3).u64(nt).u64(nkv)
}

// tensor writes a tensor info.
func (b *hb) tensor(name string, typ quant.Type, off uint64, shape ...uint64) *hb {
	b.str(name).u32(uint32(len(shape)))
	for _, d := range shape {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n zero bytes.
func (b *hb) data(n int) []byte {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, n))
	return b.Bytes()
}

// small returns a valid file with two F32 tensors and a few keys.
func small(t testing.TB) []byte {
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("tokenizer.ggml.tokens", []string{"a", "b", "c"})
	w.Set("nested", Array{Type: TypeArray, Values: []Array{{Type: TypeInt32, Values: []int32{1, 2}}}})
	if err := w.AddTensorData("a", quant.F32, []uint64{4, 2}, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensorData("b", quant.F16, []uint64{3}, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEveryTruncationFails(t *testing.T) {
	full := small(t)
	if _, err := Parse("full", full); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(full); n++ {
		if _, err := Parse("cut", full[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes accepted", n, len(full))
		} else if !strings.HasPrefix(err.Error(), "cut: ") {
			t.Fatalf("error does not name the file: %v", err)
		}
	}
}

func TestBadHeaders(t *testing.T) {
	var huge []byte
	{
		var b hb
		huge = b.head(1<<60, 0).data(64)
	}
	cases := []struct {
		name string
		b    []byte
		want string // a fragment of the error
	}{
		{"wrong magic", []byte("GGUX\x03\x00\x00\x00" + strings.Repeat("\x00", 16)), "not a GGUF file"},
		{"2^60 tensors", huge, "tensor count"},
		{"2^60 keys", new(hb).head(0, 1<<60).data(64), "metadata count"},
		{"version 1", []byte("GGUF\x01\x00\x00\x00" + strings.Repeat("\x00", 16)), "version 1"},
		{"version 9", []byte("GGUF\x09\x00\x00\x00" + strings.Repeat("\x00", 16)), "version 9"},
		{"big-endian", []byte("GGUF\x00\x00\x00\x03" + strings.Repeat("\x00", 16)), "big-endian"},
		{"invalid utf-8 key", new(hb).head(0, 1).str("bad\xffkey").u32(uint32(TypeUint8)).data(1), "not valid UTF-8"},
		{"invalid utf-8 tensor", new(hb).head(1, 0).tensor("t\xfe", quant.F32, 0, 1).data(4), "not valid UTF-8"},
		{"2^60 string", new(hb).head(0, 1).u64(1 << 60).data(64), "truncated"},
		{"2^60 array", new(hb).head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint8)).u64(1 << 60).data(64), "array length"},
		{"2^60 string array", new(hb).head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 60).data(64), "array length"},
		{"array element type", new(hb).head(0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(0).data(0), "unknown value type"},
		{"value type", new(hb).head(0, 1).str("k").u32(77).data(8), "unknown metadata value type 77"},
		{"bool 2", new(hb).head(0, 1).str("k").u32(uint32(TypeBool)).u8(2).data(0), "neither 0 nor 1"},
		{"duplicate key", new(hb).head(0, 2).str("k").u32(uint32(TypeUint8)).u8(1).str("k").u32(uint32(TypeUint8)).u8(1).data(0), "duplicate metadata key"},
		{"alignment type", new(hb).head(0, 1).str("general.alignment").u32(uint32(TypeUint64)).u64(32).data(0), "general.alignment"},
		{"alignment 48", new(hb).head(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(48).data(0), "power-of-two"},
		{"too many dims", new(hb).head(1, 0).tensor("t", quant.F32, 0, 1, 1, 1, 1, 1).data(4), "5 dimensions"},
		{"absurd shape", new(hb).head(1, 0).tensor("t", quant.F32, 0, 1<<40, 1<<40).data(4), "absurd shape"},
		{"dim 2^63 times 0", new(hb).head(1, 0).tensor("t", quant.F32, 0, 1<<63, 0).data(4), "absurd shape"},
		{"unknown type", new(hb).head(1, 0).tensor("t", quant.Type(200), 0, 4).data(4), "unknown type 200"},
		{"row not whole blocks", new(hb).head(1, 0).tensor("t", quant.Q4_0, 0, 33).data(64), "not a multiple"},
		{"offset past end", new(hb).head(1, 0).tensor("t", quant.F32, 64, 4).data(16), "past the end"},
		{"offset 2^63", new(hb).head(1, 0).tensor("t", quant.F32, 1<<63, 4).data(16), "past the end"},
		{"bytes past end", new(hb).head(1, 0).tensor("t", quant.F32, 0, 8).data(16), "past the end"},
		{"misaligned", new(hb).head(1, 0).tensor("t", quant.F32, 4, 1).data(64), "not aligned"},
		{"overlap", new(hb).head(2, 0).tensor("a", quant.F32, 0, 16).tensor("b", quant.F32, 32, 8).data(64), "overlap"},
		{"duplicate tensor", new(hb).head(2, 0).tensor("a", quant.F32, 0, 1).tensor("a", quant.F32, 32, 1).data(64), "duplicate tensor"},
		{"legacy ggjt", append([]byte("tjgg\x03\x00\x00\x00"), make([]byte, 28)...), "legacy GGJT v3"},
	}
	for _, c := range cases {
		_, err := Parse(c.name, c.b)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.name+": ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q should name the file and say %q on one line", c.name, msg, c.want)
		}
	}
}

func TestLegacy(t *testing.T) {
	hp := make([]byte, 28)
	for i, v := range []uint32{32000, 4096, 256, 32, 32, 128, 2} {
		binary.LittleEndian.PutUint32(hp[4*i:], v)
	}
	cases := []struct {
		head        string
		want        string
		convertible bool
	}{
		{"lmgg", "GGML (unversioned)", false},
		{"fmgg\x01\x00\x00\x00", "GGMF v1", false},
		{"tjgg\x01\x00\x00\x00", "GGJT v1", false},
		{"tjgg\x03\x00\x00\x00", "GGJT v3", true},
	}
	for _, c := range cases {
		b := append([]byte(c.head), hp...)
		l, ok := SniffLegacy(b)
		if !ok || l.String() != c.want || l.NVocab != 32000 || l.NLayer != 32 || l.FType != 2 || l.Convertible() != c.convertible {
			t.Errorf("%q: %+v ok=%v", c.head, l, ok)
		}
		_, err := Parse("old.bin", b)
		var le *LegacyError
		if !errors.As(err, &le) || !errors.Is(err, ErrNotGGUF) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v", c.head, err)
		}
	}
	if _, ok := SniffLegacy([]byte("tjgg\x07\x00\x00\x00")); ok {
		t.Error("GGJT v7 accepted")
	}
}
