package grammar

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzCompile: hostile schemas give an error or a grammar; a grammar never
// reaches a state where nothing is allowed, and what it generates is valid.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`"json"`, `true`, `{}`, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		`{"$defs":{"n":{"type":"array","items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}`,
		`{"anyOf":[{"type":"integer","minimum":-5,"maximum":5},{"enum":["x",1,null]}]}`,
		`{"type":["string","null"],"minLength":2,"maxLength":3}`,
		`{"type":"number","exclusiveMinimum":0.5,"exclusiveMaximum":0.75}`,
		`{"type":"object","additionalProperties":{"type":"boolean"},"properties":{"k":{"const":"v"}}}`,
		`{"type":"array","items":{"type":"object"},"minItems":2,"maxItems":2}`,
		`{"oneOf":[{"$ref":"#"},{"type":"null"}]}`,
		`{"allOf":[{"type":"integer","minimum":1e3}]}`,
		`{"type":"string","pattern":"^[a-c]{1,3}(x|é)?$"}`,
		`{"type":"object","properties":{"p":{"pattern":"\\d+-\\w"}},"required":["p"]}`,
		`{"type":"array","items":{"type":"string","pattern":"^(?i)ab\\s?$"}}`,
	} {
		f.Add([]byte(s), uint64(1))
	}
	v, toks, eog := testVocab()
	f.Fuzz(func(t *testing.T, schema []byte, seed uint64) {
		g, err := Compile(schema)
		if err != nil {
			return
		}
		st := g.Start(v)
		rng := rand.New(rand.NewPCG(seed, 7))
		logits := make([]float32, v.Size())
		var out []byte
		var allowed []int32
		for step := 0; step < 60; step++ {
			clear(logits)
			if st.Mask(logits) == 0 {
				t.Fatalf("dead end after %q", out)
			}
			allowed = allowed[:0]
			for id, l := range logits {
				if !math.IsInf(float64(l), -1) {
					allowed = append(allowed, int32(id))
				}
			}
			id := allowed[rng.IntN(len(allowed))]
			if err := st.Accept(id); err != nil {
				t.Fatalf("allowed token refused: %v", err)
			}
			if id == eog {
				// oneOf is generated as anyOf: overlapping alternatives can
				// match twice (documented).
				if err := g.Validate(out); err != nil && !strings.Contains(err.Error(), "oneOf") {
					t.Fatalf("schema %s: generated %q: %v", schema, out, err)
				}
				return
			}
			out = append(out, toks[id]...)
		}
	})
}

// FuzzPattern: for any regular expression that compiles, generation never
// strands and what it writes matches.
func FuzzPattern(f *testing.F) {
	for _, p := range []string{`^[a-z]+$`, `(?i)^x[yz]{2}`, `\d{2,3}`, `^(a|bc)*d?$`, `é|ü`, `^\p{Greek}+$`, `[^a-z]`, `^.{3}$`, `\\n`, `^"$`} {
		f.Add(p, uint64(3))
	}
	v, toks, eog := testVocab()
	f.Fuzz(func(t *testing.T, expr string, seed uint64) {
		schema, _ := json.Marshal(map[string]any{"type": "string", "pattern": expr})
		g, err := Compile(schema)
		if err != nil {
			return
		}
		st := g.Start(v)
		rng := rand.New(rand.NewPCG(seed, 5))
		logits := make([]float32, v.Size())
		var out []byte
		for step := 0; step < 80; step++ {
			clear(logits)
			st.Mask(logits)
			var allowed []int32
			for id, l := range logits {
				if !math.IsInf(float64(l), -1) {
					allowed = append(allowed, int32(id))
				}
			}
			if len(allowed) == 0 {
				t.Fatalf("nothing allowed after %q", out)
			}
			id := allowed[rng.IntN(len(allowed))]
			if id == eog && !st.Done() {
				t.Fatalf("pattern %q: dead end after %q", expr, out)
			}
			if err := st.Accept(id); err != nil {
				t.Fatal(err)
			}
			if id == eog {
				if err := g.Validate(out); err != nil {
					t.Fatalf("pattern %q: %q: %v", expr, out, err)
				}
				return
			}
			out = append(out, toks[id]...)
		}
	})
}
