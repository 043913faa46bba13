package jinja

import "testing"

// BenchmarkRender renders each reference template for its longest
// conversation (parsed once, as the server does).
func BenchmarkRender(b *testing.B) {
	for _, rt := range loadReference(b) {
		tmpl, err := Parse(rt.src)
		if err != nil {
			continue
		}
		var best refRender
		for _, rr := range rt.renders {
			if !rr.hasErr && len(rr.output) > len(best.output) {
				best = rr
			}
		}
		if best.vars == nil {
			continue
		}
		b.Run(rt.name, func(b *testing.B) {
			opts := &Options{Now: fixedNow}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.Render(best.vars, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse measures compiling the largest reference template.
func BenchmarkParse(b *testing.B) {
	var src string
	for _, rt := range loadReference(b) {
		if len(rt.src) > len(src) {
			src = rt.src
		}
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLongConversation renders a 400-message conversation through the
// largest reference template (Gemma 4's, which scans ahead per message).
func BenchmarkLongConversation(b *testing.B) {
	var src string
	for _, rt := range loadReference(b) {
		if rt.name == "gemma4_e2b_chat_template" {
			src = rt.src
		}
	}
	if src == "" {
		b.Skip("gemma4 template not in the reference set")
	}
	tmpl, err := Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	msgs := &List{}
	for i := 0; i < 400; i++ {
		d := NewDict()
		if i%2 == 0 {
			d.SetStr("role", "user")
			d.SetStr("content", "What is the capital of France? Please answer briefly.")
		} else {
			d.SetStr("role", "assistant")
			d.SetStr("content", "The capital of France is Paris.")
		}
		msgs.Items = append(msgs.Items, d)
	}
	vars := map[string]Value{"messages": msgs, "add_generation_prompt": true, "bos_token": "<bos>", "eos_token": "<eos>", "tools": nil}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(vars, nil); err != nil {
			b.Fatal(err)
		}
	}
}
