//go:build difftest

// Differential test against Python jinja2 on random templates. Generate a
// case file with testdata/gen_random.py (needs python3 with jinja2), then:
//
//	python3 testdata/gen_random.py SEED 3000 > /tmp/cases.json
//	DIFF_FILE=/tmp/cases.json go test -tags difftest -run TestDiffRandom ./chat/jinja/
//
// Known, accepted differences: printing a generator object (Python shows
// its memory address), constant-folded slices of literals, and some error
// texts of nonsensical expressions.

package jinja

import (
	"os"
	"strings"
	"testing"
)

func TestDiffRandom(t *testing.T) {
	data, err := os.ReadFile(os.Getenv("DIFF_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	root := v.(*Dict)
	vars := map[string]Value{}
	if varsV, ok := root.Get("vars"); ok {
		for i, k := range varsV.(*Dict).Keys() {
			vars[k.(string)] = varsV.(*Dict).vals[i]
		}
	}
	casesV, _ := root.Get("cases")
	bad, badErr, total := 0, 0, 0
	for _, cv := range casesV.(*List).Items {
		c := cv.(*Dict)
		src, _ := c.Get("template")
		total++
		vars := vars
		if cv, ok := c.Get("vars"); ok {
			vars = map[string]Value{}
			for i, k := range cv.(*Dict).Keys() {
				vars[k.(string)] = cv.(*Dict).vals[i]
			}
		}
		var got string
		tmpl, err := Parse(src.(string))
		if err == nil {
			got, err = tmpl.Render(vars, &Options{Now: fixedNow})
		}
		if want, ok := c.Get("error"); ok {
			if err == nil {
				bad++
				if bad <= 25 {
					t.Errorf("%q: rendered %q, want error %q", src, got, want)
				}
			} else if err.Error() != want.(string) {
				badErr++
				if badErr <= 15 && !strings.Contains(os.Getenv("DIFF_QUIET"), "err") {
					t.Logf("%q: error\n got %q\nwant %q", src, err.Error(), want)
				}
			}
			continue
		}
		want, _ := c.Get("output")
		if err != nil || got != want.(string) {
			bad++
			if bad <= 25 {
				t.Errorf("%q:\n got %q (%v)\nwant %q", src, got, err, want)
			}
		}
	}
	t.Logf("%d cases, %d wrong, %d error-text differences", total, bad, badErr)
}
