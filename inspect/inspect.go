// Package inspect identifies a model file or folder and describes it: the
// format, architecture, sizes, tensor types, vocabulary, chat template and
// the memory needed to run it. It reads headers only: files are mapped and
// tensor data is never touched, so a 40 GB file costs what a 1 MB one does.
package inspect

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/llama2c"
	"github.com/ferryhq/ferry/pytorch"
	"github.com/ferryhq/ferry/safetensors"
)

// Options tune a report.
type Options struct {
	// Ctx is the context length for the memory estimate; 0 means the
	// model's own context length, capped at DefaultCtx.
	Ctx int
}

// DefaultCtx caps the context used for the memory estimate when --ctx is
// not given: models advertise up to 1M tokens, rarely what anyone runs.
const DefaultCtx = 4096

// Report describes one model file or folder. Fields a format does not have
// are left empty.
type Report struct {
	Path    string `json:"path"`
	Format  string `json:"format"`            // gguf, ggml, safetensors, mlx, llama2c, pytorch, tokenizer, folder
	Version string `json:"version,omitempty"` // "GGUF v3", "GGJT v3", ...

	// Architecture is llama.cpp's name ("llama", "qwen2"); SourceArch is
	// the format's own (a transformers class).
	Architecture string `json:"architecture,omitempty"`
	SourceArch   string `json:"source_architecture,omitempty"`
	Name         string `json:"name,omitempty"`

	FileSize int64    `json:"file_size"`
	Files    []string `json:"files,omitempty"`

	Parameters    uint64     `json:"parameters"`
	TensorCount   int        `json:"tensor_count"`
	Types         []TypeStat `json:"types,omitempty"`
	BitsPerWeight float64    `json:"bits_per_weight,omitempty"`

	Hparams Hparams `json:"hparams"`

	Vocab        *Vocab `json:"vocab,omitempty"`
	ChatTemplate bool   `json:"chat_template"`

	Alignment    uint64        `json:"alignment,omitempty"`
	Quantization *Quantization `json:"quantization,omitempty"`
	Legacy       *LegacyInfo   `json:"legacy,omitempty"`
	Memory       *Memory       `json:"memory,omitempty"`

	Metadata []Entry     `json:"metadata,omitempty"`
	Tensors  []TensorRow `json:"tensors,omitempty"`

	Next  string    `json:"next,omitempty"`
	Notes []string  `json:"notes,omitempty"`
	Parts []*Report `json:"models,omitempty"` // a folder holding several model files
}

// Hparams are the architecture numbers, in llama.cpp's terms.
type Hparams struct {
	ContextLength     uint64  `json:"context_length,omitempty"`
	EmbeddingLength   uint64  `json:"embedding_length,omitempty"`
	BlockCount        uint64  `json:"block_count,omitempty"`
	FeedForwardLength uint64  `json:"feed_forward_length,omitempty"`
	HeadCount         uint64  `json:"head_count,omitempty"`
	HeadCountKV       uint64  `json:"head_count_kv,omitempty"`
	KeyLength         uint64  `json:"key_length,omitempty"`
	ValueLength       uint64  `json:"value_length,omitempty"`
	ExpertCount       uint64  `json:"expert_count,omitempty"`
	ExpertUsedCount   uint64  `json:"expert_used_count,omitempty"`
	RopeFreqBase      float64 `json:"rope_freq_base,omitempty"`
	RopeScaling       string  `json:"rope_scaling,omitempty"`
	SlidingWindow     uint64  `json:"sliding_window,omitempty"`
	// KVHeadsPerLayer is set when layers differ (GGUF arrays).
	KVHeadsPerLayer []uint64 `json:"head_count_kv_per_layer,omitempty"`
}

// TypeStat is one row of the tensor type histogram.
type TypeStat struct {
	Type     string `json:"type"`
	Tensors  int    `json:"tensors"`
	Elements uint64 `json:"elements"`
	Bytes    uint64 `json:"bytes"`
}

// Vocab describes the tokenizer.
type Vocab struct {
	Size      int      `json:"size"`
	Tokenizer string   `json:"tokenizer,omitempty"` // "SentencePiece (llama)", "BPE (gpt2)", ...
	Pre       string   `json:"pre,omitempty"`
	Files     []string `json:"files,omitempty"`
}

// Quantization is MLX's config.json "quantization".
type Quantization struct {
	GroupSize int        `json:"group_size"`
	Bits      int        `json:"bits"`
	Mode      string     `json:"mode,omitempty"`
	Overrides []Override `json:"overrides,omitempty"`
}

// Override is a per-layer quantization setting.
type Override struct {
	Path      string `json:"path"`
	Quantized bool   `json:"quantized"`
	GroupSize int    `json:"group_size,omitempty"`
	Bits      int    `json:"bits,omitempty"`
}

// LegacyInfo describes a pre-GGUF file.
type LegacyInfo struct {
	Format      string `json:"format"`
	Version     uint32 `json:"version"`
	NVocab      uint32 `json:"n_vocab"`
	NEmbd       uint32 `json:"n_embd"`
	NMult       uint32 `json:"n_mult"`
	NHead       uint32 `json:"n_head"`
	NLayer      uint32 `json:"n_layer"`
	NRot        uint32 `json:"n_rot"`
	FType       uint32 `json:"ftype"`
	Convertible bool   `json:"convertible_by_llama_cpp"`
	Advice      string `json:"advice"`
}

// Memory estimates what running the model takes at Context tokens.
//
//	Weights: the tensor bytes as stored (ferry maps them; nothing is copied
//	         for GGUF, and that is the resident size once all pages are touched).
//	KVCache: 2 (K and V) · n_layers · ctx · n_kv_heads · head_dim · 2 bytes (F16).
//	Compute: an allowance for activations and scratch of a 512-token prompt
//	         batch: 512 · (n_vocab + 4·n_embd + 2·n_ff) · 4 bytes (the logits,
//	         the residual stream and its copies, the FFN intermediates, F32).
type Memory struct {
	Context int    `json:"context"`
	Weights uint64 `json:"weights"`
	KVCache uint64 `json:"kv_cache"`
	Compute uint64 `json:"compute"`
	Total   uint64 `json:"total"`
}

// Entry is one GGUF metadata key with its value (arrays in full).
type Entry struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
	// Short is the value as text mode shows it (long arrays shortened).
	Short string `json:"-"`
}

// TensorRow is one tensor. Shape is in the file's own order (GGUF: row
// length first; safetensors/PyTorch/llama2.c: row-major).
type TensorRow struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Shape  []uint64 `json:"shape"`
	Offset uint64   `json:"offset"`
	Bytes  uint64   `json:"bytes"`
	File   string   `json:"file,omitempty"`
}

// ErrUnknown is wrapped when a path is not something ferry recognises.
var ErrUnknown = errors.New("not a model or tokenizer file ferry recognises")

// Path inspects a file or a folder.
func Path(path string, opts Options) (*Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var r *Report
	if st.IsDir() {
		r, err = inspectDir(path)
	} else {
		r, err = inspectFile(path, st.Size())
	}
	if err != nil {
		return nil, err
	}
	r.finish(opts)
	return r, nil
}

func inspectFile(path string, size int64) (*Report, error) {
	head := make([]byte, 64)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, _ := f.ReadAt(head, 0)
	f.Close()
	head = head[:n]
	switch {
	case len(head) >= 4 && string(head[:4]) == "GGUF":
		return inspectGGUF(path)
	case isLegacy(head):
		return inspectLegacy(path, head, size)
	case llama2c.Sniff(head, size), len(head) >= 4 && string(head[:4]) == "24ka":
		return inspectLlama2C(path)
	case pytorch.Sniff(head):
		return inspectPyTorch(path)
	case isSafetensors(path, head, size):
		return inspectSafetensorsFile(path)
	}
	if r, ok := inspectTokenizerFile(path); ok {
		return r, nil
	}
	return nil, fmt.Errorf("%s: %w", path, ErrUnknown)
}

// inspectDir handles Hugging Face and MLX folders (config.json), and
// otherwise reports every model file found in the folder.
func inspectDir(dir string) (*Report, error) { return inspectDirLevel(dir, false) }

func inspectDirLevel(dir string, nested bool) (*Report, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		if safetensors.HasWeights(dir) {
			return inspectHF(dir)
		}
		if hasPyTorch(dir) {
			return inspectHFPyTorch(dir)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Path: dir, Format: "folder"}
	var tokOnly []string
	var subdirs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			subdirs = append(subdirs, e.Name())
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		sub, err := inspectFile(p, info.Size())
		if errors.Is(err, ErrUnknown) {
			continue
		}
		if err != nil {
			// A broken file does not hide the others; its error is kept.
			r.Notes = append(r.Notes, err.Error())
			continue
		}
		if sub.Format == "tokenizer" {
			tokOnly = append(tokOnly, e.Name())
		}
		r.Parts = append(r.Parts, sub)
		r.FileSize += sub.FileSize
	}
	if len(tokOnly) == len(r.Parts) && len(r.Notes) == 0 {
		if tr, ok := inspectTokenizerDir(dir); ok {
			return tr, nil
		}
	}
	files := len(r.Parts)
	// A folder of model folders (~/models): one level down only, so the
	// cost stays bounded.
	if !nested {
		for _, name := range subdirs {
			sub, err := inspectDirLevel(filepath.Join(dir, name), true)
			if errors.Is(err, ErrUnknown) {
				continue
			}
			if err != nil {
				r.Notes = append(r.Notes, err.Error())
				continue
			}
			r.Parts = append(r.Parts, sub)
			r.FileSize += sub.FileSize
		}
	}
	switch {
	case len(r.Parts) == 0 && len(r.Notes) == 0:
		return nil, fmt.Errorf("%s: %w (no model files in the folder)", dir, ErrUnknown)
	case len(r.Parts) == 0 && len(r.Notes) == 1:
		return nil, errors.New(r.Notes[0])
	case len(r.Parts) == 1 && files == 1 && len(r.Notes) == 0:
		return r.Parts[0], nil
	}
	return r, nil
}

// finish fills in the derived fields: histogram totals, bits per weight,
// the memory estimate and the next step.
func (r *Report) finish(opts Options) {
	for _, p := range r.Parts {
		p.finish(opts)
	}
	if r.Format == "folder" {
		r.Next = "next: ferry inspect one of the files above"
		return
	}
	sort.Slice(r.Types, func(i, j int) bool { return r.Types[i].Bytes > r.Types[j].Bytes })
	var bytes uint64
	for _, t := range r.Types {
		bytes += t.Bytes
	}
	if r.Parameters > 0 {
		r.BitsPerWeight = math.Round(float64(bytes)*8/float64(r.Parameters)*100) / 100
	}
	h := &r.Hparams
	if h.BlockCount > 0 && h.HeadCount > 0 && r.Parameters > 0 {
		ctx := opts.Ctx
		if ctx <= 0 {
			ctx = DefaultCtx
			if h.ContextLength > 0 && h.ContextLength < DefaultCtx {
				ctx = int(h.ContextLength)
			}
		}
		kl, vl := h.KeyLength, h.ValueLength
		if kl == 0 && h.EmbeddingLength > 0 {
			kl = h.EmbeddingLength / h.HeadCount
		}
		if vl == 0 {
			vl = kl
		}
		var kvHeads uint64 // summed over layers
		if len(h.KVHeadsPerLayer) > 0 {
			for _, n := range h.KVHeadsPerLayer {
				kvHeads += n
			}
		} else {
			nkv := h.HeadCountKV
			if nkv == 0 {
				nkv = h.HeadCount
			}
			kvHeads = nkv * h.BlockCount
		}
		m := &Memory{Context: ctx, Weights: bytes}
		m.KVCache = uint64(ctx) * kvHeads * (kl + vl) * 2
		vocab := uint64(0)
		if r.Vocab != nil {
			vocab = uint64(r.Vocab.Size)
		}
		m.Compute = 512 * (vocab + 4*h.EmbeddingLength + 2*h.FeedForwardLength) * 4
		m.Total = m.Weights + m.KVCache + m.Compute
		r.Memory = m
	}
}

// typeHist accumulates the per-type histogram.
type typeHist map[string]*TypeStat

func (h typeHist) add(typ string, elements, bytes uint64) {
	s := h[typ]
	if s == nil {
		s = &TypeStat{Type: typ}
		h[typ] = s
	}
	s.Tensors++
	s.Elements += elements
	s.Bytes += bytes
}

func (h typeHist) list() []TypeStat {
	out := make([]TypeStat, 0, len(h))
	for _, s := range h {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// DropTensors removes the tensor tables (of this report and its parts), for
// compact JSON.
func (r *Report) DropTensors() {
	r.Tensors = nil
	for _, p := range r.Parts {
		p.DropTensors()
	}
}
