//go:build !unix && !windows

package mmap

import (
	"io"
	"os"
)

// On platforms without file mapping (Plan 9, WebAssembly), the file is read into
// memory: correct, but not zero-copy.
func mapFile(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}

func unmap(b []byte) error { return nil }
