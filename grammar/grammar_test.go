package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// testVocab is every single byte plus multi-byte pieces that cross JSON
// token boundaries the way real BPE tokens do, a control token (no bytes)
// and an EOG token.
func testVocab() (*Vocab, [][]byte, int32) {
	var toks [][]byte
	for i := 0; i < 256; i++ {
		toks = append(toks, []byte{byte(i)})
	}
	for _, p := range []string{`{"`, `"}`, `":`, `": "`, `": `, `",`, `","`, `, "`, `,"`, `[{"`, `}]`, `]}`, `[]`, `{}`,
		`true`, `false`, `null`, `nu`, `ll`, `12`, `0.`, `-1`, `.5`, `e+`, `E-`, `00`, "\n  ", "\n    ", "  ", "\n",
		`"a`, `ab`, `name`, `"name"`, `age`, "é", "日本", "😀", `\u00`, `\"`, `\\`, `\n`, `}\n`, `"}}`, `"]`,
		`1,`, `2]`, `a"`, `":{"`, `": [`, `":"`, ` {`, ` "`} {
		toks = append(toks, []byte(p))
	}
	toks = append(toks, nil) // control token: no text
	eog := int32(len(toks))
	toks = append(toks, []byte("</s>"))
	return NewVocab(toks, []int32{eog}), toks, eog
}

// tokenize splits text greedily into the longest vocabulary pieces.
func tokenize(toks [][]byte, eog int32, text string) []int32 {
	var out []int32
	for len(text) > 0 {
		best, bestLen := int32(-1), 0
		for id, t := range toks {
			if int32(id) == eog || len(t) <= bestLen {
				continue
			}
			if strings.HasPrefix(text, string(t)) {
				best, bestLen = int32(id), len(t)
			}
		}
		out = append(out, best)
		text = text[bestLen:]
	}
	return out
}

// acceptAll feeds text token by token, checking that Mask allowed each
// token first, then checks that EOG is allowed at the end.
func acceptAll(t *testing.T, g *Grammar, v *Vocab, toks [][]byte, eog int32, text string) {
	t.Helper()
	st := g.Start(v)
	logits := make([]float32, v.Size())
	var prefix []byte
	for i, id := range tokenize(toks, eog, text) {
		clear(logits)
		st.Mask(logits)
		if math.IsInf(float64(logits[id]), -1) {
			t.Fatalf("token %d %q (piece %d) of %s is masked", id, toks[id], i, text)
		}
		// EOG exactly when the prefix is already a valid value.
		valid := len(bytes.TrimSpace(prefix)) > 0 && g.Validate(prefix) == nil
		if eogOK := !math.IsInf(float64(logits[eog]), -1); eogOK != valid {
			t.Fatalf("EOG allowed=%v before piece %d of %s (prefix valid=%v)", eogOK, i, text, valid)
		}
		if err := st.Accept(id); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		prefix = append(prefix, toks[id]...)
	}
	clear(logits)
	st.Mask(logits)
	if !st.Done() || math.IsInf(float64(logits[eog]), -1) {
		t.Fatalf("EOG not allowed after the complete value %s", text)
	}
	if err := st.Accept(eog); err != nil {
		t.Fatal(err)
	}
}

// randomWalk generates from the grammar by picking random allowed tokens
// (leaning towards closing tokens as it goes on, so it ends). It checks
// that some token is always allowed and returns the text and whether EOG
// was reached.
func randomWalk(t *testing.T, g *Grammar, v *Vocab, toks [][]byte, eog int32, rng *rand.Rand) (string, bool) {
	t.Helper()
	st := g.Start(v)
	logits := make([]float32, v.Size())
	var out []byte
	var allowed, closers []int32
	for step := 0; step < 3000; step++ {
		clear(logits)
		if st.Mask(logits) == 0 {
			t.Fatalf("dead end after %q", out)
		}
		allowed, closers = allowed[:0], closers[:0]
		for id, l := range logits {
			if math.IsInf(float64(l), -1) {
				continue
			}
			allowed = append(allowed, int32(id))
			if int32(id) != eog && bytes.ContainsAny(toks[id], `"]}`) {
				closers = append(closers, int32(id))
			}
		}
		eogOK := !math.IsInf(float64(logits[eog]), -1)
		var id int32
		pClose := 0.1 + float64(step)/200
		switch {
		case eogOK && rng.Float64() < 0.4:
			id = eog
		case len(closers) > 0 && rng.Float64() < pClose:
			id = closers[rng.IntN(len(closers))]
		default:
			id = allowed[rng.IntN(len(allowed))]
		}
		if err := st.Accept(id); err != nil {
			t.Fatalf("accepting an allowed token: %v (after %q)", err, out)
		}
		if id == eog {
			if !st.Finished() {
				t.Fatal("not finished after EOG")
			}
			return string(out), true
		}
		out = append(out, toks[id]...)
	}
	return string(out), false
}

// A random schema for the property tests, with a generator of valid
// examples in the grammar's canonical form.
type tschema struct {
	kind     string // object array string integer number boolean null enum anyOf any
	props    []tprop
	addl     string // "", "false", "true", "schema"
	addlS    *tschema
	items    *tschema
	min, max int // items / length; max < 0: none
	lo, hi   *float64
	excl     bool
	enum     []string // raw JSON
	alts     []*tschema
	nullable bool
}

type tprop struct {
	name     string
	s        *tschema
	required bool
}

var keyPool = []string{"a", "ab", "abc", "name", "age", "x y", `q"uote`, `back\slash`, "é", "日本", "nl\nx", "tags", "b", "id"}
var strPool = []string{"", "a", "hello", `"`, `\`, "\n", "\t", "é", "日本語", "😀", "/", "\u0001", "x\u00e9y"}

func genSchema(rng *rand.Rand, depth int) *tschema {
	k := rng.IntN(12)
	if depth >= 3 && k < 4 {
		k += 4
	}
	s := &tschema{max: -1}
	switch k {
	case 0, 1:
		s.kind = "object"
		used := map[string]bool{}
		for i := rng.IntN(4); i > 0; i-- {
			name := keyPool[rng.IntN(len(keyPool))]
			if used[name] {
				continue
			}
			used[name] = true
			s.props = append(s.props, tprop{name: name, s: genSchema(rng, depth+1), required: rng.IntN(2) == 0})
		}
		s.addl = []string{"", "false", "true", "schema"}[rng.IntN(4)]
		if s.addl == "schema" {
			s.addlS = genSchema(rng, depth+2)
		}
	case 2, 3:
		s.kind = "array"
		s.items = genSchema(rng, depth+1)
		if rng.IntN(2) == 0 {
			s.min = rng.IntN(3)
		}
		if rng.IntN(2) == 0 {
			s.max = s.min + rng.IntN(3)
		}
	case 4:
		s.kind = "string"
		if rng.IntN(2) == 0 {
			s.min = rng.IntN(4)
		}
		if rng.IntN(2) == 0 {
			s.max = s.min + rng.IntN(6)
		}
	case 5:
		s.kind = "integer"
		if rng.IntN(2) == 0 {
			lo := float64(rng.IntN(200) - 100)
			s.lo = &lo
		}
		if rng.IntN(2) == 0 {
			hi := float64(rng.IntN(2000) - 50)
			if s.lo != nil && hi < *s.lo {
				hi = *s.lo + 3
			}
			s.hi = &hi
		}
		s.excl = rng.IntN(4) == 0 && s.lo != nil && s.hi != nil && *s.hi-*s.lo >= 3
	case 6:
		s.kind = "number"
		if rng.IntN(2) == 0 {
			lo := float64(rng.IntN(40)-20) / 4
			s.lo = &lo
			if rng.IntN(2) == 0 {
				hi := lo + float64(rng.IntN(40))/8
				if hi == lo {
					hi += 0.5
				}
				s.hi = &hi
			}
		}
	case 7:
		s.kind = "boolean"
	case 8:
		s.kind = "null"
	case 9:
		s.kind = "enum"
		pool := []string{`"red"`, `"green"`, `"r"`, `1`, `12`, `-3.5`, `true`, `null`, `[1,"a"]`, `{"k":"v"}`, `"é\n"`}
		for i := 1 + rng.IntN(4); i > 0; i-- {
			s.enum = append(s.enum, pool[rng.IntN(len(pool))])
		}
	case 10:
		s.kind = "anyOf"
		for i := 2 + rng.IntN(2); i > 0; i-- {
			s.alts = append(s.alts, genSchema(rng, depth+1))
		}
	case 11:
		s.kind = "string"
		s.nullable = true
	}
	return s
}

func (s *tschema) json() string {
	var b strings.Builder
	s.write(&b)
	return b.String()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *tschema) write(b *strings.Builder) {
	switch s.kind {
	case "object":
		b.WriteString(`{"type":"object","properties":{`)
		for i, p := range s.props {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quote(p.name) + ":")
			p.s.write(b)
		}
		b.WriteString(`},"required":[`)
		first := true
		for _, p := range s.props {
			if p.required {
				if !first {
					b.WriteByte(',')
				}
				first = false
				b.WriteString(quote(p.name))
			}
		}
		b.WriteString(`]`)
		switch s.addl {
		case "false", "true":
			b.WriteString(`,"additionalProperties":` + s.addl)
		case "schema":
			b.WriteString(`,"additionalProperties":`)
			s.addlS.write(b)
		}
		b.WriteByte('}')
	case "array":
		b.WriteString(`{"type":"array","items":`)
		s.items.write(b)
		if s.min > 0 {
			fmt.Fprintf(b, `,"minItems":%d`, s.min)
		}
		if s.max >= 0 {
			fmt.Fprintf(b, `,"maxItems":%d`, s.max)
		}
		b.WriteByte('}')
	case "string":
		if s.nullable {
			b.WriteString(`{"type":["string","null"]`)
		} else {
			b.WriteString(`{"type":"string"`)
		}
		if s.min > 0 {
			fmt.Fprintf(b, `,"minLength":%d`, s.min)
		}
		if s.max >= 0 {
			fmt.Fprintf(b, `,"maxLength":%d`, s.max)
		}
		b.WriteByte('}')
	case "integer", "number":
		fmt.Fprintf(b, `{"type":%q`, s.kind)
		if s.lo != nil {
			if s.excl {
				fmt.Fprintf(b, `,"exclusiveMinimum":%v`, *s.lo)
			} else {
				fmt.Fprintf(b, `,"minimum":%v`, *s.lo)
			}
		}
		if s.hi != nil {
			if s.excl {
				fmt.Fprintf(b, `,"exclusiveMaximum":%v`, *s.hi)
			} else {
				fmt.Fprintf(b, `,"maximum":%v`, *s.hi)
			}
		}
		b.WriteByte('}')
	case "boolean", "null":
		fmt.Fprintf(b, `{"type":%q,"description":"d"}`, s.kind)
	case "enum":
		b.WriteString(`{"enum":[` + strings.Join(s.enum, ",") + `]}`)
	case "anyOf":
		b.WriteString(`{"anyOf":[`)
		for i, a := range s.alts {
			if i > 0 {
				b.WriteByte(',')
			}
			a.write(b)
		}
		b.WriteString(`]}`)
	}
}

// example writes a valid value in the generator's canonical form (keys in
// schema order); ok is false if the schema has no value this generator
// can find.
func (s *tschema) example(rng *rand.Rand, b *strings.Builder) bool {
	switch s.kind {
	case "object":
		b.WriteByte('{')
		n := 0
		for _, p := range s.props {
			if !p.required && rng.IntN(2) == 0 {
				continue
			}
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			b.WriteString(canonicalString(p.name) + ":")
			if !p.s.example(rng, b) {
				return false
			}
		}
		if (s.addl == "true" || s.addl == "schema") && rng.IntN(2) == 0 {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"zz_extra":`)
			if s.addl == "true" {
				b.WriteString(`[1,{"x":null}]`)
			} else if !s.addlS.example(rng, b) {
				return false
			}
		}
		b.WriteByte('}')
	case "array":
		n := s.min + rng.IntN(3)
		if s.max >= 0 && n > s.max {
			n = s.max
		}
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if !s.items.example(rng, b) {
				return false
			}
		}
		b.WriteByte(']')
	case "string":
		if s.nullable && rng.IntN(3) == 0 {
			b.WriteString("null")
			return true
		}
		var str strings.Builder
		for utf8.RuneCountInString(str.String()) < s.min || rng.IntN(3) != 0 {
			str.WriteString(strPool[rng.IntN(len(strPool))])
		}
		r := []rune(str.String())
		if s.max >= 0 && len(r) > s.max {
			r = r[:s.max]
		}
		b.WriteString(canonicalString(string(r)))
	case "integer":
		lo, hi := -1000, 1000
		if s.lo != nil {
			lo = int(*s.lo)
			if s.excl {
				lo++
			}
		}
		if s.hi != nil {
			hi = int(*s.hi)
			if s.excl {
				hi--
			}
		}
		if lo > hi {
			return false
		}
		b.WriteString(strconv.Itoa(lo + rng.IntN(hi-lo+1)))
	case "number":
		lo, hi := -50.0, 50.0
		if s.lo != nil {
			lo = *s.lo
		}
		if s.hi != nil {
			hi = *s.hi
		} else if s.lo != nil {
			hi = lo + 10
		}
		v := lo + 0.125*float64(rng.IntN(int((hi-lo)/0.125)+1)) // exact in at most 3 decimals
		b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
	case "boolean":
		b.WriteString([]string{"true", "false"}[rng.IntN(2)])
	case "null":
		b.WriteString("null")
	case "enum":
		var v any
		json.Unmarshal([]byte(s.enum[rng.IntN(len(s.enum))]), &v)
		b.WriteString(canonicalJSON(v))
	case "anyOf":
		for _, i := range rng.Perm(len(s.alts)) {
			var sub strings.Builder
			if s.alts[i].example(rng, &sub) {
				b.WriteString(sub.String())
				return true
			}
		}
		return false
	}
	return true
}

func canonicalString(s string) string { return `"` + canonicalKey(s) + `"` }

// canonicalJSON writes a decoded value the way enum literals are
// generated (object keys sorted, as in the test's enum pool).
func canonicalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func TestRandomSchemas(t *testing.T) {
	v, toks, eog := testVocab()
	rng := rand.New(rand.NewPCG(1, 2))
	schemas, walks, completed, examples := 0, 0, 0, 0
	for i := 0; i < 400; i++ {
		ts := genSchema(rng, 0)
		schema := ts.json()
		g, err := Compile([]byte(schema))
		if err != nil {
			if strings.Contains(err.Error(), "admits no") || strings.Contains(err.Error(), "no enum/const value") {
				continue
			}
			t.Fatalf("schema %s: %v", schema, err)
		}
		schemas++
		for j := 0; j < 3; j++ {
			var ex strings.Builder
			if !ts.example(rng, &ex) {
				continue
			}
			if err := g.Validate([]byte(ex.String())); err != nil {
				// The test generator cannot always honour anyOf/oneOf
				// interplay; only examples the validator accepts count.
				continue
			}
			examples++
			acceptAll(t, g, v, toks, eog, ex.String())
			var pretty bytes.Buffer
			// Compound enum values are matched in their compact form only.
			compound := strings.Contains(schema, `[1,"a"]`) || strings.Contains(schema, `{"k":"v"}`)
			if !compound && json.Indent(&pretty, []byte(ex.String()), "", "  ") == nil {
				acceptAll(t, g, v, toks, eog, " "+pretty.String()+"\n")
			}
		}
		for j := 0; j < 4; j++ {
			walks++
			text, ok := randomWalk(t, g, v, toks, eog, rng)
			if !ok {
				continue
			}
			completed++
			var x any
			if err := json.Unmarshal([]byte(text), &x); err != nil {
				t.Fatalf("schema %s: generated %q does not parse: %v", schema, text, err)
			}
			if err := g.Validate([]byte(text)); err != nil {
				t.Fatalf("schema %s: generated %q is invalid: %v", schema, text, err)
			}
		}
	}
	t.Logf("%d schemas, %d examples accepted, %d/%d random walks completed and validated", schemas, examples, completed, walks)
	if schemas < 300 || examples < 300 || completed < walks*8/10 {
		t.Fatalf("too little coverage: %d schemas, %d examples, %d/%d walks", schemas, examples, completed, walks)
	}
}

func TestJSONMode(t *testing.T) {
	v, toks, eog := testVocab()
	g, err := Compile([]byte(`"json"`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{`{}`, `{"a":[1,2.5e+3,-0.25,{"b":null}],"c":"\u00e9\n","d":true}`, "{\n  \"x\": \"y\"\n}"} {
		acceptAll(t, g, v, toks, eog, ok)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	done := 0
	for i := 0; i < 100; i++ {
		text, ok := randomWalk(t, g, v, toks, eog, rng)
		if !ok {
			continue
		}
		done++
		var m map[string]any
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("%q: %v", text, err)
		}
	}
	if done < 80 {
		t.Fatalf("only %d/100 walks finished", done)
	}
}

// rejects checks that after prefix the token for next is masked and that
// Accept refuses it.
func rejects(t *testing.T, schema, prefix, next string) {
	t.Helper()
	v, toks, eog := testVocab()
	g, err := Compile([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	st := g.Start(v)
	if err := st.AcceptText(prefix); err != nil {
		t.Fatalf("prefix %q: %v", prefix, err)
	}
	logits := make([]float32, v.Size())
	st.Mask(logits)
	ids := tokenize(toks, eog, next)
	if next == "EOG" {
		ids = []int32{eog}
	}
	if !math.IsInf(float64(logits[ids[0]]), -1) {
		t.Errorf("%s: after %q, %q is allowed", schema, prefix, next)
	}
	if st.Accept(ids[0]) == nil && len(ids) == 1 {
		t.Errorf("%s: after %q, Accept(%q) succeeded", schema, prefix, next)
	}
}

func TestMasked(t *testing.T) {
	person := `{"type":"object","properties":{"name":{"type":"string","maxLength":3},"age":{"type":"integer","minimum":0,"maximum":120},"tags":{"type":"array","items":{"enum":["x","yy"]},"maxItems":2}},"required":["name","age"],"additionalProperties":false}`
	for _, c := range []struct{ prefix, next string }{
		{``, `[`},
		{``, `EOG`},
		{`{`, `}`},                     // required keys missing
		{`{"`, `b`},                    // unknown key
		{`{"`, `age`},                  // required "name" comes first
		{`{"name":`, `1`},              // wrong type
		{`{"name":"abc`, `d`},          // maxLength 3
		{`{"name":"ab","age":`, `-`},   // minimum 0
		{`{"name":"ab","age":1`, `.`},  // integer
		{`{"name":"ab","age":12`, `1`}, // 121 > 120
		{`{"name":"ab","age":0`, `0`},  // no leading zeros
		{`{"name":"ab","age":2}`, `,`}, // complete
		{`{"name":"ab","age":2,"tags":["x","x"`, `,`}, // maxItems
		{`{"name":"ab","age":2,"tags":["`, `z`},       // enum
		{`{"name":"ab","age":2`, `EOG`},
		{`{"name":"ab","age":2,"tags":[]`, `,`}, // nothing left to write
		{`{"name":"a\`, `x`},                    // bad escape
		{`{"name":"a\u`, `d`},                   // no surrogate escapes
		{`{"name":"` + "\xc3", `a`},             // broken UTF-8
	} {
		rejects(t, person, c.prefix, c.next)
	}
	rejects(t, `{"type":"array","items":{"type":"boolean"},"minItems":1}`, `[`, `]`)
	rejects(t, `{"type":"object","properties":{"a":{"type":"null"}},"additionalProperties":true}`, `{"\`, `u`) // extra keys: canonical spelling
	rejects(t, `{"type":"number","exclusiveMinimum":0,"maximum":1}`, `0`, "EOG")
	rejects(t, `{"type":"number","exclusiveMinimum":0,"maximum":1}`, `1.`, "1")
	rejects(t, `{"type":"number","exclusiveMinimum":0,"maximum":1}`, ``, "-")
	rejects(t, `{"type":"number"}`, `1.`, `EOG`)
	rejects(t, `{"type":"number"}`, `1e`, `}`)
	rejects(t, `"json"`, ``, `1`) // format json is an object
	rejects(t, `"json"`, `{"a":"x"} `, `{`)
	// Whitespace is bounded at every position.
	rejects(t, `"json"`, `{`+strings.Repeat(" ", maxWS), ` `)
}

func TestValidate(t *testing.T) {
	g, err := Compile([]byte(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"oneOf":[{"type":"string"},{"type":"number"}]}},"required":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{`{"a":1}`, true}, {`{"a":1.0}`, true}, {`{"a":1.5}`, false}, {`{}`, false},
		{`{"a":1,"b":"x","zz":[]}`, true}, {`{"a":1,"b":true}`, false}, {`{"a":1} x`, false}, {`[`, false},
	} {
		if err := g.Validate([]byte(c.text)); (err == nil) != c.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", c.text, err, c.ok)
		}
	}
}

func TestRefs(t *testing.T) {
	v, toks, eog := testVocab()
	tree := `{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}},"$ref":"#/$defs/node"}`
	g, err := Compile([]byte(tree))
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, g, v, toks, eog, `{"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]}`)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50; i++ {
		text, ok := randomWalk(t, g, v, toks, eog, rng)
		if ok {
			if err := g.Validate([]byte(text)); err != nil {
				t.Fatalf("%q: %v", text, err)
			}
		}
	}
	// Pydantic-style Optional and a nullable field.
	g, err = Compile([]byte(`{"type":"object","properties":{"x":{"anyOf":[{"type":"string"},{"type":"null"}],"default":null,"title":"X"},"y":{"type":"integer","nullable":true}},"required":["x","y"]}`))
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, g, v, toks, eog, `{"x":null,"y":null}`)
	acceptAll(t, g, v, toks, eog, `{"x":"s","y":-7}`)
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat(`{"type":"array","items":`, 100) + `{"type":"string"}` + strings.Repeat(`}`, 100)
	for _, c := range []struct{ schema, want string }{
		{`{"type":"string","pattern":"(?=a)b"}`, "pattern"},
		{`{"type":"string","pattern":"\\bfoo"}`, "word boundaries"},
		{`{"pattern":"a","maxLength":3}`, "pattern together with"},
		{`{"type":"string","pattern":"^a$b"}`, "matches no string"},
		{`{"type":"string","pattern":7}`, "pattern must be a string"},
		{`{"type":"object","patternProperties":{}}`, `unsupported schema keyword "patternProperties"`},
		{`{"not":{}}`, `"not"`},
		{`{"$ref":"#"}`, "admits no"},
		{`{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]}`, "admits no"},
		{`{"$ref":"#/$defs/missing"}`, "does not resolve"},
		{`{"$ref":"http://example.com/s.json"}`, "only local"},
		{`{"type":"string","minLength":5,"maxLength":2}`, "exceeds"},
		{`{"type":"array","minItems":1e9}`, "larger than"},
		{`{"type":"integer","minimum":5,"maximum":4}`, "admits no"},
		{`{"type":"integer","minimum":1.2,"maximum":1.8}`, "admits no"},
		{`{"enum":[1,2],"type":"string"}`, "no enum/const"},
		{`{"type":"frob"}`, "unknown type"},
		{`{"type":"object","properties":[]}`, "properties must be an object"},
		{`"yaml"`, "yaml"},
		{`[1]`, "must be an object"},
		{`{`, "not valid JSON"},
		{`false`, "admits no value"},
		{deep, "deeper"},
		{`{"type":"number","minimum":1e99999999}`, "bad number"},
	} {
		_, err := Compile([]byte(c.schema))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%.60s) = %v, want an error containing %q", c.schema, err, c.want)
		}
	}
}

func TestLimitsAndEdges(t *testing.T) {
	v, toks, eog := testVocab()
	// Logits longer than the vocabulary (padded output rows) are masked.
	g, _ := Compile([]byte(`{"type":"boolean"}`))
	st := g.Start(v)
	logits := make([]float32, v.Size()+10)
	st.Mask(logits)
	for id := range v.Size() {
		b := bytes.TrimLeft(toks[id], " \n\t\r")
		want := len(toks[id]) > 0 && int32(id) != eog && (len(b) == 0 || strings.HasPrefix("true", string(b)) || strings.HasPrefix("false", string(b)))
		if got := !math.IsInf(float64(logits[id]), -1); got != want {
			t.Errorf("boolean: token %q allowed=%v, want %v", toks[id], got, want)
		}
	}
	for i := v.Size(); i < len(logits); i++ {
		if !math.IsInf(float64(logits[i]), -1) {
			t.Fatal("padding id allowed")
		}
	}
	// Control tokens (no bytes) are never allowed; accepting one fails.
	ctl := eog - 1
	if !math.IsInf(float64(logits[ctl]), -1) || st.Accept(ctl) == nil {
		t.Fatal("control token allowed")
	}
	// EOG before completion is an error, after it Done.
	if st.Accept(eog) == nil {
		t.Fatal("EOG accepted before completion")
	}
	for _, id := range tokenize(toks, eog, "false") {
		if err := st.Accept(id); err != nil {
			t.Fatal(err)
		}
	}
	if !st.Done() {
		t.Fatal("not done after false")
	}
	// A top-level number completes at EOG.
	g, _ = Compile([]byte(`{"type":"integer"}`))
	acceptAll(t, g, v, toks, eog, "-120")
	// Digits are bounded, so numbers cannot run forever.
	rejects(t, `{"type":"integer"}`, strings.Repeat("9", maxIntDigits), "9")
}

func TestHostileSchemas(t *testing.T) {
	v, toks, eog := testVocab()
	var many strings.Builder
	many.WriteString(`{"anyOf":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"const":%d}`, i)
	}
	many.WriteString(`]}`)
	var props strings.Builder
	props.WriteString(`{"type":"object","properties":{`)
	for i := 0; i < 30000; i++ {
		if i > 0 {
			props.WriteByte(',')
		}
		fmt.Fprintf(&props, `"p%d":{"type":"null"}`, i)
	}
	props.WriteString(`}}`)
	for _, c := range []struct{ schema, want string }{
		{many.String(), "alternatives"},
		{props.String(), "subschemas"},
		{`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`, "admits no"},
		{strings.Repeat("[", 100000), "not valid JSON"},
		{`{"type":"string","maxLength":` + strings.Repeat("9", 400) + `}`, ""},
	} {
		g, err := Compile([]byte(c.schema))
		if c.want == "" {
			if err != nil {
				t.Errorf("%.50s: %v", c.schema, err)
			} else {
				acceptAll(t, g, v, toks, eog, `"abc"`)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.50s: %v, want %q", c.schema, err, c.want)
		}
	}
	// 64 overlapping object alternatives stay tractable (stacks are capped).
	var alts strings.Builder
	alts.WriteString(`{"anyOf":[`)
	for i := 0; i < 64; i++ {
		if i > 0 {
			alts.WriteByte(',')
		}
		fmt.Fprintf(&alts, `{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer","maximum":%d}}},"required":["a"]}`, i*10)
	}
	alts.WriteString(`]}`)
	g, err := Compile([]byte(alts.String()))
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, g, v, toks, eog, `{"a":[1,2,630]}`)
}

// TestConcurrent: generations share a compiled grammar and its mask cache
// (run with -race).
func TestConcurrent(t *testing.T) {
	v, toks, eog := testVocab()
	schema := []byte(`{"type":"object","properties":{"a":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":3},"b":{"type":"integer","minimum":-5,"maximum":5}},"required":["a","b"]}`)
	done := make(chan error)
	for w := 0; w < 4; w++ {
		go func(seed uint64) {
			g, err := Compile(schema)
			if err != nil {
				done <- err
				return
			}
			// No t.Fatal here: it must not be called off the test goroutine.
			rng := rand.New(rand.NewPCG(seed, 9))
			logits := make([]float32, v.Size())
			for i := 0; i < 20; i++ {
				st := g.Start(v)
				var out []byte
				for step := 0; step < 300 && !st.Finished(); step++ {
					clear(logits)
					if st.Mask(logits) == 0 {
						done <- fmt.Errorf("dead end after %q", out)
						return
					}
					var ok []int32
					for id, l := range logits {
						if !math.IsInf(float64(l), -1) {
							ok = append(ok, int32(id))
						}
					}
					id := ok[rng.IntN(len(ok))]
					if !math.IsInf(float64(logits[eog]), -1) && rng.IntN(2) == 0 {
						id = eog
					}
					if err := st.Accept(id); err != nil {
						done <- err
						return
					}
					if id != eog {
						out = append(out, toks[id]...)
					}
				}
				if st.Finished() {
					if err := g.Validate(out); err != nil {
						done <- fmt.Errorf("%q: %v", out, err)
						return
					}
				}
			}
			done <- nil
		}(uint64(w))
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestDepthLimit: at the nesting limit only values that fit are offered,
// so generation never reaches a key or comma it cannot follow.
func TestDepthLimit(t *testing.T) {
	v, toks, eog := testVocab()
	for _, schema := range []string{`"json"`, `{"$defs":{"t":{"type":"object","properties":{"k":{"$ref":"#/$defs/t"},"n":{"type":"null"}}}},"$ref":"#/$defs/t"}`} {
		g, err := Compile([]byte(schema))
		if err != nil {
			t.Fatal(err)
		}
		st := g.Start(v)
		deep := strings.Repeat(`{"k":`, maxDepth-1)
		if err := st.AcceptText(deep); err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		// The innermost object sits at the limit: it can only be empty.
		if err := st.AcceptText("{"); err != nil {
			t.Fatal(err)
		}
		rejects(t, schema, deep+"{", `"`)
		rng := rand.New(rand.NewPCG(1, 1))
		logits := make([]float32, v.Size())
		for i := 0; i < 3000 && !st.Finished(); i++ {
			clear(logits)
			if st.Mask(logits) == 0 {
				t.Fatalf("%s: dead end at depth", schema)
			}
			var ok []int32
			for id, l := range logits {
				if !math.IsInf(float64(l), -1) {
					ok = append(ok, int32(id))
				}
			}
			// Prefer closing to finish.
			id := ok[rng.IntN(len(ok))]
			for _, c := range ok {
				if c == eog || bytes.Equal(toks[c], []byte("}")) || bytes.Equal(toks[c], []byte("null")) {
					id = c
				}
			}
			if err := st.Accept(id); err != nil {
				t.Fatal(err)
			}
		}
		if !st.Finished() {
			t.Fatalf("%s: did not finish", schema)
		}
	}
}

func TestNewVocabFunc(t *testing.T) {
	v, toks, eog := testVocab()
	w := NewVocabFunc(len(toks), func(id int32) []byte { return toks[id] }, func(id int32) bool { return id == eog })
	g, _ := Compile([]byte(`{"type":"object","properties":{"s":{"type":"string","maxLength":2}}}`))
	a, b := g.Start(v), g.Start(w)
	la, lb := make([]float32, len(toks)), make([]float32, len(toks))
	for _, prefix := range []string{``, `{"s":"`, `é`, `"}`} {
		if prefix != "" {
			if err := a.AcceptText(prefix); err != nil {
				t.Fatal(err)
			}
			if err := b.AcceptText(prefix); err != nil {
				t.Fatal(err)
			}
		}
		clear(la)
		clear(lb)
		if a.Mask(la) != b.Mask(lb) {
			t.Fatalf("masks differ after %q", prefix)
		}
		for i := range la {
			if la[i] != lb[i] {
				t.Fatalf("token %d differs after %q", i, prefix)
			}
		}
	}
}

func TestPattern(t *testing.T) {
	v, toks, eog := testVocab()
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		pattern string
		good    []string
		bad     []string // prefixes that must be refused
	}{
		{`^[a-z]{2,4}$`, []string{`"ab"`, `"abcd"`}, []string{`"A`, `"abcde`}},
		{`^\d{3}-\d{4}$`, []string{`"555-1234"`}, []string{`"55-`, `"555-12345`}},
		{`^(foo|bar)+$`, []string{`"foobarfoo"`, `"bar"`}, []string{`"fob`, `""`}},
		{`abc`, []string{`"xxabcyy"`, `"abc"`, `"\u0061bc"`}, nil},
		{`^é+\n?$`, []string{`"éé"`, `"é\n"`, `"\u00e9"`}, []string{`"e`, `"é\n\n`}},
		{`^$`, []string{`""`}, []string{`"a`}},
		{`^[^"\\]*$`, []string{`"plain text"`}, []string{`"\"`, `"\\`}},
	} {
		schema := fmt.Sprintf(`{"type":"object","properties":{"s":{"type":"string","pattern":%s}},"required":["s"]}`, quote(c.pattern))
		g, err := Compile([]byte(schema))
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		for _, ex := range c.good {
			acceptAll(t, g, v, toks, eog, `{"s":`+ex+`}`)
		}
		for _, bad := range c.bad {
			st := g.Start(v)
			if err := st.AcceptText(`{"s":` + bad); err == nil {
				if err := st.AcceptText(`"}`); err == nil {
					t.Errorf("%s: %s accepted", c.pattern, bad)
				}
			}
		}
		for i := 0; i < 20; i++ {
			text, ok := randomWalk(t, g, v, toks, eog, rng)
			if !ok {
				continue
			}
			if err := g.Validate([]byte(text)); err != nil {
				t.Fatalf("%s: %q: %v", c.pattern, text, err)
			}
		}
	}
}

func TestClosed(t *testing.T) {
	v, _, _ := testVocab()
	for _, c := range []struct {
		schema, text string
		done, closed bool
	}{
		{`"json"`, `{"a":1`, false, false},
		{`"json"`, `{"a":1}`, true, true},
		{`{"type":"integer"}`, `12`, true, false},
		{`{"enum":[1,12]}`, `1`, true, false},
		{`{"enum":[1,12]}`, `12`, true, true},
		{`{"type":"string"}`, `"x"`, true, true},
	} {
		g, _ := Compile([]byte(c.schema))
		st := g.Start(v)
		if err := st.AcceptText(c.text); err != nil {
			t.Fatal(err)
		}
		if st.Done() != c.done || st.Closed() != c.closed {
			t.Errorf("%s %s: Done %v Closed %v, want %v %v", c.schema, c.text, st.Done(), st.Closed(), c.done, c.closed)
		}
	}
}
