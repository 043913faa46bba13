package server

import "strings"

// thinkParser splits a reasoning model's output into thinking (between
// <think> and </think>) and content, while streaming. It is used when a
// request sets think; the opening tag may come from the model or already
// sit at the end of the rendered prompt (DeepSeek-R1, Qwen3 templates).
type thinkParser struct {
	state int // 0: before any text, 1: thinking, 2: content
	buf   string
	trim  bool // drop whitespace between </think> and the answer
}

const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
)

func newThinkParser(prompt string) *thinkParser {
	if strings.HasSuffix(strings.TrimRight(prompt, " \t\r\n"), thinkOpen) {
		return &thinkParser{state: 1}
	}
	return &thinkParser{}
}

// add returns the new thinking and content text in s.
func (p *thinkParser) add(s string) (thinking, content string) {
	p.buf += s
	for {
		switch p.state {
		case 0:
			t := strings.TrimLeft(p.buf, " \t\r\n")
			if t == "" {
				return
			}
			if strings.HasPrefix(t, thinkOpen) {
				p.buf, p.state = t[len(thinkOpen):], 1
				continue
			}
			if strings.HasPrefix(thinkOpen, t) {
				return // may still become the tag
			}
			p.state = 2
		case 1:
			if i := strings.Index(p.buf, thinkClose); i >= 0 {
				thinking += p.buf[:i]
				p.buf, p.state, p.trim = p.buf[i+len(thinkClose):], 2, true
				continue
			}
			keep := partialSuffix(p.buf, thinkClose)
			thinking += p.buf[:len(p.buf)-keep]
			p.buf = p.buf[len(p.buf)-keep:]
			return
		case 2:
			if p.trim {
				if p.buf = strings.TrimLeft(p.buf, " \t\r\n"); p.buf == "" {
					return
				}
				p.trim = false
			}
			content += p.buf
			p.buf = ""
			return
		}
	}
}

// flush returns what is still held back at the end of generation.
func (p *thinkParser) flush() (thinking, content string) {
	b := p.buf
	p.buf = ""
	if p.state == 1 {
		return b, ""
	}
	return "", b
}

// partialSuffix is the length of the longest suffix of s that is a proper
// prefix of tag.
func partialSuffix(s, tag string) int {
	for n := min(len(tag)-1, len(s)); n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}
