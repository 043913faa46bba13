package jinja

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a template error. Kind is jinja2's exception class name
// (TemplateSyntaxError, TemplateError for raise_exception, UndefinedError,
// TypeError, ...), so callers can show the same text Python would.
type Error struct {
	Kind string
	Msg  string
	Line int // 1-based template line, 0 when unknown
}

// Error formats the error as Python prints it: "Kind: message".
func (e *Error) Error() string { return e.Kind + ": " + e.Msg }

func syntaxErr(line int, format string, args ...any) *Error {
	return &Error{Kind: "TemplateSyntaxError", Msg: fmt.Sprintf(format, args...), Line: line}
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tData
	tVarBegin
	tVarEnd
	tBlockBegin
	tBlockEnd
	tName
	tString
	tInt
	tFloat
	tOp
)

type token struct {
	kind tokKind
	val  string // text, name, operator, unescaped string, number text
	line int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of template"
	case tVarEnd:
		return "end of print statement"
	case tBlockEnd:
		return "end of statement block"
	case tVarBegin:
		return "begin of print statement"
	case tBlockBegin:
		return "begin of statement block"
	case tData:
		return "template data / text"
	case tString:
		return "string"
	case tInt:
		return "integer"
	case tFloat:
		return "float"
	}
	return t.val
}

// isPySpace is Python's str.isspace for one rune.
func isPySpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x1f, 0x85:
		return true
	}
	return r > 0x7f && unicode.IsSpace(r)
}

func pyRStrip(s string) string { return strings.TrimRightFunc(s, isPySpace) }

// lex splits a template into tokens with jinja2's rules as Hugging Face
// configures them: trim_blocks (a newline right after a block or comment tag
// is dropped) and lstrip_blocks (spaces and tabs before a block or comment tag
// at the start of a line are dropped), plus "-"/"+" whitespace control.
func lex(src string) ([]token, error) {
	// jinja2 normalises every line ending to "\n" and, without
	// keep_trailing_newline, drops one newline at the very end.
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	}
	src = strings.TrimSuffix(src, "\n")
	var toks []token
	pos, line := 0, 1
	lineStarting := true
	emitData := func(text string, atLine int) {
		if text != "" {
			toks = append(toks, token{kind: tData, val: text, line: atLine})
		}
	}
	for pos < len(src) {
		idx := findOpener(src, pos)
		if idx < 0 {
			emitData(src[pos:], line)
			break
		}
		text := src[pos:idx]
		textLine := line
		line += strings.Count(text, "\n")
		kind := src[idx+1] // '{', '%', '#'
		p := idx + 2
		sign := byte(0)
		if p < len(src) && (src[p] == '-' || src[p] == '+') {
			sign = src[p]
			p++
		}
		// raw blocks are recognised by the lexer, as jinja2 does.
		if kind == '%' {
			if end, ok := matchRawBegin(src, p); ok {
				text = applyLStrip(text, sign, true, lineStarting)
				emitData(text, textLine)
				line += strings.Count(src[idx:end], "\n")
				rawEnd, body, after, bodySign, err := findRawEnd(src, end)
				if err != nil {
					return nil, syntaxErr(line, "%s", err.Error())
				}
				body = applyLStrip(body, bodySign, true, strings.HasSuffix(src[idx:end], "\n"))
				emitData(body, line)
				line += strings.Count(src[end:after], "\n")
				lineStarting = strings.HasSuffix(src[rawEnd:after], "\n")
				pos = after
				continue
			}
		}
		text = applyLStrip(text, sign, kind != '{', lineStarting)
		emitData(text, textLine)
		switch kind {
		case '#':
			end := strings.Index(src[p:], "#}")
			if end < 0 {
				return nil, syntaxErr(line, "Missing end of comment tag")
			}
			end += p
			body := src[idx:end]
			after := end + 2
			switch {
			case end > p && src[end-1] == '-':
				after = skipSpace(src, after)
			case end > p && src[end-1] == '+':
			default:
				if after < len(src) && src[after] == '\n' {
					after++
				}
			}
			line += strings.Count(body, "\n") + strings.Count(src[end:after], "\n")
			lineStarting = after > 0 && src[after-1] == '\n'
			pos = after
		default:
			begin, endKind := tVarBegin, tVarEnd
			if kind == '%' {
				begin, endKind = tBlockBegin, tBlockEnd
			}
			toks = append(toks, token{kind: begin, line: line})
			line += strings.Count(src[idx:p], "\n")
			var err error
			var endText string
			toks, pos, line, endText, err = lexTag(src, p, line, kind, toks)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: endKind, line: line})
			line += strings.Count(endText, "\n")
			lineStarting = strings.HasSuffix(endText, "\n")
		}
	}
	toks = append(toks, token{kind: tEOF, line: line})
	return toks, nil
}

func findOpener(src string, pos int) int {
	for {
		i := strings.IndexByte(src[pos:], '{')
		if i < 0 {
			return -1
		}
		i += pos
		if i+1 < len(src) {
			switch src[i+1] {
			case '{', '%', '#':
				return i
			}
		}
		pos = i + 1
	}
}

func skipSpace(src string, p int) int {
	for p < len(src) {
		r, n := utf8.DecodeRuneInString(src[p:])
		if !isPySpace(r) {
			break
		}
		p += n
	}
	return p
}

// applyLStrip applies "-" (strip all whitespace before the tag) or
// lstrip_blocks (strip spaces/tabs between a line start and a block tag).
func applyLStrip(text string, sign byte, blockOrComment, lineStarting bool) string {
	if sign == '-' {
		return pyRStrip(text)
	}
	if sign == '+' || !blockOrComment {
		return text
	}
	lpos := strings.LastIndexByte(text, '\n') + 1
	if lpos > 0 || lineStarting {
		rest := text[lpos:]
		if rest != "" && strings.TrimLeftFunc(rest, isPySpace) == "" {
			return text[:lpos]
		}
	}
	return text
}

// matchRawBegin matches `\s*raw\s*(-%}\s*|%})` at p.
func matchRawBegin(src string, p int) (int, bool) {
	q := skipSpace(src, p)
	if !strings.HasPrefix(src[q:], "raw") {
		return 0, false
	}
	q += 3
	if q < len(src) && isNameChar(src[q]) {
		return 0, false
	}
	q = skipSpace(src, q)
	if strings.HasPrefix(src[q:], "-%}") {
		return skipSpace(src, q+3), true
	}
	if strings.HasPrefix(src[q:], "%}") {
		return q + 2, true
	}
	return 0, false
}

// findRawEnd finds `{%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?)` from p.
func findRawEnd(src string, p int) (tagStart int, body string, after int, sign byte, err error) {
	for q := p; ; {
		i := strings.Index(src[q:], "{%")
		if i < 0 {
			return 0, "", 0, 0, fmt.Errorf("Missing end of raw directive")
		}
		i += q
		r := i + 2
		s := byte(0)
		if r < len(src) && (src[r] == '-' || src[r] == '+') {
			s = src[r]
			r++
		}
		r = skipSpace(src, r)
		if strings.HasPrefix(src[r:], "endraw") {
			r = skipSpace(src, r+6)
			switch {
			case strings.HasPrefix(src[r:], "+%}"):
				return i, src[p:i], r + 3, s, nil
			case strings.HasPrefix(src[r:], "-%}"):
				return i, src[p:i], skipSpace(src, r+3), s, nil
			case strings.HasPrefix(src[r:], "%}"):
				a := r + 2
				if a < len(src) && src[a] == '\n' {
					a++
				}
				return i, src[p:i], a, s, nil
			}
		}
		q = i + 2
	}
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

var operators3 = []string{"//", "**", "==", "!=", "<=", ">="}

// lexTag tokenizes the inside of a {{ }} or {% %} tag up to its end marker.
// End markers inside brackets do not count, as in jinja2.
func lexTag(src string, p, line int, kind byte, toks []token) ([]token, int, int, string, error) {
	var balance []byte
	for {
		if p >= len(src) {
			if kind == '%' {
				return nil, 0, 0, "", syntaxErr(line, "unexpected end of template, expected 'end of statement block'.")
			}
			return nil, 0, 0, "", syntaxErr(line, "unexpected end of template, expected 'end of print statement'.")
		}
		if len(balance) == 0 {
			if kind == '%' {
				switch {
				case strings.HasPrefix(src[p:], "-%}"):
					e := skipSpace(src, p+3)
					return toks, e, line, src[p:e], nil
				case strings.HasPrefix(src[p:], "+%}"):
					return toks, p + 3, line, src[p : p+3], nil
				case strings.HasPrefix(src[p:], "%}"):
					e := p + 2
					if e < len(src) && src[e] == '\n' {
						e++
					}
					return toks, e, line, src[p:e], nil
				}
			} else {
				switch {
				case strings.HasPrefix(src[p:], "-}}"):
					e := skipSpace(src, p+3)
					return toks, e, line, src[p:e], nil
				case strings.HasPrefix(src[p:], "}}"):
					return toks, p + 2, line, "}}", nil
				}
			}
		}
		c := src[p]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			if c == '\n' {
				line++
			}
			p++
		case c >= '0' && c <= '9':
			q, isFloat := scanNumber(src, p)
			k := tInt
			if isFloat {
				k = tFloat
			}
			toks = append(toks, token{kind: k, val: strings.ReplaceAll(src[p:q], "_", ""), line: line})
			p = q
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			q := p + 1
			for q < len(src) && isNameChar(src[q]) {
				q++
			}
			toks = append(toks, token{kind: tName, val: src[p:q], line: line})
			p = q
		case c == '\'' || c == '"':
			q := p + 1
			for q < len(src) && src[q] != c {
				if src[q] == '\\' {
					q++
				}
				q++
			}
			if q >= len(src) {
				return nil, 0, 0, "", syntaxErr(line, "unexpected char %s at %d", reprString(string(c)), p)
			}
			s, err := unescape(src[p+1 : q])
			if err != nil {
				return nil, 0, 0, "", syntaxErr(line, "%s", err.Error())
			}
			toks = append(toks, token{kind: tString, val: s, line: line})
			line += strings.Count(src[p:q], "\n")
			p = q + 1
		default:
			op := ""
			for _, o := range operators3 {
				if strings.HasPrefix(src[p:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if strings.IndexByte("+-/*%~[](){}<>=.:|,;", c) < 0 {
					r, _ := utf8.DecodeRuneInString(src[p:])
					return nil, 0, 0, "", syntaxErr(line, "unexpected char %s at %d", reprString(string(r)), p)
				}
				op = string(c)
			}
			switch op {
			case "(", "[", "{":
				balance = append(balance, op[0])
			case ")", "]", "}":
				want := map[string]byte{")": '(', "]": '[', "}": '{'}[op]
				if len(balance) == 0 {
					return nil, 0, 0, "", syntaxErr(line, "unexpected '%s'", op)
				}
				if balance[len(balance)-1] != want {
					exp := map[byte]string{'(': ")", '[': "]", '{': "}"}[balance[len(balance)-1]]
					return nil, 0, 0, "", syntaxErr(line, "unexpected '%s', expected '%s'", op, exp)
				}
				balance = balance[:len(balance)-1]
			}
			toks = append(toks, token{kind: tOp, val: op, line: line})
			p += len(op)
		}
	}
}

// scanNumber scans an integer or float literal (with _ separators).
func scanNumber(src string, p int) (int, bool) {
	digits := func(q int) int {
		for q < len(src) && (src[q] >= '0' && src[q] <= '9' || src[q] == '_' && q+1 < len(src) && src[q+1] >= '0' && src[q+1] <= '9') {
			q++
		}
		return q
	}
	q := digits(p)
	isFloat := false
	if q+1 < len(src) && src[q] == '.' && src[q+1] >= '0' && src[q+1] <= '9' {
		q = digits(q + 1)
		isFloat = true
	}
	if q < len(src) && (src[q] == 'e' || src[q] == 'E') {
		r := q + 1
		if r < len(src) && (src[r] == '+' || src[r] == '-') {
			r++
		}
		if r < len(src) && src[r] >= '0' && src[r] <= '9' {
			q = digits(r)
			isFloat = true
		}
	}
	return q, isFloat
}

// unescape decodes Python string-literal escapes.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(s)+0 && i+n > len(s)-1+1 {
				return "", fmt.Errorf("truncated \\%c escape", e)
			}
			if i+1+n > len(s) {
				return "", fmt.Errorf("truncated \\%c escape", e)
			}
			v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil || v > unicode.MaxRune {
				return "", fmt.Errorf("bad \\%c escape", e)
			}
			b.WriteRune(rune(v))
			i += n
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := 0
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				v = v*8 + int(s[j]-'0')
				j++
			}
			b.WriteRune(rune(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}
