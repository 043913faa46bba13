package tokenizer

import "strings"

// SentencePiece BPE, as llama.cpp's llm_tokenizer_spm: the text is split
// into UTF-8 characters, then the adjacent pair whose concatenation is the
// highest-scoring token is merged repeatedly (ties go to the leftmost pair).
// Symbols left that are not tokens are emitted as byte tokens <0xNN>.

// normalizeExtraWhitespace applies sentencepiece's whitespace rules for vocabularies
// read from a tokenizer.model with remove_extra_whitespaces: leading and
// trailing spaces are dropped and runs of spaces become one.
func normalizeExtraWhitespace(text string) string {
	if !strings.Contains(text, " ") {
		return text
	}
	var sb strings.Builder
	sb.Grow(len(text))
	prevSpace := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		sb.WriteByte(c)
	}
	return strings.TrimRight(sb.String(), " ")
}

// encodeSPM tokenizes one raw-text fragment. prevSpecial tells whether the
// fragment starts the input or follows a special token, where llama.cpp
// adds the dummy-prefix space.
func (t *Tokenizer) encodeSPM(text string, prevSpecial bool, out []int32) []int32 {
	if t.removeExtraWS {
		text = normalizeExtraWhitespace(text)
		if text == "" {
			return out
		}
	}
	if t.addSpacePrefix && prevSpecial {
		text = " " + text
	}
	if text == "" {
		return out
	}
	text = strings.ReplaceAll(text, " ", "▁")
	if !t.spmCutSafe {
		return t.spmSegment(text, out)
	}
	// No token has ▁ right after another character, so no merge can
	// cross the start of a ▁ that follows another character: each such
	// segment is merged on its own, with the same result and a much
	// smaller heap.
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == 0xE2 && strings.HasPrefix(text[i:], "▁") && !strings.HasSuffix(text[:i], "▁") {
			out = t.spmCached(text[start:i], out)
			start = i
		}
	}
	return t.spmCached(text[start:], out)
}

// spmCached merges a segment through the word cache: text repeats words.
func (t *Tokenizer) spmCached(seg string, out []int32) []int32 {
	if ids, ok := t.cache.get(seg); ok {
		return append(out, ids...)
	}
	n := len(out)
	out = t.spmSegment(seg, out)
	t.cache.put(seg, append([]int32(nil), out[n:]...))
	return out
}

// spmSegment merges one stretch of escaped text.
func (t *Tokenizer) spmSegment(text string, out []int32) []int32 {
	if t.ranks != nil {
		return t.spmRankSegment(text, out)
	}
	var symBuf [64]symbol
	syms := symBuf[:0]
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		idx := int32(len(syms))
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: idx - 1, next: next})
		off += n
	}
	var heapBuf [64]bigram
	heap := bigramHeap(heapBuf[:0])
	tryAdd := func(left, right int32) {
		if left < 0 || right < 0 {
			return
		}
		l, r := &syms[left], &syms[right]
		s := text[l.start : l.start+l.n+r.n]
		id, ok := t.ids[s]
		if !ok {
			return
		}
		heap.push(bigram{left: left, right: right, score: t.scores[id], size: int32(len(s))})
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(int32(i-1), int32(i))
	}
	for len(heap) > 0 {
		b := heap.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		tryAdd(l.prev, b.left)
		tryAdd(b.left, l.next)
	}
	for i := int32(0); i != -1 && int(i) < len(syms); i = syms[i].next {
		s := &syms[i]
		piece := text[s.start : s.start+s.n]
		if id, ok := t.ids[piece]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := t.byteIDs[piece[j]]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}

// spmRankSegment is Hugging Face's BPE over ▁-escaped text with byte
// fallback: characters that are not tokens become their byte tokens before
// merging, and pairs merge by merge rank.
func (t *Tokenizer) spmRankSegment(text string, out []int32) []int32 {
	var symBuf [64]symbol
	syms := symBuf[:0]
	add := func(start, n, id int32) {
		idx := int32(len(syms))
		syms = append(syms, symbol{start: start, n: n, id: id, prev: idx - 1, next: idx + 1})
	}
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		if id, ok := t.ids[text[off:off+n]]; ok {
			add(int32(off), int32(n), id)
		} else {
			for j := 0; j < n; j++ {
				add(int32(off+j), 1, t.byteIDs[text[off+j]])
			}
		}
		off += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	t.mergeByRank(text, syms)
	for i := int32(0); i != -1; i = syms[i].next {
		if s := &syms[i]; s.id >= 0 {
			out = append(out, s.id)
		} else if t.unk >= 0 {
			out = append(out, t.unk)
		}
	}
	return out
}
