package jinja

import (
	"os"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
)

// fixedNow is the clock the reference renders used for strftime_now.
var fixedNow = func() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }

type refRender struct {
	conversation string
	vars         map[string]Value
	output       string
	err          string
	hasErr       bool
}

type refTemplate struct {
	name, src string
	renders   []refRender
}

func loadReference(tb testing.TB) []refTemplate {
	tb.Helper()
	data, err := os.ReadFile(testdata.Path(tb, "chat_templates.json"))
	if err != nil {
		tb.Fatal(err)
	}
	v, err := FromJSON(data)
	if err != nil {
		tb.Fatal(err)
	}
	var out []refTemplate
	for _, tv := range v.(*List).Items {
		td := tv.(*Dict)
		name, _ := td.Get("name")
		src, _ := td.Get("template")
		rt := refTemplate{name: name.(string), src: src.(string)}
		rs, _ := td.Get("renders")
		for _, rv := range rs.(*List).Items {
			rd := rv.(*Dict)
			get := func(k string) Value { v, _ := rd.Get(k); return v }
			rr := refRender{
				conversation: str(get("conversation")),
				vars: map[string]Value{
					"messages":              get("messages"),
					"add_generation_prompt": get("add_generation_prompt"),
					"bos_token":             get("bos_token"),
					"eos_token":             get("eos_token"),
					"tools":                 get("tools"),
				},
			}
			if e, ok := rd.Get("error"); ok {
				rr.err, rr.hasErr = e.(string), true
			} else {
				rr.output = get("output").(string)
			}
			rt.renders = append(rt.renders, rr)
		}
		out = append(out, rt)
	}
	return out
}

// TestReferenceRenders checks every template and conversation rendered by
// Python jinja2 configured as transformers' apply_chat_template.
func TestReferenceRenders(t *testing.T) {
	refs := loadReference(t)
	if len(refs) == 0 {
		t.Fatal("no reference templates")
	}
	n := 0
	for _, rt := range refs {
		t.Run(rt.name, func(t *testing.T) {
			tmpl, perr := Parse(rt.src)
			for _, rr := range rt.renders {
				n++
				agp := rr.vars["add_generation_prompt"]
				var got string
				err := perr
				if err == nil {
					got, err = tmpl.Render(rr.vars, &Options{Now: fixedNow})
				}
				if rr.hasErr {
					if err == nil {
						t.Errorf("%s (agp=%v): rendered without error, want %q", rr.conversation, agp, rr.err)
					} else if err.Error() != rr.err {
						t.Errorf("%s (agp=%v): error\n got %q\nwant %q", rr.conversation, agp, err.Error(), rr.err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s (agp=%v): %v", rr.conversation, agp, err)
					continue
				}
				if got != rr.output {
					t.Errorf("%s (agp=%v): output differs\n got %q\nwant %q", rr.conversation, agp, got, rr.output)
				}
			}
		})
	}
	t.Logf("%d renders checked", n)
}
