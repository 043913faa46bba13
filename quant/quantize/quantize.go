// Package quantize rewrites a GGUF file with llama.cpp's quantization
// recipes (llama-quantize): it chooses a type per tensor with
// quant.ChooseType, converts one tensor at a time (memory is about one
// tensor), splits rows over all cores and writes the result atomically.
package quantize

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/quant"
)

// Options control a file quantization.
type Options struct {
	FileType quant.FileType
	quant.Options
	// Imatrix maps tensor names to importance weights (ne[0]*ne[2] values
	// for a tensor of shape ne). nil: quantize without.
	Imatrix map[string][]float32
	// AllowRequantize permits quantized inputs (their dequantized values
	// are requantized, losing precision twice).
	AllowRequantize bool
	Threads         int // <= 0: all cores
	// Progress, if set, is called after each tensor is written.
	Progress func(done, total int, t TensorPlan)
}

// TensorPlan is the decision for one tensor.
type TensorPlan struct {
	Name     string
	Shape    []uint64
	From     quant.Type
	To       quant.Type
	Fallback bool // the recipe's type did not fit the row length
	InBytes  uint64
	OutBytes uint64
}

// MarshalJSON writes the types by name ("Q4_K") rather than by id.
func (p TensorPlan) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name     string   `json:"name"`
		Shape    []uint64 `json:"shape"`
		From     string   `json:"from"`
		To       string   `json:"to"`
		Fallback bool     `json:"fallback,omitempty"`
		InBytes  uint64   `json:"in_bytes"`
		OutBytes uint64   `json:"out_bytes"`
	}{p.Name, p.Shape, p.From.String(), p.To.String(), p.Fallback, p.InBytes, p.OutBytes})
}

// Report summarizes a quantization.
type Report struct {
	Tensors   []TensorPlan `json:"tensors"`
	InBytes   uint64       `json:"in_bytes"`  // tensor data bytes before
	OutBytes  uint64       `json:"out_bytes"` // tensor data bytes after
	Elements  uint64       `json:"elements"`
	Fallbacks int          `json:"fallbacks"`
	FileSize  int64        `json:"file_size,omitempty"` // bytes written
}

// BitsPerWeightIn is the source tensor data in bits per weight.
func (r *Report) BitsPerWeightIn() float64 { return float64(r.InBytes*8) / float64(max(1, r.Elements)) }

// BitsPerWeightOut is the quantized tensor data in bits per weight.
func (r *Report) BitsPerWeightOut() float64 {
	return float64(r.OutBytes*8) / float64(max(1, r.Elements))
}

// ModelInfo derives the recipe inputs from GGUF metadata and tensor names.
func ModelInfo(md *gguf.Metadata, names []string) quant.ModelInfo {
	arch := md.Architecture()
	u := func(key string) int {
		v, _ := md.Uint(arch + "." + key)
		return int(v)
	}
	mi := quant.ModelInfo{
		Arch:    arch,
		Layers:  u("block_count"),
		Heads:   u("attention.head_count"),
		HeadsKV: u("attention.head_count_kv"),
		Experts: u("expert_count"),
	}
	for _, n := range names {
		if n == "output.weight" {
			mi.HasOutput = true
		}
		if quant.IsAttnV(n) {
			mi.AttnV++
		}
	}
	return mi
}

// Plan returns the type every tensor of f gets under opts, without
// converting anything.
func Plan(f *gguf.File, opts Options) ([]TensorPlan, error) {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	mi := ModelInfo(&f.Metadata, names)
	mi.HasImatrix = opts.Imatrix != nil
	if _, ok := quant.LookupFileType(opts.FileType); !ok {
		return nil, fmt.Errorf("invalid output file type %d", uint32(opts.FileType))
	}
	plans := make([]TensorPlan, len(f.Tensors))
	for i, t := range f.Tensors {
		tc := quant.TensorContext{Model: mi, Options: opts.Options, Shape: t.Shape, Type: t.Type}
		to, fell, err := quant.ChooseTypeFallback(opts.FileType, t.Name, tc)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", f.Path, t.Name, err)
		}
		p := TensorPlan{Name: t.Name, Shape: t.Shape, From: t.Type, To: to, InBytes: t.Size, Fallback: fell}
		if to != t.Type {
			if !quant.CanQuantize(to) {
				return nil, fmt.Errorf("%s: tensor %s: %w", f.Path, t.Name, &quant.ErrUnsupported{Type: to, Op: "quantize"})
			}
			rs, err := quant.RowSize(to, int64(t.Shape[0]))
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %s: %w", f.Path, t.Name, err)
			}
			p.OutBytes = uint64(rs) * (t.Elements() / t.Shape[0])
		} else {
			p.OutBytes = t.Size
		}
		plans[i] = p
	}
	return plans, nil
}

// DryRun reports what File would do without converting or writing.
func DryRun(inPath string, opts Options) (*Report, error) {
	f, err := gguf.Open(inPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	plans, err := Plan(f, opts)
	if err != nil {
		return nil, err
	}
	return newReport(f, plans), nil
}

// newReport totals the plans of f's tensors.
func newReport(f *gguf.File, plans []TensorPlan) *Report {
	rep := &Report{Tensors: plans}
	for i, p := range plans {
		rep.InBytes += p.InBytes
		rep.OutBytes += p.OutBytes
		rep.Elements += f.Tensors[i].Elements()
		if p.Fallback {
			rep.Fallbacks++
		}
	}
	return rep
}

// File quantizes the GGUF file inPath into outPath. The output appears
// only when complete (written to a temporary file and renamed).
func File(inPath, outPath string, opts Options) (*Report, error) {
	f, err := gguf.Open(inPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	plans, err := Plan(f, opts)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.To == p.From {
			continue
		}
		if !quant.CanDequantize(p.From) {
			return nil, fmt.Errorf("%s: tensor %s: %w", inPath, p.Name, &quant.ErrUnsupported{Type: p.From, Op: "dequantize"})
		}
		if p.From != quant.F32 && p.From != quant.F16 && p.From != quant.BF16 && !opts.AllowRequantize {
			return nil, fmt.Errorf("%s: tensor %s: requantizing from type %s is disabled (use --allow-requantize)", inPath, p.Name, p.From)
		}
		if im, ok := opts.Imatrix[p.Name]; ok && quant.HasImatrix(p.To) {
			want := p.Shape[0]
			if len(p.Shape) > 2 {
				want *= p.Shape[2]
			}
			if uint64(len(im)) != want && !strings.HasPrefix(p.Name, "token_embd") {
				return nil, fmt.Errorf("imatrix has %d values for %s, tensor needs %d", len(im), p.Name, want)
			}
		}
	}

	w := gguf.NewWriter()
	for _, kv := range f.KV {
		if strings.HasPrefix(kv.Key, "split.") {
			continue
		}
		w.SetKV(kv)
	}
	if err := w.Set("general.quantization_version", uint32(quant.QuantizationVersion)); err != nil {
		return nil, err
	}
	if err := w.Set("general.file_type", uint32(opts.FileType)); err != nil {
		return nil, err
	}
	rep := newReport(f, plans)
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		p := plans[i]
		err := w.AddTensor(p.Name, p.To, p.Shape, func(out io.Writer) error {
			return convertTensor(f, ti, p, opts, out)
		})
		if err != nil {
			return nil, err
		}
	}

	af, err := atomicfile.Create(outPath)
	if err != nil {
		return nil, err
	}
	defer af.Abort()
	n, err := w.WriteToProgress(af, func(done int, _ gguf.TensorInfo) {
		if opts.Progress != nil {
			opts.Progress(done+1, len(plans), plans[done])
		}
	})
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", outPath, err)
	}
	if err := af.Commit(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", outPath, err)
	}
	rep.FileSize = n
	return rep, nil
}

// convertTensor streams one tensor: dequantize to float32 (if needed),
// quantize each expert matrix with its own slice of the imatrix, write.
func convertTensor(f *gguf.File, ti *gguf.TensorInfo, p TensorPlan, opts Options, out io.Writer) error {
	data := f.TensorData(ti)
	if p.To == p.From {
		_, err := out.Write(data)
		return err
	}
	n := int(ti.Elements())
	rowLen := int(ti.Shape[0])
	rows := n / rowLen
	src := make([]float32, n)
	if err := quant.DequantizeRows(p.From, data, rows, rowLen, src, opts.Threads); err != nil {
		return fmt.Errorf("dequantizing %s: %w", p.Name, err)
	}
	nMat := 1
	if len(ti.Shape) > 2 {
		nMat = int(n / (rowLen * int(ti.Shape[1])))
	}
	rowsPerMat := rows / nMat
	rowBytes := int(p.OutBytes) / rows
	dst := make([]byte, p.OutBytes)
	im := opts.Imatrix[p.Name]
	if len(im) != rowLen*nMat {
		im = nil
	}
	for e := 0; e < nMat; e++ {
		var imE []float32
		if im != nil {
			imE = im[e*rowLen : (e+1)*rowLen]
		}
		s := src[e*rowsPerMat*rowLen : (e+1)*rowsPerMat*rowLen]
		d := dst[e*rowsPerMat*rowBytes : (e+1)*rowsPerMat*rowBytes]
		if err := quant.QuantizeRows(p.To, s, rowsPerMat, rowLen, d, imE, opts.Threads); err != nil {
			return fmt.Errorf("quantizing %s: %w", p.Name, err)
		}
	}
	_, err := out.Write(dst)
	return err
}
