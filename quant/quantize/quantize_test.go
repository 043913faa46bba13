package quantize

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/imatrix"
)

// writeF32GGUF writes m as an all-F32 GGUF (what `ferry convert --type f32`
// produces), the input llama-quantize expects.
func writeF32GGUF(t *testing.T, m *model.Model, path string) {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range m.KV {
		w.SetKV(kv)
	}
	w.Set("general.file_type", uint32(quant.FileAllF32))
	for _, tn := range m.Tensors {
		tn := tn
		err := w.AddTensor(tn.Name, quant.F32, tn.Shape, func(out io.Writer) error {
			f := make([]float32, tn.Elements())
			if err := quant.Dequantize(tn.Type, tn.Data, f); err != nil {
				return err
			}
			b := make([]byte, 4*len(f))
			for i, v := range f {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			_, err := out.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

// expectedType is the recipe table of docs/quantization.md written out
// independently of quant.ChooseType, for models whose tensors all fit the
// block sizes or fall back as the table says.
func expectedType(ft quant.FileType, name string, shape []uint64, nLayer, gqa, nExpert int, tied bool) quant.Type {
	if len(shape) < 2 || strings.HasSuffix(name, "_norm.weight") || strings.Contains(name, "ffn_gate_inp") || !strings.HasSuffix(name, "weight") {
		return quant.F32
	}
	def := ft.DefaultType()
	if def == quant.F16 || def == quant.BF16 || def == quant.F32 {
		return def
	}
	layer := -1
	fmt.Sscanf(name, "blk.%d.", &layer)
	more := layer < nLayer/8 || layer >= 7*nLayer/8 || (layer-nLayer/8)%3 == 2
	t := def
	switch {
	case name == "output.weight" || (tied && name == "token_embd.weight"):
		if shape[0]%uint64(def.BlockSize()) != 0 {
			t = quant.Q8_0
		} else if def != quant.Q8_0 {
			t = quant.Q6_K
		}
	case name == "token_embd.weight":
	case strings.Contains(name, "attn_v.weight") || strings.Contains(name, "attn_qkv.weight"):
		switch ft {
		case quant.FileMostlyQ2_K:
			t = map[bool]quant.Type{true: quant.Q4_K, false: quant.Q3_K}[gqa >= 4]
		case quant.FileMostlyQ3_K_M:
			t = map[bool]quant.Type{true: quant.Q5_K, false: quant.Q4_K}[layer < 2]
		case quant.FileMostlyQ3_K_L:
			t = quant.Q5_K
		case quant.FileMostlyQ4_K_M, quant.FileMostlyQ5_K_M:
			if more {
				t = quant.Q6_K
			}
		case quant.FileMostlyQ4_K_S:
			if layer < 4 {
				t = quant.Q5_K
			}
		case quant.FileMostlyIQ4XS, quant.FileMostlyIQ4NL:
			if gqa >= 4 {
				t = quant.Q5_K
			}
		}
		if nExpert == 8 {
			t = quant.Q8_0
		}
	case strings.Contains(name, "attn_k.weight") && nExpert == 8:
		t = quant.Q8_0
	case strings.Contains(name, "ffn_down"):
		switch ft {
		case quant.FileMostlyQ2_K:
			t = quant.Q3_K
		case quant.FileMostlyQ3_K_M:
			t = map[bool]quant.Type{true: quant.Q5_K, false: quant.Q4_K}[layer < nLayer/16]
		case quant.FileMostlyQ3_K_L:
			t = quant.Q5_K
		case quant.FileMostlyQ4_K_M, quant.FileMostlyQ5_K_M:
			if more {
				t = quant.Q6_K
			}
		case quant.FileMostlyQ4_K_S:
			if layer < nLayer/8 {
				t = quant.Q5_K
			}
		case quant.FileMostlyIQ4XS, quant.FileMostlyIQ4NL:
			if layer < nLayer/8 {
				t = quant.Q5_K
			}
		}
	case strings.Contains(name, "attn_output.weight"):
		if nExpert == 8 {
			switch ft {
			case quant.FileMostlyQ2_K, quant.FileMostlyQ3_K_S, quant.FileMostlyQ3_K_M, quant.FileMostlyIQ4NL,
				quant.FileMostlyQ4_K_S, quant.FileMostlyQ4_K_M, quant.FileMostlyIQ4XS:
				t = quant.Q5_K
			}
		} else {
			switch ft {
			case quant.FileMostlyQ2_K:
				t = quant.Q3_K
			case quant.FileMostlyQ3_K_M:
				t = quant.Q4_K
			case quant.FileMostlyQ3_K_L:
				t = quant.Q5_K
			}
		}
	}
	// Fallbacks for rows that are not a whole number of blocks.
	if shape[0]%uint64(t.BlockSize()) != 0 {
		t = map[quant.Type]quant.Type{quant.Q2_K: quant.Q4_0, quant.Q3_K: quant.Q4_0, quant.Q4_K: quant.Q5_0,
			quant.Q5_K: quant.Q5_1, quant.Q6_K: quant.Q8_0, quant.IQ4_XS: quant.IQ4_NL}[t]
		if shape[0]%32 != 0 {
			t = quant.F16
		}
	}
	return t
}

var recipes = []quant.FileType{
	quant.FileMostlyQ4_0, quant.FileMostlyQ4_1, quant.FileMostlyQ5_0, quant.FileMostlyQ5_1, quant.FileMostlyQ8_0,
	quant.FileMostlyQ2_K, quant.FileMostlyQ3_K_S, quant.FileMostlyQ3_K_M, quant.FileMostlyQ3_K_L,
	quant.FileMostlyQ4_K_S, quant.FileMostlyQ4_K_M, quant.FileMostlyQ5_K_S, quant.FileMostlyQ5_K_M, quant.FileMostlyQ6_K,
	quant.FileMostlyIQ4NL, quant.FileMostlyIQ4XS, quant.FileMostlyF16, quant.FileMostlyBF16, quant.FileAllF32,
}

// TestOracleRecipes quantizes F32 GGUFs built from the oracle models with
// every recipe and checks each tensor's type against the table, the
// metadata llama.cpp writes, and that the data dequantizes close to the
// input.
func TestOracleRecipes(t *testing.T) {
	models := []string{"llama3", "qwen2", "mixtral", "qwen3moe", "phi3", "gemma2"}
	if testing.Short() {
		models = models[:2]
	}
	for _, name := range models {
		dir := testdata.Path(t, "oracle", name)
		m, err := model.Open(dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in := filepath.Join(t.TempDir(), name+"-f32.gguf")
		writeF32GGUF(t, m, in)
		m.Close()
		src, err := gguf.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		arch := src.Architecture()
		nl, _ := src.Uint(arch + ".block_count")
		nh, _ := src.Uint(arch + ".attention.head_count")
		nkv, _ := src.Uint(arch + ".attention.head_count_kv")
		ne, _ := src.Uint(arch + ".expert_count")
		_, hasOutput := src.Tensor("output.weight")
		for _, ft := range recipes {
			out := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.gguf", name, ft))
			rep, err := File(in, out, Options{FileType: ft})
			if err != nil {
				if ft.DefaultType().BlockSize() == 32 {
					// Like llama.cpp: 32-blocks have no fallback when a row is not a multiple of 32.
					if strings.Contains(err.Error(), "no tensor type fallback") {
						continue
					}
				}
				t.Fatalf("%s %s: %v", name, ft, err)
			}
			q, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := q.Uint("general.file_type"); v != uint64(ft) {
				t.Errorf("%s %s: general.file_type = %d", name, ft, v)
			}
			if v, _ := q.Uint("general.quantization_version"); v != 2 {
				t.Errorf("%s %s: general.quantization_version = %d", name, ft, v)
			}
			var total uint64
			for i, ti := range q.Tensors {
				want := expectedType(ft, ti.Name, ti.Shape, int(nl), int(nh/nkv), int(ne), !hasOutput)
				if ti.Type != want {
					t.Errorf("%s %s: %s %v is %s, table says %s", name, ft, ti.Name, ti.Shape, ti.Type, want)
				}
				total += ti.Size
				// The data round-trips within the type's error.
				orig, _ := src.Tensor(ti.Name)
				x := f32s(src.TensorData(orig))
				y := make([]float32, len(x))
				if err := quant.Dequantize(ti.Type, q.TensorData(&q.Tensors[i]), y); err != nil {
					t.Fatal(err)
				}
				if e := relErr(x, y); e > 0.35 {
					t.Errorf("%s %s: %s (%s) relative error %.3f", name, ft, ti.Name, ti.Type, e)
				}
			}
			if total != rep.OutBytes {
				t.Errorf("%s %s: report says %d bytes, file has %d", name, ft, rep.OutBytes, total)
			}
			q.Close()
		}
		src.Close()
	}
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func relErr(a, b []float32) float64 {
	var se, ss float64
	for i := range a {
		d := float64(a[i] - b[i])
		se += d * d
		ss += float64(a[i]) * float64(a[i])
	}
	if ss == 0 {
		return math.Sqrt(se)
	}
	return math.Sqrt(se / ss)
}

// TestImatrixFile quantizes stories260K with an importance matrix read from
// a GGUF imatrix file: the tensors that have weighted paths change and
// their importance-weighted error drops.
func TestImatrixFile(t *testing.T) {
	in := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	src, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := imatrix.NewCollector()
	for i := range src.Tensors {
		ti := &src.Tensors[i]
		if len(ti.Shape) != 2 {
			continue
		}
		cols := int(ti.Shape[0])
		x := make([]float32, 8*cols)
		for j := range x {
			// A few columns carry large activations.
			x[j] = float32(math.Sin(float64(j*7919%1000))) * float32(1+9*((j%cols)%13/12))
		}
		c.Add(ti.Name, x, 8, cols, 0, 1)
	}
	dir := t.TempDir()
	imPath := filepath.Join(dir, "imatrix.gguf")
	if err := c.Data("synthetic").WriteGGUF(imPath); err != nil {
		t.Fatal(err)
	}
	d, err := imatrix.Read(imPath)
	if err != nil {
		t.Fatal(err)
	}
	im := d.Values()
	plain, weighted := filepath.Join(dir, "plain.gguf"), filepath.Join(dir, "weighted.gguf")
	if _, err := File(in, plain, Options{FileType: quant.FileMostlyQ4_K_M}); err != nil {
		t.Fatal(err)
	}
	if _, err := File(in, weighted, Options{FileType: quant.FileMostlyQ4_K_M, Imatrix: im}); err != nil {
		t.Fatal(err)
	}
	p, _ := gguf.Open(plain)
	w, _ := gguf.Open(weighted)
	defer p.Close()
	defer w.Close()
	changed, better := 0, 0
	for i := range p.Tensors {
		pt, wt := &p.Tensors[i], &w.Tensors[i]
		if pt.Type != wt.Type {
			t.Fatalf("%s: type %s without imatrix, %s with", pt.Name, pt.Type, wt.Type)
		}
		weights := im[pt.Name]
		if weights == nil || !quant.HasImatrix(pt.Type) {
			continue
		}
		if string(p.TensorData(pt)) == string(w.TensorData(wt)) {
			continue
		}
		changed++
		orig, _ := src.Tensor(pt.Name)
		x := f32s(src.TensorData(orig))
		yp, yw := make([]float32, len(x)), make([]float32, len(x))
		quant.Dequantize(pt.Type, p.TensorData(pt), yp)
		quant.Dequantize(wt.Type, w.TensorData(wt), yw)
		var ep, ew float64
		for j := range x {
			c := float64(weights[j%len(weights)])
			ep += c * float64(x[j]-yp[j]) * float64(x[j]-yp[j])
			ew += c * float64(x[j]-yw[j]) * float64(x[j]-yw[j])
		}
		if ew < ep {
			better++
		}
	}
	if changed < 20 || better < changed*3/4 {
		t.Errorf("imatrix changed %d tensors, improved %d", changed, better)
	}
	// A matrix of the wrong size is an error naming the tensor.
	bad := map[string][]float32{"blk.0.attn_q.weight": make([]float32, 3)}
	if _, err := File(in, filepath.Join(dir, "bad.gguf"), Options{FileType: quant.FileMostlyQ4_K_M, Imatrix: bad}); err == nil || !strings.Contains(err.Error(), "blk.0.attn_q.weight") {
		t.Errorf("wrong-size imatrix: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.gguf")); err == nil {
		t.Error("failed run left an output file")
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := File(filepath.Join(dir, "missing.gguf"), filepath.Join(dir, "o.gguf"), Options{FileType: quant.FileMostlyQ4_K_M}); err == nil {
		t.Error("missing input accepted")
	}
	notGGUF := filepath.Join(dir, "x.gguf")
	os.WriteFile(notGGUF, []byte("not a gguf file at all"), 0o644)
	if _, err := File(notGGUF, filepath.Join(dir, "o.gguf"), Options{FileType: quant.FileMostlyQ4_K_M}); err == nil {
		t.Error("garbage input accepted")
	}
	in := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	if _, err := File(in, filepath.Join(dir, "o.gguf"), Options{FileType: quant.FileType(99)}); err == nil {
		t.Error("file type 99 accepted")
	}
	if _, err := File(in, filepath.Join(dir, "no", "such", "dir.gguf"), Options{FileType: quant.FileMostlyQ6_K}); err == nil {
		t.Error("unwritable output accepted")
	}
	// Requantizing needs --allow-requantize, then works.
	q := filepath.Join(dir, "q6.gguf")
	if _, err := File(in, q, Options{FileType: quant.FileMostlyQ6_K}); err != nil {
		t.Fatal(err)
	}
	if _, err := File(q, filepath.Join(dir, "q4.gguf"), Options{FileType: quant.FileMostlyQ4_K_M}); err == nil || !strings.Contains(err.Error(), "requantiz") {
		t.Errorf("requantizing without permission: %v", err)
	}
	if _, err := File(q, filepath.Join(dir, "q4.gguf"), Options{FileType: quant.FileMostlyQ4_K_M, AllowRequantize: true}); err != nil {
		t.Errorf("requantizing with permission: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
