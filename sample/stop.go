package sample

import "strings"

// Stopper finds stop strings in streamed text. Text that might be the start
// of a stop string is held back until it is known not to be, so a stop
// string is never shown to the user.
type Stopper struct {
	stops   []string
	pending string
}

// NewStopper watches for stops (empty strings are ignored).
func NewStopper(stops []string) *Stopper {
	s := &Stopper{}
	for _, x := range stops {
		if x != "" {
			s.stops = append(s.stops, x)
		}
	}
	return s
}

// Push adds a piece of generated text. It returns the text that is safe to
// emit and whether a stop string was found (the text before it is emitted,
// the rest dropped).
func (s *Stopper) Push(piece string) (emit string, stopped bool) {
	s.pending += piece
	if len(s.stops) == 0 {
		emit, s.pending = s.pending, ""
		return emit, false
	}
	first := -1
	for _, st := range s.stops {
		if i := strings.Index(s.pending, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		emit = s.pending[:first]
		s.pending = ""
		return emit, true
	}
	// Hold back the longest suffix that is a prefix of some stop string.
	hold := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(s.pending)); k > hold; k-- {
			if strings.HasSuffix(s.pending, st[:k]) {
				hold = k
				break
			}
		}
	}
	emit = s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	return emit, false
}

// Flush returns any held-back text (at the end of generation).
func (s *Stopper) Flush() string {
	p := s.pending
	s.pending = ""
	return p
}
