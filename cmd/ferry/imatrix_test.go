package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/imatrix"
	"github.com/ferryhq/ferry/tokenizer"
)

// TestImatrixMatchesReference runs `ferry imatrix` (the engine with an
// observing collector) on stories260K and on tiny llama2, qwen3, mixtral
// and qwen3moe models, and checks every tensor's counts exactly and its
// sums of squares within float32 summation error against the same
// statistic computed here by a plain float64 forward pass written
// independently of the engine.
func TestImatrixMatchesReference(t *testing.T) {
	text := filepath.Join(t.TempDir(), "calib.txt")
	var sb strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&sb, "Once upon a time, a little girl named Lily found %d shiny stones in the park. She was very happy and showed them to her mom. ", i)
	}
	if err := os.WriteFile(text, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	models := map[string]string{
		"stories260K": filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf"),
	}
	for _, o := range []string{"llama2", "qwen3", "mixtral", "qwen3moe"} {
		models[o] = testdata.Path(t, "oracle", o)
	}
	const ctx, chunks = 32, 3
	// Cobra keeps flag values between Execute calls: restore the defaults
	// so later tests running `imatrix` see a fresh command.
	t.Cleanup(func() {
		if c, _, err := rootCmd.Find([]string{"imatrix"}); err == nil {
			c.Flags().VisitAll(func(f *pflag.Flag) { f.Value.Set(f.DefValue); f.Changed = false })
		}
	})
	for name, path := range models {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "im.gguf")
			if _, err := runFerry(t, "imatrix", path, text, "-o", out, "--ctx", fmt.Sprint(ctx), "--chunks", fmt.Sprint(chunks), "--threads", "2", "--json"); err != nil {
				t.Fatal(err)
			}
			got, err := imatrix.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			want := referenceImatrix(t, path, text, ctx, chunks)
			if got.ChunkCount != chunks || got.ChunkSize != ctx {
				t.Errorf("%d chunks of %d, want %d of %d", got.ChunkCount, got.ChunkSize, chunks, ctx)
			}
			if len(got.Entries) != len(want) {
				t.Errorf("%d entries, want %d", len(got.Entries), len(want))
			}
			worst := 0.0
			for n, w := range want {
				g := got.Entries[n]
				if g == nil {
					t.Errorf("%s missing", n)
					continue
				}
				if len(g.Counts) != len(w.counts) || len(g.Sums) != len(w.sums) {
					t.Errorf("%s: %d counts, %d sums; want %d, %d", n, len(g.Counts), len(g.Sums), len(w.counts), len(w.sums))
					continue
				}
				for i := range w.counts {
					if float64(g.Counts[i]) != w.counts[i] {
						t.Errorf("%s: count[%d] = %v, want %v", n, i, g.Counts[i], w.counts[i])
					}
				}
				mx := 0.0
				for _, v := range w.sums {
					mx = math.Max(mx, v)
				}
				for i, v := range w.sums {
					d := math.Abs(float64(g.Sums[i])-v) / (v + 1e-3*mx)
					worst = math.Max(worst, d)
					if d > 1e-4 {
						t.Errorf("%s: sum[%d] = %v, want %v", n, i, g.Sums[i], v)
						break
					}
				}
			}
			t.Logf("%d tensors, largest relative difference %.2g", len(want), worst)
		})
	}
}

type refEntry struct{ sums, counts []float64 }

// refNet is a plain float64 forward pass of the llama / qwen3 / mixtral /
// qwen3moe block, recording sums of squares of matrix inputs.
type refNet struct {
	m                   *model.Model
	dim, heads, kvh, hd int
	nExp, nUsed         int
	eps, base           float64
	neox, normTopK      bool
	stats               map[string]*refEntry
	w                   map[string][]float64
}

func (r *refNet) tensor(t *testing.T, name string) []float64 {
	if v, ok := r.w[name]; ok {
		return v
	}
	tt := r.m.Tensor(name)
	if tt == nil {
		return nil
	}
	f := make([]float32, tt.Elements())
	if err := quant.Dequantize(tt.Type, tt.Data, f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v := make([]float64, len(f))
	for i, x := range f {
		v[i] = float64(x)
	}
	r.w[name] = v
	return v
}

func (r *refNet) record(name string, x []float64, expert, experts int) {
	e := r.stats[name]
	if e == nil {
		e = &refEntry{sums: make([]float64, len(x)*experts), counts: make([]float64, experts)}
		r.stats[name] = e
	}
	for i, v := range x {
		e.sums[expert*len(x)+i] += v * v
	}
	e.counts[expert]++
}

// mul returns W·x for a matrix of len(W)/len(x) rows of len(x).
func mul(w, x []float64) []float64 {
	n := len(x)
	y := make([]float64, len(w)/n)
	for o := range y {
		var s float64
		for i, v := range w[o*n : (o+1)*n] {
			s += v * x[i]
		}
		y[o] = s
	}
	return y
}

func (r *refNet) rms(x, w []float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+r.eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * s * w[i]
	}
	return y
}

func (r *refNet) rope(v []float64, pos int) {
	half := r.hd / 2
	for i := 0; i < half; i++ {
		th := float64(pos) * math.Pow(r.base, -2*float64(i)/float64(r.hd))
		c, s := math.Cos(th), math.Sin(th)
		a, b := 2*i, 2*i+1
		if r.neox {
			a, b = i, i+half
		}
		v[a], v[b] = v[a]*c-v[b]*s, v[a]*s+v[b]*c
	}
}

func silu(x float64) float64 { return x / (1 + math.Exp(-x)) }

func (r *refNet) chunk(t *testing.T, ids []int32) {
	emb := r.tensor(t, "token_embd.weight")
	h := make([][]float64, len(ids))
	for i, id := range ids {
		h[i] = append([]float64(nil), emb[int(id)*r.dim:(int(id)+1)*r.dim]...)
	}
	layers, _ := r.m.ArchUint("block_count")
	for l := 0; l < int(layers); l++ {
		p := fmt.Sprintf("blk.%d.", l)
		T := len(ids)
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for i := range ids {
			xn := r.rms(h[i], r.tensor(t, p+"attn_norm.weight"))
			for _, n := range []string{"attn_q", "attn_k", "attn_v"} {
				r.record(p+n+".weight", xn, 0, 1)
			}
			q[i], k[i], v[i] = mul(r.tensor(t, p+"attn_q.weight"), xn), mul(r.tensor(t, p+"attn_k.weight"), xn), mul(r.tensor(t, p+"attn_v.weight"), xn)
			for hh := 0; hh < r.heads; hh++ {
				qh := q[i][hh*r.hd : (hh+1)*r.hd]
				if qn := r.tensor(t, p+"attn_q_norm.weight"); qn != nil {
					copy(qh, r.rms(qh, qn))
				}
				r.rope(qh, i)
			}
			for hh := 0; hh < r.kvh; hh++ {
				kh := k[i][hh*r.hd : (hh+1)*r.hd]
				if kn := r.tensor(t, p+"attn_k_norm.weight"); kn != nil {
					copy(kh, r.rms(kh, kn))
				}
				r.rope(kh, i)
			}
		}
		for i := range ids {
			att := make([]float64, r.heads*r.hd)
			for hh := 0; hh < r.heads; hh++ {
				g := hh / (r.heads / r.kvh)
				qh := q[i][hh*r.hd : (hh+1)*r.hd]
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for s := 0; s <= i; s++ {
					var d float64
					for j, x := range qh {
						d += x * k[s][g*r.hd+j]
					}
					sc[s] = d / math.Sqrt(float64(r.hd))
					mx = math.Max(mx, sc[s])
				}
				var sum float64
				for s := range sc {
					sc[s] = math.Exp(sc[s] - mx)
					sum += sc[s]
				}
				for s := range sc {
					for j := 0; j < r.hd; j++ {
						att[hh*r.hd+j] += sc[s] / sum * v[s][g*r.hd+j]
					}
				}
			}
			r.record(p+"attn_output.weight", att, 0, 1)
			o := mul(r.tensor(t, p+"attn_output.weight"), att)
			for j := range o {
				h[i][j] += o[j]
			}
			xn := r.rms(h[i], r.tensor(t, p+"ffn_norm.weight"))
			var out []float64
			if r.nExp > 0 {
				r.record(p+"ffn_gate_inp.weight", xn, 0, 1)
				lg := mul(r.tensor(t, p+"ffn_gate_inp.weight"), xn)
				order := make([]int, len(lg))
				for j := range order {
					order[j] = j
				}
				sort.SliceStable(order, func(a, b int) bool { return lg[order[a]] > lg[order[b]] })
				sel := order[:r.nUsed]
				var z, zsel float64
				for _, x := range lg {
					z += math.Exp(x - lg[order[0]])
				}
				for _, x := range sel {
					zsel += math.Exp(lg[x] - lg[order[0]])
				}
				if !r.normTopK {
					zsel = z
				}
				out = make([]float64, r.dim)
				gate, up, down := r.tensor(t, p+"ffn_gate_exps.weight"), r.tensor(t, p+"ffn_up_exps.weight"), r.tensor(t, p+"ffn_down_exps.weight")
				ne := len(gate) / r.nExp
				for _, x := range sel {
					r.record(p+"ffn_gate_exps.weight", xn, x, r.nExp)
					r.record(p+"ffn_up_exps.weight", xn, x, r.nExp)
					gv, uv := mul(gate[x*ne:(x+1)*ne], xn), mul(up[x*ne:(x+1)*ne], xn)
					for j := range gv {
						gv[j] = silu(gv[j]) * uv[j]
					}
					r.record(p+"ffn_down_exps.weight", gv, x, r.nExp)
					d := mul(down[x*ne:(x+1)*ne], gv)
					wt := math.Exp(lg[x]-lg[order[0]]) / zsel
					for j := range d {
						out[j] += wt * d[j]
					}
				}
			} else {
				r.record(p+"ffn_gate.weight", xn, 0, 1)
				r.record(p+"ffn_up.weight", xn, 0, 1)
				gv, uv := mul(r.tensor(t, p+"ffn_gate.weight"), xn), mul(r.tensor(t, p+"ffn_up.weight"), xn)
				for j := range gv {
					gv[j] = silu(gv[j]) * uv[j]
				}
				r.record(p+"ffn_down.weight", gv, 0, 1)
				out = mul(r.tensor(t, p+"ffn_down.weight"), gv)
			}
			for j := range out {
				h[i][j] += out[j]
			}
		}
	}
}

// referenceImatrix tokenizes text and runs chunks of ctx tokens (the first
// replaced by BOS when the tokenizer adds one) through refNet.
func referenceImatrix(t *testing.T, path, text string, ctx, chunks int) map[string]*refEntry {
	m, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(text)
	ids, err := tok.Encode(string(b), true, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < ctx*chunks {
		t.Fatalf("%d tokens, need %d", len(ids), ctx*chunks)
	}
	u := func(k string) int { v, _ := m.ArchUint(k); return int(v) }
	eps, _ := m.ArchFloat("attention.layer_norm_rms_epsilon")
	base, ok := m.ArchFloat("rope.freq_base")
	if !ok {
		base = 10000
	}
	arch := m.Arch()
	r := &refNet{m: m, dim: u("embedding_length"), heads: u("attention.head_count"), kvh: u("attention.head_count_kv"),
		nExp: u("expert_count"), nUsed: u("expert_used_count"), eps: eps, base: base,
		neox: m.RopeNeoX || strings.HasPrefix(arch, "qwen"), normTopK: true,
		stats: map[string]*refEntry{}, w: map[string][]float64{}}
	if b, ok := m.Metadata.Bool(arch + ".expert_weights_norm"); ok {
		r.normTopK = b
	}
	if r.kvh == 0 {
		r.kvh = r.heads
	}
	r.hd = u("attention.key_length")
	if r.hd == 0 {
		r.hd = r.dim / r.heads
	}
	for c := 0; c < chunks; c++ {
		chunk := append([]int32(nil), ids[c*ctx:(c+1)*ctx]...)
		if tok.AddBOS() {
			chunk[0] = tok.BOS()
		}
		r.chunk(t, chunk)
	}
	return r.stats
}
