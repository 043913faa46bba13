package grammar

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// A pattern (JSON Schema "pattern": an unanchored regular expression
// search) runs as a lazily built DFA over the string's decoded characters.
// DFA states are sets of program counters of Go's regexp program; each
// state is created on first use and shared by every generation, so the
// tables are guarded by a mutex.
type pattern struct {
	re      *regexp.Regexp // for Validate
	prog    *syntax.Prog
	live    []bool // pc can still reach a match
	startID int32
	// restartLive: a match can start after any character (unanchored
	// pattern), so no character can kill the search.
	restartLive bool

	mu      sync.Mutex
	sets    [][]uint32 // state -> sorted pcs (rune instructions, Match, EndText)
	matched []bool     // state: a match was already found (the rest is free)
	index   map[string]int32
	trans   []map[rune]int32
}

const maxPatternStates = 20000

func compilePattern(expr, path string) (*pattern, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("grammar: %s: pattern %q: %v", path, expr, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("grammar: %s: pattern %q: %v", path, expr, err)
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText|syntax.EmptyBeginLine|syntax.EmptyEndLine) != 0 {
			return nil, fmt.Errorf("grammar: %s: pattern %q: word boundaries are not supported", path, expr)
		}
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&(syntax.EmptyBeginLine|syntax.EmptyEndLine) != 0 {
			return nil, fmt.Errorf("grammar: %s: pattern %q: multi-line anchors are not supported", path, expr)
		}
	}
	std, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("grammar: %s: pattern %q: %v", path, expr, err)
	}
	p := &pattern{re: std, prog: prog, index: map[string]int32{}}
	p.computeLive()
	p.startID = p.intern(p.closure(nil, []uint32{uint32(prog.Start)}, true), false)
	for _, pc := range p.closure(nil, []uint32{uint32(prog.Start)}, false) {
		if p.live[pc] && p.prog.Inst[pc].Op != syntax.InstEmptyWidth {
			p.restartLive = true
		}
	}
	if !p.alive(p.startID) {
		return nil, fmt.Errorf("grammar: %s: pattern %q matches no string", path, expr)
	}
	return p, nil
}

// computeLive: a pc is live if some input leads from it to Match (EndText
// only directly before Match, BeginText never after the start: the
// closure resolves it at position 0).
func (p *pattern) computeLive() {
	insts := p.prog.Inst
	p.live = make([]bool, len(insts))
	for changed := true; changed; {
		changed = false
		for pc, in := range insts {
			if p.live[pc] {
				continue
			}
			l := false
			switch in.Op {
			case syntax.InstMatch:
				l = true
			case syntax.InstAlt, syntax.InstAltMatch:
				l = p.live[in.Out] || p.live[in.Arg]
			case syntax.InstCapture, syntax.InstNop:
				l = p.live[in.Out]
			case syntax.InstEmptyWidth:
				switch op := syntax.EmptyOp(in.Arg); {
				case op&syntax.EmptyBeginText != 0:
					l = false
				case op&syntax.EmptyEndText != 0:
					l = p.reachesMatch(in.Out, map[uint32]bool{})
				default:
					l = p.live[in.Out]
				}
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				l = p.live[in.Out] && (in.Op != syntax.InstRune || len(in.Rune) > 0)
			}
			if l {
				p.live[pc], changed = true, true
			}
		}
	}
}

// closure follows empty transitions from pcs; atStart says BeginText holds.
// Unanchored search: the start is added at every position by the caller.
func (p *pattern) closure(dst []uint32, pcs []uint32, atStart bool) []uint32 {
	seen := map[uint32]bool{}
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := p.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(in.Out)
			visit(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !atStart {
				return
			}
			if op&syntax.EmptyEndText != 0 {
				dst = append(dst, pc) // decided at the closing quote
				return
			}
			visit(in.Out)
		case syntax.InstFail:
		default:
			dst = append(dst, pc)
		}
	}
	for _, pc := range pcs {
		visit(pc)
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

func (p *pattern) intern(set []uint32, matched bool) int32 {
	for _, pc := range set {
		if p.prog.Inst[pc].Op == syntax.InstMatch {
			matched = true
		}
	}
	if matched {
		set = nil // everything after a match is free
	}
	key := make([]byte, 0, 1+4*len(set))
	if matched {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	for _, pc := range set {
		key = binary.LittleEndian.AppendUint32(key, pc)
	}
	if id, ok := p.index[string(key)]; ok {
		return id
	}
	if len(p.sets) >= maxPatternStates {
		return -1
	}
	id := int32(len(p.sets))
	p.sets = append(p.sets, set)
	p.matched = append(p.matched, matched)
	p.trans = append(p.trans, map[rune]int32{})
	p.index[string(key)] = id
	return id
}

func (p *pattern) alive(id int32) bool {
	if id < 0 {
		return false
	}
	if p.matched[id] {
		return true
	}
	for _, pc := range p.sets[id] {
		if p.live[pc] {
			return true
		}
	}
	return false
}

// step reads character r in state id; -1 when no match is reachable.
func (p *pattern) step(id int32, r rune) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if next, ok := p.trans[id][r]; ok {
		return next
	}
	var next int32
	if p.matched[id] {
		next = id
	} else {
		var pcs []uint32
		for _, pc := range p.sets[id] {
			in := p.prog.Inst[pc]
			switch in.Op {
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				if in.MatchRune(r) {
					pcs = append(pcs, in.Out)
				}
			}
		}
		pcs = append(pcs, uint32(p.prog.Start)) // unanchored: a match may start here
		next = p.intern(p.closure(nil, pcs, false), false)
		if !p.alive(next) {
			next = -1
		}
	}
	p.trans[id][r] = next
	return next
}

// accepting: the string may end in state id.
func (p *pattern) accepting(id int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.matched[id] {
		return true
	}
	for _, pc := range p.sets[id] {
		in := p.prog.Inst[pc]
		if in.Op == syntax.InstEmptyWidth && p.reachesMatch(in.Out, map[uint32]bool{}) {
			return true
		}
	}
	return false
}

// reachesMatch: Match is reachable from pc through empty transitions
// (at the end of the text: EndText holds, BeginText does not).
func (p *pattern) reachesMatch(pc uint32, seen map[uint32]bool) bool {
	if seen[pc] {
		return false
	}
	seen[pc] = true
	in := p.prog.Inst[pc]
	switch in.Op {
	case syntax.InstMatch:
		return true
	case syntax.InstAlt, syntax.InstAltMatch:
		return p.reachesMatch(in.Out, seen) || p.reachesMatch(in.Arg, seen)
	case syntax.InstCapture, syntax.InstNop:
		return p.reachesMatch(in.Out, seen)
	case syntax.InstEmptyWidth:
		if syntax.EmptyOp(in.Arg)&syntax.EmptyBeginText != 0 {
			return false
		}
		return p.reachesMatch(in.Out, seen)
	}
	return false
}

// patternChar decodes the character finished by byte c in a string frame
// (lexer state before c: lex, after: next; f.x holds the bytes or hex
// digits gathered so far). It returns the new accumulator and, when a
// character is complete, the character.
func patternChar(lex, next uint8, c byte, x int64) (int64, rune, bool) {
	switch {
	case lex == 0 && c == '\\':
		return 0, 0, false
	case lex == 0 && next == 0:
		return 0, rune(c), true
	case lex == 0:
		return int64(c), 0, false
	case lex == 1 && next == 0:
		r := rune(c)
		switch c {
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		}
		return 0, r, true
	case lex == 1:
		return 0, 0, false // \u: hex digits follow
	case lex >= 2 && lex <= 5:
		x = x*16 + int64(hexDigit(c))
		if next == 0 {
			return 0, rune(x), true
		}
		return x, 0, false
	}
	// UTF-8 continuation bytes.
	x = x<<8 | int64(c)
	if next != 0 {
		return x, 0, false
	}
	var b [4]byte
	n := 0
	for s := 24; s >= 0; s -= 8 {
		if v := byte(x >> s); v != 0 || n > 0 {
			b[n] = v
			n++
		}
	}
	r, _ := utf8.DecodeRune(b[:n])
	return 0, r, true
}

func hexDigit(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// pendingOK reports whether the character being written in a pattern
// string (lexer state lex, accumulator x) can still be completed by a
// character the pattern accepts in state id. Without this check a lead
// byte or a backslash could be accepted with no way to finish it.
func (p *pattern) pendingOK(id int32, lex uint8, x int64) bool {
	switch {
	case lex == 1: // after a backslash
		for _, r := range []rune{'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'} {
			if p.canTake(id, r, r) {
				return true
			}
		}
		return p.canTake(id, 0, 0xFFFF)
	case lex >= 2 && lex <= 5: // \u with lex-2 hex digits read
		k := uint(4 - (lex - 2))
		lo := rune(x) << (4 * k)
		return p.canTake(id, lo, lo+1<<(4*k)-1)
	}
	var b []byte
	for s := 24; s >= 0; s -= 8 {
		if v := byte(x >> s); v != 0 || len(b) > 0 {
			b = append(b, v)
		}
	}
	if len(b) == 0 {
		return true
	}
	lead := b[0]
	var v rune
	var total int
	var minR, maxR rune
	switch {
	case lead >= 0xF0:
		v, total, minR, maxR = rune(lead&0x07), 4, 0x10000, 0x10FFFF
	case lead >= 0xE0:
		v, total, minR, maxR = rune(lead&0x0F), 3, 0x800, 0xFFFF
		if lead == 0xED {
			maxR = 0xD7FF
		}
	default:
		v, total, minR, maxR = rune(lead&0x1F), 2, 0x80, 0x7FF
	}
	for _, c := range b[1:] {
		v = v<<6 | rune(c&0x3F)
	}
	k := uint(total - len(b))
	lo := v << (6 * k)
	hi := lo | (1<<(6*k) - 1)
	return p.canTake(id, max(lo, minR), min(hi, maxR))
}

// canTake: some character in [lo, hi] keeps state id alive.
func (p *pattern) canTake(id int32, lo, hi rune) bool {
	if lo > hi {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.matched[id] || p.restartLive {
		return true
	}
	for _, pc := range p.sets[id] {
		in := p.prog.Inst[pc]
		if !p.live[in.Out] {
			continue
		}
		switch in.Op {
		case syntax.InstRuneAny:
			return true
		case syntax.InstRuneAnyNotNL:
			if lo != '\n' || hi != '\n' {
				return true
			}
		case syntax.InstRune1:
			if in.Rune[0] >= lo && in.Rune[0] <= hi {
				return true
			}
		case syntax.InstRune:
			if len(in.Rune) == 1 {
				// A single rune, with its case-folding orbit under (?i)
				// (Go's compiler keeps FoldCase only on single runes).
				r0 := in.Rune[0]
				for r := r0; ; {
					if r >= lo && r <= hi {
						return true
					}
					if syntax.Flags(in.Arg)&syntax.FoldCase == 0 {
						break
					}
					if r = unicode.SimpleFold(r); r == r0 {
						break
					}
				}
				continue
			}
			for i := 0; i+1 < len(in.Rune); i += 2 {
				if in.Rune[i] <= hi && in.Rune[i+1] >= lo {
					return true
				}
			}
		}
	}
	return false
}
