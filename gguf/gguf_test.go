package gguf

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
)

func TestOpenStories(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Architecture() != "llama" {
		t.Fatalf("architecture = %q", f.Architecture())
	}
	if n, _ := f.Uint("llama.embedding_length"); n != 64 {
		t.Fatalf("embedding_length = %d, want 64", n)
	}
	if n, _ := f.Uint("llama.block_count"); n != 5 {
		t.Fatalf("block_count = %d, want 5", n)
	}
	tok, ok := f.Tensor("token_embd.weight")
	if !ok {
		t.Fatal("token_embd.weight missing")
	}
	if tok.Type != quant.F32 || tok.Shape[0] != 64 || tok.Shape[1] != 512 {
		t.Fatalf("token_embd.weight = %v %v", tok.Type, tok.Shape)
	}
}

// TestRoundTrip rewrites a real file with the Writer and checks that the
// result parses to the same metadata and tensor bytes.
func TestRoundTrip(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter()
	for _, kv := range f.KV {
		w.SetKV(kv)
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if err := w.AddTensorData(ti.Name, ti.Type, ti.Shape, f.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := Parse(filepath.Base(p)+" (rewritten)", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.KV) != len(f.KV) || len(g.Tensors) != len(f.Tensors) {
		t.Fatalf("counts differ: kv %d/%d tensors %d/%d", len(g.KV), len(f.KV), len(g.Tensors), len(f.Tensors))
	}
	for i := range f.Tensors {
		a, b := &f.Tensors[i], &g.Tensors[i]
		if a.Name != b.Name || a.Type != b.Type || !bytes.Equal(f.TensorData(a), g.TensorData(b)) {
			t.Fatalf("tensor %d (%s) differs after round trip", i, a.Name)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     []byte("GGUX\x03\x00\x00\x00"),
		"truncated": []byte("GGUF\x03\x00\x00\x00\x01"),
		"huge count": append([]byte("GGUF\x03\x00\x00\x00"),
			0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0),
	}
	for name, b := range cases {
		if _, err := Parse(name, b); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}
