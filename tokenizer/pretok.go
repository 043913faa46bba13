package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// A pre-tokenizer cuts raw text into words before BPE. It is a sequence of
// steps, each refining the current list of pieces; this models both
// llama.cpp's list of regexes per tokenizer.ggml.pre (each regex splits the
// pieces the previous one produced, keeping the gaps) and tokenizer.json's
// pre_tokenizer (Sequence of Split / ByteLevel / Digits / ...).
type preTokenizer struct {
	steps     []preStep
	byteLevel bool // words are written in the GPT-2 byte alphabet before BPE
}

type preStep interface {
	// split appends the pieces of s to dst.
	split(s string, dst []string) []string
}

func (p *preTokenizer) split(text string) []string {
	pieces := []string{text}
	var next []string
	for _, st := range p.steps {
		next = next[:0]
		for _, s := range pieces {
			next = st.split(s, next)
		}
		pieces, next = next, pieces
	}
	return pieces
}

// llama.cpp's regexes per pre-tokenizer name (llama-vocab.cpp). Patterns are
// .NET/regexp2 syntax; "$" is written \z where llama.cpp's std::regex means
// the end of the piece.
const (
	reGPT2      = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	reLlama3    = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2     = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reCJK       = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
	reBloom     = ` ?[^(\s|.,!?…。，、।۔،)]+`
	reTekken    = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reGPT4o     = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reDeepseek3 = `[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + "`" + `{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reSeedCoder = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`
	reBailing   = `'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
)

// namedPreRegexes maps tokenizer.ggml.pre names to llama.cpp's regex lists.
var namedPreRegexes = map[string][]string{
	"default": {`[\p{P}\$\+<=>\^~\|]+`, reGPT2, `\p{N}+`, `[0-9][0-9][0-9]`},
	"llama3":  {reLlama3}, "llama-v3": {reLlama3}, "llama-bpe": {reLlama3}, "falcon3": {reLlama3},
	"falcon-h1": {reLlama3}, "pixtral": {reLlama3}, "midm-2.0": {reLlama3}, "lfm2": {reLlama3},
	"dbrx": {reLlama3}, "smaug-bpe": {reLlama3}, "chatglm-bpe": {reLlama3}, "glm4": {reLlama3},
	"deepseek-llm": {
		"[\r\n]",
		// The cased letters of DeepSeek LLM's tokenizer.json, as code points.
		"\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
		"\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
		`\s+\z`,
		reCJK,
		`\p{N}+`,
	},
	"deepseek-v3":    {`\p{N}{1,3}`, `[一-龥぀-ゟ゠-ヿ]+`, reDeepseek3},
	"hunyuan-dense":  {`\p{N}{1,3}`, `[一-龥぀-ゟ゠-ヿ]+`, reDeepseek3},
	"deepseek-coder": {"[\r\n]", `\s?\p{L}+`, `\s?\p{P}+`, reCJK, `\p{N}`},
	"falcon":         {`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, reGPT2, `[0-9][0-9][0-9]`},
	"starcoder":      {`\p{N}`, reGPT2}, "refact": {`\p{N}`, reGPT2}, "command-r": {`\p{N}`, reGPT2},
	"smollm": {`\p{N}`, reGPT2}, "codeshell": {`\p{N}`, reGPT2}, "exaone": {`\p{N}`, reGPT2},
	"minerva-7b": {`\p{N}`, reGPT2},
	"gpt-2":      {reGPT2}, "phi-2": {reGPT2}, "jina-es": {reGPT2}, "jina-de": {reGPT2}, "gigachat": {reGPT2},
	"jina-v1-en": {reGPT2}, "jina-v2-es": {reGPT2}, "jina-v2-de": {reGPT2}, "jina-v2-code": {reGPT2},
	"roberta-bpe": {reGPT2}, "mpt": {reGPT2}, "olmo": {reGPT2}, "jais": {reGPT2}, "trillion": {reGPT2},
	"granite-docling": {reGPT2},
	"stablelm2":       {reQwen2}, "qwen2": {reQwen2}, "deepseek-r1-qwen": {reQwen2}, "megrez": {reQwen2},
	"hunyuan": {reQwen2}, "grok-2": {reQwen2},
	"poro-chat": {reBloom}, "bloom": {reBloom}, "gpt3-finnish": {reBloom},
	"viking": {reBloom, `\p{N}`},
	"tekken": {reTekken},
	"gpt-4o": {reGPT4o}, "llama4": {reGPT4o}, "minimax-m2": {reGPT4o},
	"seed-coder": {reSeedCoder},
	"bailingmoe": {reBailing}, "bailingmoe2": {reBailing}, "llada-moe": {reBailing},
	"chameleon": {`<sentinel:[0-9]+>`, `(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z`, "([\\t\\n]|    |  )", `\p{N}`, `[\p{P}!-/:-@\[-` + "`" + `{-~]`, reGPT2},
}

// preTokenizerFor builds the pre-tokenizer of a byte-level BPE vocabulary:
// from the tokenizer.json definition when one was stored, otherwise from
// llama.cpp's regexes for the name.
func preTokenizerFor(name, jsonDef string) (*preTokenizer, error) {
	if jsonDef != "" {
		var raw json.RawMessage = json.RawMessage(jsonDef)
		p := &preTokenizer{}
		if err := p.addJSON(raw); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", KeyPreTokenizer, err)
		}
		return p, nil
	}
	if name == "" {
		name = "default"
	}
	res, ok := namedPreRegexes[name]
	if !ok {
		return nil, fmt.Errorf("tokenizer: unknown pre-tokenizer %q (tokenizer.ggml.pre)", name)
	}
	p := &preTokenizer{byteLevel: true}
	for _, re := range res {
		st, err := fastOrRegex(re)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre-tokenizer %q: %w", name, err)
		}
		p.steps = append(p.steps, st)
	}
	return p, nil
}

// fastOrRegex returns a hand-written scanner for the common patterns and a
// regexp2 matcher otherwise.
func fastOrRegex(pattern string) (preStep, error) {
	if f := fastScanner(pattern); f != nil {
		return f, nil
	}
	re, err := compileRegex(pattern)
	if err != nil {
		return nil, err
	}
	return &regexSplit{re: re, behavior: "Isolated"}, nil
}

func compileRegex(pattern string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.None, regexp2.OptionMaxBacktrackingStackSize(-1))
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	return re, nil
}

// regexSplit is tokenizer.json's Split with a regex (and every llama.cpp
// regex step, which behaves as Split with behavior Isolated).
type regexSplit struct {
	re       *regexp2.Regexp
	literal  string // pattern.String: split on this text
	behavior string
	invert   bool
}

func (r *regexSplit) matches(s string) [][]int {
	if r.re == nil {
		var out [][]int
		if r.literal == "" {
			return nil
		}
		for off := 0; ; {
			i := strings.Index(s[off:], r.literal)
			if i < 0 {
				break
			}
			out = append(out, []int{off + i, off + i + len(r.literal)})
			off += i + len(r.literal)
		}
		return out
	}
	m, err := r.re.FindAllStringIndex(s, -1)
	if err != nil {
		// Only a timeout or stack limit can fail; keep the piece whole.
		return nil
	}
	return m
}

func (r *regexSplit) split(s string, dst []string) []string {
	if s == "" {
		return dst
	}
	ms := r.matches(s)
	// Pieces: alternating (gap, match); each flagged as delimiter or not.
	type part struct {
		a, b  int
		delim bool
	}
	var parts []part
	prev := 0
	for _, m := range ms {
		if m[1] == m[0] {
			continue
		}
		if m[0] > prev {
			parts = append(parts, part{prev, m[0], r.invert})
		}
		parts = append(parts, part{m[0], m[1], !r.invert})
		prev = m[1]
	}
	if prev < len(s) {
		parts = append(parts, part{prev, len(s), r.invert})
	}
	switch r.behavior {
	case "Removed":
		for _, p := range parts {
			if !p.delim {
				dst = append(dst, s[p.a:p.b])
			}
		}
	case "MergedWithPrevious":
		start := 0
		for i, p := range parts {
			if p.delim || i == len(parts)-1 {
				dst = append(dst, s[start:p.b])
				start = p.b
			}
		}
		if start < len(s) {
			dst = append(dst, s[start:])
		}
	case "MergedWithNext":
		start := 0
		for i, p := range parts {
			if p.delim && p.a > start {
				dst = append(dst, s[start:p.a])
				start = p.a
			}
			if i == len(parts)-1 {
				dst = append(dst, s[start:p.b])
			}
		}
	case "Contiguous":
		for i := 0; i < len(parts); {
			j := i
			for j+1 < len(parts) && parts[j+1].delim == parts[i].delim && parts[i].delim {
				j++
			}
			dst = append(dst, s[parts[i].a:parts[j].b])
			i = j + 1
		}
	default: // Isolated
		for _, p := range parts {
			dst = append(dst, s[p.a:p.b])
		}
	}
	return dst
}

// digitSplit is tokenizer.json's Digits pre-tokenizer: numeric characters
// (Rust's char::is_numeric: Nd, Nl, No) isolated one by one or in runs.
type digitSplit struct{ individual bool }

func (d digitSplit) split(s string, dst []string) []string {
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsNumber(r) {
			i += n
			continue
		}
		j := i + n
		if !d.individual {
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsNumber(r2) {
					break
				}
				j += n2
			}
		}
		if i > start {
			dst = append(dst, s[start:i])
		}
		dst = append(dst, s[i:j])
		start, i = j, j
	}
	if start < len(s) {
		dst = append(dst, s[start:])
	}
	return dst
}

// prefixSpace is ByteLevel's add_prefix_space: every piece not starting
// with a space gets one.
type prefixSpace struct{}

func (prefixSpace) split(s string, dst []string) []string {
	if s != "" && s[0] != ' ' {
		s = " " + s
	}
	return append(dst, s)
}

// funcSplit splits on characters selected by a predicate.
type funcSplit struct {
	isDelim  func(r rune) bool
	behavior string // Removed or Isolated
}

func (f funcSplit) split(s string, dst []string) []string {
	start := 0
	for i, r := range s {
		if !f.isDelim(r) {
			continue
		}
		if i > start {
			dst = append(dst, s[start:i])
		}
		n := len(string(r))
		if f.behavior == "Isolated" {
			dst = append(dst, s[i:i+n])
		}
		start = i + n
	}
	if start < len(s) {
		dst = append(dst, s[start:])
	}
	return dst
}

// addJSON appends the steps of a tokenizer.json pre_tokenizer object.
func (p *preTokenizer) addJSON(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var def struct {
		Type           string            `json:"type"`
		Pretokenizers  []json.RawMessage `json:"pretokenizers"`
		Pattern        map[string]string `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		AddPrefixSpace bool              `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Individual     bool              `json:"individual_digits"`
		Delimiter      string            `json:"delimiter"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		return fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch def.Type {
	case "Sequence":
		for _, sub := range def.Pretokenizers {
			if err := p.addJSON(sub); err != nil {
				return err
			}
		}
	case "Split":
		st := &regexSplit{behavior: def.Behavior, invert: def.Invert}
		if re, ok := def.Pattern["Regex"]; ok {
			if f := fastScanner(re); f != nil && def.Behavior == "Isolated" && !def.Invert {
				p.steps = append(p.steps, f)
				return nil
			}
			c, err := compileRegex(re)
			if err != nil {
				return fmt.Errorf("pre_tokenizer Split: %w", err)
			}
			st.re = c
		} else if lit, ok := def.Pattern["String"]; ok {
			st.literal = lit
		} else {
			return fmt.Errorf("pre_tokenizer Split: pattern has neither Regex nor String")
		}
		p.steps = append(p.steps, st)
	case "ByteLevel":
		if def.AddPrefixSpace {
			p.steps = append(p.steps, prefixSpace{})
		}
		if def.UseRegex == nil || *def.UseRegex {
			st, err := fastOrRegex(reGPT2 + `|\s+`)
			if err != nil {
				return err
			}
			p.steps = append(p.steps, st)
		}
		p.byteLevel = true
	case "Digits":
		p.steps = append(p.steps, digitSplit{individual: def.Individual})
	case "Whitespace":
		re, err := compileRegex(`\w+|[^\w\s]+`)
		if err != nil {
			return err
		}
		p.steps = append(p.steps, &regexSplit{re: re, behavior: "Removed", invert: true})
	case "WhitespaceSplit":
		p.steps = append(p.steps, funcSplit{isDelim: unicode.IsSpace, behavior: "Removed"})
	case "Punctuation":
		b := def.Behavior
		if b == "" {
			b = "Isolated"
		}
		p.steps = append(p.steps, funcSplit{isDelim: func(r rune) bool { return unicode.IsPunct(r) || (r < 128 && unicode.IsSymbol(r)) }, behavior: b})
	case "CharDelimiterSplit":
		if def.Delimiter == "" {
			return fmt.Errorf("pre_tokenizer CharDelimiterSplit: no delimiter")
		}
		d := []rune(def.Delimiter)[0]
		p.steps = append(p.steps, funcSplit{isDelim: func(r rune) bool { return r == d }, behavior: "Removed"})
	default:
		return fmt.Errorf("pre_tokenizer type %q is not supported", def.Type)
	}
	return nil
}
