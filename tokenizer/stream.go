package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder turns generated tokens into text as they arrive. It holds
// back bytes until they form complete UTF-8 characters, so a character split
// across byte-fallback tokens (<0xE4><0xBD><0xA0>) or across byte-level BPE
// tokens is never emitted half-way; bytes that can never become valid UTF-8
// are emitted as U+FFFD.
type StreamDecoder struct {
	t          *Tokenizer
	buf        []byte
	stripSpace bool
	special    bool
}

// NewStreamDecoder returns a decoder. startOfText tells whether the tokens
// begin the text (then the SentencePiece dummy-prefix space of the first
// piece is dropped, as in Decode); for tokens generated after a prompt pass
// false. Control tokens are rendered as their text except BOS and EOS.
func (t *Tokenizer) NewStreamDecoder(startOfText bool) *StreamDecoder {
	return &StreamDecoder{t: t, stripSpace: startOfText && t.kind == KindSPM && t.addSpacePrefix, special: true}
}

// SetRenderSpecial chooses whether control tokens other than BOS/EOS are
// rendered as their text (the default) or dropped.
func (d *StreamDecoder) SetRenderSpecial(on bool) { d.special = on }

// Add appends one token and returns the text that is now complete.
func (d *StreamDecoder) Add(id int32) string {
	t := d.t
	p := t.Piece(id, d.special && id != t.bos && id != t.eos)
	if p == "" {
		return ""
	}
	if d.stripSpace && !t.IsControl(id) {
		if t.Type(id) == TypeNormal {
			p = strings.TrimPrefix(p, " ")
		}
		d.stripSpace = false
	}
	d.buf = append(d.buf, p...)
	n := completeUTF8(d.buf)
	if n == 0 {
		return ""
	}
	out := strings.ToValidUTF8(string(d.buf[:n]), "\uFFFD")
	d.buf = append(d.buf[:0], d.buf[n:]...)
	return out
}

// Flush returns whatever is held back (an incomplete character becomes
// U+FFFD) and resets the decoder's buffer.
func (d *StreamDecoder) Flush() string {
	if len(d.buf) == 0 {
		return ""
	}
	out := strings.ToValidUTF8(string(d.buf), "\uFFFD")
	d.buf = d.buf[:0]
	return out
}

// Pending reports how many bytes are held back.
func (d *StreamDecoder) Pending() int { return len(d.buf) }

// completeUTF8 returns the length of the longest prefix of b that does not
// end inside a character that later bytes could still complete.
func completeUTF8(b []byte) int {
	// A UTF-8 character is at most 4 bytes: only the last 3 can be the
	// start of an unfinished one.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < 0x80 {
			return len(b)
		}
		if c >= 0xC0 { // a lead byte
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			// Incomplete: hold it back if it can still become valid.
			if couldComplete(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}

// couldComplete reports whether the incomplete sequence p is a valid prefix
// of some UTF-8 character.
func couldComplete(p []byte) bool {
	var buf [4]byte
	n := copy(buf[:], p)
	need := utf8Len(p[0])
	if need <= n {
		return false
	}
	for i := n; i < need; i++ {
		buf[i] = 0x80
	}
	// Try the smallest and largest continuation bytes: the ranges of the
	// second byte depend on the lead byte (E0, ED, F0, F4).
	for _, cont := range []byte{0x80, 0x9F, 0xA0, 0xBF, 0x90, 0x8F} {
		for i := n; i < need; i++ {
			buf[i] = cont
		}
		if r, size := utf8.DecodeRune(buf[:need]); r != utf8.RuneError && size == need {
			return true
		}
	}
	return false
}
