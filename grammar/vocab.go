package grammar

import (
	"bytes"
	"fmt"
	"math"
	mbits "math/bits"
	"slices"
	"sort"
	"sync"
	"unicode/utf8"
)

// Vocab is a model's vocabulary as bytes, arranged as byte tries so that a
// grammar state is walked through every token at once. Build it once per
// model; it is immutable and safe for concurrent use.
type Vocab struct {
	n      int
	maxTok int32 // longest token in bytes
	eog    []int32
	isEOG  []bool
	bytes  [][]byte

	all vtrie // every token with bytes (EOG excluded)

	// Inside a JSON string most tokens are plain text: printable, no quote
	// or backslash, whole UTF-8 characters. They are allowed there whatever
	// lies below on the stack, limited only by the string's length, so a
	// string state walks just the other tokens (rest) and adds the plain
	// ones by character count.
	rest       vtrie
	plain      []int32 // plain token ids by character count, ascending
	plainChars []int32 // character count of plain[i]
}

// vtrie is a byte trie in preorder: node i's subtree is nodes (i, end[i]);
// its children are i+1, end[i+1], end[end[i+1]], ... Node 0 is the root.
type vtrie struct {
	label []byte
	end   []int32
	tokLo []int32 // tokens ending at node i: ids[tokLo[i]:tokLo[i+1]]
	ids   []int32
}

// NewVocab builds the vocabulary from each token id's decoded bytes (what
// the token adds to the output text) and the end-of-generation ids. Tokens
// with no bytes (control tokens) are never allowed; EOG tokens are allowed
// exactly when the value is complete.
func NewVocab(tokens [][]byte, eog []int32) *Vocab {
	v := &Vocab{n: len(tokens), bytes: tokens, isEOG: make([]bool, len(tokens))}
	for _, id := range eog {
		if id >= 0 && int(id) < len(tokens) && !v.isEOG[id] {
			v.isEOG[id] = true
			v.eog = append(v.eog, id)
		}
	}
	var order, rest []int32
	for i, b := range tokens {
		if len(b) == 0 || v.isEOG[i] {
			continue
		}
		order = append(order, int32(i))
		v.maxTok = max(v.maxTok, int32(len(b)))
		if plainText(b) {
			v.plain = append(v.plain, int32(i))
		} else {
			rest = append(rest, int32(i))
		}
	}
	v.all = buildTrie(tokens, order)
	v.rest = buildTrie(tokens, rest)
	slices.SortStableFunc(v.plain, func(a, b int32) int {
		return utf8.RuneCount(tokens[a]) - utf8.RuneCount(tokens[b])
	})
	v.plainChars = make([]int32, len(v.plain))
	for i, id := range v.plain {
		v.plainChars[i] = int32(utf8.RuneCount(tokens[id]))
	}
	return v
}

// plainText: bytes a JSON string may hold as they are, whole characters.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

func buildTrie(tokens [][]byte, order []int32) vtrie {
	slices.SortFunc(order, func(a, b int32) int {
		if c := bytes.Compare(tokens[a], tokens[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	var v vtrie
	v.label = append(v.label, 0)
	v.end = append(v.end, 0)
	v.tokLo = append(v.tokLo, 0)
	path := []int32{0} // node per depth
	var prev []byte
	closeTo := func(depth int) {
		for len(path) > depth+1 {
			v.end[path[len(path)-1]] = int32(len(v.label))
			path = path[:len(path)-1]
		}
	}
	for _, id := range order {
		b := tokens[id]
		lcp := 0
		for lcp < len(b) && lcp < len(prev) && b[lcp] == prev[lcp] {
			lcp++
		}
		closeTo(lcp)
		for _, c := range b[lcp:] {
			v.label = append(v.label, c)
			v.end = append(v.end, 0)
			v.tokLo = append(v.tokLo, int32(len(v.ids)))
			path = append(path, int32(len(v.label)-1))
		}
		v.ids = append(v.ids, id)
		prev = b
	}
	closeTo(0)
	v.end[0] = int32(len(v.label))
	v.tokLo = append(v.tokLo, int32(len(v.ids)))
	return v
}

// Size is the number of token ids.
func (v *Vocab) Size() int { return v.n }

// Nodes is the number of trie nodes (for reports).
func (v *Vocab) Nodes() int { return len(v.all.label) }

// State is one generation's position in the grammar. It is not safe for
// concurrent use.
type State struct {
	g        *Grammar
	v        *Vocab
	set      []*frame
	finished bool // an EOG token was accepted
	noCache  bool // benchmarks: always walk the trie

	s        stepper
	bufs     [][]*frame
	eogSaved []float32
	key      []byte
	cache    map[string]*cachedMask
}

type cachedMask struct {
	bits []uint64
	any  bool
}

var slabPool sync.Pool // *[][]frame

// NewVocabFunc builds the Vocab from per-id accessors (for callers that see
// the tokenizer through an interface): bytesOf(id) is the text a token
// adds, isEOG(id) whether it ends generation.
func NewVocabFunc(n int, bytesOf func(id int32) []byte, isEOG func(id int32) bool) *Vocab {
	toks := make([][]byte, n)
	var eog []int32
	for id := range int32(n) {
		toks[id] = bytesOf(id)
		if isEOG(id) {
			eog = append(eog, id)
		}
	}
	return NewVocab(toks, eog)
}

// maxCached masks per grammar and vocabulary; 128k tokens take 16 KiB
// each, so with Compile's 8 recent grammars and 2 vocabularies each the
// caches stay under 32 MiB.
const maxCached = 128

// maskCache holds the masks of states already seen, shared by every
// generation with the same grammar and vocabulary (a server compiles a
// repeated schema once, see Compile).
type maskCache struct {
	mu sync.Mutex
	m  map[*Vocab]map[string]*cachedMask
}

func (c *maskCache) get(v *Vocab, key []byte) *cachedMask {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[v][string(key)]
}

func (c *maskCache) put(v *Vocab, key []byte, m *cachedMask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[*Vocab]map[string]*cachedMask{}
	}
	mv := c.m[v]
	if mv == nil || len(mv) >= maxCached {
		if len(c.m) >= 2 { // vocabularies per grammar
			clear(c.m)
		}
		mv = map[string]*cachedMask{}
		c.m[v] = mv
	}
	mv[string(key)] = m
}

// Start begins a generation over vocabulary v.
func (g *Grammar) Start(v *Vocab) *State {
	st := &State{g: g, v: v}
	st.s.heap = true
	st.set = []*frame{{n: g.root}}
	return st
}

// Done reports whether the output so far is a complete value (EOG is
// allowed), or an EOG token has been accepted.
func (st *State) Done() bool {
	if st.finished {
		return true
	}
	for _, f := range st.set {
		if complete(f) {
			return true
		}
	}
	return false
}

// Closed reports whether the value is complete and nothing but trailing
// whitespace or EOG can follow (an object, array, string or literal has
// been closed; a top-level number is Done but not Closed, as more digits
// could follow). A caller may stop generating here instead of waiting for
// the model's EOG.
func (st *State) Closed() bool {
	if st.finished {
		return true
	}
	for _, f := range st.set {
		if f.n.kind != kRoot || f.st != 1 {
			return false
		}
	}
	return len(st.set) > 0
}

// Finished reports whether an EOG token was accepted.
func (st *State) Finished() bool { return st.finished }

// Accept advances the state by token id (which should have been allowed by
// Mask). A token that breaks the grammar is an error and leaves the state
// unchanged.
func (st *State) Accept(id int32) error {
	if st.finished {
		return fmt.Errorf("grammar: token %d after the end of the output", id)
	}
	if id < 0 || int(id) >= st.v.n {
		return fmt.Errorf("grammar: token %d outside the vocabulary (%d)", id, st.v.n)
	}
	if st.v.isEOG[id] {
		if !st.Done() {
			return fmt.Errorf("grammar: end of generation before the JSON value is complete")
		}
		st.finished = true
		return nil
	}
	b := st.v.bytes[id]
	if len(b) == 0 {
		return fmt.Errorf("grammar: token %d has no text", id)
	}
	st.s.heap = true
	set := st.set
	for _, c := range b {
		set = st.s.step(set, c, nil)
		if len(set) == 0 {
			return fmt.Errorf("grammar: token %d (%q) does not continue the JSON output", id, b)
		}
	}
	st.set = set
	return nil
}

// AcceptText advances by raw text (for example a forced prefix).
func (st *State) AcceptText(text string) error {
	st.s.heap = true
	set := st.set
	for i := 0; i < len(text); i++ {
		set = st.s.step(set, text[i], nil)
		if len(set) == 0 {
			return fmt.Errorf("grammar: %q does not continue the JSON output", text)
		}
	}
	st.set = set
	return nil
}

// Mask sets the logits of every token the grammar does not allow next to
// -Inf. EOG tokens stay only when the value is complete. logits may be
// longer than the vocabulary (padded output rows): the extra ids are
// masked. If no token at all could continue (which a satisfiable schema
// never leads to, barring the nesting limit), EOG is left allowed so
// generation stops. It returns the number of allowed tokens.
func (st *State) Mask(logits []float32) int {
	inf := float32(math.Inf(-1))
	if st.finished {
		for i := range logits {
			logits[i] = inf
		}
		return 0
	}
	m := st.allowed()
	done := st.Done()
	st.eogSaved = st.eogSaved[:0]
	for _, id := range st.v.eog {
		if int(id) < len(logits) {
			st.eogSaved = append(st.eogSaved, logits[id])
		}
	}
	count := 0
	n := min(len(logits), st.v.n)
	for w := 0; w*64 < n; w++ {
		bits := m.bits[w]
		lo, hi := w*64, min(w*64+64, n)
		switch bits {
		case 0:
			for i := lo; i < hi; i++ {
				logits[i] = inf
			}
			continue
		case ^uint64(0):
			count += hi - lo
			continue
		}
		valid := ^uint64(0) >> (64 - (hi - lo)) // ids below n
		count += mbits.OnesCount64(bits)
		for z := ^bits & valid; z != 0; z &= z - 1 {
			logits[lo+mbits.TrailingZeros64(z)] = inf
		}
	}
	for i := n; i < len(logits); i++ {
		logits[i] = inf
	}
	if done || !m.any {
		// The bitmap never holds EOG ids: restore their logits.
		i := 0
		for _, id := range st.v.eog {
			if int(id) < len(logits) {
				logits[id] = st.eogSaved[i]
				i++
				count++
			}
		}
	}
	return count
}

// allowed returns the allowed-token bitmap of the current state (EOG ids
// excluded), from the cache when the state was seen before.
func (st *State) allowed() *cachedMask {
	st.key = appendKey(st.key[:0], st.set, st.v.maxTok)
	if !st.noCache {
		if m := st.g.cache.get(st.v, st.key); m != nil {
			return m
		}
	}
	v := st.v
	bits := make([]uint64, (v.n+63)/64)
	// Walk frames come from pooled slabs: none outlives the walk (the
	// cache keeps only bitmaps), and a full walk of a large vocabulary
	// makes hundreds of thousands of them.
	st.s.heap = false
	if ps, ok := slabPool.Get().(*[][]frame); ok {
		st.s.slabs = *ps
	}
	st.s.reset()
	any := false
	// A token is allowed if some stack survives it: the union of the
	// stacks' masks.
	for _, f := range st.set {
		one := []*frame{f}
		inString := f.n.kind == kString && f.st == 1 && f.lex == 0 && f.n.pat == nil
		// Object keys where extra keys are allowed: plain text never
		// closes the key, so it is always allowed (known or extra key).
		inKey := f.n.kind == kObject && f.st == oKey && f.lex == 0 && extraAllowed(f)
		if inString || inKey {
			r := int32(len(v.plain))
			if inString && f.n.maxLen != unbounded {
				room := f.n.maxLen - f.a
				r = int32(sort.Search(len(v.plainChars), func(i int) bool { return v.plainChars[i] > room }))
			}
			for _, id := range v.plain[:r] {
				bits[id>>6] |= 1 << (id & 63)
			}
			any = any || r > 0
			any = st.walk(&v.rest, 0, one, 0, bits) || any
		} else {
			any = st.walk(&v.all, 0, one, 0, bits) || any
		}
	}
	slabs := st.s.slabs[:min(len(st.s.slabs), st.s.si+1)] // keep what this walk needed
	clear(st.s.slabs[len(slabs):])
	st.s.slabs = nil
	st.s.reset()
	slabPool.Put(&slabs)
	m := &cachedMask{bits: bits, any: any}
	st.g.cache.put(st.v, st.key, m)
	return m
}

// walk visits the children of trie node t with the state set reached so
// far, marking every token whose bytes all keep some stack alive.
func (st *State) walk(v *vtrie, t int32, set []*frame, depth int, bits []uint64) bool {
	if depth >= len(st.bufs) {
		st.bufs = append(st.bufs, make([]*frame, 0, 8))
	}
	any := false
	for c := t + 1; c < v.end[t]; c = v.end[c] {
		next := st.s.step(set, v.label[c], st.bufs[depth])
		if len(next) == 0 {
			continue
		}
		for _, id := range v.ids[v.tokLo[c]:v.tokLo[c+1]] {
			bits[id>>6] |= 1 << (id & 63)
			any = true
		}
		// Keep the grown buffer; deeper levels use their own buffers, so
		// next stays intact while the subtree is walked.
		st.bufs[depth] = next
		if v.end[c] > c+1 && st.walk(v, c, next, depth+1, bits) {
			any = true
		}
	}
	return any
}
