package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/unicode/norm"
)

// KeyNormalizer holds a tokenizer.json "normalizer" object (JSON) of a
// byte-level BPE vocabulary, e.g. Qwen 2's NFC. llama.cpp ignores
// normalizers; ferry applies it to the text between special tokens, as
// Hugging Face tokenizers does. Unicode normalization uses
// golang.org/x/text/unicode/norm, the maintained implementation of the
// Unicode normalization forms.
const KeyNormalizer = "tokenizer.ferry.normalizer"

type normStep func(string) string

// normalizerFromJSON builds the steps of a tokenizer.json normalizer (none
// for null); an unsupported type is an error.
func normalizerFromJSON(raw json.RawMessage) (steps []normStep, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var def struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Pattern     map[string]string `json:"pattern"`
		Content     string            `json:"content"`
		Prepend     string            `json:"prepend"`
		Left        *bool             `json:"strip_left"`
		Right       *bool             `json:"strip_right"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch def.Type {
	case "Sequence":
		for _, sub := range def.Normalizers {
			s, err := normalizerFromJSON(sub)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "NFC":
		return []normStep{norm.NFC.String}, nil
	case "NFD":
		return []normStep{norm.NFD.String}, nil
	case "NFKC":
		return []normStep{norm.NFKC.String}, nil
	case "NFKD":
		return []normStep{norm.NFKD.String}, nil
	case "Lowercase":
		return []normStep{lowercase}, nil
	case "StripAccents":
		return []normStep{func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.Mn, r) {
					return -1
				}
				return r
			}, s)
		}}, nil
	case "Strip":
		left, right := def.Left == nil || *def.Left, def.Right == nil || *def.Right
		return []normStep{func(s string) string {
			if left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}}, nil
	case "Prepend":
		p := def.Prepend
		return []normStep{func(s string) string {
			if s == "" {
				return s
			}
			return p + s
		}}, nil
	case "Replace":
		content := def.Content
		if lit, ok := def.Pattern["String"]; ok {
			if lit == "" {
				return nil, nil
			}
			return []normStep{func(s string) string { return strings.ReplaceAll(s, lit, content) }}, nil
		}
		pat, ok := def.Pattern["Regex"]
		if !ok {
			return nil, fmt.Errorf("normalizer Replace: pattern has neither String nor Regex")
		}
		re, err := compileRegex(pat)
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return []normStep{func(s string) string { return regexReplace(re, s, content) }}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", def.Type)
}

// regexReplace replaces every match with a literal (no $-expansion, as in
// Hugging Face's Replace).
func regexReplace(re *regexp2.Regexp, s, content string) string {
	ms, err := re.FindAllStringIndex(s, -1)
	if err != nil || len(ms) == 0 {
		return s
	}
	var sb strings.Builder
	prev := 0
	for _, m := range ms {
		sb.WriteString(s[prev:m[0]])
		sb.WriteString(content)
		prev = m[1]
	}
	sb.WriteString(s[prev:])
	return sb.String()
}

// lowercase is Rust's char::to_lowercase per character: Go's simple
// mapping plus SpecialCasing's one unconditional multi-character lowercase,
// İ → i̇.
func lowercase(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if r == 'İ' {
			sb.WriteString("i\u0307")
			continue
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}

func (t *Tokenizer) normalize(s string) string {
	for _, f := range t.normalizer {
		s = f(s)
	}
	return s
}
