// Package llama2c reads checkpoints and tokenizer files of Andrej Karpathy's
// llama2.c.
//
// A checkpoint (the "legacy" version-0 export that run.c reads) is a 28-byte
// header of seven little-endian int32 (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len) followed by float32 weights, each stacked
// over the layers, in this order: token embedding table, attention RMS norm
// weights, wq, wk, wv, wo, FFN RMS norm weights, w1, w2, w3, final RMS norm,
// the obsolete RoPE tables freq_cis_real and freq_cis_imag, and — only when
// vocab_size is negative — a separate classifier wcls. A positive vocab_size
// means the classifier shares the embedding table. The format has no magic,
// so a file is recognised by a plausible header and an exact size match.
//
// Matrices are row-major [out][in] as in PyTorch, and wq/wk are in Meta's
// original (interleaved RoPE) layout, which is what GGUF "llama" expects.
package llama2c

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/ferryhq/ferry/internal/mmap"
)

// HeaderSize is the size of the checkpoint header: seven int32.
const HeaderSize = 28

// exportMagic starts llama2.c's newer (version 1 and 2) exports: the uint32
// 0x616b3432 ("ak42") written little-endian.
const exportMagic = "24ka"

// Limits on header fields. They exclude garbage (any 28 bytes decode to
// some header) while leaving room far beyond any published llama2.c model.
const (
	maxDim    = 1 << 16
	maxHidden = 1 << 18
	maxLayers = 1 << 10
	maxHeads  = 1 << 10
	maxVocab  = 1 << 22
	maxSeqLen = 1 << 24
)

// Config is a checkpoint header.
type Config struct {
	Dim       int // transformer width
	HiddenDim int // FFN width
	NLayers   int
	NHeads    int
	NKVHeads  int
	VocabSize int // always positive here; see SharedClassifier
	SeqLen    int // maximum sequence length the model was trained with
	// SharedClassifier is true when the output projection is the token
	// embedding table (the header's vocab_size was positive).
	SharedClassifier bool
}

// HeadDim is dim / n_heads.
func (c Config) HeadDim() int { return c.Dim / c.NHeads }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.Dim * c.NKVHeads / c.NHeads }

// ParseConfig decodes and validates a header. It rejects headers no real
// checkpoint has, so it doubles as a format sniffer.
func ParseConfig(b []byte) (Config, error) {
	if len(b) < HeaderSize {
		return Config{}, fmt.Errorf("header needs %d bytes, have %d", HeaderSize, len(b))
	}
	var v [7]int32
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	c := Config{Dim: int(v[0]), HiddenDim: int(v[1]), NLayers: int(v[2]), NHeads: int(v[3]),
		NKVHeads: int(v[4]), VocabSize: int(v[5]), SeqLen: int(v[6]), SharedClassifier: v[5] > 0}
	if c.VocabSize < 0 {
		c.VocabSize = -c.VocabSize
	}
	check := func(name string, x, limit int) error {
		if x <= 0 || x > limit {
			return fmt.Errorf("header field %s = %d is outside 1..%d", name, x, limit)
		}
		return nil
	}
	for _, f := range []struct {
		name     string
		x, limit int
	}{
		{"dim", c.Dim, maxDim}, {"hidden_dim", c.HiddenDim, maxHidden}, {"n_layers", c.NLayers, maxLayers},
		{"n_heads", c.NHeads, maxHeads}, {"n_kv_heads", c.NKVHeads, maxHeads},
		{"vocab_size", c.VocabSize, maxVocab}, {"seq_len", c.SeqLen, maxSeqLen},
	} {
		if err := check(f.name, f.x, f.limit); err != nil {
			return c, err
		}
	}
	if c.Dim%c.NHeads != 0 {
		return c, fmt.Errorf("dim %d is not a multiple of n_heads %d", c.Dim, c.NHeads)
	}
	if c.NKVHeads > c.NHeads || c.NHeads%c.NKVHeads != 0 {
		return c, fmt.Errorf("n_heads %d is not a multiple of n_kv_heads %d", c.NHeads, c.NKVHeads)
	}
	return c, nil
}

// Tensor is one stacked weight array of the checkpoint. Layer-stacked
// arrays have Shape[0] = n_layers. Shapes are row-major (PyTorch order).
type Tensor struct {
	Name   string // llama2.c's name: "wq", "rms_att_weight", "wcls", ...
	Shape  []int
	Offset int64 // absolute byte offset in the file
	Size   int64 // bytes
}

// Elements is the product of the dimensions.
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Layout returns the weights of a checkpoint with config c in file order,
// with their offsets, and the total file size.
func (c Config) Layout() ([]Tensor, int64) {
	L, d, h, kv, V := c.NLayers, c.Dim, c.HiddenDim, c.KVDim(), c.VocabSize
	half := c.SeqLen * c.HeadDim() / 2
	specs := []Tensor{
		{Name: "token_embedding_table", Shape: []int{V, d}},
		{Name: "rms_att_weight", Shape: []int{L, d}},
		{Name: "wq", Shape: []int{L, d, d}},
		{Name: "wk", Shape: []int{L, kv, d}},
		{Name: "wv", Shape: []int{L, kv, d}},
		{Name: "wo", Shape: []int{L, d, d}},
		{Name: "rms_ffn_weight", Shape: []int{L, d}},
		{Name: "w1", Shape: []int{L, h, d}},
		{Name: "w2", Shape: []int{L, d, h}},
		{Name: "w3", Shape: []int{L, h, d}},
		{Name: "rms_final_weight", Shape: []int{d}},
		{Name: "freq_cis_real", Shape: []int{half}},
		{Name: "freq_cis_imag", Shape: []int{half}},
	}
	if !c.SharedClassifier {
		specs = append(specs, Tensor{Name: "wcls", Shape: []int{V, d}})
	}
	off := int64(HeaderSize)
	for i := range specs {
		specs[i].Offset = off
		specs[i].Size = specs[i].Elements() * 4
		off += specs[i].Size
	}
	return specs, off
}

// File is an open checkpoint; its weights stay in the file mapping.
type File struct {
	Path string
	Config
	Tensors []Tensor
	Size    int64

	m    *mmap.File
	data []byte
}

// Open maps a checkpoint and checks its header against its size.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, m.Data())
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Parse reads a checkpoint image held in memory; name is used in errors.
// The File refers to data without copying it.
func Parse(name string, data []byte) (*File, error) {
	if len(data) >= 8 && string(data[:4]) == exportMagic {
		return nil, fmt.Errorf("%s: llama2c: version-%d export (magic \"ak42\") is not supported; export with llama2.c's legacy (version 0) format", name, binary.LittleEndian.Uint32(data[4:]))
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: llama2c: %w", name, err)
	}
	ts, want := c.Layout()
	if int64(len(data)) != want {
		hint := ""
		if !c.SharedClassifier {
			// A wrong sign on vocab_size is the classic mistake.
			c2 := c
			c2.SharedClassifier = true
			if _, n := c2.Layout(); n == int64(len(data)) {
				hint = " (it would fit with a shared classifier, i.e. a positive vocab_size)"
			}
		}
		return nil, fmt.Errorf("%s: llama2c: header (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq_len %d) implies %d bytes, file has %d%s",
			name, c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize, c.SeqLen, want, len(data), hint)
	}
	return &File{Path: name, Config: c, Tensors: ts, Size: want, data: data}, nil
}

// ReadHeader reads only the 28-byte header of a checkpoint and checks it
// against the file size, without mapping the file. The File has no data:
// Data and LayerData must not be called.
func ReadHeader(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	var b [HeaderSize]byte
	n, _ := fh.ReadAt(b[:], 0)
	if n >= 8 && string(b[:4]) == exportMagic {
		return nil, fmt.Errorf("%s: llama2c: version-%d export (magic \"ak42\") is not supported; export with llama2.c's legacy (version 0) format", path, binary.LittleEndian.Uint32(b[4:]))
	}
	c, err := ParseConfig(b[:n])
	if err != nil {
		return nil, fmt.Errorf("%s: llama2c: %w", path, err)
	}
	ts, want := c.Layout()
	if st.Size() != want {
		return nil, fmt.Errorf("%s: llama2c: header (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq_len %d) implies %d bytes, file has %d",
			path, c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize, c.SeqLen, want, st.Size())
	}
	return &File{Path: path, Config: c, Tensors: ts, Size: want}, nil
}

// Tensor returns the named weight array.
func (f *File) Tensor(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// Data returns the raw little-endian float32 bytes of t, in the mapping.
func (f *File) Data(t *Tensor) []byte {
	return f.data[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
}

// LayerData returns the bytes of layer l of a layer-stacked tensor.
func (f *File) LayerData(t *Tensor, l int) []byte {
	per := t.Size / int64(t.Shape[0])
	start := t.Offset + int64(l)*per
	return f.data[start : start+per : start+per]
}

// Close releases the mapping.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m, f.data = nil, nil
	return err
}

// Sniff reports whether a file with this header and total size is a
// llama2.c checkpoint. It reads nothing else.
func Sniff(header []byte, size int64) bool {
	c, err := ParseConfig(header)
	if err != nil {
		return false
	}
	_, want := c.Layout()
	return want == size
}

// Detect reports whether path is a llama2.c checkpoint, reading 28 bytes.
func Detect(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	var b [HeaderSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return false
	}
	return Sniff(b[:], st.Size())
}
