package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Byte-level BPE, as llama.cpp's llm_tokenizer_bpe and Hugging Face's BPE
// model: the pre-tokenizer cuts text into words, each word's bytes are
// written in GPT-2's printable byte alphabet, and adjacent symbols are
// merged by merge rank (lowest first, ties to the leftmost pair).

// byteToRune is GPT-2's bytes_to_unicode table (and byteToStr the same as strings).
var (
	byteToRune [256]rune
	byteToStr  [256]string
	// runeToByteTab inverts byteToRune; the alphabet lies below U+0144.
	runeToByteTab [0x144]int16
)

func init() {
	for i := range runeToByteTab {
		runeToByteTab[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		byteToStr[b] = string(byteToRune[b])
		runeToByteTab[byteToRune[b]] = int16(b)
	}
}

// encodeByteLevel writes s's bytes in the GPT-2 byte alphabet.
func encodeByteLevel(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteToStr[s[i]])
	}
	return sb.String()
}

// decodeByteLevel maps GPT-2 alphabet characters back to bytes; characters
// outside the alphabet are kept as they are.
func decodeByteLevel(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < rune(len(runeToByteTab)) && runeToByteTab[r] >= 0 {
			b = append(b, byte(runeToByteTab[r]))
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}

// symbol is one piece of a word being merged; merged-away symbols keep
// n == 0 and are unlinked from the prev/next list.
type symbol struct {
	start, n   int32
	id         int32 // token id of the piece, or noToken (unused by SentencePiece scores)
	prev, next int32
}

// bigram is a candidate merge of two adjacent symbols. Byte-level BPE
// orders candidates by merge rank (lowest first) and SentencePiece by score
// (highest first); each leaves the other key zero, so one ordering serves
// both. size detects candidates made stale by an earlier merge.
type bigram struct {
	left, right int32
	rank        int32
	score       float32
	size        int32
}

func bigramLess(a, b *bigram) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// bigramHeap is a hand-written binary heap: container/heap would box every
// pushed bigram in an interface.
type bigramHeap []bigram

func (h *bigramHeap) push(b bigram) {
	*h = append(*h, b)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !bigramLess(&s[i], &s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && bigramLess(&s[r], &s[l]) {
			m = r
		}
		if !bigramLess(&s[m], &s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// wordCache remembers the ids of recent words: natural text repeats words
// constantly, and a hit skips the merge loop entirely.
type wordCache struct {
	mu sync.Mutex
	m  map[string][]int32
}

const wordCacheMax = 1 << 16

func newWordCache() *wordCache { return &wordCache{m: make(map[string][]int32)} }

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.Lock()
	ids, ok := c.m[w]
	c.mu.Unlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	if len(w) > 64 {
		return
	}
	c.mu.Lock()
	if len(c.m) >= wordCacheMax {
		clear(c.m)
	}
	c.m[strings.Clone(w)] = ids
	c.mu.Unlock()
}

// encodeBPE tokenizes one raw-text fragment.
func (t *Tokenizer) encodeBPE(text string, out []int32) ([]int32, error) {
	words := t.pretok.split(text)
	for _, w := range words {
		if ids, ok := t.cache.get(w); ok {
			out = append(out, ids...)
			continue
		}
		start := len(out)
		enc := w
		if t.pretok.byteLevel {
			enc = encodeByteLevel(w)
		}
		out = t.bpeWord(enc, out)
		t.cache.put(w, append([]int32(nil), out[start:]...))
	}
	return out, nil
}

// bpeWord merges one byte-encoded word.
func (t *Tokenizer) bpeWord(word string, out []int32) []int32 {
	if word == "" {
		return out
	}
	if t.ignoreMerges {
		if id, ok := t.ids[word]; ok {
			return append(out, id)
		}
	}
	var symBuf [64]symbol
	syms := symBuf[:0]
	for off := 0; off < len(word); {
		n := min(utf8Len(word[off]), len(word)-off)
		idx := int32(len(syms))
		next := idx + 1
		if off+n == len(word) {
			next = -1
		}
		id, ok := t.ids[word[off:off+n]]
		if !ok {
			id = noToken
		}
		syms = append(syms, symbol{start: int32(off), n: int32(n), id: id, prev: idx - 1, next: next})
		off += n
	}
	if len(syms) == 1 {
		return t.emitBPESymbol(word, &syms[0], out)
	}
	t.mergeByRank(word, syms)
	for i := int32(0); i != -1; i = syms[i].next {
		out = t.emitBPESymbol(word, &syms[i], out)
	}
	return out
}

// mergeByRank applies merges to the linked symbols of text in rank order,
// as Hugging Face's BPE model: the pair with the lowest merge rank first,
// ties to the leftmost. A merged piece that is not itself a token gets
// noToken and merges no further.
func (t *Tokenizer) mergeByRank(text string, syms []symbol) {
	var heapBuf [64]bigram
	heap := bigramHeap(heapBuf[:0])
	tryAdd := func(left, right int32) {
		if left < 0 || right < 0 {
			return
		}
		l, r := &syms[left], &syms[right]
		if l.id < 0 || r.id < 0 {
			return
		}
		rank, ok := t.ranks[[2]int32{l.id, r.id}]
		if !ok {
			return
		}
		heap.push(bigram{left: left, right: right, rank: rank, size: l.n + r.n})
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(int32(i-1), int32(i))
	}
	for len(heap) > 0 {
		b := heap.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size || l.next != b.right {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		if id, ok := t.ids[text[l.start:l.start+l.n]]; ok {
			l.id = id
		} else {
			l.id = noToken
		}
		tryAdd(l.prev, b.left)
		tryAdd(b.left, l.next)
	}
}

func (t *Tokenizer) emitBPESymbol(word string, s *symbol, out []int32) []int32 {
	if s.id >= 0 {
		return append(out, s.id)
	}
	// llama.cpp: a symbol that is not a token falls back to its single
	// bytes that are tokens, silently dropping the others.
	piece := word[s.start : s.start+s.n]
	for j := 0; j < len(piece); j++ {
		if id, ok := t.ids[piece[j:j+1]]; ok {
			out = append(out, id)
		}
	}
	return out
}
