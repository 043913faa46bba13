// Package convert writes a model.Model (loaded from any format ferry reads)
// as a GGUF file or an MLX folder.
//
// Conversion streams: tensors are produced one at a time while the output
// is written, so memory stays about one tensor (plus its float32 copy when
// the type changes), and rows are converted in parallel on every core. The
// output is deterministic: the same model and options give the same bytes.
package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
)

// TypeFunc chooses the output type of one tensor. It is the hook for
// quantization recipes: anything that maps a tensor to a ggml type plugs in
// here.
type TypeFunc func(m *model.Model, t *model.Tensor) (quant.Type, error)

// Options control a conversion.
type Options struct {
	// Type is the output type: "" or "auto" (keep every tensor's type, 1-D
	// tensors as F32, as llama.cpp writes them), "f32", "f16", "bf16", or a
	// llama-quantize recipe name ("q8_0", "q4_k_m", ...).
	Type string
	// TypeFor, when set, overrides Type for every tensor.
	TypeFor TypeFunc
	// FileType is written as general.file_type when TypeFor is set.
	FileType *quant.FileType
	// Workers is the number of goroutines converting rows (0: all cores).
	Workers int
	// Progress is called after each tensor with bytes done and total.
	Progress func(done, total int64)
	// Warn receives notes about deliberate changes (dropped tensors).
	Warn func(msg string)
	// Context cancels a conversion between tensors (Ctrl-C).
	Context context.Context
}

// workerCount resolves Options.Workers: 0 or less means one per core.
func workerCount(w int) int {
	if w <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return w
}

// TypeLabel is the short lower-case name of a file type used in default
// output names ("f16", "q4_k_m").
func TypeLabel(ft quant.FileType) string { return strings.ToLower(ft.String()) }

// planned is one output tensor.
type planned struct {
	src   *model.Tensor
	to    quant.Type
	perm  []int // row permutation (output row i = source row perm[i]) or nil
	bytes int64
}

// Plan decides every tensor's output type and layout without converting.
type Plan struct {
	Tensors  []planned
	FileType quant.FileType
	Metadata gguf.Metadata
}

// MakePlan resolves the options against a model.
func MakePlan(m *model.Model, opt Options) (*Plan, error) {
	choose, ft, err := typeChooser(m, opt)
	if err != nil {
		return nil, err
	}
	p := &Plan{FileType: ft}
	permute := m.RopeNeoX && m.Arch() == "llama"
	var nHead, nKV uint64
	if permute {
		var ok bool
		if nHead, ok = m.ArchUint("attention.head_count"); !ok || nHead == 0 {
			return nil, fmt.Errorf("%s: llama.attention.head_count missing: cannot permute q/k", m.Path)
		}
		if nKV, ok = m.ArchUint("attention.head_count_kv"); !ok || nKV == 0 {
			nKV = nHead
		}
	}
	arch := m.Arch()
	for _, t := range m.Tensors {
		if t.Name == "output.weight" && (arch == "gemma" || arch == "gemma2") {
			// llama.cpp's gemma/gemma2 tie the output to token_embd and
			// refuse a file with an extra output.weight. Real Gemma
			// checkpoints are tied, so the copy is dropped; an untied head
			// is kept, since dropping it would silently change the model.
			if tiedCopy(t, m.Tensor("token_embd.weight")) {
				if opt.Warn != nil {
					opt.Warn("dropping output.weight: it duplicates token_embd, which llama.cpp's " + arch + " uses as the output projection")
				}
				continue
			}
			if opt.Warn != nil {
				opt.Warn("keeping output.weight: it differs from token_embd, so the model is untied; llama.cpp's " + arch + " loader expects tied embeddings and will refuse this file")
			}
		}
		to, err := choose(t)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) == 0 {
			return nil, fmt.Errorf("tensor %q has no dimensions", t.Name)
		}
		rowLen := t.Shape[0]
		if rowLen%uint64(to.BlockSize()) != 0 {
			return nil, fmt.Errorf("tensor %q: row length %d is not a multiple of %s's block size %d", t.Name, rowLen, to, to.BlockSize())
		}
		pl := planned{src: t, to: to}
		if permute {
			switch {
			case strings.HasSuffix(t.Name, ".attn_q.weight") || strings.HasSuffix(t.Name, ".attn_q.bias"):
				pl.perm, err = ropePermutation(t, nHead)
			case strings.HasSuffix(t.Name, ".attn_k.weight") || strings.HasSuffix(t.Name, ".attn_k.bias"):
				pl.perm, err = ropePermutation(t, nKV)
			}
			if err != nil {
				return nil, err
			}
		}
		sz, err := quant.RowSize(to, int64(t.Elements()))
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
		}
		pl.bytes = sz
		p.Tensors = append(p.Tensors, pl)
	}
	for _, kv := range m.KV {
		p.Metadata.SetKV(kv)
	}
	p.Metadata.Set("general.file_type", uint32(ft))
	if isQuantized(ft) {
		p.Metadata.Set("general.quantization_version", uint32(quant.QuantizationVersion))
	}
	return p, nil
}

func isQuantized(ft quant.FileType) bool {
	switch ft {
	case quant.FileAllF32, quant.FileMostlyF16, quant.FileMostlyBF16:
		return false
	}
	return true
}

// ropePermutation is llama.cpp's LlamaModel.permute as a row map: HF's
// rotate-half q/k rows (per head: first halves, then second halves) become
// interleaved pairs. For a bias (1-D) the "rows" are its elements.
func ropePermutation(t *model.Tensor, heads uint64) ([]int, error) {
	rows := t.Elements() / t.Shape[0]
	if len(t.Shape) == 1 {
		rows = t.Shape[0]
	}
	if heads == 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return nil, fmt.Errorf("tensor %q: %d rows do not split into %d heads of even size", t.Name, rows, heads)
	}
	hd := int(rows / heads)
	perm := make([]int, rows)
	for h := 0; h < int(heads); h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				perm[h*hd+2*i+j] = h*hd + j*hd/2 + i
			}
		}
	}
	return perm, nil
}

// autoType keeps a tensor's type, except that 1-D float tensors and norms
// become F32 as in llama.cpp's converter.
func autoType(t *model.Tensor) quant.Type {
	if isFloat(t.Type) && (len(t.Shape) <= 1 || strings.HasSuffix(t.Name, "_norm.weight")) {
		return quant.F32
	}
	return t.Type
}

func isFloat(t quant.Type) bool { return t == quant.F32 || t == quant.F16 || t == quant.BF16 }

// typeChooser turns Options into a per-tensor function and the file type.
func typeChooser(m *model.Model, opt Options) (func(*model.Tensor) (quant.Type, error), quant.FileType, error) {
	if opt.TypeFor != nil {
		ft := quant.FileAllF32
		if opt.FileType != nil {
			ft = *opt.FileType
		}
		return func(t *model.Tensor) (quant.Type, error) { return opt.TypeFor(m, t) }, ft, nil
	}
	name := strings.ToLower(opt.Type)
	switch name {
	case "", "auto":
		ft := quant.FileAllF32
	first:
		for _, t := range m.Tensors {
			if len(t.Shape) >= 2 {
				switch autoType(t) {
				case quant.F16:
					ft = quant.FileMostlyF16
				case quant.BF16:
					ft = quant.FileMostlyBF16
				case quant.Q4_1:
					ft = quant.FileMostlyQ4_1
				case quant.Q8_0:
					ft = quant.FileMostlyQ8_0
				case quant.Q4_0:
					ft = quant.FileMostlyQ4_0
				}
				break first
			}
		}
		return func(t *model.Tensor) (quant.Type, error) { return autoType(t), nil }, ft, nil
	case "f32", "f16", "bf16":
		to := map[string]quant.Type{"f32": quant.F32, "f16": quant.F16, "bf16": quant.BF16}[name]
		ft := map[string]quant.FileType{"f32": quant.FileAllF32, "f16": quant.FileMostlyF16, "bf16": quant.FileMostlyBF16}[name]
		return func(t *model.Tensor) (quant.Type, error) {
			a := autoType(t)
			if a == quant.F32 && len(t.Shape) <= 1 {
				return a, nil
			}
			if strings.HasSuffix(t.Name, "ffn_gate_inp.weight") && to != quant.F32 {
				return quant.F32, nil // llama.cpp keeps MoE routers in F32
			}
			if !isFloat(t.Type) && !quant.CanDequantize(t.Type) {
				return 0, fmt.Errorf("tensor %q: cannot convert %s to %s", t.Name, t.Type, to)
			}
			return to, nil
		}, ft, nil
	}
	ft, err := quant.ParseFileType(opt.Type)
	if err != nil {
		return nil, 0, fmt.Errorf("--type %s: %v", opt.Type, err)
	}
	info := modelInfo(m)
	return func(t *model.Tensor) (quant.Type, error) {
		tc := quant.TensorContext{Model: info, Shape: t.Shape, Type: autoType(t)}
		to, _, err := quant.ChooseTypeFallback(ft, t.Name, tc)
		if err != nil {
			// llama.cpp's converter falls back to F16 when a row cannot be
			// split into the type's blocks (gguf.QuantError).
			if bs := uint64(ft.DefaultType().BlockSize()); len(t.Shape) > 0 && t.Shape[0]%bs != 0 {
				if opt.Warn != nil {
					opt.Warn(fmt.Sprintf("%s: row length %d is not a multiple of %d, writing F16", t.Name, t.Shape[0], bs))
				}
				return quant.F16, nil
			}
			return 0, fmt.Errorf("tensor %q: %v", t.Name, err)
		}
		return to, nil
	}, ft, nil
}

func modelInfo(m *model.Model) quant.ModelInfo {
	u := func(k string) int { v, _ := m.ArchUint(k); return int(v) }
	info := quant.ModelInfo{
		Arch: m.Arch(), Layers: u("block_count"), Heads: u("attention.head_count"),
		HeadsKV: u("attention.head_count_kv"), Experts: u("expert_count"),
		HasOutput: m.Tensor("output.weight") != nil,
	}
	for _, t := range m.Tensors {
		if strings.HasSuffix(t.Name, ".attn_v.weight") || strings.HasSuffix(t.Name, ".attn_qkv.weight") || strings.HasSuffix(t.Name, ".attn_kv_b.weight") {
			info.AttnV++
		}
	}
	return info
}

// WriteGGUF writes the model as GGUF v3 to out.
func WriteGGUF(m *model.Model, out io.Writer, opt Options) error {
	p, err := MakePlan(m, opt)
	if err != nil {
		return err
	}
	return p.WriteGGUF(out, opt)
}

// WriteGGUF writes a planned conversion.
func (p *Plan) WriteGGUF(out io.Writer, opt Options) error {
	w := gguf.NewWriter()
	for _, kv := range p.Metadata.KV {
		w.SetKV(kv)
	}
	var total, done int64
	for _, pl := range p.Tensors {
		total += pl.bytes
	}
	workers := workerCount(opt.Workers)
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	for _, pl := range p.Tensors {
		pl := pl
		err := w.AddTensor(pl.src.Name, pl.to, pl.src.Shape, func(o io.Writer) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := convertTensor(pl.src, pl.to, pl.perm, workers)
			if err != nil {
				return err
			}
			_, err = o.Write(b)
			return err
		})
		if err != nil {
			return err
		}
	}
	_, err := w.WriteToProgress(out, func(i int, ti gguf.TensorInfo) {
		done += int64(ti.Size)
		if opt.Progress != nil {
			opt.Progress(done, total)
		}
	})
	return err
}

// GGUFFile converts m into a GGUF file at path, atomically: on any error
// (or an interrupted process) no file appears at path.
func GGUFFile(m *model.Model, path string, opt Options) error {
	p, err := MakePlan(m, opt)
	if err != nil {
		return err
	}
	return GGUFFileFromPlan(p, path, opt)
}

// GGUFFileFromPlan writes a planned conversion to path atomically.
func GGUFFileFromPlan(p *Plan, path string, opt Options) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := p.WriteGGUF(f, opt); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// convertTensor returns t's bytes as type to with rows reordered by perm.
// When nothing changes it returns the source bytes without copying.
func convertTensor(t *model.Tensor, to quant.Type, perm []int, workers int) ([]byte, error) {
	src, err := t.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
	}
	if want, err := quant.RowSize(t.Type, int64(t.Elements())); err != nil || int64(len(src)) != want {
		return nil, fmt.Errorf("tensor %q: %d bytes of data for %v %s", t.Name, len(src), t.Shape, t.Type)
	}
	rowLen := int(t.Shape[0])
	rows := int(t.Elements()) / max(rowLen, 1)
	if perm != nil {
		elemRows, rowBytes := rows, 0
		if len(t.Shape) == 1 {
			// A bias: permute single elements.
			elemRows = rowLen
			rowBytes = t.Type.BytesPerBlock()
			if t.Type.BlockSize() != 1 {
				return nil, fmt.Errorf("tensor %q: cannot permute a quantized 1-D tensor", t.Name)
			}
		} else {
			rb, err := quant.RowSize(t.Type, int64(rowLen))
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
			}
			rowBytes = int(rb)
		}
		if len(perm) != elemRows || len(src) != elemRows*rowBytes {
			return nil, fmt.Errorf("tensor %q: permutation does not fit the data", t.Name)
		}
		out := make([]byte, len(src))
		for i, j := range perm {
			copy(out[i*rowBytes:(i+1)*rowBytes], src[j*rowBytes:(j+1)*rowBytes])
		}
		src = out
	}
	if to == t.Type {
		return src, nil
	}
	if isFloat(t.Type) && isFloat(to) {
		return floatToFloat(t.Type, to, src, int(t.Elements()), workers), nil
	}
	f := make([]float32, t.Elements())
	if err := toF32(t.Type, src, f, rows, rowLen, workers); err != nil {
		return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
	}
	out, err := fromF32(to, f, rows, rowLen, workers)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
	}
	return out, nil
}

// floatToFloat converts between F32, F16 and BF16 in one pass, without a
// float32 copy of the tensor.
func floatToFloat(from, to quant.Type, src []byte, n, workers int) []byte {
	out := make([]byte, n*to.BytesPerBlock())
	parallel(n, workers, func(a, b int) {
		for i := a; i < b; i++ {
			var v float32
			switch from {
			case quant.F32:
				v = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			case quant.F16:
				v = quant.F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			default:
				v = quant.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			}
			switch to {
			case quant.F32:
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
			case quant.F16:
				binary.LittleEndian.PutUint16(out[2*i:], quant.F32ToF16(v))
			default:
				binary.LittleEndian.PutUint16(out[2*i:], quant.F32ToBF16(v))
			}
		}
	})
	return out
}

// parallel splits n items into contiguous chunks over workers goroutines.
func parallel(n, workers int, f func(i0, i1 int)) {
	if workers > n/1024 {
		workers = max(n/1024, 1)
	}
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for i0 := 0; i0 < n; i0 += chunk {
		i1 := min(i0+chunk, n)
		wg.Add(1)
		go func() { defer wg.Done(); f(i0, i1) }()
	}
	wg.Wait()
}

// toF32 and fromF32 split the work by rows; a tensor whose rows do not
// multiply out (1-D, or rows unknown) is one row.
func toF32(t quant.Type, src []byte, dst []float32, rows, rowLen, workers int) error {
	if len(dst) == 0 {
		return nil
	}
	if rows*rowLen != len(dst) {
		rows, rowLen = 1, len(dst)
	}
	return quant.DequantizeRows(t, src, rows, rowLen, dst, workers)
}

func fromF32(t quant.Type, src []float32, rows, rowLen, workers int) ([]byte, error) {
	sz, err := quant.RowSize(t, int64(len(src)))
	if err != nil || len(src) == 0 {
		return nil, err
	}
	out := make([]byte, sz)
	if rows*rowLen != len(src) {
		rows, rowLen = 1, len(src)
	}
	if err := quant.QuantizeRows(t, src, rows, rowLen, out, nil, workers); err != nil {
		return nil, err
	}
	return out, nil
}

// tiedCopy reports whether out holds exactly the same weights as embd.
func tiedCopy(out, embd *model.Tensor) bool {
	if embd == nil || out.Type != embd.Type || len(out.Shape) != len(embd.Shape) {
		return false
	}
	for i := range out.Shape {
		if out.Shape[i] != embd.Shape[i] {
			return false
		}
	}
	a, errA := out.Bytes()
	b, errB := embd.Bytes()
	return errA == nil && errB == nil && bytes.Equal(a, b)
}
