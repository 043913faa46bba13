package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestMapMatchesFile(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("ferry\x00\xff"), 10000)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data(), want) || m.Len() != len(want) || m.Name() != p {
		t.Fatal("mapping differs from the file")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close should be a no-op")
	}

	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	e, err := Open(empty)
	if err != nil || e.Len() != 0 {
		t.Fatalf("empty file: %v", err)
	}
	e.Close()
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file should fail")
	}
}
