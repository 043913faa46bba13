package sample

import (
	"math"
	"testing"
)

var logits = []float32{1, 3, 2.5, -1, 0, 2.9, 0.5, -2}

func TestGreedy(t *testing.T) {
	o := Defaults()
	o.Temperature = 0
	o.RepeatPenalty = 1
	if got := New(o).Sample(logits); got != 1 {
		t.Fatalf("greedy picked %d, want 1", got)
	}
	// top_k 1 is greedy whatever the temperature.
	o = Defaults()
	o.TopK, o.Temperature = 1, 5
	if got := New(o).Sample(logits); got != 1 {
		t.Fatalf("top_k 1 picked %d", got)
	}
}

func TestSeedReproducible(t *testing.T) {
	o := Defaults()
	o.Seed = 42
	a, b := New(o), New(o)
	for i := 0; i < 100; i++ {
		x, y := a.Sample(logits), b.Sample(logits)
		if x != y {
			t.Fatalf("draw %d: %d vs %d with the same seed", i, x, y)
		}
	}
}

// TestDistribution: with every filter off, draws follow softmax(logits/T).
func TestDistribution(t *testing.T) {
	o := Options{Temperature: 0.7, TopP: 1, TypicalP: 1, Seed: 1}
	s := New(o)
	const n = 200000
	counts := make([]int, len(logits))
	for i := 0; i < n; i++ {
		counts[s.Sample(logits)]++
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l) / 0.7)
	}
	for i, l := range logits {
		p := math.Exp(float64(l)/0.7) / z
		got := float64(counts[i]) / n
		if math.Abs(got-p) > 4*math.Sqrt(p*(1-p)/n)+1e-4 {
			t.Errorf("token %d: frequency %.4f, expected %.4f", i, got, p)
		}
	}
}

func TestFilters(t *testing.T) {
	draw := func(o Options) map[int32]bool {
		s := New(o)
		seen := map[int32]bool{}
		for i := 0; i < 5000; i++ {
			seen[s.Sample(logits)] = true
		}
		return seen
	}
	base := Options{Temperature: 1, TopP: 1, TypicalP: 1, Seed: 7}
	o := base
	o.TopK = 3
	if seen := draw(o); len(seen) != 3 || !seen[1] || !seen[5] || !seen[2] {
		t.Errorf("top_k 3 drew %v", seen)
	}
	o = base
	o.MinP = 0.5 // keeps p >= 0.5*p(max): logits within ln 2 of the max
	if seen := draw(o); len(seen) != 3 {
		t.Errorf("min_p 0.5 drew %v", seen)
	}
	o = base
	o.TopP = 0.3 // the top token alone holds ~0.33
	if seen := draw(o); len(seen) != 1 || !seen[1] {
		t.Errorf("top_p 0.3 drew %v", seen)
	}
	o = base
	o.TypicalP = 0.5
	if seen := draw(o); len(seen) == 0 || len(seen) >= len(logits) {
		t.Errorf("typical_p 0.5 drew %v", seen)
	}
}

func TestPenalties(t *testing.T) {
	o := Options{Temperature: 0, RepeatLastN: 64, RepeatPenalty: 1.5}
	s := New(o)
	s.Accept(1) // 3/1.5 = 2 < 2.9
	if got := s.Sample(logits); got != 5 {
		t.Fatalf("repeat penalty: picked %d, want 5", got)
	}
	o = Options{Temperature: 0, RepeatLastN: 2, FrequencyPenalty: 0.3}
	s = New(o)
	s.Accept(1, 1, 1) // window 2: 3 - 0.6 = 2.4 < 2.9
	if got := s.Sample(logits); got != 5 {
		t.Fatalf("frequency penalty: picked %d, want 5", got)
	}
	o = Options{Temperature: 0, RepeatLastN: 1, PresencePenalty: 0.3}
	s = New(o)
	s.Accept(1, 5) // only 5 in the window: 2.9 - 0.3 < 3
	if got := s.Sample(logits); got != 1 {
		t.Fatalf("presence penalty window: picked %d, want 1", got)
	}
}

func TestLogprobs(t *testing.T) {
	lp, top := Logprobs(logits, 2, 3, nil)
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	if want := 2.5 - math.Log(z); math.Abs(float64(lp)-want) > 1e-5 {
		t.Errorf("logprob %.6f, want %.6f", lp, want)
	}
	if len(top) != 3 || top[0].ID != 1 || top[1].ID != 5 || top[2].ID != 2 {
		t.Errorf("top: %+v", top)
	}
}

func TestStopper(t *testing.T) {
	s := NewStopper([]string{"</s>", "User:"})
	var out string
	for _, p := range []string{"Hello", " wor", "ld<", "/", "s> more"} {
		e, stop := s.Push(p)
		out += e
		if stop {
			break
		}
	}
	if out != "Hello world" {
		t.Errorf("got %q", out)
	}
	s = NewStopper([]string{"User:"})
	e1, _ := s.Push("a Us")
	e2, _ := s.Push("e")
	e3 := s.Flush()
	if e1+e2+e3 != "a Use" || e1 != "a " {
		t.Errorf("held-back text: %q %q %q", e1, e2, e3)
	}
}

func TestSampleAllocs(t *testing.T) {
	big := make([]float32, 32000)
	for i := range big {
		big[i] = float32(math.Sin(float64(i)))
	}
	s := New(Defaults())
	s.Accept(1, 2, 3)
	s.Sample(big)
	if n := testing.AllocsPerRun(20, func() { s.Sample(big) }); n > 0 {
		t.Errorf("%.0f allocations per sample", n)
	}
}
