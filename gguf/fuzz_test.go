package gguf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ferryhq/ferry/quant"
)

// FuzzParse feeds arbitrary bytes to the parser: it must return an error or
// a File whose every tensor lies inside the data, never panic or allocate
// beyond the input's size. Accepted files must survive a Writer round trip.
func FuzzParse(f *testing.F) {
	f.Add(small(f))
	f.Add(new(hb).head(2, 0).tensor("a", quant.Q4_0, 0, 32).tensor("b", quant.F32, 32, 8).data(64))
	f.Add(new(hb).head(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(64).data(0))
	f.Add(append([]byte("tjgg\x03\x00\x00\x00"), make([]byte, 28)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		// A prefix, told the full size, parses the same or asks for more.
		if h, err := parse("prefix", b[:len(b)/2], uint64(len(b))); err == nil {
			if len(h.KV) != len(g.KV) || len(h.Tensors) != len(g.Tensors) {
				t.Fatalf("prefix parse differs")
			}
		} else if !errors.Is(err, errNeedMore) {
			t.Fatalf("prefix parse: %v", err)
		}
		w := NewWriter()
		for _, kv := range g.KV {
			w.SetKV(kv)
		}
		roundTrip := true
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			d := g.TensorData(ti)
			if uint64(len(d)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes, size %d", ti.Name, len(d), ti.Size)
			}
			if len(ti.Shape) == 0 {
				roundTrip = false // the Writer requires at least one dimension
				continue
			}
			if err := w.AddTensorData(ti.Name, ti.Type, ti.Shape, d); err != nil {
				t.Fatalf("writer rejects a tensor the reader accepted: %v", err)
			}
		}
		if !roundTrip || w.Alignment != g.Alignment {
			return
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			return // e.g. alignment beyond the writer's limit
		}
		h, err := Parse("rewritten", buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if len(h.KV) != len(g.KV) || len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("round trip changed counts")
		}
	})
}
