// Package mmap maps files read-only into memory so that model weights are
// used in place: the kernel pages them in on demand and they are never copied
// into a separate buffer.
package mmap

import (
	"fmt"
	"os"
)

// File is a read-only mapping of a whole file.
type File struct {
	f    *os.File
	data []byte
}

// Open maps the named file read-only. An empty file maps to an empty slice.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	if size < 0 || int64(int(size)) != size {
		f.Close()
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", path, size)
	}
	data, err := mapFile(f, int(size))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &File{f: f, data: data}, nil
}

// Data returns the mapped bytes. They are read-only: writing to them faults.
func (m *File) Data() []byte { return m.data }

// Len is the size of the mapping in bytes.
func (m *File) Len() int { return len(m.data) }

// Name is the path the file was opened with.
func (m *File) Name() string { return m.f.Name() }

// Close unmaps the file. Slices returned by Data must not be used afterwards.
func (m *File) Close() error {
	if m == nil || m.f == nil {
		return nil
	}
	err := unmap(m.data)
	m.data = nil
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	m.f = nil
	return err
}
