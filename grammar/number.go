package grammar

import (
	"encoding/json"
	"fmt"
	"math/big"
)

// numBounds are minimum/maximum (and their exclusive forms). With bounds a
// number is written without an exponent, and every prefix is checked to
// still have a completion inside the range, so generation never reaches a
// number it cannot finish.
type numBounds struct {
	lo, hi     *big.Rat // nil: unbounded on that side
	loEx, hiEx bool
	integer    bool
	// Integer bounds as int64 (clamped to ±intClamp), the fast path used
	// while walking the vocabulary.
	ilo, ihi int64
}

const intClamp = int64(1e17)

var (
	ratEps  = new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(maxFracDigit), nil))
	ratOne  = big.NewRat(1, 1)
	ratZero = new(big.Rat)
	ratTen  = big.NewRat(10, 1)
)

func parseBounds(s *omap, integer bool, path string) (*numBounds, error) {
	b := &numBounds{integer: integer}
	any := false
	num := func(k string) (*big.Rat, bool, error) {
		v, ok := s.m[k]
		if !ok {
			return nil, false, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return nil, false, fmt.Errorf("grammar: %s: %s must be a number", path, k)
		}
		r, ok := parseRat(string(n))
		if !ok {
			return nil, false, fmt.Errorf("grammar: %s: %s: bad number %s", path, k, n)
		}
		return r, true, nil
	}
	for _, side := range []struct {
		key, ex string
		lower   bool
	}{{"minimum", "exclusiveMinimum", true}, {"maximum", "exclusiveMaximum", false}} {
		r, ok, err := num(side.key)
		if err != nil {
			return nil, err
		}
		excl := false
		if e, has := s.m[side.ex]; has {
			switch t := e.(type) {
			case bool: // draft 4: a flag on minimum/maximum
				excl = t
			default:
				er, _, err := num(side.ex)
				if err != nil {
					return nil, err
				}
				// Both given: keep the tighter one.
				if !ok || side.lower && er.Cmp(r) >= 0 || !side.lower && er.Cmp(r) <= 0 {
					r, ok, excl = er, true, true
				}
			}
		}
		if !ok {
			continue
		}
		any = true
		if side.lower {
			b.lo, b.loEx = r, excl
		} else {
			b.hi, b.hiEx = r, excl
		}
	}
	if !any {
		return nil, nil
	}
	if integer {
		// Integer-valued inclusive bounds.
		if b.lo != nil {
			f := ratFloor(b.lo)
			if f.Cmp(b.lo) < 0 || b.loEx {
				f.Add(f, ratOne)
			}
			b.lo, b.loEx = f, false
		}
		if b.hi != nil {
			f := ratFloor(b.hi)
			if f.Cmp(b.hi) == 0 && b.hiEx {
				f.Sub(f, ratOne)
			}
			b.hi, b.hiEx = f, false
		}
		b.ilo, b.ihi = -intClamp, intClamp
		if b.lo != nil {
			b.ilo = clampInt(b.lo)
		}
		if b.hi != nil {
			b.ihi = clampInt(b.hi)
		}
	}
	return b, nil
}

func clampInt(r *big.Rat) int64 {
	if r.Cmp(new(big.Rat).SetInt64(intClamp)) > 0 {
		return intClamp
	}
	if r.Cmp(new(big.Rat).SetInt64(-intClamp)) < 0 {
		return -intClamp
	}
	return r.Num().Int64() // integral after parseBounds
}

// intMeets: magnitudes [a, b] with sign neg intersect the integer bounds.
func (nb *numBounds) intMeets(neg bool, a, b int64) bool {
	if neg {
		a, b = -b, -a
	}
	return max(a, nb.ilo) <= min(b, nb.ihi)
}

// intPrefixOK is prefixOK for integers, in int64.
func (nb *numBounds) intPrefixOK(g *frame) bool {
	neg := g.b == 1
	switch g.st {
	case 1:
		return nb.intMeets(true, 1, intClamp)
	case 2:
		return nb.intMeets(neg, 0, 0)
	case 3:
		lo, hi := g.x, g.x+1
		for k := g.a; k <= maxIntDigits; k++ {
			if nb.intMeets(neg, lo, hi-1) {
				return true
			}
			lo, hi = lo*10, hi*10
		}
	}
	return false
}

func ratFloor(r *big.Rat) *big.Rat {
	q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for positive denominators
	return new(big.Rat).SetInt(q)
}

// meets reports whether [a, b] intersects the bounds.
func (nb *numBounds) meets(a, b *big.Rat) bool {
	L, H := a, b
	lIn, hIn := true, true
	if nb.lo != nil {
		if c := nb.lo.Cmp(L); c > 0 || c == 0 && nb.loEx {
			L, lIn = nb.lo, !nb.loEx
		}
	}
	if nb.hi != nil {
		if c := nb.hi.Cmp(H); c < 0 || c == 0 && nb.hiEx {
			H, hIn = nb.hi, !nb.hiEx
		}
	}
	c := L.Cmp(H)
	return c < 0 || c == 0 && lIn && hIn
}

func (nb *numBounds) contains(v *big.Rat) bool { return nb.meets(v, v) }

// limit is the largest magnitude the generator writes.
func (nb *numBounds) limit() *big.Rat {
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(maxIntDigits), nil))
	return p.Sub(p, nb.step())
}

func (nb *numBounds) step() *big.Rat {
	if nb.integer {
		return ratOne
	}
	return ratEps
}

func (nb *numBounds) feasible() bool {
	l := nb.limit()
	return nb.meets(new(big.Rat).Neg(l), l)
}

// magnitude interval [lo, hi] checked with the frame's sign.
func (nb *numBounds) signed(neg bool, lo, hi *big.Rat) bool {
	if neg {
		return nb.meets(new(big.Rat).Neg(hi), new(big.Rat).Neg(lo))
	}
	return nb.meets(lo, hi)
}

// prefixOK reports whether number prefix g can still end inside the bounds.
func (nb *numBounds) prefixOK(g *frame) bool {
	if nb.integer {
		return nb.intPrefixOK(g)
	}
	neg := g.b == 1
	step := nb.step()
	switch g.st {
	case 1:
		// Only when some value below zero is allowed (no pointless "-0").
		return nb.signed(neg, step, nb.limit())
	case 2:
		if nb.integer {
			return nb.signed(neg, ratZero, ratZero)
		}
		return nb.signed(neg, ratZero, new(big.Rat).Sub(ratOne, ratEps))
	case 3:
		lo := new(big.Rat).SetInt64(g.x)
		hi := new(big.Rat).SetInt64(g.x + 1)
		for k := g.a; k <= maxIntDigits; k++ {
			if nb.signed(neg, lo, new(big.Rat).Sub(hi, step)) {
				return true
			}
			lo.Mul(lo, ratTen)
			hi.Mul(hi, ratTen)
		}
		return false
	case 4, 5:
		v := fracValue(g)
		if g.c >= maxFracDigit {
			return nb.signed(neg, v, v)
		}
		w := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(g.c)), nil))
		w.Add(w, v)
		return nb.signed(neg, v, w.Sub(w, ratEps))
	}
	return false
}

// fracValue is the magnitude x + y/10^c.
func fracValue(g *frame) *big.Rat {
	v := new(big.Rat).SetFrac(big.NewInt(g.y), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(g.c)), nil))
	return v.Add(v, new(big.Rat).SetInt64(g.x))
}

func numAccepting(f *frame) bool {
	switch f.st {
	case 2, 3, 5, 8:
	default:
		return false
	}
	nb := f.n.bounds
	if nb == nil {
		return true
	}
	if nb.integer {
		v := f.x
		if f.b == 1 {
			v = -v
		}
		return v >= nb.ilo && v <= nb.ihi
	}
	v := fracValue(f)
	if f.b == 1 {
		v.Neg(v)
	}
	return nb.contains(v)
}

// number reads byte c in a number (JSON's grammar; bounded digit counts).
func (s *stepper) number(f *frame, c byte, out []*frame) []*frame {
	n := f.n
	bd := n.bounds
	g := *f
	ok := false
	digit := c >= '0' && c <= '9'
	d := int64(c - '0')
	exp := (c == 'e' || c == 'E') && !n.integer && bd == nil
	switch f.st {
	case 0, 1:
		switch {
		case c == '-' && f.st == 0:
			g.st, g.b, ok = 1, 1, true
		case c == '0':
			g.st, ok = 2, true
		case digit:
			g.st, g.a, ok = 3, 1, true
			if bd != nil {
				g.x = d
			}
		}
	case 2, 3:
		switch {
		case digit && f.st == 3 && f.a < maxIntDigits:
			g.a, ok = f.a+1, true
			if bd != nil {
				g.x = f.x*10 + d
			}
		case c == '.' && !n.integer:
			g.st, g.a, ok = 4, 0, true
		case exp:
			g.st, g.a, ok = 6, 0, true
		}
	case 4, 5:
		switch {
		case digit && f.a < maxFracDigit:
			g.st, g.a, ok = 5, f.a+1, true
			if bd != nil {
				g.y, g.c = f.y*10+d, f.c+1
			}
		case exp && f.st == 5:
			g.st, g.a, ok = 6, 0, true
		}
	case 6, 7:
		switch {
		case (c == '+' || c == '-') && f.st == 6:
			g.st, ok = 7, true
		case digit:
			g.st, g.a, ok = 8, 1, true
		}
	case 8:
		if digit && f.a < maxExpDigits {
			g.a, ok = f.a+1, true
		}
	}
	if ok && (bd == nil || bd.prefixOK(&g)) {
		out = append(out, s.clone(&g))
	}
	if numAccepting(f) {
		out = s.feed(s.done(f.parent), c, out)
	}
	return out
}

// parseRat parses a JSON number exactly, refusing exponents so large that
// the exact value would take megabytes (1e999999999).
func parseRat(s string) (*big.Rat, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			e := s[i+1:]
			if len(e) > 0 && (e[0] == '+' || e[0] == '-') {
				e = e[1:]
			}
			for len(e) > 1 && e[0] == '0' {
				e = e[1:]
			}
			if len(e) > 4 {
				return nil, false
			}
			break
		}
	}
	return new(big.Rat).SetString(s)
}
