package engine

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
)

type storiesGolden struct {
	Greedy struct {
		PromptIDs    []int32 `json:"prompt_ids"`
		GeneratedIDs []int32 `json:"generated_ids"`
		Steps        int     `json:"steps"`
	} `json:"greedy"`
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

func loadStoriesGolden(t *testing.T) (storiesGolden, []float32) {
	dir := testdata.Path(t, "models", "stories260K")
	var g storiesGolden
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g, readF32(t, filepath.Join(dir, "greedy_logits.f32"))
}

// checkStories runs the llama2.c greedy reference through the engine token
// by token (the decode path) and compares logits at every position.
func checkStories(t *testing.T, m *model.Model, opts Options, tol float64) {
	g, ref := loadStoriesGolden(t)
	const vocab = 512
	e, err := Load(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Vocab() != vocab {
		t.Fatalf("vocab %d", e.Vocab())
	}
	seq := e.NewSeq()
	toks := append(append([]int32{}, g.Greedy.PromptIDs...), g.Greedy.GeneratedIDs...)
	rows := len(ref) / vocab
	var worst float64
	for pos := 0; pos < rows; pos++ {
		out, err := e.Step([]SeqTokens{{Seq: seq, Tokens: toks[pos : pos+1]}})
		if err != nil {
			t.Fatal(err)
		}
		want := ref[pos*vocab : (pos+1)*vocab]
		for i, v := range out[0] {
			worst = math.Max(worst, math.Abs(float64(v-want[i])))
		}
		if pos+1 >= len(g.Greedy.PromptIDs) && pos+1 < len(toks) {
			if got := argmax(out[0]); got != toks[pos+1] {
				t.Fatalf("position %d: greedy token %d, reference %d", pos, got, toks[pos+1])
			}
		}
	}
	t.Logf("max |logit - reference| over %d positions: %.2e", rows, worst)
	if worst > tol {
		t.Errorf("max logit difference %.3g exceeds %.g", worst, tol)
	}
}

func TestStoriesGGUF(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	m, err := model.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkStories(t, m, Options{KVCacheType: "f32", Threads: 2}, 1e-4)
}

func fmtInt(i int) string { return strconv.Itoa(i) }
