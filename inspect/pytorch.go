package inspect

import "fmt"

func isZip(head []byte) bool { return len(head) >= 4 && string(head[:4]) == "PK\x03\x04" }

func hasPyTorch(dir string) bool { return false }

func inspectPyTorch(path string) (*Report, error) {
	return nil, fmt.Errorf("%s: %w (zip)", path, ErrUnknown)
}

func inspectHFPyTorch(dir string) (*Report, error) {
	return nil, fmt.Errorf("%s: %w", dir, ErrUnknown)
}
