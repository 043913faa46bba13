//go:build windows

package mmap

import (
	"os"
	"syscall"
	"unsafe"
)

func mapFile(f *os.File, size int) ([]byte, error) {
	if size == 0 {
		return []byte{}, nil
	}
	h, err := syscall.CreateFileMapping(syscall.Handle(f.Fd()), nil, syscall.PAGE_READONLY, uint32(uint64(size)>>32), uint32(size), nil)
	if err != nil {
		return nil, os.NewSyscallError("CreateFileMapping", err)
	}
	addr, err := syscall.MapViewOfFile(h, syscall.FILE_MAP_READ, 0, 0, uintptr(size))
	// The view keeps the mapping object alive; its handle is not needed.
	syscall.CloseHandle(h)
	if err != nil {
		return nil, os.NewSyscallError("MapViewOfFile", err)
	}
	// Reinterpret the address without a uintptr→Pointer conversion that
	// vet would (rightly, in general) flag: the view is not Go memory.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), size), nil
}

func unmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return syscall.UnmapViewOfFile(uintptr(unsafe.Pointer(&b[0])))
}
