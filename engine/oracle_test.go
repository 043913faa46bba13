package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
)

var oracleModels = []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "mixtral", "qwen3moe"}

type oracleGolden struct {
	Prompts []struct {
		Kind           string      `json:"kind"`
		IDs            []int32     `json:"ids"`
		LogitPositions []int       `json:"logit_positions"`
		Logits         [][]float32 `json:"logits"`
		GreedyNewIDs   []int32     `json:"greedy_new_ids"`
	} `json:"prompts"`
}

func loadOracle(t *testing.T, name string) (string, oracleGolden) {
	dir := testdata.Path(t, "oracle", name)
	var g oracleGolden
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return dir, g
}

// oracleResult summarises a model's agreement with the reference.
type oracleResult struct {
	maxDiff   float64 // max |logit - reference|
	top1      int     // positions whose argmax matches
	positions int
	kl        float64 // mean KL(reference || ours) over positions
	greedyOK  bool
	greedyBad string
}

// runOracle evaluates m against the golden prompts: logits at the reference
// positions from one batched prompt pass (chunked by a small batch size to
// exercise chunking), then greedy decoding token by token through the cache.
func runOracle(t *testing.T, m *model.Model, g oracleGolden, opts Options, hook func(*Engine)) oracleResult {
	t.Helper()
	e, err := Load(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if hook != nil {
		hook(e)
	}
	var r oracleResult
	r.greedyOK = true
	for pi, p := range g.Prompts {
		seq := e.NewSeq()
		out, err := e.Step([]SeqTokens{{Seq: seq, Tokens: p.IDs, AllLogits: true}})
		if err != nil {
			t.Fatal(err)
		}
		for k, pos := range p.LogitPositions {
			got, want := out[pos], p.Logits[k]
			if len(got) != len(want) {
				t.Fatalf("prompt %d: %d logits, reference has %d", pi, len(got), len(want))
			}
			for i := range want {
				r.maxDiff = math.Max(r.maxDiff, math.Abs(float64(got[i]-want[i])))
			}
			if argmax(got) == argmax(want) {
				r.top1++
			}
			r.positions++
			r.kl += klDiv(want, got)
		}
		last := out[len(out)-1]
		for i, want := range p.GreedyNewIDs {
			tok := argmax(last)
			if tok != want && r.greedyOK {
				r.greedyOK = false
				r.greedyBad = "prompt " + p.Kind + ": token " + itoa(i) + " is " + itoa(int(tok)) + ", reference " + itoa(int(want))
			}
			o, err := e.Step([]SeqTokens{{Seq: seq, Tokens: []int32{want}}})
			if err != nil {
				t.Fatal(err)
			}
			last = o[0]
		}
		e.Free(seq)
	}
	r.kl /= float64(r.positions)
	return r
}

func itoa(i int) string { return fmtInt(i) }

func klDiv(ref, got []float32) float64 {
	p := logSoftmax(ref)
	q := logSoftmax(got)
	var kl float64
	for i := range p {
		kl += math.Exp(p[i]) * (p[i] - q[i])
	}
	return kl
}

func logSoftmax(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	ls := math.Log(s) + m
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - ls
	}
	return out
}

func TestOracleHF(t *testing.T) {
	for _, name := range oracleModels {
		t.Run(name, func(t *testing.T) {
			dir, g := loadOracle(t, name)
			m, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// F32 cache for the 1e-3 logits check, batch 16 to exercise chunking.
			r := runOracle(t, m, g, Options{KVCacheType: "f32", BatchSize: 16, Threads: 2}, refQuirks(name))
			t.Logf("f32 cache: max |Δlogit| %.2e, top-1 %d/%d, KL %.2e", r.maxDiff, r.top1, r.positions, r.kl)
			if r.maxDiff > 1e-3 {
				t.Errorf("max logit difference %.3g > 1e-3", r.maxDiff)
			}
			if !r.greedyOK {
				t.Errorf("greedy continuation differs: %s", r.greedyBad)
			}
			// Default F16 cache: the greedy path must still match.
			r = runOracle(t, m, g, Options{Threads: 2}, nil)
			t.Logf("f16 cache: max |Δlogit| %.2e, top-1 %d/%d, KL %.2e", r.maxDiff, r.top1, r.positions, r.kl)
			if !r.greedyOK {
				t.Errorf("f16 cache: greedy continuation differs: %s", r.greedyBad)
			}
			if r.maxDiff > 2e-2 {
				t.Errorf("f16 cache: max logit difference %.3g > 2e-2", r.maxDiff)
			}
		})
	}
}

// refQuirks adapts the engine to how the reference was computed. HF
// transformers' default (SDPA) attention skips Gemma 2's attention-logit
// soft-capping, which the model defines and llama.cpp applies; the engine
// applies it too (the F16 pass checks that it stays within 2e-2 and
// reproduces the greedy ids), so the exact 1e-3 comparison turns it off.
func refQuirks(name string) func(*Engine) {
	if name == "gemma2" {
		return func(e *Engine) { e.cfg.AttnSoftcap = 0 }
	}
	return nil
}

// TestMixtralPerExpertTensors: older Mixtral GGUFs store experts as
// separate blk.N.ffn_{gate,up,down}.E.weight tensors.
func TestMixtralPerExpertTensors(t *testing.T) {
	dir, g := loadOracle(t, "mixtral")
	src, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := &model.Model{Path: "per-expert", Metadata: src.Metadata, RopeNeoX: src.RopeNeoX}
	split := 0
	for _, tn := range src.Tensors {
		var kind string
		for _, k := range []string{"gate", "up", "down"} {
			if strings.HasSuffix(tn.Name, ".ffn_"+k+"_exps.weight") {
				kind = k
			}
		}
		if kind == "" {
			m.AddTensor(tn)
			continue
		}
		prefix := strings.TrimSuffix(tn.Name, "ffn_"+kind+"_exps.weight")
		ne := int(tn.Shape[2])
		per := len(tn.Data) / ne
		for x := 0; x < ne; x++ {
			m.AddTensor(&model.Tensor{Name: fmt.Sprintf("%sffn_%s.%d.weight", prefix, kind, x), Type: tn.Type, Shape: tn.Shape[:2], Data: tn.Data[x*per : (x+1)*per]})
		}
		split++
	}
	if split == 0 {
		t.Fatal("no expert tensors found")
	}
	r := runOracle(t, m, g, Options{Threads: 2, KVCacheType: "f32"}, nil)
	if r.maxDiff > 1e-3 || !r.greedyOK {
		t.Errorf("per-expert tensors: max |Δlogit| %.3g, greedy %v %s", r.maxDiff, r.greedyOK, r.greedyBad)
	}
}
