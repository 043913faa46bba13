package llama2c

import "testing"

func FuzzParse(f *testing.F) {
	f.Add(synth(header(16, 40, 2, 4, 2, 32, 8)))
	f.Add(synth(header(8, 8, 1, 1, 1, -4, 2)))
	f.Add(header(16, 40, 2, 4, 2, 32, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for i := range fl.Tensors {
			if d := fl.Data(&fl.Tensors[i]); int64(len(d)) != fl.Tensors[i].Size {
				t.Fatalf("tensor %s: %d bytes, want %d", fl.Tensors[i].Name, len(d), fl.Tensors[i].Size)
			}
		}
	})
}

func FuzzParseVocab(f *testing.F) {
	f.Add([]byte("\x03\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00<unk>\x00\x00\x80\xbf\x02\x00\x00\x00ab"), 2)
	f.Add([]byte("\x03\x00\x00\x00"), 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		v, err := ParseVocab("fuzz", b, n)
		if err != nil {
			return
		}
		if len(v.Tokens) != len(v.Scores) || (n > 0 && len(v.Tokens) != n) {
			t.Fatalf("%d tokens, %d scores, asked %d", len(v.Tokens), len(v.Scores), n)
		}
	})
}
