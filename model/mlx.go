package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
)

// MLX folders (mlx-lm's output) are Hugging Face folders whose linear and
// embedding weights are affine-quantized: for every quantized `X.weight`
// there are `X.scales` and `X.biases` with one value per group of
// group_size consecutive input elements, and the weight holds the codes
// packed into uint32 words, low bits first, so element i of a row sits at
// bits [i*bits, (i+1)*bits) of the row's little-endian bit stream. The
// value is w = q*scale + bias.
//
// The loader keeps this lossless:
//   - 4-bit codes with F16 scales and biases and a group size that is a
//     multiple of 32 become GGUF Q4_1 blocks exactly (d = scale, m = bias;
//     Q4_1 byte j holds element j in the low nibble and j+16 in the high);
//     ggml computes d*q + m in float32 just as MLX's dequantization does.
//   - any other bit width or scale type is dequantized to F32 at load time,
//     which costs 4 bytes per weight of memory (the price of not losing
//     precision; quantize afterwards with --type if needed).
// Unquantized tensors pass through untouched.

func init() {
	register(FormatMLX, isMLXDir, openMLX)
}

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
	return cfg.obj("quantization") != nil && safetensors.HasWeights(path)
}

// MLXQuant is one tensor's quantization parameters.
type MLXQuant struct {
	GroupSize int
	Bits      int
	Mode      string
}

// mlxQuantFor resolves the parameters of module (a weight name without
// ".weight"): a per-layer override in the quantization object, or the
// defaults. ok is false when the override says the module is not quantized.
func mlxQuantFor(q hfConfig, module string) (MLXQuant, bool) {
	def := MLXQuant{GroupSize: 64, Bits: 4, Mode: "affine"}
	if v, ok := q.int("group_size"); ok {
		def.GroupSize = int(v)
	}
	if v, ok := q.int("bits"); ok {
		def.Bits = int(v)
	}
	if s := q.str("mode"); s != "" {
		def.Mode = s
	}
	switch o := q[module].(type) {
	case bool:
		return def, o
	case map[string]any:
		oc := hfConfig(o)
		if v, ok := oc.int("group_size"); ok {
			def.GroupSize = int(v)
		}
		if v, ok := oc.int("bits"); ok {
			def.Bits = int(v)
		}
		if s := oc.str("mode"); s != "" {
			def.Mode = s
		}
	}
	return def, true
}

func openMLX(dir string) (*Model, error) {
	return openHFFolder(dir, FormatMLX, false, func(m *Model, raw hfConfig) ([]srcTensor, error) {
		set, err := safetensors.OpenDir(dir)
		if err != nil {
			return nil, err
		}
		m.OnClose(set.Close)
		return mlxSources(dir, raw.obj("quantization"), set)
	})
}

func mlxSources(dir string, q hfConfig, set *safetensors.Set) ([]srcTensor, error) {
	var out []srcTensor
	for _, name := range set.Names() {
		if strings.HasSuffix(name, ".scales") || strings.HasSuffix(name, ".biases") {
			base := name[:len(name)-len(".scales")]
			if _, ok := set.Get(base + ".weight"); !ok {
				return nil, fmt.Errorf("%s: %s has no matching %s.weight", dir, name, base)
			}
			continue
		}
		ref, _ := set.Get(name)
		module := strings.TrimSuffix(name, ".weight")
		scales, hasScales := set.Get(module + ".scales")
		if !strings.HasSuffix(name, ".weight") || !hasScales {
			typ, ok := stDTypes[ref.DType]
			if !ok {
				return nil, fmt.Errorf("%s: tensor %q: dtype %s is not supported", dir, name, ref.DType)
			}
			out = append(out, srcTensor{Name: name, Type: typ, Shape: ref.Shape, Data: ref.Data()})
			continue
		}
		qp, quantized := mlxQuantFor(q, module)
		if !quantized {
			return nil, fmt.Errorf("%s: %s has scales but config.json says it is not quantized", dir, module)
		}
		biases, hasBiases := set.Get(module + ".biases")
		t, err := mlxTensor(name, qp, ref, scales, biases, hasBiases)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// mlxTensor unpacks one quantized weight into Q4_1 or F32.
func mlxTensor(name string, qp MLXQuant, w, scales, biases safetensors.Ref, hasBiases bool) (srcTensor, error) {
	fail := func(format string, a ...any) (srcTensor, error) {
		return srcTensor{}, fmt.Errorf("tensor %q: %s", name, fmt.Sprintf(format, a...))
	}
	if qp.Mode != "affine" {
		return fail("MLX quantization mode %q is not supported (affine only)", qp.Mode)
	}
	if !hasBiases {
		return fail("affine quantization needs %s.biases", strings.TrimSuffix(name, ".weight"))
	}
	switch qp.Bits {
	case 2, 3, 4, 5, 6, 8:
	default:
		return fail("%d-bit MLX quantization is not supported", qp.Bits)
	}
	if qp.GroupSize <= 0 || qp.GroupSize > 1<<16 {
		return fail("invalid group size %d", qp.GroupSize)
	}
	if w.DType != safetensors.U32 || len(w.Shape) < 2 {
		return fail("quantized weight must be a U32 matrix, got %s %v", w.DType, w.Shape)
	}
	nd := len(w.Shape)
	rows := uint64(1)
	for _, d := range w.Shape[:nd-1] {
		rows *= d
	}
	words := w.Shape[nd-1]
	cols := words * 32 / uint64(qp.Bits)
	if words*32%uint64(qp.Bits) != 0 || cols%uint64(qp.GroupSize) != 0 {
		return fail("%d packed words per row do not hold whole %d-element groups of %d-bit values", words, qp.GroupSize, qp.Bits)
	}
	groups := cols / uint64(qp.GroupSize)
	for _, sb := range []safetensors.Ref{scales, biases} {
		n := uint64(1)
		for _, d := range sb.Shape {
			n *= d
		}
		if n != rows*groups || len(sb.Shape) != nd || sb.Shape[nd-1] != groups {
			return fail("%s has shape %v, want %v×%d (rows × groups) for group size %d and %d bits", sb.Name, sb.Shape, w.Shape[:nd-1], groups, qp.GroupSize, qp.Bits)
		}
		switch sb.DType {
		case safetensors.F16, safetensors.BF16, safetensors.F32:
		default:
			return fail("%s has dtype %s (want F16, BF16 or F32)", sb.Name, sb.DType)
		}
	}
	shape := append(append([]uint64{}, w.Shape[:nd-1]...), cols)
	if qp.Bits == 4 && qp.GroupSize%32 == 0 && scales.DType == safetensors.F16 && biases.DType == safetensors.F16 {
		return srcTensor{Name: name, Type: quant.Q4_1, Shape: shape, Data: MLXToQ4_1(w.Data(), scales.Data(), biases.Data(), int(rows), int(cols), qp.GroupSize)}, nil
	}
	f := make([]float32, rows*cols)
	MLXDequantize(w.Data(), readFloats(scales), readFloats(biases), int(rows), int(cols), qp.GroupSize, qp.Bits, f)
	return srcTensor{Name: name, Type: quant.F32, Shape: shape, Data: f32Bytes(f)}, nil
}

// readFloats decodes an F32, F16 or BF16 tensor (checked by the caller).
func readFloats(r safetensors.Ref) []float32 {
	typ := stDTypes[r.DType]
	out := make([]float32, len(r.Data())/typ.BytesPerBlock())
	_ = quant.Dequantize(typ, r.Data(), out) // sizes agree by construction
	return out
}

// mlxCode extracts element i (bits wide) from a row's packed words.
func mlxCode(row []byte, i, bits int) uint32 {
	bit := i * bits
	// Read up to 16 bits spanning the value (bits <= 8).
	b0 := uint32(row[bit>>3])
	if (bit&7)+bits > 8 {
		b0 |= uint32(row[bit>>3+1]) << 8
	}
	return (b0 >> (bit & 7)) & (1<<bits - 1)
}

// MLXDequantize expands MLX affine codes (rows × cols elements, packed
// little-endian) into dst with w = q*scale + bias per group.
func MLXDequantize(packed []byte, scales, biases []float32, rows, cols, groupSize, bits int, dst []float32) {
	rowBytes := cols * bits / 8
	gpr := cols / groupSize
	for r := 0; r < rows; r++ {
		row := packed[r*rowBytes : (r+1)*rowBytes]
		for c := 0; c < cols; c++ {
			g := r*gpr + c/groupSize
			// float32(...) stops the compiler fusing this into an FMA (it
			// does on arm64), so every platform loads the same weights.
			dst[r*cols+c] = float32(float32(mlxCode(row, c, bits))*scales[g]) + biases[g]
		}
	}
}

// MLXToQ4_1 repacks 4-bit MLX codes with F16 scales/biases (raw bytes) into
// ggml Q4_1 blocks. groupSize must be a multiple of 32.
func MLXToQ4_1(packed, scales, biases []byte, rows, cols, groupSize int) []byte {
	const blk = 32
	out := make([]byte, rows*cols/blk*20)
	rowBytes := cols / 2
	gpr := cols / groupSize
	o := 0
	for r := 0; r < rows; r++ {
		row := packed[r*rowBytes : (r+1)*rowBytes]
		for b := 0; b < cols/blk; b++ {
			g := r*gpr + b*blk/groupSize
			copy(out[o:o+2], scales[2*g:2*g+2])
			copy(out[o+2:o+4], biases[2*g:2*g+2])
			base := b * blk
			for j := 0; j < 16; j++ {
				lo := mlxCode(row, base+j, 4)
				hi := mlxCode(row, base+j+16, 4)
				out[o+4+j] = byte(lo | hi<<4)
			}
			o += 20
		}
	}
	return out
}
