package model

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

// TestLlama2CMatchesGGUF loads stories260K.bin (+ tok512.bin found next to
// it) and compares every tensor and metadata value with stories260K.gguf,
// llama.cpp's conversion of the same checkpoint.
func TestLlama2CMatchesGGUF(t *testing.T) {
	bin := testdata.Path(t, "models", "stories260K", "stories260K.bin")
	m, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format != FormatLlama2C {
		t.Fatalf("format %q", m.Format)
	}
	g, err := gguf.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	if len(m.Tensors) != len(g.Tensors) {
		t.Fatalf("%d tensors, GGUF has %d", len(m.Tensors), len(g.Tensors))
	}
	for i := range g.Tensors {
		want := &g.Tensors[i]
		got := m.Tensors[i]
		if got.Name != want.Name || got.Type != want.Type || !reflect.DeepEqual(got.Shape, want.Shape) {
			t.Fatalf("tensor %d: %s %v %v, GGUF %s %v %v", i, got.Name, got.Type, got.Shape, want.Name, want.Type, want.Shape)
		}
		if !bytes.Equal(got.Data, g.TensorData(want)) {
			t.Errorf("tensor %s: values differ", got.Name)
		}
	}
	for _, kv := range g.KV {
		got, ok := m.Get(kv.Key)
		if kv.Key == "llama.context_length" {
			// Deliberate: ferry writes the checkpoint's seq_len (512), the
			// converter its own default.
			if n, _ := m.Uint(kv.Key); n != 512 {
				t.Errorf("context_length = %d, want the header's seq_len 512", n)
			}
			continue
		}
		if !ok {
			t.Errorf("key %s missing", kv.Key)
			continue
		}
		if got.Type != kv.Type || !reflect.DeepEqual(got.Value, kv.Value) {
			t.Errorf("key %s = %v (%s), GGUF has %v (%s)", kv.Key, short(got.Value), got.Type, short(kv.Value), kv.Type)
		}
	}
	if len(m.KV) != len(g.KV) {
		t.Errorf("%d keys, GGUF has %d", len(m.KV), len(g.KV))
	}
	for i := range g.KV {
		if i < len(m.KV) && m.KV[i].Key != g.KV[i].Key {
			t.Errorf("key %d is %s, GGUF has %s there", i, m.KV[i].Key, g.KV[i].Key)
		}
	}
}

func short(v any) any {
	if a, ok := v.(gguf.Array); ok {
		return a.Type.String() + " array"
	}
	return v
}

// TestOpenLegacy: model.Open names a legacy GGML file and says it must be
// converted.
func TestOpenLegacy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old.bin")
	os.WriteFile(p, append([]byte("tjgg\x01\x00\x00\x00"), make([]byte, 64)...), 0o644)
	_, err := Open(p)
	var le *gguf.LegacyError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "GGJT v1") || !strings.Contains(err.Error(), "must be converted") {
		t.Fatalf("err = %v", err)
	}
}
