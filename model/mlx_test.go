package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/safetensors"
)

// dequantTensor turns a loaded tensor into float32 through the quant table.
func dequantTensor(t *testing.T, tn *Tensor) []float32 {
	t.Helper()
	out := make([]float32, tn.Elements())
	switch tn.Type {
	case quant.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[4*i:]))
		}
	default:
		if err := quant.Dequantize(tn.Type, tn.Data, out); err != nil {
			t.Fatalf("%s: %v", tn.Name, err)
		}
	}
	return out
}

// TestMLXExact checks every quantized tensor against a direct
// dequantization of the packed uint32 words (word w, slot k holds
// (w >> (bits*k)) & mask), written independently of the loader's bit
// stream reader.
func TestMLXExact(t *testing.T) {
	for _, variant := range []struct {
		dir  string
		bits int
		typ  quant.Type
	}{{"stories260K-mlx-4bit", 4, quant.Q4_1}, {"stories260K-mlx-8bit", 8, quant.F32}} {
		t.Run(variant.dir, func(t *testing.T) {
			dir := testdata.Path(t, "models", variant.dir)
			m, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Format != FormatMLX {
				t.Fatalf("format %s", m.Format)
			}
			set, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			checked := 0
			for _, name := range set.Names() {
				if filepath.Ext(name) != ".scales" {
					continue
				}
				base := name[:len(name)-len(".scales")]
				w, _ := set.Get(base + ".weight")
				sc, _ := set.Get(base + ".scales")
				bi, _ := set.Get(base + ".biases")
				g := hfGGUFName(base + ".weight")
				tn := m.Tensor(g)
				if tn == nil {
					t.Fatalf("%s: %s not loaded", base, g)
				}
				if tn.Type != variant.typ {
					t.Errorf("%s: type %s want %s", g, tn.Type, variant.typ)
				}
				got := dequantTensor(t, tn)
				per := 32 / variant.bits
				rows, words := int(w.Shape[0]), int(w.Shape[1])
				cols := words * per
				groups := int(sc.Shape[1])
				gs := cols / groups
				wd, sd, bd := w.Data(), sc.Data(), bi.Data()
				for r := 0; r < rows; r++ {
					for c := 0; c < cols; c++ {
						word := binary.LittleEndian.Uint32(wd[4*(r*words+c/per):])
						q := (word >> (uint(variant.bits) * uint(c%per))) & (1<<variant.bits - 1)
						gi := r*groups + c/gs
						s := quant.F16ToF32(binary.LittleEndian.Uint16(sd[2*gi:]))
						b := quant.F16ToF32(binary.LittleEndian.Uint16(bd[2*gi:]))
						want := float32(q)*s + b
						if got[r*cols+c] != want {
							t.Fatalf("%s[%d,%d] = %v, want %v", g, r, c, got[r*cols+c], want)
						}
					}
				}
				checked++
			}
			if checked != 1+5*6 {
				t.Errorf("checked %d quantized tensors", checked)
			}
		})
	}
}

func hfGGUFName(hf string) string {
	switch hf {
	case "model.embed_tokens.weight":
		return "token_embd.weight"
	}
	mm := hfLayerRe.FindStringSubmatch(hf)
	return "blk." + mm[1] + "." + hfLayerNames[mm[2]]
}

// TestMLXCloseToHF: the dequantized MLX weights are the stories260K weights
// within the quantization error of their group (one step: MLX moves the
// scale so that zero is exact, which can cost more than half a step; plus the F16
// rounding of scale and bias).
func TestMLXCloseToHF(t *testing.T) {
	ref, err := Open(testdata.Path(t, "models", "stories260K-hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, v := range []struct {
		dir  string
		bits int
	}{{"stories260K-mlx-4bit", 4}, {"stories260K-mlx-8bit", 8}} {
		m, err := Open(testdata.Path(t, "models", v.dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Tensors) != len(ref.Tensors) {
			t.Errorf("%s: %d tensors, want %d", v.dir, len(m.Tensors), len(ref.Tensors))
		}
		for _, rt := range ref.Tensors {
			mt := m.Tensor(rt.Name)
			if mt == nil {
				t.Errorf("%s: %s missing", v.dir, rt.Name)
				continue
			}
			want := dequantTensor(t, rt)
			var got []float32
			if mt.Type == quant.F16 {
				got = make([]float32, len(want))
				for i := range got {
					got[i] = quant.F16ToF32(binary.LittleEndian.Uint16(mt.Data[2*i:]))
				}
			} else {
				got = dequantTensor(t, mt)
			}
			cols := int(rt.Shape[0])
			for g := 0; g < len(want); g += 64 {
				end := min(g+64, len(want), (g/cols+1)*cols)
				lo, hi := want[g], want[g]
				for _, x := range want[g:end] {
					lo, hi = min(lo, x), max(hi, x)
				}
				tol := float64(hi-lo)/float64(int(1)<<v.bits-1)*1.01 + 2e-3*math.Max(math.Abs(float64(lo)), math.Abs(float64(hi))) + 1e-6
				for i := g; i < end; i++ {
					if d := math.Abs(float64(got[i] - want[i])); d > tol {
						t.Fatalf("%s %s[%d]: %v vs %v (tolerance %v)", v.dir, rt.Name, i, got[i], want[i], tol)
					}
				}
			}
		}
		m.Close()
	}
}

func TestMLXQuantOverrides(t *testing.T) {
	q := hfConfig{"group_size": jsonNum("32"), "bits": jsonNum("4"),
		"model.layers.0.mlp.down_proj": map[string]any{"bits": jsonNum("8"), "group_size": jsonNum("64")},
		"lm_head":                      false}
	if p, ok := mlxQuantFor(q, "model.layers.1.mlp.down_proj"); !ok || p.Bits != 4 || p.GroupSize != 32 || p.Mode != "affine" {
		t.Errorf("default: %+v %v", p, ok)
	}
	if p, ok := mlxQuantFor(q, "model.layers.0.mlp.down_proj"); !ok || p.Bits != 8 || p.GroupSize != 64 {
		t.Errorf("override: %+v %v", p, ok)
	}
	if _, ok := mlxQuantFor(q, "lm_head"); ok {
		t.Error("lm_head: false override ignored")
	}
}

func TestMLXDequantizeOddBits(t *testing.T) {
	// 3-bit codes 0..7 repeated, packed as one little-endian bit stream.
	const cols = 32
	codes := make([]uint32, cols)
	var stream [cols * 3 / 8]byte
	for i := range codes {
		codes[i] = uint32(i*5) & 7
		bit := i * 3
		for k := 0; k < 3; k++ {
			if codes[i]>>k&1 == 1 {
				stream[(bit+k)/8] |= 1 << ((bit + k) % 8)
			}
		}
	}
	dst := make([]float32, cols)
	MLXDequantize(stream[:], []float32{0.5}, []float32{-1}, 1, cols, 32, 3, dst)
	for i, c := range codes {
		if want := float32(c)*0.5 - 1; dst[i] != want {
			t.Fatalf("[%d] = %v want %v", i, dst[i], want)
		}
	}
}

func jsonNum(s string) any { return json.Number(s) }

func TestMLXBadInput(t *testing.T) {
	src := testdata.Path(t, "models", "stories260K-mlx-4bit")
	dir := copyDir(t, src)
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	write := func(old, new string) {
		os.WriteFile(filepath.Join(dir, "config.json"), bytes.ReplaceAll(cfg, []byte(old), []byte(new)), 0o644)
	}
	write(`"bits": 4`, `"bits": 3`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "3-bit") {
		t.Errorf("wrong bits: %v", err)
	}
	write(`"bits": 4`, `"bits": 7`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "7-bit") {
		t.Errorf("unsupported bits: %v", err)
	}
	write(`"mode": "affine"`, `"mode": "mxfp4"`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "mxfp4") {
		t.Errorf("mode: %v", err)
	}
	write(`"group_size": 64`, `"group_size": 32`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), ".scales has shape") {
		t.Errorf("group size: %v", err)
	}
}
