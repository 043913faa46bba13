package grammar

import (
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
