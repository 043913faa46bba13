package registry

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
)

// checkRuns opens a pulled model through the store the way `ferry run`
// does and checks a few greedy tokens against llama2.c's reference run.
func checkRuns(t *testing.T, st *store.Store, name string) {
	t.Helper()
	var g struct {
		Greedy struct {
			PromptIDs    []int32 `json:"prompt_ids"`
			GeneratedIDs []int32 `json:"generated_ids"`
		} `json:"greedy"`
	}
	b, err := os.ReadFile(testdata.Path(t, "models", "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	path, _, err := st.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e, err := engine.Load(m, engine.Options{Threads: 1, Context: 64, KVCacheType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seq := e.NewSeq()
	toks := g.Greedy.PromptIDs
	for i := 0; i < 6; i++ {
		out, err := e.Step([]engine.SeqTokens{{Seq: seq, Tokens: toks}})
		if err != nil {
			t.Fatal(err)
		}
		row := out[len(out)-1]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if want := g.Greedy.GeneratedIDs[i]; int32(best) != want {
			t.Fatalf("greedy token %d: got %d, reference %d", i, best, want)
		}
		toks = []int32{int32(best)}
	}
}
