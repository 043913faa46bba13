package tokenizer

import (
	"fmt"
	"strings"
	"testing"
)

var scanPatterns = []string{reGPT2, reLlama3, reQwen2, hfLlama3Regex, hfQwen2Regex, reGPT2 + `|\s+`}

func scanSeeds(f *testing.F) {
	for _, s := range []string{"", " ", "  ", "Hello world", " \n \n\n \t \t\t \t\n  \n   \n    \n     \n",
		"I've 'RE 'll 'Ll 'x 12345 3.14 ½ ⅔ 你好 \u00a0\u3000a\u2028", "\r\n\r\n  x\t\ty", "((a)) !!! ...\n\n",
		"\xff\xfe 'S 'D", "ﬁ İ ǅ ᾼ 𝔸", "\x85\x0b\x1c"} {
		f.Add(s)
	}
}

// FuzzScanners checks the hand-written scanners against regexp2 running the
// original patterns.
func FuzzScanners(f *testing.F) {
	scanSeeds(f)
	type pair struct {
		fast, slow preStep
	}
	var pairs []pair
	for _, p := range scanPatterns {
		re, err := compileRegex(p)
		if err != nil {
			f.Fatal(err)
		}
		fast := fastScanner(p)
		if fast == nil {
			f.Fatalf("no scanner for %q", p)
		}
		pairs = append(pairs, pair{fast, &regexSplit{re: re, behavior: "Isolated"}})
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, p := range pairs {
			a := p.fast.split(s, nil)
			b := p.slow.split(s, nil)
			if fmt.Sprintf("%q", a) != fmt.Sprintf("%q", b) {
				t.Fatalf("pattern %d on %q:\n fast  %q\n regex %q", i, s, a, b)
			}
		}
	})
}

// TestNamedPreTokenizersCompile builds every llama.cpp pre-tokenizer name
// and runs it on llama.cpp's test strings: each must cover its input
// exactly, in order.
func TestNamedPreTokenizersCompile(t *testing.T) {
	texts := []string{"Hello World! 123 4567 你好 'll 'S  \n\n\t x", " ?我想在apple工作1314151天～ ------=======", "<sentinel:12>IMGIMGABZ"}
	for name := range namedPreRegexes {
		p, err := preTokenizerFor(name, "")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, s := range texts {
			if got := strings.Join(p.split(s), ""); got != s {
				t.Errorf("%s: pieces of %q join to %q", name, s, got)
			}
		}
	}
}
