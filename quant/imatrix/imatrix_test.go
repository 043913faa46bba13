package imatrix

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func sample(t *testing.T) *Data {
	c := NewCollector()
	rng := rand.New(rand.NewPCG(1, 2))
	for chunk := 0; chunk < 3; chunk++ {
		x := make([]float32, 5*64)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if err := c.Add("blk.0.attn_q.weight", x, 5, 64, 0, 1); err != nil {
			t.Fatal(err)
		}
		if err := c.Add("blk.0.ffn_down_exps.weight", x[:2*64], 2, 64, chunk%2, 4); err != nil {
			t.Fatal(err)
		}
		c.EndChunk(5)
	}
	return c.Data("train.txt")
}

func TestRoundTrip(t *testing.T) {
	d := sample(t)
	want := d.Values()
	if v := want["blk.0.attn_q.weight"]; len(v) != 64 || v[0] <= 0 {
		t.Fatalf("values %v", v[:4])
	}
	// Matrices that saw no data get weight 1, as in llama-quantize.
	if v := want["blk.0.ffn_down_exps.weight"]; len(v) != 256 || v[2*64] != 1 || v[3*64+5] != 1 {
		t.Fatalf("unused expert weights %v %v", v[2*64], v[3*64])
	}
	dir := t.TempDir()
	for _, legacy := range []bool{false, true} {
		path := filepath.Join(dir, "m.gguf")
		var err error
		if legacy {
			path = filepath.Join(dir, "m.dat")
			err = d.WriteLegacy(path)
		} else {
			err = d.WriteGGUF(path)
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Legacy != legacy || r.ChunkCount != 3 || len(r.Datasets) != 1 || r.Datasets[0] != "train.txt" {
			t.Errorf("legacy=%v: header %+v", legacy, r)
		}
		got := r.Values()
		for name, w := range want {
			g := got[name]
			if len(g) != len(w) {
				t.Fatalf("legacy=%v %s: %d values, want %d", legacy, name, len(g), len(w))
			}
			if legacy && name == "blk.0.ffn_down_exps.weight" {
				continue // the legacy format has one call count for all experts
			}
			for i := range w {
				if math.Abs(float64(g[i]-w[i])) > 1e-6*math.Abs(float64(w[i])) {
					t.Fatalf("legacy=%v %s[%d] = %g, want %g", legacy, name, i, g[i], w[i])
				}
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":      {},
		"short":      {1, 0, 0, 0},
		"huge-count": {0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0},
		"bad-name":   {1, 0, 0, 0, 0xff, 0xff, 0, 0},
		"bad-nval":   append([]byte{1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0}, 0xff, 0xff, 0xff, 0x0f),
		"gguf-junk":  []byte("GGUF\x03\x00\x00\x00garbage"),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		if _, err := Read(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	nan := &Data{Entries: map[string]*Entry{"w": {Sums: []float32{float32(math.NaN())}, Counts: []float32{1}}}}
	p := filepath.Join(dir, "nan.gguf")
	if err := nan.WriteGGUF(p); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil {
		t.Error("NaN accepted")
	}
	c := NewCollector()
	if err := c.Add("w", make([]float32, 10), 2, 4, 0, 1); err == nil {
		t.Error("bad shape accepted")
	}
}

func FuzzParseLegacy(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0x3f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseLegacy(b)
		if err == nil {
			d.Values()
		}
	})
}
