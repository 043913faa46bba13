package model

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
)

// writeSplit writes m as a split set in dir the way gguf-split does: the
// first part carries the metadata, every part its split.* keys and a share
// of the tensors. It returns the part paths.
func writeSplit(t *testing.T, m *Model, dir string, n int) []string {
	t.Helper()
	var paths []string
	per := (len(m.Tensors) + n - 1) / n
	for i := 0; i < n; i++ {
		w := gguf.NewWriter()
		if i == 0 {
			for _, kv := range m.Metadata.KV {
				w.SetKV(kv)
			}
			if err := w.Set("split.tensors.count", int32(len(m.Tensors))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Set("split.no", uint16(i)); err != nil {
			t.Fatal(err)
		}
		if err := w.Set("split.count", uint16(n)); err != nil {
			t.Fatal(err)
		}
		for _, tt := range m.Tensors[min(i*per, len(m.Tensors)):min((i+1)*per, len(m.Tensors))] {
			if err := w.AddTensorData(tt.Name, tt.Type, tt.Shape, tt.Data); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("stories-%05d-of-%05d.gguf", i+1, n))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestSplitGGUF loads stories260K split in three parts, from each part,
// and finds the same metadata (without the split keys) and the same tensor
// bytes as the single file; a missing or misnumbered part is a clear error.
func TestSplitGGUF(t *testing.T) {
	orig, err := Open(filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	dir := t.TempDir()
	paths := writeSplit(t, orig, dir, 3)
	for _, p := range paths {
		m, err := Open(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if m.Path != paths[0] {
			t.Errorf("Path = %s, want the first part", m.Path)
		}
		if len(m.Metadata.KV) != len(orig.Metadata.KV) {
			t.Errorf("%d metadata keys, want %d", len(m.Metadata.KV), len(orig.Metadata.KV))
		}
		for _, kv := range m.Metadata.KV {
			if strings.HasPrefix(kv.Key, "split.") {
				t.Errorf("merged metadata keeps %s", kv.Key)
			}
		}
		if m.Architecture() != orig.Architecture() {
			t.Errorf("architecture %q", m.Architecture())
		}
		if len(m.Tensors) != len(orig.Tensors) {
			t.Fatalf("%d tensors, want %d", len(m.Tensors), len(orig.Tensors))
		}
		for _, want := range orig.Tensors {
			got := m.Tensor(want.Name)
			if got == nil || got.Type != want.Type || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("tensor %s differs", want.Name)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A missing part.
	if err := os.Rename(paths[1], paths[1]+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(paths[0]); err == nil || !strings.Contains(err.Error(), "part 2 of 3") {
		t.Errorf("missing part: %v", err)
	}
	// A part from another set in its place.
	if err := os.Rename(paths[2], paths[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(paths[0]); err == nil || !strings.Contains(err.Error(), "expected part 2 of 3") {
		t.Errorf("misnumbered part: %v", err)
	}
	// A renamed part cannot find its siblings.
	odd := filepath.Join(dir, "renamed.gguf")
	if err := os.Rename(paths[0], odd); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(odd); err == nil || !strings.Contains(err.Error(), "cannot be found") {
		t.Errorf("renamed part: %v", err)
	}
}
