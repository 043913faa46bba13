package jinja

import (
	"strings"
	"testing"
	"time"
)

func fuzzVars() map[string]Value {
	v, _ := FromJSON([]byte(`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi é"},
		{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]}],
		"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
		"add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"}`))
	vars := map[string]Value{}
	d := v.(*Dict)
	for i, k := range d.Keys() {
		vars[k.(string)] = d.vals[i]
	}
	return vars
}

// FuzzTemplate parses and renders arbitrary templates: no panic, no hang
// (loops and recursion are bounded), errors are *Error.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"{% for m in messages %}{{ m.role | upper }}: {{ m['content'] | trim }}{% endfor %}",
		"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
		"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
		"{{ 'a' * 1000000000 }}",
		"{{ (((((((1))))))) }}{{ [[[[[[]]]]]] }}{{ {'a': {'b': {}}} }}",
		"{% set ns = namespace(x=[]) %}{% for t in tools %}{{ t | tojson(indent=2) }}{% endfor %}",
		"{%- if x is defined -%}{{ x[1:2:3] }}{%- elif y %}{% raw %}{{{% endraw %}{% endif %}",
		"{{ messages[2].tool_calls[0].function.arguments | dictsort | list }}",
		"{% call(x) m() %}{{ x }}{% endcall %}{% filter upper %}{% endfilter %}",
		"{{ '%s %d %r' % ('a', 1, none) }}{{ '{}{x}'.format(1, x=2) }}",
		"{# unterminated",
		"{{ 2 ** 62 * 4 }}{{ -9223372036854775807 - 1 }}",
	} {
		f.Add(s)
	}
	vars := fuzzVars()
	opts := &Options{Now: func() time.Time { return time.Unix(0, 0) }, MaxSteps: 200000, MaxOutput: 1 << 20}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse error of type %T: %v", err, err)
			}
			return
		}
		_, err = tmpl.Render(vars, opts)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("render error of type %T: %v", err, err)
			}
		}
	})
}

func TestLimits(t *testing.T) {
	cases := map[string]string{
		"{{ range(10**9) | length }}": "OverflowError",
		"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}": "TemplateRuntimeError",
		"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}":                           "RecursionError",
		"{{ 'ab' * 10**9 }}": "OutputTooLarge",
		"{{ 2 ** 70 }}":      "OverflowError",
		"{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}": "OutputTooLarge",
	}
	for src, kind := range cases {
		tmpl, err := Parse(src)
		if err != nil {
			t.Errorf("%q: parse: %v", src, err)
			continue
		}
		start := time.Now()
		_, err = tmpl.Render(nil, &Options{MaxSteps: 1_000_000})
		e, ok := err.(*Error)
		if !ok || e.Kind != kind {
			t.Errorf("%q: got %v, want a %s", src, err, kind)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%q: took %v", src, d)
		}
	}
	// Self-referencing and shared containers print like Python, in bounded time.
	tmpl, err := Parse("{% set ns = namespace() %}{% set ns.x = [ns, ns] %}{{ ns }}")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tmpl.Render(nil, nil); err != nil || out != "<Namespace {'x': [<Namespace ...>, <Namespace ...>]}>" {
		t.Errorf("cyclic namespace: %q, %v", out, err)
	}
	deep := strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000)
	if _, err := Parse("{{ " + deep + " }}"); err == nil {
		t.Error("10000 nested parentheses parsed without error")
	}
	deepIf := strings.Repeat("{% if true %}", 5000) + strings.Repeat("{% endif %}", 5000)
	if _, err := Parse(deepIf); err == nil {
		t.Error("5000 nested ifs parsed without error")
	}
}
