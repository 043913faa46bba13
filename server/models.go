package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ferryhq/ferry/store"
)

// Loaded is a model the Loader produced.
type Loaded struct {
	Backend Backend
	Size    int64 // bytes it takes (weights + KV), counted against the budget
}

// Loader loads a resolved model. numCtx is the context length wanted (0:
// the model's default) and parallel the number of sequences.
type Loader interface {
	// Estimate returns the memory a load would take, without loading.
	Estimate(m *store.Model, numCtx, parallel int) (int64, error)
	Load(m *store.Model, numCtx, parallel int) (*Loaded, error)
}

// Memory errors: ErrTooLarge when a model can never fit the budget,
// ErrNoMemory when it would fit but busy models hold the memory.
var (
	ErrTooLarge = errors.New("model does not fit in the memory budget")
	ErrNoMemory = errors.New("not enough free memory (other models are busy)")
)

// runner is a loaded model and its scheduler.
type runner struct {
	name     string
	model    *store.Model
	sched    *Scheduler
	be       Backend
	size     int64
	numCtx   int
	refs     int
	loadedAt time.Time
	lastUsed time.Time
	expires  time.Time // zero while in use; Forever-like far future for keep_alive < 0
	timer    *time.Timer
	loadDone chan struct{}
	loadErr  error
}

// Models keeps loaded models within a memory budget.
type Models struct {
	loader   Loader
	budget   int64
	sched    SchedOptions
	defKeep  time.Duration
	onChange func()
	mu       sync.Mutex
	runners  map[string]*runner
	closed   bool
}

func newModels(l Loader, budget int64, so SchedOptions, keep time.Duration) *Models {
	return &Models{loader: l, budget: budget, sched: so, defKeep: keep, runners: map[string]*runner{}}
}

// acquire returns the runner for m, loading it (and evicting idle models
// to make room) if needed. release must be called with the keep-alive to
// apply once the request is done.
func (ms *Models) acquire(ctx context.Context, m *store.Model, numCtx int) (*runner, time.Duration, error) {
	start := time.Now()
	for {
		ms.mu.Lock()
		if ms.closed {
			ms.mu.Unlock()
			return nil, 0, ErrClosed
		}
		r := ms.runners[m.Name]
		if r != nil && numCtx > 0 && r.numCtx != numCtx && r.sched != nil {
			// A different context size needs a reload, once idle.
			if r.refs == 0 {
				ms.unloadLocked(r)
				r = nil
			}
		}
		if r != nil {
			ld := r.loadDone
			ms.mu.Unlock()
			select {
			case <-ld:
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
			ms.mu.Lock()
			if r.loadErr != nil {
				err := r.loadErr
				ms.mu.Unlock()
				return nil, 0, err
			}
			if ms.runners[m.Name] != r {
				ms.mu.Unlock()
				continue // unloaded meanwhile
			}
			r.refs++
			r.lastUsed = time.Now()
			if r.timer != nil {
				r.timer.Stop()
				r.timer = nil
			}
			ms.mu.Unlock()
			return r, 0, nil
		}
		// Load: estimate, make room, then load outside the lock.
		need, err := ms.loader.Estimate(m, numCtx, ms.sched.Parallel)
		if err != nil {
			ms.mu.Unlock()
			return nil, 0, err
		}
		if err := ms.makeRoomLocked(need); err != nil {
			ms.mu.Unlock()
			return nil, 0, fmt.Errorf("%w to load %s: needs %s, budget %s (%s in use by models that are busy)", err, m.Name, human(need), human(ms.budget), human(ms.usedLocked()))
		}
		r = &runner{name: m.Name, model: m, size: need, numCtx: numCtx, loadDone: make(chan struct{}), refs: 1}
		ms.runners[m.Name] = r
		ms.mu.Unlock()
		l, err := ms.loader.Load(m, numCtx, ms.sched.Parallel)
		ms.mu.Lock()
		if err != nil {
			r.loadErr = err
			delete(ms.runners, m.Name)
			close(r.loadDone)
			ms.mu.Unlock()
			return nil, 0, err
		}
		r.be = l.Backend
		if l.Size > 0 {
			r.size = l.Size
		}
		r.numCtx = l.Backend.ContextLength()
		r.sched = NewScheduler(l.Backend, ms.sched)
		r.loadedAt = time.Now()
		r.lastUsed = r.loadedAt
		close(r.loadDone)
		ms.mu.Unlock()
		if ms.onChange != nil {
			ms.onChange()
		}
		return r, time.Since(start), nil
	}
}

// release ends one use of r; keep is the keep_alive (nil: the default).
func (ms *Models) release(r *runner, keep *time.Duration) {
	k := ms.defKeep
	if keep != nil {
		k = *keep
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	r.refs--
	r.lastUsed = time.Now()
	if r.refs > 0 {
		return
	}
	ms.setKeepLocked(r, k)
}

func (ms *Models) setKeepLocked(r *runner, k time.Duration) {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	switch {
	case k == 0:
		ms.unloadLocked(r)
	case k < 0 || k > 100*365*24*time.Hour:
		r.expires = time.Now().AddDate(100, 0, 0)
	default:
		r.expires = time.Now().Add(k)
		r.timer = time.AfterFunc(k, func() {
			ms.mu.Lock()
			defer ms.mu.Unlock()
			if ms.runners[r.name] == r && r.refs == 0 && !time.Now().Before(r.expires) {
				ms.unloadLocked(r)
			}
		})
	}
}

// unloadLocked removes r; its scheduler and backend close in the
// background once any in-flight work is cancelled.
func (ms *Models) unloadLocked(r *runner) {
	if ms.runners[r.name] != r {
		return
	}
	delete(ms.runners, r.name)
	if r.timer != nil {
		r.timer.Stop()
	}
	sched, be := r.sched, r.be
	if sched != nil {
		sched.Close()
	}
	if be != nil {
		be.Close()
	}
}

// Unload unloads a model by name now (ferry stop, keep_alive 0). Busy
// models are unloaded when their requests finish.
func (ms *Models) Unload(name string) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	r := ms.runners[name]
	if r == nil || r.sched == nil {
		return false
	}
	if r.refs > 0 {
		r.expires = time.Now()
		r.refs++ // release below drops it and applies keep 0
		go ms.release(r, new(time.Duration))
		return true
	}
	ms.unloadLocked(r)
	return true
}

func (ms *Models) usedLocked() int64 {
	var n int64
	for _, r := range ms.runners {
		n += r.size
	}
	return n
}

// makeRoomLocked evicts idle models, least recently used first, until
// need fits the budget.
func (ms *Models) makeRoomLocked(need int64) error {
	if ms.budget <= 0 {
		return nil
	}
	if need > ms.budget {
		return ErrTooLarge
	}
	for ms.usedLocked()+need > ms.budget {
		var idle []*runner
		for _, r := range ms.runners {
			if r.refs == 0 && r.sched != nil {
				idle = append(idle, r)
			}
		}
		if len(idle) == 0 {
			return ErrNoMemory
		}
		sort.Slice(idle, func(i, j int) bool { return idle[i].lastUsed.Before(idle[j].lastUsed) })
		ms.unloadLocked(idle[0])
	}
	return nil
}

// snapshot lists the loaded models.
func (ms *Models) snapshot() []*runner {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []*runner
	for _, r := range ms.runners {
		if r.sched != nil {
			c := *r
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// closeAll unloads everything (shutdown).
func (ms *Models) closeAll() {
	ms.mu.Lock()
	ms.closed = true
	rs := make([]*runner, 0, len(ms.runners))
	for _, r := range ms.runners {
		rs = append(rs, r)
	}
	ms.mu.Unlock()
	for _, r := range rs {
		<-r.loadDone
		ms.mu.Lock()
		ms.unloadLocked(r)
		ms.mu.Unlock()
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
