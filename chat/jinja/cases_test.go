package jinja

import (
	"os"
	"testing"
)

// TestCases checks templates exercising single features against Python
// jinja2's output (testdata/cases.json, made by testdata/gen_cases.py).
func TestCases(t *testing.T) {
	data, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, cv := range v.(*List).Items {
		c := cv.(*Dict)
		src, _ := c.Get("template")
		varsV, _ := c.Get("vars")
		vars := map[string]Value{}
		vd := varsV.(*Dict)
		for j, k := range vd.Keys() {
			vars[k.(string)] = vd.vals[j]
		}
		var got string
		tmpl, err := Parse(src.(string))
		if err == nil {
			got, err = tmpl.Render(vars, &Options{Now: fixedNow})
		}
		if want, ok := c.Get("error"); ok {
			if err == nil {
				t.Errorf("case %d %q: rendered %q, want error %q", i, src, got, want)
			} else if err.Error() != want.(string) {
				t.Errorf("case %d %q: error\n got %q\nwant %q", i, src, err.Error(), want)
			}
			continue
		}
		want, _ := c.Get("output")
		if err != nil {
			t.Errorf("case %d %q: %v", i, src, err)
		} else if got != want.(string) {
			t.Errorf("case %d %q:\n got %q\nwant %q", i, src, got, want)
		}
	}
}
