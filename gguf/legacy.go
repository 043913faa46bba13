package gguf

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Legacy describes a file in one of GGUF's predecessors, written by
// llama.cpp before August 2023. Their tensor layouts and quantization
// formats changed between versions, so ferry identifies them but does not
// read their tensors: they must be converted to GGUF first.
type Legacy struct {
	// Format is "GGML" (unversioned), "GGMF" or "GGJT".
	Format  string
	Version uint32 // 0 for unversioned GGML
	// Hparams are the seven uint32 that follow the magic (and version) in
	// llama-family files: n_vocab, n_embd, n_mult, n_head, n_layer, n_rot,
	// ftype. Other model families put other fields here.
	NVocab, NEmbd, NMult, NHead, NLayer, NRot, FType uint32
	// HaveHparams is false when the file is too short to hold them.
	HaveHparams bool
}

// Convertible reports whether llama.cpp's convert_llama_ggml_to_gguf.py
// can convert the file: it reads GGML, GGMF and GGJT v1-v3, but quantized
// data only from GGJT v3 on (the quantization formats changed in v2 and v3).
func (l *Legacy) Convertible() bool {
	quantized := l.FType != 0 && l.FType != 1
	return !quantized || (l.Format == "GGJT" && l.Version >= 3)
}

// Advice is one sentence on what to do with the file.
func (l *Legacy) Advice() string {
	if !l.Convertible() {
		return fmt.Sprintf("it holds data quantized in a format that GGJT v3 replaced; re-create it from the original weights (ferry convert) instead")
	}
	return "ferry cannot convert it; use llama.cpp's convert_llama_ggml_to_gguf.py (from the llama.cpp repository) to turn it into GGUF"
}

// String names the format and version, e.g. "GGJT v3".
func (l *Legacy) String() string {
	if l.Format == "GGML" {
		return "GGML (unversioned)"
	}
	return fmt.Sprintf("%s v%d", l.Format, l.Version)
}

// LegacyError is returned by Open and Parse for a legacy file.
type LegacyError struct {
	Path   string
	Legacy *Legacy
}

// Error says what the file is and what to do with it.
func (e *LegacyError) Error() string {
	return fmt.Sprintf("%s: legacy %s file, must be converted to GGUF: %s", e.Path, e.Legacy, e.Legacy.Advice())
}

// Unwrap makes errors.Is(err, ErrNotGGUF) true for legacy files.
func (e *LegacyError) Unwrap() error { return ErrNotGGUF }

// Legacy magics as they appear on disk: ggml wrote the uint32 'ggml',
// 'ggmf', 'ggjt' in little-endian byte order.
var legacyMagics = map[string]string{"lmgg": "GGML", "fmgg": "GGMF", "tjgg": "GGJT"}

// SniffLegacy identifies a legacy GGML/GGMF/GGJT file from its first bytes
// (36 are enough for the version and hyperparameters).
func SniffLegacy(b []byte) (*Legacy, bool) {
	if len(b) < 4 {
		return nil, false
	}
	format, ok := legacyMagics[string(b[:4])]
	if !ok {
		return nil, false
	}
	l := &Legacy{Format: format}
	rest := b[4:]
	if format != "GGML" {
		if len(rest) < 4 {
			return nil, false
		}
		l.Version = binary.LittleEndian.Uint32(rest)
		// GGMF only ever had v1; GGJT had v1..v3.
		if l.Version == 0 || l.Version > 3 || (format == "GGMF" && l.Version != 1) {
			return nil, false
		}
		rest = rest[4:]
	}
	if len(rest) >= 28 {
		h := make([]uint32, 7)
		for i := range h {
			h[i] = binary.LittleEndian.Uint32(rest[4*i:])
		}
		l.NVocab, l.NEmbd, l.NMult, l.NHead, l.NLayer, l.NRot, l.FType = h[0], h[1], h[2], h[3], h[4], h[5], h[6]
		l.HaveHparams = true
	}
	return l, true
}

// DetectLegacy reads the start of path and identifies a legacy file.
func DetectLegacy(path string) (*Legacy, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b := make([]byte, 36)
	n, _ := f.ReadAt(b, 0)
	return SniffLegacy(b[:n])
}
