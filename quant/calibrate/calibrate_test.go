package calibrate

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
)

func storiesRef(t *testing.T) ([]int32, []float32) {
	dir := testdata.Path(t, "models", "stories260K")
	var golden struct {
		Greedy struct {
			PromptIDs    []int32 `json:"prompt_ids"`
			GeneratedIDs []int32 `json:"generated_ids"`
		} `json:"greedy"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	lb, err := os.ReadFile(filepath.Join(dir, "greedy_logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, len(lb)/4)
	for i := range ref {
		ref[i] = math.Float32frombits(binary.LittleEndian.Uint32(lb[4*i:]))
	}
	ids := append(append([]int32{}, golden.Greedy.PromptIDs...), golden.Greedy.GeneratedIDs...)
	return ids[:len(ref)/512], ref
}

// TestForwardMatchesReference: the calibration forward pass reproduces
// llama2.c's logits for stories260K, from the GGUF (interleaved RoPE) and
// from the HF folder (rotate-half RoPE), so the activations it records are
// the model's.
func TestForwardMatchesReference(t *testing.T) {
	ids, ref := storiesRef(t)
	for _, p := range [][]string{{"models", "stories260K", "stories260K.gguf"}, {"models", "stories260K-hf"}} {
		m, err := model.Open(testdata.Path(t, p...))
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(m, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		var maxd float64
		for i := range ref {
			maxd = math.Max(maxd, math.Abs(float64(got[i]-ref[i])))
		}
		t.Logf("%s: max |logit - reference| = %.2g", p[len(p)-1], maxd)
		if maxd > 2e-3 {
			t.Errorf("%s: logits differ from the reference by up to %g", p[len(p)-1], maxd)
		}
		m.Close()
	}
}

func TestRunCollects(t *testing.T) {
	ids, _ := storiesRef(t)
	m, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := New(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Run(ids, 1, Options{Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	if d.ChunkCount != len(ids)/64 || d.ChunkSize != 64 {
		t.Errorf("chunks %d of %d", d.ChunkCount, d.ChunkSize)
	}
	// 7 matrices per block × 5 blocks, each counting every token.
	if len(d.Entries) != 35 {
		t.Errorf("%d entries", len(d.Entries))
	}
	e := d.Entries["blk.2.ffn_down.weight"]
	if e == nil || len(e.Sums) != 172 || e.Counts[0] != float32(64*d.ChunkCount) {
		t.Fatalf("ffn_down entry %+v", e)
	}
	for _, v := range e.Sums {
		if !(v > 0) {
			t.Fatal("non-positive sum of squares")
		}
	}
	if _, err := r.Run(ids[:10], 1, Options{Context: 64}); err == nil {
		t.Error("text shorter than a chunk accepted")
	}
}

// TestForwardOracles checks the forward pass on the oracle models it
// supports (GQA, llama3 rope scaling, qwen2 q/k/v biases) against HF's
// logits.
func TestForwardOracles(t *testing.T) {
	for _, name := range []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "mixtral", "qwen3moe"} {
		dir := testdata.Path(t, "oracle", name)
		var golden struct {
			Prompts []struct {
				IDs            []int32     `json:"ids"`
				LogitPositions []int       `json:"logit_positions"`
				Logits         [][]float32 `json:"logits"`
			} `json:"prompts"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatal(err)
		}
		m, err := model.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(m, 2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var maxd float64
		for _, p := range golden.Prompts {
			got, err := r.Forward(p.IDs)
			if err != nil {
				t.Fatal(err)
			}
			for j, pos := range p.LogitPositions {
				for i, want := range p.Logits[j] {
					maxd = math.Max(maxd, math.Abs(float64(got[pos*r.vocab+i]-want)))
				}
			}
		}
		t.Logf("%s: max |logit - HF| = %.2g", name, maxd)
		if maxd > 1e-3 {
			t.Errorf("%s: logits differ from HF by up to %g", name, maxd)
		}
		m.Close()
	}
}

// TestRunCollectsExperts: for MoE models each expert matrix counts the
// tokens routed to it, expert_used_count per token in total.
func TestRunCollectsExperts(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "oracle", "qwen3moe"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := New(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, 96)
	for i := range ids {
		ids[i] = int32(i*37%400 + 1)
	}
	d, err := r.Run(ids, -1, Options{Context: 32})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"blk.1.ffn_gate_exps.weight", "blk.1.ffn_up_exps.weight", "blk.1.ffn_down_exps.weight"} {
		e := d.Entries[name]
		if e == nil || len(e.Counts) != 8 {
			t.Fatalf("%s: %+v", name, e)
		}
		var total float32
		for _, c := range e.Counts {
			total += c
		}
		if total != 2*96 {
			t.Errorf("%s: %v tokens routed, want %d", name, total, 2*96)
		}
	}
	if e := d.Entries["blk.0.ffn_gate_inp.weight"]; e == nil || e.Counts[0] != 96 {
		t.Errorf("router entry %+v", e)
	}
}
