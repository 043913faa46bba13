package model

import (
	"os"
	"path/filepath"
)

// isMLXDir: an MLX-converted folder records its quantization in config.json.
func isMLXDir(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	cfg, err := readHFConfig(filepath.Join(path, "config.json"))
	if err != nil {
		return false
	}
	return cfg.obj("quantization") != nil
}
