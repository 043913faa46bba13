package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func greedy() SampleOptions {
	o := DefaultSampleOptions()
	o.Temperature = 0
	o.RepeatPenalty = 1
	return o
}

func collect(t *testing.T, s *Scheduler, ctx context.Context, prompt []int32, n int, stop ...string) (string, *Result) {
	t.Helper()
	var sb strings.Builder
	res, err := s.Generate(ctx, Request{Prompt: prompt, NumPredict: n, Sample: greedy(), Stop: stop}, func(c Chunk) error {
		sb.WriteString(c.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String(), res
}

func TestSchedulerPrefixCacheEvaluatesOnlyNewTokens(t *testing.T) {
	b := newFake()
	s := NewScheduler(b, SchedOptions{Parallel: 2})
	defer s.Close()
	p1, _ := b.Tokenize("<user>hi<assistant>", true)
	out1, r1 := collect(t, s, context.Background(), p1, 10)
	if r1.PromptEvalCount != len(p1) {
		t.Fatalf("first turn evaluated %d tokens, want %d", r1.PromptEvalCount, len(p1))
	}
	// Second turn: the whole conversation again plus a new user message.
	p2, _ := b.Tokenize("<user>hi<assistant>"+out1+"<user>more<assistant>", true)
	out2, r2 := collect(t, s, context.Background(), p2, 10)
	shared := len(p1) + 10 - 1 // the last generated token never entered the KV
	if want := len(p2) - shared; r2.PromptEvalCount != want {
		t.Fatalf("second turn evaluated %d tokens, want only the %d new ones (prompt %d)", r2.PromptEvalCount, want, len(p2))
	}
	// The cached result must equal a fresh evaluation.
	fresh := NewScheduler(newFake(), SchedOptions{Parallel: 1})
	defer fresh.Close()
	want, _ := collect(t, fresh, context.Background(), p2, 10)
	if out2 != want {
		t.Fatalf("prefix-cached output %q differs from fresh output %q", out2, want)
	}
}

func TestSchedulerBatchesConcurrentRequests(t *testing.T) {
	b := newFake()
	b.delay = 2 * time.Millisecond
	s := NewScheduler(b, SchedOptions{Parallel: 4})
	defer s.Close()
	var wg sync.WaitGroup
	outs := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := b.Tokenize("prompt", true)
			outs[i], _ = collect(t, s, context.Background(), p, 40)
		}()
	}
	wg.Wait()
	if mb := b.maxBatch(); mb < 4 {
		t.Fatalf("largest step served %d sequences, want all 4 concurrent requests in one step", mb)
	}
	// 4 x 40 tokens decoded in far fewer than 160 steps.
	if n := len(b.steps); n > 80 {
		t.Fatalf("%d steps for 4x40 tokens: requests are not sharing steps", n)
	}
	for i := 1; i < 4; i++ {
		if outs[i] != outs[0] {
			t.Fatalf("same greedy prompt gave different outputs in a batch: %q vs %q", outs[i], outs[0])
		}
	}
}

func TestSchedulerCancelFreesSlot(t *testing.T) {
	b := newFake()
	b.ctxLen = 100000
	b.delay = time.Millisecond
	s := NewScheduler(b, SchedOptions{Parallel: 1, QueueSize: 4})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		p, _ := b.Tokenize("forever", true)
		_, err := s.Generate(ctx, Request{Prompt: p, NumPredict: -1, Sample: greedy()}, func(Chunk) error {
			select {
			case got <- struct{}{}:
			default:
			}
			return nil
		})
		errc <- err
	}()
	<-got
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled generation returned %v", err)
	}
	if running, _ := s.Busy(); running != 0 {
		t.Fatalf("slot still held after the client went away: %d running", running)
	}
	// The single slot serves the next request at once.
	p, _ := b.Tokenize("next", true)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if out, _ := collect(t, s, ctx2, p, 5); len(out) != 5 {
		t.Fatalf("next request got %q", out)
	}
}

func TestSchedulerQueueFull(t *testing.T) {
	b := newFake()
	b.ctxLen = 100000
	b.delay = time.Millisecond
	s := NewScheduler(b, SchedOptions{Parallel: 1, QueueSize: 1})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := b.Tokenize("x", true)
			s.Generate(ctx, Request{Prompt: p, NumPredict: -1, Sample: greedy()}, func(Chunk) error {
				select {
				case started <- struct{}{}:
				default:
				}
				return nil
			})
		}()
	}
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, q := s.Busy(); r == 1 && q == 1 {
			break
		}
		if time.Now().After(deadline) {
			r, q := s.Busy()
			t.Fatalf("second request never queued: %d running %d queued", r, q)
		}
		time.Sleep(time.Millisecond)
	}
	p, _ := b.Tokenize("y", true)
	_, err := s.Generate(context.Background(), Request{Prompt: p, NumPredict: 1, Sample: greedy()}, func(Chunk) error { return nil })
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third request: got %v, want ErrQueueFull", err)
	}
	cancel()
	wg.Wait()
}

func TestSchedulerStopStringsAndLength(t *testing.T) {
	b := newFake()
	s := NewScheduler(b, SchedOptions{})
	defer s.Close()
	p, _ := b.Tokenize("abc", true)
	full, res := collect(t, s, context.Background(), p, 30)
	if res.DoneReason != "length" || res.EvalCount != 30 || len(full) != 30 {
		t.Fatalf("num_predict 30: %q %+v", full, res)
	}
	// Stop at a substring that occurs in the output: text before it only.
	stop := full[10:13]
	out, res := collect(t, s, context.Background(), p, 30, stop)
	want := full[:strings.Index(full, stop)]
	if out != want || res.DoneReason != "stop" {
		t.Fatalf("stop %q: got %q (%s), want %q", stop, out, res.DoneReason, want)
	}
}

func TestSchedulerEOGAndForwardError(t *testing.T) {
	b := newFake()
	b.eosAt = 12
	s := NewScheduler(b, SchedOptions{})
	defer s.Close()
	p, _ := b.Tokenize("abcd", true)
	out, res := collect(t, s, context.Background(), p, 100)
	if res.DoneReason != "stop" || len(out) != 12-len(p) {
		t.Fatalf("EOS: %q %+v", out, res)
	}
	b.mu.Lock()
	b.failNow = true
	b.mu.Unlock()
	_, err := s.Generate(context.Background(), Request{Prompt: p, NumPredict: 5, Sample: greedy()}, func(Chunk) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("forward error not reported: %v", err)
	}
	if r, _ := s.Busy(); r != 0 {
		t.Fatal("slot leaked after a forward error")
	}
}

func TestSchedulerCancelWhileQueued(t *testing.T) {
	b := newFake()
	b.ctxLen = 100000
	b.delay = time.Millisecond
	s := NewScheduler(b, SchedOptions{Parallel: 1, QueueSize: 2})
	defer s.Close()
	busy, stop := context.WithCancel(context.Background())
	defer stop()
	started := make(chan struct{}, 1)
	go func() {
		p, _ := b.Tokenize("long", true)
		s.Generate(busy, Request{Prompt: p, NumPredict: -1, Sample: greedy()}, func(Chunk) error {
			select {
			case started <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		p, _ := b.Tokenize("waiting", true)
		_, err := s.Generate(ctx, Request{Prompt: p, NumPredict: 5, Sample: greedy()}, func(Chunk) error { return nil })
		errc <- err
	}()
	for {
		if _, q := s.Busy(); q == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a queued request whose client left waited for a slot")
	}
	if _, q := s.Busy(); q != 0 {
		t.Fatalf("cancelled request still queued: %d", q)
	}
}
