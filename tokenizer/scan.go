package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Hand-written equivalents of the three pre-tokenizer regexes nearly every
// byte-level BPE model uses (GPT-2, Llama 3, Qwen 2). A backtracking regex
// engine spends most of the tokenization time on them; these scanners give
// the same pieces (FuzzScanners checks them against regexp2) several times
// faster. Each alternative of the regex is tried in order at every
// position, exactly as the regex alternation does.

type scanKind int

const (
	scanGPT2 scanKind = iota
	scanLlama3
	scanQwen2
)

type fastSplit struct {
	kind      scanKind
	maxDigits int // \p{N}{1,3} for Llama 3, 1 for Qwen 2
}

// fastScanner returns a hand-written equivalent of pattern when there is one.
func fastScanner(pattern string) preStep {
	switch pattern {
	case reGPT2, reGPT2 + `|\s+`:
		return &fastSplit{kind: scanGPT2}
	case reLlama3, hfLlama3Regex:
		return &fastSplit{kind: scanLlama3, maxDigits: 3}
	case reQwen2, hfQwen2Regex:
		return &fastSplit{kind: scanQwen2, maxDigits: 1}
	}
	return nil
}

// Character classes of the patterns.
const (
	clLetter uint8 = 1 << iota // \p{L}
	clNumber                   // \p{N}
	clSpace                    // \s
	clNL                       // [\r\n]
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clNumber
		case r == '\r' || r == '\n':
			asciiClass[c] = clSpace | clNL
		case unicode.IsSpace(r):
			asciiClass[c] = clSpace
		}
	}
}

// classAt decodes the rune at s[i] and classifies it. An invalid byte is
// one rune of its own (U+FFFD, a symbol), as in regexp2.
func classAt(s string, i int) (r rune, size int, cls uint8) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1, asciiClass[c]
	}
	r, size = utf8.DecodeRuneInString(s[i:])
	switch {
	case unicode.IsLetter(r):
		cls = clLetter
	case unicode.IsNumber(r):
		cls = clNumber
	case unicode.IsSpace(r):
		cls = clSpace
	}
	return r, size, cls
}

// other is [^\s\p{L}\p{N}].
func other(cls uint8) bool { return cls&(clLetter|clNumber|clSpace) == 0 }

func (f *fastSplit) split(s string, dst []string) []string {
	for i := 0; i < len(s); {
		var n int
		if f.kind == scanGPT2 {
			n = matchGPT2(s, i)
		} else {
			n = f.matchLlama3(s, i)
		}
		dst = append(dst, s[i:i+n])
		i += n
	}
	return dst
}

// run returns the end of the run of runes from i whose class has any of
// the bits in want, stopping after max runes (max <= 0: no limit).
func run(s string, i int, want uint8, max int) int {
	for count := 0; i < len(s) && (max <= 0 || count < max); count++ {
		_, n, c := classAt(s, i)
		if c&want == 0 {
			break
		}
		i += n
	}
	return i
}

// runOther returns the end of the run of [^\s\p{L}\p{N}] from i.
func runOther(s string, i int) int {
	for i < len(s) {
		_, n, c := classAt(s, i)
		if !other(c) {
			break
		}
		i += n
	}
	return i
}

// contraction matches 's 't 're 've 'm 'll 'd after an apostrophe at i,
// returning the match length (0 for none).
func contraction(s string, i int, anyCase bool) int {
	lower := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		c := s[k]
		if anyCase && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch lower(i + 1) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if lower(i+2) == 'e' {
			return 3
		}
	case 'l':
		if lower(i+2) == 'l' {
			return 3
		}
	}
	return 0
}

// whitespace handles the trailing whitespace alternatives at i (a space
// character): \s*[\r\n]+ (only when withNL), then \s+(?!\S), then \s+.
func whitespace(s string, i int, withNL bool) int {
	end, lastNL, lastStart, runes := i, -1, i, 0
	for end < len(s) {
		_, n, c := classAt(s, end)
		if c&clSpace == 0 {
			break
		}
		if c&clNL != 0 {
			lastNL = end
		}
		lastStart = end
		end += n
		runes++
	}
	if withNL && lastNL >= 0 {
		return lastNL + 1 - i
	}
	if end == len(s) || runes < 2 {
		return end - i
	}
	return lastStart - i
}

// matchLlama3 is
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (Qwen 2: \p{N} instead of \p{N}{1,3}).
func (f *fastSplit) matchLlama3(s string, i int) int {
	r, n, c := classAt(s, i)
	if r == '\'' {
		if m := contraction(s, i, true); m > 0 {
			return m
		}
	}
	if c&clLetter != 0 {
		return run(s, i, clLetter, 0) - i
	}
	if c&(clNumber|clNL) == 0 && i+n < len(s) {
		if _, _, c2 := classAt(s, i+n); c2&clLetter != 0 {
			return run(s, i+n, clLetter, 0) - i
		}
	}
	if c&clNumber != 0 {
		return run(s, i, clNumber, f.maxDigits) - i
	}
	j := i
	if r == ' ' && i+1 < len(s) {
		j = i + 1
	}
	if _, _, cj := classAt(s, j); other(cj) {
		e := runOther(s, j)
		for e < len(s) && (s[e] == '\r' || s[e] == '\n') {
			e++
		}
		return e - i
	}
	return whitespace(s, i, true)
}

// matchGPT2 is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func matchGPT2(s string, i int) int {
	r, _, c := classAt(s, i)
	if r == '\'' {
		if m := contraction(s, i, false); m > 0 {
			return m
		}
	}
	j, cj := i, c
	if r == ' ' && i+1 < len(s) {
		j = i + 1
		_, _, cj = classAt(s, j)
		if cj&clSpace != 0 {
			j, cj = i, c
		}
	}
	switch {
	case cj&clLetter != 0:
		return run(s, j, clLetter, 0) - i
	case cj&clNumber != 0:
		return run(s, j, clNumber, 0) - i
	case other(cj):
		return runOther(s, j) - i
	}
	return whitespace(s, i, false)
}
