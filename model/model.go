// Package model presents a model in any format ferry reads (GGUF, HF
// safetensors, MLX, llama2.c, PyTorch) as one thing: GGUF-style metadata
// (llama.cpp's keys: "general.architecture", "llama.embedding_length",
// "tokenizer.ggml.tokens", ...) and tensors under GGUF names
// ("blk.0.attn_q.weight"), their bytes left in the file mapping where the
// on-disk layout allows it.
//
// Converters write a Model out; the engine runs one. Keeping one vocabulary
// of names means each source format is mapped once, in one place.
package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// Format names a source file format.
type Format string

// Source formats.
const (
	FormatGGUF        Format = "gguf"
	FormatSafetensors Format = "safetensors" // Hugging Face folder
	FormatMLX         Format = "mlx"
	FormatLlama2C     Format = "llama2c"
	FormatPyTorch     Format = "pytorch"
)

// Tensor is one named weight. Shape is in GGUF order: Shape[0] is the row
// length (the fastest-varying dimension), so a PyTorch [out, in] matrix has
// Shape {in, out}.
type Tensor struct {
	Name  string
	Type  quant.Type
	Shape []uint64
	// Data holds the raw bytes in Type's layout. It usually aliases a
	// read-only file mapping: never write to it.
	Data []byte
	// Load, set only on models from OpenLazy, produces the bytes of a
	// tensor the loader would otherwise assemble in memory at load time
	// (stacked MoE experts); Data is nil then. Use Bytes to read either.
	Load func() ([]byte, error)
}

// Bytes returns Data, or the result of Load for a lazily assembled tensor.
func (t *Tensor) Bytes() ([]byte, error) {
	if t.Data == nil && t.Load != nil {
		return t.Load()
	}
	return t.Data, nil
}

// Elements is the product of the dimensions.
func (t *Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Model is a loaded model: metadata plus tensors.
type Model struct {
	Path   string
	Format Format
	gguf.Metadata

	// RopeNeoX is true when the q/k projection weights are in the
	// rotate-half (NeoX, Hugging Face) layout. GGUF files of arch "llama"
	// store q/k permuted for the interleaved layout instead; a loader that
	// serves HF llama weights in place sets this rather than copying the
	// weights to permute them. Architectures that always use NeoX RoPE
	// (qwen2, gemma, phi3, ...) do not depend on this flag.
	RopeNeoX bool

	Tensors []*Tensor
	byName  map[string]*Tensor
	closers []func() error
}

// Tensor returns the named tensor or nil.
func (m *Model) Tensor(name string) *Tensor {
	if m.byName == nil {
		m.byName = make(map[string]*Tensor, len(m.Tensors))
		for _, t := range m.Tensors {
			m.byName[t.Name] = t
		}
	}
	return m.byName[name]
}

// AddTensor appends a tensor; loaders use it.
func (m *Model) AddTensor(t *Tensor) {
	m.Tensors = append(m.Tensors, t)
	if m.byName != nil {
		m.byName[t.Name] = t
	}
}

// OnClose registers a function Close will call (unmapping files).
func (m *Model) OnClose(f func() error) { m.closers = append(m.closers, f) }

// Close releases mappings; tensor Data becomes invalid.
func (m *Model) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// Arch is general.architecture.
func (m *Model) Arch() string { return m.Architecture() }

// ArchUint reads "<arch>.<key>", e.g. ArchUint("block_count").
func (m *Model) ArchUint(key string) (uint64, bool) { return m.Uint(m.Arch() + "." + key) }

// ArchFloat reads "<arch>.<key>" as float64.
func (m *Model) ArchFloat(key string) (float64, bool) { return m.Float(m.Arch() + "." + key) }

// TensorNames returns the tensor names sorted, for stable output.
func (m *Model) TensorNames() []string {
	names := make([]string, len(m.Tensors))
	for i, t := range m.Tensors {
		names[i] = t.Name
	}
	sort.Strings(names)
	return names
}

// loaders maps a format to its loader. Loaders for formats other than GGUF
// register themselves from their own files.
var loaders = map[Format]func(path string) (*Model, error){
	FormatGGUF: openGGUF,
}

// detectors are tried in order by Open to find a path's format.
var detectors []func(path string) (Format, bool)

// Register adds a loader and its detector. It is called from init functions
// in this package's format files.
func register(f Format, detect func(path string) bool, load func(path string) (*Model, error)) {
	loaders[f] = load
	detectors = append(detectors, func(p string) (Format, bool) { return f, detect(p) })
}

// Open detects the format of path (a file or a folder) and loads it.
func Open(path string) (*Model, error) {
	if synthetic.IsSynthetic(path) {
		// "synthetic:PRESET[:TYPE]": a generated, cached random-weight GGUF.
		p, err := synthetic.Resolve(path)
		if err != nil {
			return nil, err
		}
		path = p
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() && isGGUF(path) {
		return openGGUF(path)
	}
	for _, d := range detectors {
		if f, ok := d(path); ok {
			return loaders[f](path)
		}
	}
	if l, ok := gguf.DetectLegacy(path); !st.IsDir() && ok {
		return nil, &gguf.LegacyError{Path: path, Legacy: l}
	}
	return nil, fmt.Errorf("%s: not a model ferry can load (expected a GGUF file, a Hugging Face or MLX folder, a llama2.c checkpoint or a PyTorch checkpoint)", path)
}

func isGGUF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = f.Read(b[:])
	return err == nil && string(b[:]) == gguf.Magic
}

func openGGUF(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	if n, _ := f.Uint("split.count"); n > 1 {
		return openSplitGGUF(path, f, n)
	}
	m := &Model{Path: path, Format: FormatGGUF, Metadata: f.Metadata}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		m.AddTensor(&Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: f.TensorData(ti)})
	}
	m.OnClose(f.Close)
	return m, nil
}

// splitName is llama.cpp's naming of split GGUF parts
// (PREFIX-00001-of-00003.gguf, parts numbered from 1).
var splitName = regexp.MustCompile(`^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// maxSplitParts bounds split.count before any part is opened.
const maxSplitParts = 9999

// openSplitGGUF loads a split GGUF set (gguf-split's output) given any of
// its parts: the siblings are found by llama.cpp's file naming, every part
// must agree on split.count and carry its own split.no, the metadata comes
// from the first part (later parts carry only the split keys), and the
// tensors of all parts are mapped in place. The split.* keys are dropped
// from the merged metadata so that a convert of the result writes one
// ordinary GGUF.
func openSplitGGUF(path string, f *gguf.File, count uint64) (*Model, error) {
	fail := func(err error) (*Model, error) { f.Close(); return nil, err }
	if count > maxSplitParts {
		return fail(fmt.Errorf("%s: split.count is %d (more than %d parts)", path, count, maxSplitParts))
	}
	n := int(count)
	no, ok := f.Uint("split.no")
	if !ok || no >= count {
		return fail(fmt.Errorf("%s: split GGUF of %d parts without a valid split.no", path, n))
	}
	mm := splitName.FindStringSubmatch(filepath.Base(path))
	if mm == nil {
		return fail(fmt.Errorf("%s: part %d of a %d-part split GGUF, but the name does not follow PREFIX-00001-of-%05d.gguf, so the other parts cannot be found", path, no+1, n, n))
	}
	if c, _ := strconv.Atoi(mm[3]); c != n {
		return fail(fmt.Errorf("%s: the name says %s parts, split.count says %d", path, mm[3], n))
	}
	parts := make([]*gguf.File, n)
	parts[no] = f
	closeAll := func() {
		for _, p := range parts {
			if p != nil {
				p.Close()
			}
		}
	}
	for i := range parts {
		if parts[i] != nil {
			continue
		}
		p := filepath.Join(filepath.Dir(path), fmt.Sprintf("%s-%05d-of-%05d.gguf", mm[1], i+1, n))
		g, err := gguf.Open(p)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("split GGUF %s: part %d of %d: %w", path, i+1, n, err)
		}
		parts[i] = g
		gc, _ := g.Uint("split.count")
		gn, ok := g.Uint("split.no")
		if gc != count || !ok || gn != uint64(i) {
			closeAll()
			return nil, fmt.Errorf("split GGUF %s: %s says it is part %d of %d, expected part %d of %d", path, p, gn+1, gc, i+1, n)
		}
	}
	first := parts[0]
	m := &Model{Path: first.Path, Format: FormatGGUF, Metadata: first.Metadata}
	m.Metadata.KV = append([]gguf.KV(nil), first.Metadata.KV...)
	want, hasWant := m.Uint("split.tensors.count")
	for _, k := range []string{"split.no", "split.count", "split.tensors.count"} {
		m.Metadata.Delete(k)
	}
	for _, p := range parts {
		for i := range p.Tensors {
			ti := &p.Tensors[i]
			if m.Tensor(ti.Name) != nil {
				closeAll()
				return nil, fmt.Errorf("split GGUF %s: tensor %q appears in two parts (%s)", path, ti.Name, p.Path)
			}
			m.AddTensor(&Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: p.TensorData(ti)})
		}
		m.OnClose(p.Close)
	}
	if hasWant && uint64(len(m.Tensors)) != want {
		m.Close()
		return nil, fmt.Errorf("split GGUF %s: %d tensors in %d parts, split.tensors.count says %d", path, len(m.Tensors), n, want)
	}
	return m, nil
}
