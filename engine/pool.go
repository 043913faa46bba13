package engine

import (
	"runtime"
	"sync"
)

// job is one parallel operation. The pool calls run(part, parts) once per
// worker; each part picks its own share of the work. Jobs are long-lived
// structs owned by the engine (not closures), so dispatching one allocates
// nothing.
type job interface {
	run(part, parts int)
}

// pool is a fixed set of worker goroutines started once at Load. The calling
// goroutine takes part 0 itself, so a pool of one thread runs inline.
type pool struct {
	n     int
	start []chan job
	done  chan struct{}
	once  sync.Once
}

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{n: n, done: make(chan struct{}, n)}
	p.start = make([]chan job, n)
	for i := 1; i < n; i++ {
		ch := make(chan job, 1)
		p.start[i] = ch
		go func(part int) {
			for j := range ch {
				j.run(part, p.n)
				p.done <- struct{}{}
			}
		}(i)
	}
	return p
}

// do runs j on every worker and returns when all parts have finished.
func (p *pool) do(j job) {
	for i := 1; i < p.n; i++ {
		p.start[i] <- j
	}
	j.run(0, p.n)
	for i := 1; i < p.n; i++ {
		<-p.done
	}
}

func (p *pool) close() {
	p.once.Do(func() {
		for i := 1; i < p.n; i++ {
			close(p.start[i])
		}
	})
}

// split returns part's share [lo, hi) of n items, in whole multiples of
// grain (except the last share) so workers don't split cache lines or blocks.
func split(n, part, parts, grain int) (lo, hi int) {
	if grain < 1 {
		grain = 1
	}
	units := (n + grain - 1) / grain
	lo = units * part / parts * grain
	hi = units * (part + 1) / parts * grain
	if lo > n {
		lo = n
	}
	if hi > n {
		hi = n
	}
	return lo, hi
}

// physicalCores is the default thread count: physical cores (hyper-threads
// share one core's execution units and bring nothing to these
// memory-bound loops), capped by GOMAXPROCS (which follows cgroup limits).
func physicalCores() int {
	n := runtime.GOMAXPROCS(0)
	if p := physicalCoreCount(); p > 0 && p < n {
		n = p
	}
	return max(n, 1)
}
