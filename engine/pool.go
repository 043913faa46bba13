package engine

import (
	"runtime"
	"sync/atomic"
	"time"
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
//
// A decode step dispatches a few hundred small jobs back to back, so waking
// a parked goroutine for each (tens of microseconds on a busy machine) would
// cost as much as the work. Workers therefore spin briefly on a generation
// counter after each job, as llama.cpp's thread pool does, and park on a
// channel only when no job came for spinFor.
type pool struct {
	n        int
	job      job
	gen      atomic.Uint64
	pending  atomic.Int32
	sleeping []atomic.Bool
	wake     []chan struct{}
	// The caller waits for the last part the same way.
	mainSleeping atomic.Bool
	mainWake     chan struct{}
	closed       atomic.Bool
	// dispatched counts do calls (only the dispatching goroutine touches
	// it); the decode benchmark reports it per token, since each dispatch
	// is a barrier both cores wait at.
	dispatched uint64
}

const spinFor = 200 * time.Microsecond

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{n: n, sleeping: make([]atomic.Bool, n), wake: make([]chan struct{}, n), mainWake: make(chan struct{}, 1)}
	for i := 1; i < n; i++ {
		p.wake[i] = make(chan struct{}, 1)
		go p.worker(i)
	}
	return p
}

func (p *pool) worker(part int) {
	var last uint64
	for {
		g := p.await(&last, &p.sleeping[part], p.wake[part])
		if p.closed.Load() {
			return
		}
		last = g
		p.job.run(part, p.n)
		if p.pending.Add(-1) == 0 && p.mainSleeping.CompareAndSwap(true, false) {
			p.mainWake <- struct{}{}
		}
	}
}

// await spins, then parks, until the generation moves past *last (or the
// pool closes), and returns the new generation. A wake-up token can be late
// (the dispatcher saw this worker parked from an earlier sleep and sent it
// after the worker had already found and run the job), so the generation is
// checked again after every wake-up.
func (p *pool) await(last *uint64, sleeping *atomic.Bool, wake chan struct{}) uint64 {
	for {
		start := time.Time{}
		for spins := 0; ; spins++ {
			if g := p.gen.Load(); g != *last || p.closed.Load() {
				return g
			}
			if spins&63 != 63 {
				continue
			}
			runtime.Gosched()
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				break
			}
		}
		sleeping.Store(true)
		if g := p.gen.Load(); g != *last || p.closed.Load() {
			if !sleeping.CompareAndSwap(true, false) {
				<-wake // the dispatcher saw us asleep and sent a token: take it
			}
			return g
		}
		<-wake
	}
}

// do runs j on every worker and returns when all parts have finished.
func (p *pool) do(j job) {
	p.dispatched++
	if p.n == 1 {
		j.run(0, 1)
		return
	}
	p.job = j
	p.pending.Store(int32(p.n - 1))
	p.gen.Add(1)
	for i := 1; i < p.n; i++ {
		if p.sleeping[i].CompareAndSwap(true, false) {
			p.wake[i] <- struct{}{}
		}
	}
	j.run(0, p.n)
	// Wait for the other parts: spin, then park. A wake-up may come from a
	// straggler of an earlier job (it decremented pending before this job
	// began), so the count is checked again after every wake-up.
	start := time.Time{}
	for spins := 0; p.pending.Load() != 0; spins++ {
		if spins&63 != 63 {
			continue
		}
		runtime.Gosched()
		if start.IsZero() {
			start = time.Now()
			continue
		}
		if time.Since(start) <= spinFor {
			continue
		}
		p.mainSleeping.Store(true)
		if p.pending.Load() == 0 {
			if !p.mainSleeping.CompareAndSwap(true, false) {
				<-p.mainWake // a worker saw us asleep and sent a token: take it
			}
			break
		}
		<-p.mainWake
		start = time.Time{}
	}
}

func (p *pool) close() {
	if p.closed.Swap(true) {
		return
	}
	p.gen.Add(1)
	for i := 1; i < p.n; i++ {
		if p.sleeping[i].CompareAndSwap(true, false) {
			p.wake[i] <- struct{}{}
		}
	}
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
