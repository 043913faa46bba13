package interop

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
)

var oracleNames = []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "mixtral", "qwen3moe"}

// exactTypes are the output types whose greedy continuation must reproduce
// the float32 reference exactly; quantizedTypes must load and run, and are
// compared with ferry's own engine on the same file.
var (
	exactTypes     = []string{"f32", "f16"}
	quantizedTypes = []string{"q8_0", "q4_k_m"}
)

// TestInfo: the prebuilt llama.cpp is there and is the CPU build.
func TestInfo(t *testing.T) {
	l := findLlama(t)
	p := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	resp := run(t, l, p, 512, Job{Op: "info"})
	if resp.LoadError != "" {
		t.Fatalf("llama.cpp cannot load the reference stories260K.gguf: %s", resp.LoadError)
	}
	r := resp.Results[0]
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	t.Logf("llama.cpp %v, arch %s, vocab %s/%d", r.Release, r.Architecture, r.VocabType, r.NVocab)
	if r.Architecture != "llama" || r.NVocab != 512 {
		t.Errorf("llama.cpp reads arch %q vocab %d from stories260K.gguf, want llama/512", r.Architecture, r.NVocab)
	}
}

// TestOracleGGUFInLlamaCpp converts every oracle model to GGUF in F32, F16,
// Q8_0 and Q4_K_M, loads each file in llama.cpp and greedily decodes the
// golden prompts there (token ids fed directly). F32 and F16 must reproduce
// golden.json's greedy_new_ids; quantized files must load and decode, and
// their continuation is compared with ferry's engine on the same file.
func TestOracleGGUFInLlamaCpp(t *testing.T) {
	l := findLlama(t)
	var rep report
	t.Cleanup(func() { t.Logf("summary (model type: result)\n%s", rep.String()) })
	for _, name := range oracleNames {
		t.Run(name, func(t *testing.T) {
			dir := testdata.Path(t, "oracle", name)
			var g oracleGolden
			readJSON(t, filepath.Join(dir, "golden.json"), &g)
			m, err := model.OpenLazy(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tmp := t.TempDir()
			for _, typ := range append(append([]string{}, exactTypes...), quantizedTypes...) {
				t.Run(typ, func(t *testing.T) {
					path := convertTo(t, m, tmp, name, typ)
					defer os.Remove(path)
					checkGreedy(t, l, &rep, name, typ, path, g)
				})
			}
		})
	}
}

// greedyN is how many tokens the reference decoded per prompt.
const greedyN = 24

func checkGreedy(t *testing.T, l *Llama, rep *report, name, typ, path string, g oracleGolden) {
	t.Helper()
	var jobs []Job
	var prompts [][]int32
	for _, p := range g.Prompts {
		jobs = append(jobs, Job{Op: "greedy", IDs: p.IDs, N: len(p.GreedyNewIDs)})
		prompts = append(prompts, p.IDs)
	}
	resp := run(t, l, path, 256, jobs...)
	if resp.LoadError != "" {
		rep.add(fmt.Sprintf("%s %s: LOAD FAILED: %s", name, typ, resp.LoadError))
		t.Fatalf("llama.cpp refuses ferry's %s GGUF: %s\nllama.cpp log:\n%v", typ, resp.LoadError, resp.Logs)
	}
	exact := typ == "f32" || typ == "f16"
	var ferry [][]int32
	if !exact {
		ferry = ferryGreedy(t, path, prompts, greedyN)
	}
	status := "greedy = reference"
	for i, p := range g.Prompts {
		r := resp.Results[i]
		if r.Error != "" {
			rep.add(fmt.Sprintf("%s %s: RUN FAILED: %s", name, typ, r.Error))
			t.Fatalf("llama.cpp fails running ferry's %s GGUF: %s\nlog: %v", typ, r.Error, resp.Logs)
		}
		got, err := r.Greedy()
		if err != nil {
			t.Fatal(err)
		}
		if exact {
			if !equalIDs(got, p.GreedyNewIDs) {
				k := samePrefix(got, p.GreedyNewIDs)
				status = fmt.Sprintf("MISMATCH on %s prompt at token %d (margin_min %.3g)", p.Kind, k, p.GreedyMarginMin)
				t.Errorf("%s prompt: llama.cpp's greedy continuation differs from the reference at token %d (reference greedy margin min %.3g)\n llama.cpp %v\n reference %v",
					p.Kind, k, p.GreedyMarginMin, got, p.GreedyNewIDs)
			}
			continue
		}
		// Quantized: both runtimes compute on the same quantized weights
		// with Q8 activations, so they should walk the same greedy path;
		// a divergence is reported with its position (random-weight models
		// have near-ties), and the first tokens must agree.
		k := samePrefix(got, ferry[i])
		ref := samePrefix(got, p.GreedyNewIDs)
		status = fmt.Sprintf("runs; %s prompt: llama.cpp = ferry for %d/%d tokens, = f32 reference for %d", p.Kind, k, greedyN, ref)
		rep.add(fmt.Sprintf("%s %s: %s", name, typ, status))
		t.Logf("%s prompt: llama.cpp and ferry agree on %d/%d greedy tokens (reference prefix %d)", p.Kind, k, len(got), ref)
		if k == 0 {
			t.Errorf("%s prompt: llama.cpp's first greedy token %d differs from ferry's %d on the same %s file\n llama.cpp %v\n ferry     %v",
				p.Kind, got[0], ferry[i][0], typ, got, ferry[i])
		}
	}
	if exact {
		rep.add(fmt.Sprintf("%s %s: %s", name, typ, status))
	}
}

// storiesGolden is models/stories260K/golden.json's greedy run.
type storiesGolden struct {
	Greedy struct {
		PromptIDs    []int32 `json:"prompt_ids"`
		GeneratedIDs []int32 `json:"generated_ids"`
	} `json:"greedy"`
}

// TestStoriesGGUFInLlamaCpp converts stories260K from the HF folder and from
// the llama2.c checkpoint, in F32 and F16, and checks that llama.cpp's greedy
// run reproduces llama2.c's 256 golden tokens; Q8_0 and Q4_K_M files must
// load and agree with ferry's engine on their first tokens.
func TestStoriesGGUFInLlamaCpp(t *testing.T) {
	l := findLlama(t)
	var g storiesGolden
	readJSON(t, testdata.Path(t, "models", "stories260K", "golden.json"), &g)
	var rep report
	t.Cleanup(func() { t.Logf("summary\n%s", rep.String()) })
	srcs := map[string]string{
		"hf":      testdata.Path(t, "models", "stories260K-hf"),
		"llama2c": testdata.Path(t, "models", "stories260K", "stories260K.bin"),
	}
	for _, kind := range []string{"hf", "llama2c"} {
		t.Run(kind, func(t *testing.T) {
			m, err := model.OpenLazy(srcs[kind])
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tmp := t.TempDir()
			for _, typ := range []string{"f32", "f16", "q8_0", "q4_k_m"} {
				t.Run(typ, func(t *testing.T) {
					path := convertTo(t, m, tmp, "stories260K-"+kind, typ)
					want := g.Greedy.GeneratedIDs
					n := len(want)
					if typ != "f32" && typ != "f16" {
						n = greedyN
					}
					resp := run(t, l, path, 512, Job{Op: "greedy", IDs: g.Greedy.PromptIDs, N: n})
					if resp.LoadError != "" {
						rep.add(fmt.Sprintf("stories260K %s %s: LOAD FAILED: %s", kind, typ, resp.LoadError))
						t.Fatalf("llama.cpp refuses the file: %s\n%v", resp.LoadError, resp.Logs)
					}
					if resp.Results[0].Error != "" {
						t.Fatal(resp.Results[0].Error)
					}
					got, err := resp.Results[0].Greedy()
					if err != nil {
						t.Fatal(err)
					}
					if typ == "f32" || typ == "f16" {
						k := samePrefix(got, want)
						rep.add(fmt.Sprintf("stories260K %s %s: llama.cpp = llama2.c golden for %d/%d tokens", kind, typ, k, len(want)))
						if k != len(want) {
							t.Errorf("llama.cpp's greedy run differs from llama2.c's at token %d\n llama.cpp %v\n golden    %v", k, got, want)
						}
						return
					}
					ferry := ferryGreedy(t, path, [][]int32{g.Greedy.PromptIDs}, n)[0]
					k := samePrefix(got, ferry)
					rep.add(fmt.Sprintf("stories260K %s %s: runs; llama.cpp = ferry for %d/%d tokens, = f32 golden for %d", kind, typ, k, n, samePrefix(got, want)))
					if k == 0 {
						t.Errorf("first greedy token: llama.cpp %d, ferry %d", got[0], ferry[0])
					}
				})
			}
		})
	}
}

// TestMLXGGUFInLlamaCpp converts the MLX 4-bit and 8-bit folders (dequantized
// to F32) and checks llama.cpp's greedy run against the argmax of the
// reference forward pass on the dequantized weights: while llama.cpp follows
// the reference token sequence, each of its tokens must be that position's
// argmax.
func TestMLXGGUFInLlamaCpp(t *testing.T) {
	l := findLlama(t)
	var g storiesGolden
	readJSON(t, testdata.Path(t, "models", "stories260K", "golden.json"), &g)
	for _, bits := range []string{"4bit", "8bit"} {
		t.Run(bits, func(t *testing.T) {
			dir := testdata.Path(t, "models", "stories260K-mlx-"+bits)
			ref := readLogits(t, filepath.Join(dir, "dequant_forward_logits.f32"), 512)
			// The reference logits are for the sequence prompt + golden
			// generated ids; row i predicts token i+1.
			seq := append(append([]int32{}, g.Greedy.PromptIDs...), g.Greedy.GeneratedIDs...)
			m, err := model.OpenLazy(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, typ := range []string{"f32", "f16"} {
				t.Run(typ, func(t *testing.T) {
					path := convertTo(t, m, t.TempDir(), "stories260K-mlx-"+bits, typ)
					p := g.Greedy.PromptIDs
					resp := run(t, l, path, 512, Job{Op: "greedy", IDs: p, N: 64})
					if resp.LoadError != "" {
						t.Fatalf("llama.cpp refuses the file: %s\n%v", resp.LoadError, resp.Logs)
					}
					if resp.Results[0].Error != "" {
						t.Fatal(resp.Results[0].Error)
					}
					got, err := resp.Results[0].Greedy()
					if err != nil {
						t.Fatal(err)
					}
					checked := 0
					for i, tok := range got {
						pos := len(p) - 1 + i
						if pos >= len(ref) {
							break
						}
						row := ref[pos]
						want := argmax(row)
						if tok != want {
							t.Errorf("token %d: llama.cpp %d, argmax of the dequantized reference %d (margin %.3g)", i, tok, want, margin(row))
							break
						}
						checked++
						if tok != seq[pos+1] {
							break // left the reference sequence: later rows do not apply
						}
					}
					t.Logf("llama.cpp matches the dequantized reference's argmax for %d tokens", checked)
					if checked < 8 {
						t.Errorf("only %d tokens checked against the reference", checked)
					}
				})
			}
		})
	}
}

func readLogits(t *testing.T, path string, vocab int) [][]float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) / 4 / vocab
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, vocab)
		for j := range rows[i] {
			rows[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(b[(i*vocab+j)*4:]))
		}
	}
	return rows
}

// margin is the gap between the two largest values of x.
func margin(x []float32) float64 {
	a, b := math.Inf(-1), math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if f > a {
			a, b = f, a
		} else if f > b {
			b = f
		}
	}
	return a - b
}
