package interop

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/convert"
	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/model"
)

// findLlama returns the llama.cpp runner, skipping the test when Node or the
// node modules are missing (failing under CI, where the interop stage
// installs them).
func findLlama(t testing.TB) *Llama {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Find(dir)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set: .ci/stages/interop.sh must install them)", err)
		}
		t.Skipf("skipping llama.cpp interop checks: %v", err)
	}
	return l
}

// run calls llama.cpp with one thread: on a shared, busy machine llama.cpp's
// spinning thread pool slows down by orders of magnitude with two.
func run(t *testing.T, l *Llama, path string, nctx int, jobs ...Job) *Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	resp, err := l.Run(ctx, path, 1, nctx, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// convertTo writes m as GGUF with the given --type into dir.
func convertTo(t *testing.T, m *model.Model, dir, name, typ string) string {
	t.Helper()
	out := filepath.Join(dir, name+"-"+typ+".gguf")
	if err := convert.GGUFFile(m, out, convert.Options{Type: typ, Workers: 2}); err != nil {
		t.Fatalf("convert %s to %s: %v", name, typ, err)
	}
	return out
}

// ferryGreedy decodes n tokens greedily after prompt with ferry's engine on
// the GGUF at path (the same file llama.cpp ran).
func ferryGreedy(t *testing.T, path string, prompts [][]int32, n int) [][]int32 {
	t.Helper()
	m, err := model.Open(path)
	if err != nil {
		t.Fatalf("ferry cannot open its own output %s: %v", path, err)
	}
	defer m.Close()
	e, err := engine.Load(m, engine.Options{Threads: 1, Context: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var all [][]int32
	for _, p := range prompts {
		seq := e.NewSeq()
		out, err := e.Step([]engine.SeqTokens{{Seq: seq, Tokens: p}})
		if err != nil {
			t.Fatal(err)
		}
		var got []int32
		for len(got) < n {
			tok := argmax(out[len(out)-1])
			got = append(got, tok)
			if out, err = e.Step([]engine.SeqTokens{{Seq: seq, Tokens: []int32{tok}}}); err != nil {
				t.Fatal(err)
			}
		}
		e.Free(seq)
		all = append(all, got)
	}
	return all
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

// samePrefix is the length of the common prefix of a and b.
func samePrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func equalIDs(a, b []int32) bool { return len(a) == len(b) && samePrefix(a, b) == len(a) }

// oracleGolden is the part of an oracle folder's golden.json these checks use.
type oracleGolden struct {
	Tokenization []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"tokenization"`
	Prompts []struct {
		Kind            string      `json:"kind"`
		Text            string      `json:"text"`
		Rendered        string      `json:"rendered"`
		IDs             []int32     `json:"ids"`
		LogitPositions  []int       `json:"logit_positions"`
		Logits          [][]float32 `json:"logits"`
		GreedyNewIDs    []int32     `json:"greedy_new_ids"`
		GreedyMarginMin float64     `json:"greedy_margin_min"`
	} `json:"prompts"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// report collects one line per (model, type) for the summary a test prints
// at the end, so a run says at a glance what loads and matches.
type report struct {
	mu    sync.Mutex
	lines []string
}

func (r *report) add(format string) {
	r.mu.Lock()
	r.lines = append(r.lines, format)
	r.mu.Unlock()
}

func (r *report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}
