package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/store"
)

// forkCounter wraps the engine backend to count prefix forks.
type forkCounter struct {
	*engineBackend
	mu    sync.Mutex
	forks []int // forked lengths
}

func (f *forkCounter) Fork(src Seq, n int) (Seq, error) {
	f.mu.Lock()
	f.forks = append(f.forks, n)
	f.mu.Unlock()
	return f.engineBackend.Fork(src, n)
}

func (f *forkCounter) forked() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.forks...)
}

// storiesBackend loads stories260K with the real engine for parallel
// sequences.
func storiesBackend(t *testing.T, parallel int) *forkCounter {
	t.Helper()
	path := filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf")
	l := &EngineLoader{Threads: 1, MaxContext: 512}
	ld, err := l.Load(&store.Model{Path: path, Format: "gguf"}, 0, parallel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Backend.Close() })
	return &forkCounter{engineBackend: ld.Backend.(*engineBackend)}
}

// A long shared "system prompt" (about 90 tokens: it spans several KV
// pages and ends inside one).
const sharedSystem = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
	"One day, she saw a big red ball under a tree. She ran to get it, but a small dog took it first. Lily was sad, but then she had an idea."

func tokens(t *testing.T, b Backend, text string) []int32 {
	t.Helper()
	ids, err := b.Tokenize(text, true)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// coldRun generates prompt greedily on a freshly loaded model.
func coldRun(t *testing.T, prompt []int32, n int) string {
	t.Helper()
	s := NewScheduler(storiesBackend(t, 1), SchedOptions{Parallel: 1})
	defer s.Close()
	out, res := collect(t, s, context.Background(), prompt, n)
	if res.PromptEvalCount != len(prompt) {
		t.Fatalf("cold run evaluated %d of %d prompt tokens", res.PromptEvalCount, len(prompt))
	}
	return out
}

func TestEnginePrefixSharedAcrossSlotsWhileGenerating(t *testing.T) {
	be := storiesBackend(t, 2)
	var mu sync.Mutex
	maxSeqs := 0
	s := NewScheduler(be, SchedOptions{Parallel: 2, OnStep: func(seqs, _ int, _ time.Duration) {
		mu.Lock()
		maxSeqs = max(maxSeqs, seqs)
		mu.Unlock()
	}})
	defer s.Close()
	p1 := tokens(t, be, sharedSystem+" She asked her mom for help.")
	p2 := tokens(t, be, sharedSystem+" The dog was happy and wagged its tail.")
	shared := commonPrefix(p1, p2)
	if shared < 64 {
		t.Fatalf("prompts share only %d tokens", shared)
	}
	ctx := context.Background()
	var out1, out2 strings.Builder
	var r1, r2 *Result
	var wg sync.WaitGroup
	started := false
	var err1, err2 error
	r1, err1 = s.Generate(ctx, Request{Prompt: p1, NumPredict: 200, Sample: greedy()}, func(c Chunk) error {
		out1.WriteString(c.Text)
		if !started {
			// The second client arrives while the first is generating:
			// slot 0 is busy, so it runs in slot 1.
			started = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				r2, err2 = s.Generate(ctx, Request{Prompt: p2, NumPredict: 40, Sample: greedy()}, func(c Chunk) error {
					out2.WriteString(c.Text)
					return nil
				})
			}()
		}
		return nil
	})
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if maxSeqs != 2 {
		t.Fatalf("the two requests never shared a step (largest step %d sequences)", maxSeqs)
	}
	if f := be.forked(); len(f) != 1 || f[0] != shared {
		t.Fatalf("forks %v, want one of the %d shared tokens", f, shared)
	}
	if r1.PromptEvalCount != len(p1) {
		t.Fatalf("first client evaluated %d of %d prompt tokens", r1.PromptEvalCount, len(p1))
	}
	if want := len(p2) - shared; r2.PromptEvalCount != want {
		t.Fatalf("second client evaluated %d prompt tokens, want only its %d new ones (prompt %d)", r2.PromptEvalCount, want, len(p2))
	}
	// Both outputs equal cold runs: the fork neither corrupted the donor
	// (still writing into a shared page) nor the new sequence.
	if c := coldRun(t, p1, 200); out1.String() != c {
		t.Fatalf("donor output after the fork:\n%q\ncold run:\n%q", out1.String(), c)
	}
	if c := coldRun(t, p2, 40); out2.String() != c {
		t.Fatalf("forked output:\n%q\ncold run:\n%q", out2.String(), c)
	}
}

func TestEnginePrefixForkKeepsIdleChatCache(t *testing.T) {
	be := storiesBackend(t, 3)
	s := NewScheduler(be, SchedOptions{Parallel: 3})
	defer s.Close()
	ctx := context.Background()
	// Chat A, turn 1.
	pa := tokens(t, be, sharedSystem+" Q: What did Lily do? A:")
	outA, _ := collect(t, s, ctx, pa, 20)
	// Two other users with the same system prompt, one after the other.
	// Without forking the first would take over chat A's slot (the longest
	// shared prefix) and truncate it.
	pb := tokens(t, be, sharedSystem+" Q: Where was the ball? A:")
	outB, rb := collect(t, s, ctx, pb, 20)
	pc := tokens(t, be, sharedSystem+" Q: Who took the ball? A:")
	_, rc := collect(t, s, ctx, pc, 20)
	if want := len(pb) - commonPrefix(pa, pb); rb.PromptEvalCount != want {
		t.Fatalf("user B evaluated %d prompt tokens, want %d", rb.PromptEvalCount, want)
	}
	if want := len(pc) - max(commonPrefix(pa, pc), commonPrefix(pb, pc)); rc.PromptEvalCount != want {
		t.Fatalf("user C evaluated %d prompt tokens, want %d", rc.PromptEvalCount, want)
	}
	if n := len(be.forked()); n != 2 {
		t.Fatalf("%d forks, want 2 (B and C each from a slot holding the system prompt)", n)
	}
	// Chat A, turn 2: its whole first turn is still cached.
	text2 := sharedSystem + " Q: What did Lily do? A:" + outA + " Q: And then? A:"
	pa2 := tokens(t, be, text2)
	outA2, ra2 := collect(t, s, ctx, pa2, 20)
	if ra2.PromptEvalCount > len(pa2)-len(pa) {
		t.Fatalf("chat A's second turn evaluated %d of %d prompt tokens: its first turn's cache was lost", ra2.PromptEvalCount, len(pa2))
	}
	if c := coldRun(t, pa2, 20); outA2 != c {
		t.Fatalf("turn 2 output %q, cold run %q", outA2, c)
	}
	if c := coldRun(t, pb, 20); outB != c {
		t.Fatalf("user B output %q, cold run %q", outB, c)
	}
}

func TestEnginePrefixSimultaneousClientsEvaluateSharedPromptOnce(t *testing.T) {
	be := storiesBackend(t, 3)
	p1 := tokens(t, be, sharedSystem+" She asked her mom for help.")
	p2 := tokens(t, be, sharedSystem+" The dog was happy and wagged its tail.")
	p3 := tokens(t, be, sharedSystem+" A bird sang in the tree.")
	shared := commonPrefix(p1, p2)
	if commonPrefix(p1, p3) != shared || commonPrefix(p2, p3) != shared || shared < 64 {
		t.Fatalf("the prompts should share exactly the system prompt")
	}
	var s *Scheduler
	queued := make(chan struct{})
	var once sync.Once
	// Small prompt batches: the first prompt takes several steps. After
	// the first step the two other clients arrive; the step waits until
	// both are queued, so they are admitted while the first prompt is
	// still being evaluated.
	s = NewScheduler(be, SchedOptions{Parallel: 3, NumBatch: 16, OnStep: func(int, int, time.Duration) {
		once.Do(func() {
			close(queued)
			for {
				if _, q := s.Busy(); q == 2 {
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}})
	defer s.Close()
	ctx := context.Background()
	outs := make([]string, 3)
	results := make([]*Result, 3)
	var wg sync.WaitGroup
	for i, p := range [][]int32{p1, p2, p3} {
		if i > 0 {
			<-queued
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sb strings.Builder
			res, err := s.Generate(ctx, Request{Prompt: p, NumPredict: 20, Sample: greedy()}, func(c Chunk) error {
				sb.WriteString(c.Text)
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			outs[i], results[i] = sb.String(), res
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if results[0].PromptEvalCount != len(p1) {
		t.Fatalf("first client evaluated %d of %d", results[0].PromptEvalCount, len(p1))
	}
	for i, p := range [][]int32{p2, p3} {
		if r := results[i+1]; r.PromptEvalCount != len(p)-shared {
			t.Fatalf("client %d evaluated %d prompt tokens, want only its %d new ones: the shared prompt was evaluated twice", i+2, r.PromptEvalCount, len(p)-shared)
		}
	}
	for i, p := range [][]int32{p1, p2, p3} {
		if c := coldRun(t, p, 20); outs[i] != c {
			t.Fatalf("client %d: %q, cold run %q", i+1, outs[i], c)
		}
	}
}

// TestEngineAllSlotsFillAnOddContext: with a context that is not a whole
// number of KV pages, every slot can still run to the end of its context
// at once (the cache holds whole pages per slot).
func TestEngineAllSlotsFillAnOddContext(t *testing.T) {
	path := filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf")
	ld, err := (&EngineLoader{Threads: 1}).Load(&store.Model{Path: path, Format: "gguf"}, 100, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Backend.Close()
	s := NewScheduler(ld.Backend, SchedOptions{Parallel: 4})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := tokens(t, ld.Backend, fmt.Sprintf("Once upon a time, there was a little girl named Lily. She had %d cats.", i+2))
			o := greedy()
			o.Temperature = 1 // sampled: the sequences diverge
			o.Seed = int64(i)
			res, err := s.Generate(context.Background(), Request{Prompt: p, NumPredict: -1, Sample: o}, func(Chunk) error { return nil })
			if err != nil {
				t.Error(err)
				return
			}
			if res.DoneReason == "length" && len(res.Tokens) != 100 {
				t.Errorf("client %d stopped at %d tokens", i, len(res.Tokens))
			}
		}()
	}
	wg.Wait()
}
