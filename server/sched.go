package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ferryhq/ferry/grammar"
	"github.com/ferryhq/ferry/sample"
)

// Errors the scheduler returns; the HTTP layer maps them to status codes.
var (
	ErrQueueFull     = errors.New("server busy: too many queued requests, retry later")
	ErrClosed        = errors.New("model is unloading")
	ErrPromptTooLong = errors.New("prompt is longer than the context window")
	ErrNoEmbeddings  = errors.New("this model's backend cannot compute embeddings")
)

// Request is one generation for the scheduler.
type Request struct {
	Prompt      []int32
	NumPredict  int // < 0: until the context is full
	Stop        []string
	Sample      SampleOptions
	Logprobs    bool
	TopLogprobs int
	// Grammar constrains the output (format:"json" or a schema,
	// response_format): tokens that cannot continue it are masked.
	Grammar *grammar.Grammar
}

// Chunk is a piece of streamed output.
type Chunk struct {
	Text     string
	Logprobs []TokenLogprob // one per token that produced Text
}

// TokenLogprob is a generated token's log probability with alternatives.
type TokenLogprob struct {
	Token   string
	Bytes   []byte
	Logprob float64
	Top     []TopLogprob
}

// TopLogprob is one alternative.
type TopLogprob struct {
	Token   string
	Bytes   []byte
	Logprob float64
}

// Result is the end of a generation.
type Result struct {
	DoneReason         string // "stop" or "length"
	PromptTokens       int    // prompt length
	PromptEvalCount    int    // prompt tokens evaluated (not served from cache)
	PromptEvalDuration time.Duration
	EvalCount          int
	EvalDuration       time.Duration
	Tokens             []int32 // prompt + generated, for /api/generate's context
}

// SchedOptions tune a scheduler.
type SchedOptions struct {
	Parallel  int // sequences decoded together (slots); default 4
	QueueSize int // waiting requests beyond the slots; default 64
	NumBatch  int // prompt tokens evaluated per step across sequences; default 512
	// OnStep, if set, is called after every batched step with the number of
	// sequences in it (metrics and tests).
	OnStep func(seqs, tokens int, d time.Duration)
}

// Scheduler runs continuous batching for one loaded model: every step
// feeds one token per decoding sequence plus a budget of prompt tokens of
// newly admitted ones through a single Backend.Forward.
type Scheduler struct {
	be   Backend
	opts SchedOptions

	mu     sync.Mutex
	queue  []*job
	closed bool
	active int // jobs holding a slot
	wake   chan struct{}
	done   chan struct{}

	slots []*slot
	vocab *grammar.Vocab // built on the first constrained request
}

type slot struct {
	seq      Seq
	tokens   []int32 // what the KV cache holds
	job      *job
	used     time.Time
	embedded bool // tokens come from an embedding job
}

// embedRank orders free slots for an embedding job: lower is cheaper to
// overwrite.
func embedRank(sl *slot) int {
	switch {
	case len(sl.tokens) == 0:
		return 0
	case sl.embedded:
		return 1
	}
	return 2
}

type job struct {
	ctx context.Context
	req Request
	// embed marks an embedding job: req.Prompt is run through the
	// backend's Embedder in a slot and vec receives the pooled state.
	embed bool
	vec   []float32

	slot       *slot
	pending    []int32 // prompt tokens still to evaluate
	last       int32   // sampled token to feed next
	history    []int32 // prompt + generated (penalties, context)
	sampler    *sample.Sampler
	gram       *grammar.State
	n          int // tokens generated
	cached     int
	evalled    int
	raw        []byte // undelivered token bytes (incomplete UTF-8 or held for stop)
	lps        []TokenLogprob
	t0         time.Time
	tPrompt    time.Time // first prompt step
	tPromptEnd time.Time // logits of the last prompt token ready
	logits     []float32
	finished   bool

	mu     sync.Mutex
	out    []Chunk
	res    *Result
	err    error
	notify chan struct{}
}

// NewScheduler starts the batching loop for be.
func NewScheduler(be Backend, o SchedOptions) *Scheduler {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.QueueSize < 0 {
		o.QueueSize = 0
	} else if o.QueueSize == 0 {
		o.QueueSize = 64
	}
	if o.NumBatch <= 0 {
		o.NumBatch = 512
	}
	s := &Scheduler{be: be, opts: o, wake: make(chan struct{}, 1), done: make(chan struct{})}
	for range o.Parallel {
		s.slots = append(s.slots, &slot{})
	}
	go s.loop()
	return s
}

// Busy reports the number of running and queued requests.
func (s *Scheduler) Busy() (running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active, len(s.queue)
}

// Close stops the loop after failing queued and running jobs with ErrClosed
// and frees all sequences. It does not close the backend.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.signal()
	<-s.done
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Generate runs req, calling fn with each piece of text from the caller's
// goroutine, and returns when generation ends. A ctx cancellation (client
// gone) or an fn error stops the sequence and frees its slot at the next
// step.
func (s *Scheduler) Generate(ctx context.Context, req Request, fn func(Chunk) error) (*Result, error) {
	if len(req.Prompt) == 0 {
		return nil, errors.New("empty prompt")
	}
	if len(req.Prompt) >= s.be.ContextLength() {
		return nil, fmt.Errorf("%w: %d tokens, context holds %d", ErrPromptTooLong, len(req.Prompt), s.be.ContextLength())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j := &job{ctx: ctx, req: req, notify: make(chan struct{}, 1), t0: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	// Jobs about to take a free slot do not count against the queue.
	if len(s.queue) >= s.opts.QueueSize+(s.opts.Parallel-s.active) {
		s.mu.Unlock()
		return nil, ErrQueueFull
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	s.signal()
	for {
		select {
		case <-j.notify:
		case <-ctx.Done():
			// Still queued: leave the queue now. Running: the loop notices
			// ctx before its next step and frees the slot; wait for it so
			// the caller can rely on that.
			s.mu.Lock()
			for i, q := range s.queue {
				if q == j {
					s.queue = append(s.queue[:i], s.queue[i+1:]...)
					s.mu.Unlock()
					return nil, ctx.Err()
				}
			}
			s.mu.Unlock()
			s.signal()
			<-j.waitDone()
			return nil, ctx.Err()
		}
		j.mu.Lock()
		out := j.out
		j.out = nil
		res, err := j.res, j.err
		j.mu.Unlock()
		for _, c := range out {
			if ferr := fn(c); ferr != nil {
				cancel()
				s.signal()
				<-j.waitDone()
				return nil, ferr
			}
		}
		if err != nil {
			return nil, err
		}
		if res != nil {
			return res, nil
		}
	}
}

// Embed computes the pooled final hidden state of tokens (not normalised)
// with the backend's Embedder. It runs on the scheduler's goroutine in a
// free slot, a NumBatch chunk between batched steps, so it never overlaps
// a forward pass on the same model, does not stall other sequences for
// long, and obeys the same queue limits as generation.
func (s *Scheduler) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	if _, ok := s.be.(Embedder); !ok {
		return nil, ErrNoEmbeddings
	}
	if len(tokens) == 0 {
		return nil, errors.New("empty input")
	}
	if len(tokens) > s.be.ContextLength() {
		return nil, fmt.Errorf("%w: %d tokens, context holds %d", ErrPromptTooLong, len(tokens), s.be.ContextLength())
	}
	j := &job{ctx: ctx, req: Request{Prompt: tokens}, embed: true, notify: make(chan struct{}, 1), t0: time.Now()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if len(s.queue) >= s.opts.QueueSize+(s.opts.Parallel-s.active) {
		s.mu.Unlock()
		return nil, ErrQueueFull
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	s.signal()
	select {
	case <-j.waitDone():
	case <-ctx.Done():
		s.mu.Lock()
		for i, q := range s.queue {
			if q == j {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		s.mu.Unlock()
		// Admitted: the embedding runs to its end (it is one call); wait
		// so the slot is known free when we return.
		<-j.waitDone()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return nil, j.err
	}
	return j.vec, nil
}

// embedChunk feeds an admitted embedding job's next NumBatch tokens and
// finishes the job after its last. The slot's sequence holds the input
// afterwards, which a later prompt may reuse as a prefix.
func (s *Scheduler) embedChunk(j *job) {
	sl := j.slot
	start := j.evalled == 0
	if start {
		sl.tokens = sl.tokens[:0]
	}
	n := min(len(j.pending), s.opts.NumBatch)
	chunk := j.pending[:n]
	done := n == len(j.pending)
	v, err := s.be.(Embedder).EmbedStep(sl.seq, chunk, start, done)
	if err != nil {
		sl.tokens = sl.tokens[:0]
		s.release(j)
		j.finish(nil, fmt.Errorf("embedding failed: %w", err))
		return
	}
	sl.tokens = append(sl.tokens, chunk...)
	j.pending = j.pending[n:]
	j.evalled += n
	if !done {
		return
	}
	s.release(j)
	j.mu.Lock()
	j.vec = v
	j.mu.Unlock()
	j.finish(&Result{PromptTokens: len(j.req.Prompt), PromptEvalCount: len(j.req.Prompt)}, nil)
}

// waitDone returns a channel closed when the loop has finished j.
func (j *job) waitDone() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for {
			j.mu.Lock()
			fin := j.res != nil || j.err != nil
			j.mu.Unlock()
			if fin {
				close(ch)
				return
			}
			<-j.notify
		}
	}()
	return ch
}

func (j *job) emit(c Chunk) {
	j.mu.Lock()
	j.out = append(j.out, c)
	j.mu.Unlock()
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

func (j *job) finish(res *Result, err error) {
	j.finished = true
	j.mu.Lock()
	j.res, j.err = res, err
	j.mu.Unlock()
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// admit moves queued jobs into free slots in FIFO order. A prompt's
// cached prefix may sit in any slot, busy or idle: the job reuses the
// longest one, taking over the slot that holds it when that loses no other
// cached tokens, else forking the prefix's KV (Forker) into another free
// slot, so a shared system prompt is evaluated once for all clients and an
// idle chat's cache survives other users' requests.
func (s *Scheduler) admit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, canFork := s.be.(Forker)
	for len(s.queue) > 0 {
		j := s.queue[0]
		if j.ctx.Err() != nil {
			s.queue = s.queue[1:]
			j.finish(nil, j.ctx.Err())
			continue
		}
		var best, donor *slot
		bestN, donorN := -1, 0
		for _, sl := range s.slots {
			if j.embed {
				if sl.job != nil {
					continue
				}
				// Embeddings reuse nothing: take an empty slot, else one
				// an embedding last filled, else the least recently used,
				// so the prompt caches of chats survive.
				if best == nil || embedRank(sl) < embedRank(best) || embedRank(sl) == embedRank(best) && sl.used.Before(best.used) {
					best, bestN = sl, 0
				}
				continue
			}
			n := commonPrefix(sl.tokens, j.req.Prompt)
			if canFork && sl.seq != nil && (sl.job == nil || !sl.job.embed) && n > donorN {
				donor, donorN = sl, n
			}
			if sl.job != nil {
				continue
			}
			if !canFork {
				if n > bestN || n == bestN && best != nil && sl.used.Before(best.used) {
					best, bestN = sl, n
				}
				continue
			}
			// With forking, any free slot can get the best prefix; prefer
			// one whose cache is wholly a prefix of the prompt (an empty
			// slot, the previous turn of this chat), longest first, else
			// the least recently used.
			if best == nil || better(sl, n, best, bestN) {
				best, bestN = sl, n
			}
		}
		if best == nil {
			return
		}
		if canFork && !j.embed && s.prefillAhead(j, max(bestN, donorN)) {
			// Another job is evaluating a longer shared prefix right now:
			// wait for it (a few steps) and fork it then. FIFO order is
			// kept: the jobs behind wait too.
			return
		}
		s.queue = s.queue[1:]
		if err := s.start(best, j, bestN, donor, donorN); err != nil {
			j.finish(nil, err)
			continue
		}
		s.active++
	}
}

// minPrefixWait is the shortest shared prompt prefix worth delaying a job
// for until another job's prompt evaluation has written it: one KV page.
const minPrefixWait = 32

// prefillAhead reports whether a running job is still evaluating a prompt
// that shares more than the cached n tokens, and at least minPrefixWait,
// with j's: clients arriving together with the same long system prompt
// then evaluate it once instead of once each.
func (s *Scheduler) prefillAhead(j *job, n int) bool {
	last := len(j.req.Prompt) - 1
	for _, sl := range s.slots {
		k := sl.job
		if k == nil || k.embed || len(k.pending) == 0 || k.ctx.Err() != nil {
			continue
		}
		if w := min(commonPrefix(k.req.Prompt, j.req.Prompt), last); w > n && w >= minPrefixWait {
			return true
		}
	}
	return false
}

// better ranks free slot a (sharing n tokens with the prompt) above b
// (sharing bn) as the slot a forking scheduler hands to a new job.
func better(a *slot, n int, b *slot, bn int) bool {
	aWhole, bWhole := n == len(a.tokens), bn == len(b.tokens)
	if aWhole != bWhole {
		return aWhole
	}
	if aWhole && n != bn {
		return n > bn
	}
	return a.used.Before(b.used)
}

// start puts j into slot sl, which shares n prompt tokens. If donor (any
// slot, possibly sl itself or one still generating) shares dn > n tokens,
// its KV for them is forked into sl instead of being recomputed.
func (s *Scheduler) start(sl *slot, j *job, n int, donor *slot, dn int) error {
	if sl.seq == nil {
		seq, err := s.be.NewSeq()
		if err != nil {
			return err
		}
		sl.seq = seq
		sl.tokens = nil
	}
	sl.embedded = j.embed
	if j.embed {
		sl.job = j
		j.slot = sl
		j.pending = j.req.Prompt
		return nil
	}
	last := len(j.req.Prompt) - 1 // re-evaluate the last token for its logits
	n, dn = min(n, last), min(dn, last)
	if f, ok := s.be.(Forker); ok && donor != nil && donor != sl && dn > n {
		if seq, err := f.Fork(donor.seq, dn); err == nil {
			sl.seq.Free()
			sl.seq = seq
			sl.tokens = append(sl.tokens[:0], donor.tokens[:dn]...)
			n = dn
		}
	}
	if n < len(sl.tokens) {
		if err := sl.seq.Truncate(n); err != nil {
			// Cannot reuse: start the sequence over.
			if err := sl.seq.Truncate(0); err != nil {
				return err
			}
			n = 0
		}
		sl.tokens = sl.tokens[:n]
	}
	sl.job = j
	j.slot = sl
	j.cached = n
	j.pending = j.req.Prompt[n:]
	j.history = append([]int32(nil), j.req.Prompt...)
	j.sampler = sample.New(toSample(j.req.Sample))
	j.gram = nil
	if j.req.Grammar != nil {
		if s.vocab == nil {
			// Once per model: the vocabulary as a byte trie.
			s.vocab = grammar.NewVocabFunc(s.be.VocabSize(), s.be.TokenBytes, s.be.IsEOG)
		}
		j.gram = j.req.Grammar.Start(s.vocab)
	}
	j.sampler.Accept(j.req.Prompt...)
	j.logits = make([]float32, s.be.VocabSize())
	return nil
}

func (s *Scheduler) release(j *job) {
	sl := j.slot
	sl.job = nil
	sl.used = time.Now()
	j.slot = nil
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
}

func (s *Scheduler) loop() {
	defer close(s.done)
	var running []*job
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			s.mu.Lock()
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, j := range q {
				j.finish(nil, ErrClosed)
			}
			for _, sl := range s.slots {
				if j := sl.job; j != nil {
					s.release(j)
					j.finish(nil, ErrClosed)
				}
			}
			for _, sl := range s.slots {
				if sl.seq != nil {
					sl.seq.Free()
					sl.seq = nil
				}
			}
			return
		}
		s.admit()
		running = running[:0]
		for _, sl := range s.slots {
			if sl.job != nil {
				running = append(running, sl.job)
			}
		}
		// Drop cancelled jobs first: their slots are free for the next
		// admission without waiting for a step.
		live := running[:0]
		for _, j := range running {
			if j.ctx.Err() != nil {
				s.release(j)
				j.finish(nil, j.ctx.Err())
				continue
			}
			live = append(live, j)
		}
		running = live
		// Embedding jobs advance one chunk per iteration, between the
		// batched steps of the generations.
		gen := running[:0]
		embedding := false
		for _, j := range running {
			if j.embed {
				s.embedChunk(j)
				embedding = embedding || !j.finished
				continue
			}
			gen = append(gen, j)
		}
		running = gen
		if len(running) == 0 {
			if embedding {
				continue
			}
			s.mu.Lock()
			idle := len(s.queue) == 0 && !s.closed
			s.mu.Unlock()
			if idle {
				<-s.wake
			}
			continue
		}
		s.step(running)
	}
}

// step runs one batched forward pass over the running jobs.
func (s *Scheduler) step(running []*job) {
	budget := s.opts.NumBatch
	items := make([]BatchItem, 0, len(running))
	jobs := make([]*job, 0, len(running))
	sampling := make([]bool, 0, len(running))
	ntok := 0
	for _, j := range running {
		if len(j.pending) > 0 {
			if budget <= 0 {
				continue
			}
			n := min(len(j.pending), budget)
			budget -= n
			toks := j.pending[:n]
			j.pending = j.pending[n:]
			last := len(j.pending) == 0
			it := BatchItem{Seq: j.slot.seq, Tokens: toks}
			if last {
				it.Logits = j.logits
			}
			if j.tPrompt.IsZero() {
				j.tPrompt = time.Now()
			}
			items = append(items, it)
			jobs = append(jobs, j)
			sampling = append(sampling, last)
			ntok += n
			continue
		}
		items = append(items, BatchItem{Seq: j.slot.seq, Tokens: []int32{j.last}, Logits: j.logits})
		jobs = append(jobs, j)
		sampling = append(sampling, true)
		ntok++
	}
	t := time.Now()
	err := s.be.Forward(items)
	d := time.Since(t)
	if s.opts.OnStep != nil {
		s.opts.OnStep(len(items), ntok, d)
	}
	for i, j := range jobs {
		if err != nil {
			// The KV state of every sequence in the batch is unknown now.
			j.slot.seq.Truncate(0)
			j.slot.tokens = j.slot.tokens[:0]
			s.release(j)
			j.finish(nil, fmt.Errorf("forward pass failed: %w", err))
			continue
		}
		j.slot.tokens = append(j.slot.tokens, items[i].Tokens...)
		if !sampling[i] {
			continue
		}
		if j.evalled == 0 && j.n == 0 {
			j.evalled = len(j.req.Prompt) - j.cached
			j.tPromptEnd = time.Now()
		}
		s.sampleNext(j)
	}
}

func (s *Scheduler) sampleNext(j *job) {
	var lp *TokenLogprob
	var raw []float32
	if j.req.Logprobs {
		raw = j.logits // Sample leaves logits unmodified
	}
	if j.gram != nil {
		j.gram.Mask(j.logits) // leaves EOG allowed if nothing else is
	}
	tok := j.sampler.Sample(j.logits)
	if j.gram != nil {
		if err := j.gram.Accept(tok); err != nil {
			s.end(j, "stop") // defensive: a masked pick always passes
			return
		}
	}
	j.sampler.Accept(tok)
	if s.be.IsEOG(tok) {
		s.end(j, "stop")
		return
	}
	j.n++
	j.history = append(j.history, tok)
	j.last = tok
	b := s.be.TokenBytes(tok)
	if raw != nil {
		l, top, tl := logprobsOf(raw, tok, j.req.TopLogprobs)
		lp = &TokenLogprob{Token: string(b), Bytes: b, Logprob: l}
		for i, t := range top {
			tb := s.be.TokenBytes(t)
			lp.Top = append(lp.Top, TopLogprob{Token: string(tb), Bytes: tb, Logprob: tl[i]})
		}
		j.lps = append(j.lps, *lp)
	}
	j.raw = append(j.raw, b...)
	if s.flush(j) || j.gram != nil && j.gram.Closed() {
		s.end(j, "stop")
		return
	}
	if j.req.NumPredict >= 0 && j.n >= j.req.NumPredict {
		s.end(j, "length")
		return
	}
	if len(j.slot.tokens)+1 >= s.be.ContextLength() {
		s.end(j, "length")
	}
}

// flush emits the complete UTF-8 text in j.raw, holding back a tail that
// could be the start of a stop string. It reports whether a stop string
// was found (the text before it is emitted, the rest dropped).
func (s *Scheduler) flush(j *job) bool {
	// Keep an incomplete UTF-8 sequence at the end for the next token.
	end := len(j.raw)
	for i := 1; i <= 3 && i <= len(j.raw); i++ {
		c := j.raw[len(j.raw)-i]
		if c&0xC0 == 0x80 {
			continue
		}
		if c >= 0xC0 && !utf8.FullRune(j.raw[len(j.raw)-i:]) {
			end = len(j.raw) - i
		}
		break
	}
	text := string(j.raw[:end])
	for _, st := range j.req.Stop {
		if st == "" {
			continue
		}
		if k := strings.Index(text, st); k >= 0 {
			j.raw = nil
			// Drop the logprobs of tokens that lie wholly in the stop
			// string or after it: their text is not returned.
			cut := len(text) - k
			for len(j.lps) > 0 && len(j.lps[len(j.lps)-1].Bytes) <= cut {
				cut -= len(j.lps[len(j.lps)-1].Bytes)
				j.lps = j.lps[:len(j.lps)-1]
			}
			if k > 0 || len(j.lps) > 0 {
				j.emit(Chunk{Text: text[:k], Logprobs: j.takeLps()})
			}
			return true
		}
	}
	hold := 0
	for _, st := range j.req.Stop {
		for n := min(len(st)-1, len(text)); n > hold; n-- {
			if strings.HasSuffix(text, st[:n]) {
				hold = n
				break
			}
		}
	}
	emitN := len(text) - hold
	if emitN > 0 {
		j.emit(Chunk{Text: text[:emitN], Logprobs: j.takeLps()})
		j.raw = append(j.raw[:0], j.raw[emitN:]...)
	}
	return false
}

func (j *job) takeLps() []TokenLogprob {
	l := j.lps
	j.lps = nil
	return l
}

func (s *Scheduler) end(j *job, reason string) {
	// Whatever is held back (a partial stop match, a broken UTF-8 tail)
	// is real output once generation is over.
	if len(j.raw) > 0 || len(j.lps) > 0 {
		j.emit(Chunk{Text: strings.ToValidUTF8(string(j.raw), "\uFFFD"), Logprobs: j.takeLps()})
	}
	j.raw = nil
	now := time.Now()
	res := &Result{
		DoneReason:         reason,
		PromptTokens:       len(j.req.Prompt),
		PromptEvalCount:    j.evalled,
		PromptEvalDuration: j.tPromptEnd.Sub(j.tPrompt),
		EvalCount:          j.n,
		EvalDuration:       now.Sub(j.tPromptEnd),
		Tokens:             append([]int32(nil), j.history...),
	}
	s.release(j)
	j.finish(res, nil)
}
