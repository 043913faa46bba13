package grammar

import (
	"encoding/binary"
	"slices"
)

// A frame is one level of the pushdown automaton: a value being written
// (object, array, string, number, literal) or the root. Frames are
// immutable once built, so stacks share their lower part; a state is a
// small set of stacks (more than one while anyOf alternatives are still
// undecided).
type frame struct {
	n      *node
	parent *frame
	x, y   int64 // number: integer part, fraction digits (only with bounds)
	a      int32 // object: next property; array: items; string: chars; number: digits in part; literal: trie node
	b      int32 // object: key trie node (-1: not a known key); number: 1 if negative
	c      int32 // object: current property (-1: extra key); number: fraction digits
	st     uint8 // sub-state, per kind
	lex    uint8 // string lexer state (strings and keys)
	ws     uint8 // whitespace bytes at the current position
	depth  uint8
}

// Object sub-states.
const (
	oStart = iota
	oOpen
	oKey
	oAfterKey
	oColon
	oAfterValue
	oInValue
	oComma
)

// stepper allocates frames: from reusable slabs while walking the
// vocabulary trie (all of them dropped after the walk), or from the heap
// for states that are kept.
type stepper struct {
	slabs [][]frame
	si, i int
	heap  bool
}

func (s *stepper) reset() { s.si, s.i = 0, 0 }

func (s *stepper) clone(f *frame) *frame {
	if s.heap {
		g := new(frame)
		*g = *f
		return g
	}
	if s.si == len(s.slabs) {
		s.slabs = append(s.slabs, make([]frame, 4096))
	}
	g := &s.slabs[s.si][s.i]
	*g = *f
	if s.i++; s.i == len(s.slabs[s.si]) {
		s.si, s.i = s.si+1, 0
	}
	return g
}

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// ws consumes whitespace byte c at a position that allows it. A run holds
// at most maxWS bytes and maxNewlines line breaks (enough for indented
// output), so a model cannot pad forever. f.ws packs both counts.
func (s *stepper) ws(f *frame, c byte, out []*frame) []*frame {
	n, nl := f.ws&0x1f, f.ws>>5
	if n >= maxWS {
		return out
	}
	if c == '\n' || c == '\r' {
		if nl >= maxNewlines {
			return out
		}
		nl++
	}
	g := s.clone(f)
	g.ws = (n + 1) | nl<<5
	return append(out, g)
}

// done pops a finished value: the parent moves past it.
func (s *stepper) done(p *frame) *frame {
	g := s.clone(p)
	g.ws = 0
	switch p.n.kind {
	case kRoot:
		g.st = 1
	case kObject:
		g.st = oAfterValue
	case kArray:
		g.st = 3
		if g.n.maxItems != unbounded || g.a < g.n.minItems {
			g.a++
		}
	}
	return g
}

// push starts a value of schema n whose first byte is c; parent is already
// in its "inside a value" state.
func (s *stepper) push(parent *frame, n *node, c byte, out []*frame) []*frame {
	if !fits(n, parent) {
		return out
	}
	if n.kind == kAnyOf {
		for _, a := range n.alts {
			out = s.push(parent, a, c, out)
		}
		return out
	}
	if !n.sat {
		return out
	}
	child := frame{n: n, parent: parent, depth: parent.depth + 1}
	return s.feed(&child, c, out)
}

// feed appends to out every stack that results from reading byte c on top
// of stack f.
func (s *stepper) feed(f *frame, c byte, out []*frame) []*frame {
	n := f.n
	switch n.kind {
	case kRoot:
		if isWS(c) {
			return s.ws(f, c, out)
		}
		if f.st == 0 {
			g := s.clone(f)
			g.st, g.ws = 2, 0
			return s.push(g, n.value, c, out)
		}
		return out
	case kLiteral:
		next := n.lit.child(f.a, c)
		if next < 0 {
			return out
		}
		if n.lit.term[next] >= 0 {
			out = append(out, s.done(f.parent))
		}
		if len(n.lit.edges[next]) > 0 {
			g := s.clone(f)
			g.a, g.st = next, 1
			out = append(out, g)
		}
		return out
	case kString:
		if f.st == 0 {
			if c != '"' {
				return out
			}
			g := s.clone(f)
			g.st = 1
			if n.pat != nil {
				g.c = n.pat.startID
			}
			return append(out, g)
		}
		lex, start, closing, ok := lexStep(f.lex, c)
		if !ok {
			return out
		}
		if closing {
			if f.a >= n.minLen && (n.pat == nil || n.pat.accepting(f.c)) {
				out = append(out, s.done(f.parent))
			}
			return out
		}
		a := f.a
		if start {
			if a >= n.maxLen {
				return out
			}
			// Without a maximum only the minimum matters: saturate so
			// that states repeat and their masks are cached.
			if n.maxLen != unbounded || a < n.minLen {
				a++
			}
		}
		g := s.clone(f)
		g.lex, g.a = lex, a
		if n.pat != nil {
			x, r, whole := patternChar(f.lex, lex, c, f.x)
			g.x = x
			if whole {
				if g.c = n.pat.step(f.c, r); g.c < 0 {
					return out
				}
			} else if !n.pat.pendingOK(f.c, lex, x) {
				return out
			}
		}
		return append(out, g)
	case kNumber:
		return s.number(f, c, out)
	case kArray:
		switch f.st {
		case 0:
			if c != '[' {
				return out
			}
			g := s.clone(f)
			g.st = 1
			return append(out, g)
		case 1, 4: // after '[' or ','
			if isWS(c) {
				return s.ws(f, c, out)
			}
			if c == ']' && f.st == 1 && n.minItems == 0 {
				return append(out, s.done(f.parent))
			}
			if n.maxItems == 0 || !n.items.sat || !fits(n.items, f) {
				return out
			}
			g := s.clone(f)
			g.st, g.ws = 2, 0
			return s.push(g, n.items, c, out)
		case 3: // after an item
			if isWS(c) {
				return s.ws(f, c, out)
			}
			if c == ',' && f.a < n.maxItems && n.items.sat && fits(n.items, f) {
				g := s.clone(f)
				g.st, g.ws = 4, 0
				return append(out, g)
			}
			if c == ']' && f.a >= n.minItems {
				return append(out, s.done(f.parent))
			}
		}
		return out
	case kObject:
		return s.object(f, c, out)
	}
	return out
}

func (s *stepper) object(f *frame, c byte, out []*frame) []*frame {
	n := f.n
	switch f.st {
	case oStart:
		if c != '{' {
			return out
		}
		g := s.clone(f)
		g.st = oOpen
		return append(out, g)
	case oOpen, oComma, oAfterValue:
		if isWS(c) {
			return s.ws(f, c, out)
		}
		switch {
		case c == '"' && f.st != oAfterValue && keyAvailable(f):
			g := s.clone(f)
			g.st, g.ws, g.lex, g.b = oKey, 0, 0, 0
			return append(out, g)
		case c == '}' && f.st != oComma && n.firstReq[f.a] == int32(len(n.props)):
			return append(out, s.done(f.parent))
		case c == ',' && f.st == oAfterValue && keyAvailable(f):
			g := s.clone(f)
			g.st, g.ws = oComma, 0
			return append(out, g)
		}
		return out
	case oKey:
		lex, _, closing, ok := lexStep(f.lex, c)
		if !ok {
			return out
		}
		if closing {
			k := int32(-1)
			if f.b >= 0 {
				k = n.keys.term[f.b]
			}
			g := s.clone(f)
			g.st, g.ws = oAfterKey, 0
			if k >= 0 {
				if !knownAllowed(f, k) {
					return out
				}
				g.c, g.a = k, k+1
			} else {
				if !extraAllowed(f) {
					return out
				}
				g.c = -1
			}
			g.b = 0
			return append(out, g)
		}
		nb := int32(-1)
		if f.b >= 0 {
			nb = n.keys.child(f.b, c)
		}
		if nb < 0 {
			// An extra key: it must not spell a known key another way,
			// so no \u or \/ escapes once off the known keys.
			if !extraAllowed(f) || f.lex >= 1 && f.lex <= 5 && (f.lex != 1 || c == 'u' || c == '/') {
				return out
			}
		} else if !extraAllowed(f) && !feasibleKey(f, nb) {
			return out
		}
		g := s.clone(f)
		g.lex, g.b = lex, nb
		return append(out, g)
	case oAfterKey:
		if isWS(c) {
			return s.ws(f, c, out)
		}
		if c != ':' {
			return out
		}
		g := s.clone(f)
		g.st, g.ws = oColon, 0
		return append(out, g)
	case oColon:
		if isWS(c) {
			return s.ws(f, c, out)
		}
		v := n.additional
		if f.c >= 0 {
			v = n.props[f.c].n
		}
		g := s.clone(f)
		g.st, g.ws = oInValue, 0
		return s.push(g, v, c, out)
	}
	return out
}

// fits reports whether a value of schema n can be written below frame
// parent without passing the nesting limit (n.minDepth is the least
// nesting any value of n needs), so no key or comma is ever accepted whose
// value could not be written.
func fits(n *node, parent *frame) bool {
	return int(parent.depth)+int(n.minDepth) <= maxDepth
}

// extraAllowed: object frame f may take a key outside its properties.
func extraAllowed(f *frame) bool {
	return f.n.additional != nil && fits(f.n.additional, f)
}

// knownAllowed: property k may come next in object frame f (properties
// are written in schema order; required ones are not skipped).
func knownAllowed(f *frame, k int32) bool {
	n, next := f.n, f.a
	return k >= next && k <= n.firstReq[next] && n.props[k].n.sat && fits(n.props[k].n, f)
}

// feasibleKey: some property allowed next has a key beginning with the
// text at key trie node t.
func feasibleKey(f *frame, t int32) bool {
	n, next := f.n, f.a
	sub := n.keys.sub[t]
	i, _ := slices.BinarySearch(sub, next)
	for ; i < len(sub); i++ {
		k := sub[i]
		if k > n.firstReq[next] {
			return false
		}
		if n.props[k].n.sat && fits(n.props[k].n, f) {
			return true
		}
	}
	return false
}

func keyAvailable(f *frame) bool {
	return extraAllowed(f) || feasibleKey(f, 0)
}

// lexStep advances the JSON string lexer. States: 0 between characters,
// 1 after a backslash, 2..5 reading \u hex digits, 6..12 inside a
// multi-byte UTF-8 character (with the second-byte limits that exclude
// overlong forms and surrogates). start reports the first byte of a
// character, closing an unescaped quote.
func lexStep(st uint8, c byte) (next uint8, start, closing, ok bool) {
	switch st {
	case 0:
		switch {
		case c == '"':
			return 0, false, true, true
		case c == '\\':
			return 1, true, false, true
		case c < 0x20:
			return 0, false, false, false
		case c < 0x80:
			return 0, true, false, true
		case c >= 0xC2 && c <= 0xDF:
			return 6, true, false, true
		case c == 0xE0:
			return 8, true, false, true
		case c == 0xED:
			return 9, true, false, true
		case c >= 0xE1 && c <= 0xEF:
			return 7, true, false, true
		case c == 0xF0:
			return 11, true, false, true
		case c >= 0xF1 && c <= 0xF3:
			return 10, true, false, true
		case c == 0xF4:
			return 12, true, false, true
		}
		return 0, false, false, false
	case 1:
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			return 0, false, false, true
		case 'u':
			return 2, false, false, true
		}
		return 0, false, false, false
	case 2, 3, 4, 5:
		// No surrogate escapes (\uD800-\uDFFF): characters outside the
		// BMP are written as UTF-8, so every string decodes cleanly.
		if !isHex(c) || st == 2 && (c == 'd' || c == 'D') {
			return 0, false, false, false
		}
		if st == 5 {
			return 0, false, false, true
		}
		return st + 1, false, false, true
	case 6:
		if c >= 0x80 && c <= 0xBF {
			return 0, false, false, true
		}
	case 7:
		if c >= 0x80 && c <= 0xBF {
			return 6, false, false, true
		}
	case 10:
		if c >= 0x80 && c <= 0xBF {
			return 7, false, false, true
		}
	case 8:
		if c >= 0xA0 && c <= 0xBF {
			return 6, false, false, true
		}
	case 9:
		if c >= 0x80 && c <= 0x9F {
			return 6, false, false, true
		}
	case 11:
		if c >= 0x90 && c <= 0xBF {
			return 7, false, false, true
		}
	case 12:
		if c >= 0x80 && c <= 0x8F {
			return 7, false, false, true
		}
	}
	return 0, false, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// complete reports whether stack f holds a finished top-level value.
func complete(f *frame) bool {
	switch f.n.kind {
	case kRoot:
		return f.st == 1
	case kNumber:
		return f.parent.n.kind == kRoot && numAccepting(f)
	}
	return false
}

func equalStack(a, b *frame) bool {
	for a != b {
		if a == nil || b == nil {
			return false
		}
		if a.n != b.n || a.st != b.st || a.lex != b.lex || a.ws != b.ws || a.a != b.a || a.b != b.b || a.c != b.c || a.x != b.x || a.y != b.y {
			return false
		}
		a, b = a.parent, b.parent
	}
	return true
}

// maxStacks bounds the alternatives tracked at once; ambiguous schemas
// keep the first ones (each still a valid path).
const maxStacks = 2 * maxAlternatives

// step reads byte c from every stack of set and returns the new set in dst.
func (s *stepper) step(set []*frame, c byte, dst []*frame) []*frame {
	dst = dst[:0]
	for _, f := range set {
		dst = s.feed(f, c, dst)
	}
	if len(dst) > 1 {
		dst = dedupeStacks(dst)
	}
	return dst
}

func dedupeStacks(set []*frame) []*frame {
	out := set[:1]
	for _, f := range set[1:] {
		dup := false
		for _, g := range out {
			if equalStack(f, g) {
				dup = true
				break
			}
		}
		if !dup && len(out) < maxStacks {
			out = append(out, f)
		}
	}
	return out
}

// appendKey writes a state's identity for the mask cache. Counts that no
// single token (at most maxTok bytes) can bring to a limit do not change
// the mask, so they are left out: a long string or array then hits the
// cache at every step instead of walking the vocabulary again.
func appendKey(key []byte, set []*frame, maxTok int32) []byte {
	for _, f := range set {
		for ; f != nil; f = f.parent {
			key = binary.AppendUvarint(key, uint64(f.n.id))
			key = append(key, f.st, f.lex, f.ws)
			a := int64(f.a)
			switch f.n.kind {
			case kString:
				if f.a >= f.n.minLen && f.n.maxLen-f.a > maxTok {
					a = -1
				}
			case kArray:
				if f.a >= f.n.minItems && f.n.maxItems-f.a > maxTok {
					a = -1
				}
			}
			key = binary.AppendVarint(key, a)
			key = binary.AppendVarint(key, int64(f.b))
			key = binary.AppendVarint(key, int64(f.c))
			key = binary.AppendVarint(key, f.x)
			key = binary.AppendVarint(key, f.y)
		}
		key = append(key, 0xff)
	}
	return key
}
