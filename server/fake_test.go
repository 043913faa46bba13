package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/store"
)

// fakeBackend is a deterministic byte-level model: token b (0..255) is the
// byte b, 256 is BOS, 257 is EOS. The next token depends on everything in
// the sequence's KV (the sum of its tokens), so a wrong prefix-cache reuse
// changes the output. It records every batched step.
type fakeBackend struct {
	ctxLen  int
	script  string // bytes the model cycles through
	reply   string // if set: answer exactly this after "<assistant>", then EOS
	eosAt   int    // emit EOS after this many generated tokens in a seq (0: never)
	delay   time.Duration
	mu      sync.Mutex
	steps   []int // sequences per step
	fed     int   // tokens fed in total
	seqs    int   // live sequences
	closed  bool
	failNow bool
}

const fakeBOS, fakeEOS = 256, 257

func newFake() *fakeBackend {
	return &fakeBackend{ctxLen: 256, script: "hello world, this is ferry. "}
}

type fakeSeq struct {
	b      *fakeBackend
	tokens []int32
	freed  bool
}

func (s *fakeSeq) Len() int { return len(s.tokens) }
func (s *fakeSeq) Truncate(n int) error {
	if n > len(s.tokens) {
		return errors.New("truncate past end")
	}
	s.tokens = s.tokens[:n]
	return nil
}
func (s *fakeSeq) Free() {
	if !s.freed {
		s.freed = true
		s.b.mu.Lock()
		s.b.seqs--
		s.b.mu.Unlock()
	}
}

func (b *fakeBackend) Tokenize(text string, addBOS bool) ([]int32, error) {
	var out []int32
	if addBOS {
		out = append(out, fakeBOS)
	}
	for i := 0; i < len(text); i++ {
		out = append(out, int32(text[i]))
	}
	return out, nil
}

func (b *fakeBackend) TokenBytes(id int32) []byte {
	if id < 256 {
		return []byte{byte(id)}
	}
	return nil
}
func (b *fakeBackend) IsEOG(id int32) bool { return id == fakeEOS }
func (b *fakeBackend) VocabSize() int      { return 258 }
func (b *fakeBackend) ContextLength() int  { return b.ctxLen }
func (b *fakeBackend) NewSeq() (Seq, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seqs++
	return &fakeSeq{b: b}, nil
}

// next is the token the fake predicts after toks.
func (b *fakeBackend) next(toks []int32) int32 {
	gen := 0
	sum := 0
	for _, t := range toks {
		sum += int(t)
	}
	// Count generated tokens: those after the last prompt end marker are
	// not distinguishable, so EOS is driven by length instead.
	_ = gen
	if b.reply != "" {
		const marker = "<assistant>"
		end := -1
		for i := len(toks) - len(marker); i >= 0; i-- {
			ok := true
			for j := range len(marker) {
				if toks[i+j] != int32(marker[j]) {
					ok = false
					break
				}
			}
			if ok {
				end = i + len(marker)
				break
			}
		}
		if k := len(toks) - end; end >= 0 && k < len(b.reply) {
			return int32(b.reply[k])
		}
		return fakeEOS
	}
	if b.eosAt > 0 && len(toks) >= b.eosAt {
		return fakeEOS
	}
	return int32(b.script[sum%len(b.script)])
}

func (b *fakeBackend) Forward(items []BatchItem) error {
	b.mu.Lock()
	b.steps = append(b.steps, len(items))
	fail := b.failNow
	b.mu.Unlock()
	if fail {
		return errors.New("injected failure")
	}
	if b.delay > 0 {
		time.Sleep(b.delay)
	}
	for _, it := range items {
		s := it.Seq.(*fakeSeq)
		if s.freed {
			return errors.New("forward on freed seq")
		}
		if len(s.tokens)+len(it.Tokens) > b.ctxLen {
			return errors.New("context overflow")
		}
		s.tokens = append(s.tokens, it.Tokens...)
		b.mu.Lock()
		b.fed += len(it.Tokens)
		b.mu.Unlock()
		if it.Logits != nil {
			for i := range it.Logits {
				it.Logits[i] = 0
			}
			it.Logits[b.next(s.tokens)] = 40
		}
	}
	return nil
}

func (b *fakeBackend) Render(r RenderRequest) (string, error) {
	var sb strings.Builder
	for _, m := range r.Messages {
		fmt.Fprintf(&sb, "<%s>%s", m.Role, m.Content)
	}
	if r.AddGenerationPrompt {
		sb.WriteString("<assistant>")
	}
	return sb.String(), nil
}

func (b *fakeBackend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

func (b *fakeBackend) maxBatch() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := 0
	for _, n := range b.steps {
		m = max(m, n)
	}
	return m
}

// fakeLoader loads fakeBackends; every model costs size bytes.
type fakeLoader struct {
	mu      sync.Mutex
	size    int64
	loads   map[string]int
	last    map[string]*fakeBackend
	setup   func(*fakeBackend)
	loadErr error
}

func (l *fakeLoader) Estimate(m *store.Model, numCtx, parallel int) (int64, error) {
	return l.size, nil
}

func (l *fakeLoader) Load(m *store.Model, numCtx, parallel int) (*Loaded, error) {
	if l.loadErr != nil {
		return nil, l.loadErr
	}
	b := newFake()
	if l.setup != nil {
		l.setup(b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loads == nil {
		l.loads = map[string]int{}
		l.last = map[string]*fakeBackend{}
	}
	l.loads[m.Name]++
	l.last[m.Name] = b
	return &Loaded{Backend: b, Size: l.size}, nil
}

func (l *fakeLoader) backend(name string) *fakeBackend {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[name]
}
