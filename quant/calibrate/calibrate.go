// Package calibrate computes an importance matrix the way llama.cpp's
// llama-imatrix does: it runs the model over calibration text in chunks of
// a fixed context and accumulates, for every weight matrix of the blocks,
// the squares of the activations that multiply it.
//
// It carries its own plain float32 forward pass (llama, mistral, mixtral,
// qwen2, qwen3 and qwen3moe layouts) because collecting needs the input of every matrix product;
// weights stay in their stored type and are expanded one row at a time.
// TestForwardMatchesReference checks this forward pass against the
// llama2.c reference logits of stories260K.
package calibrate

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/imatrix"
)

// Options for Run.
type Options struct {
	Context int // tokens per chunk (llama-imatrix's -c), default 512
	Chunks  int // stop after this many chunks; 0 = all
	Threads int // 0 = GOMAXPROCS
	// Progress is called after each chunk.
	Progress func(done, total int)
}

type matrix struct {
	name      string
	typ       quant.Type
	data      []byte
	in, out   int
	rowBytes  int
	biasF32   []float32
	collected bool // record its input activations
	expert    int  // matrix index within a 3-D expert tensor
	nExperts  int  // 1 for a plain matrix
}

type blockW struct {
	attnNorm, ffnNorm []float32
	qNorm, kNorm      []float32 // per-head RMSNorm of q and k (qwen3)
	q, k, v, o        *matrix
	gate, up, down    *matrix
	// Mixture of experts: router and one matrix view per expert.
	router            *matrix
	gateE, upE, downE []*matrix
}

// Runner holds a model prepared for calibration.
type Runner struct {
	m                          *model.Model
	nEmbd, nHead, nKV, hd, nFF int
	nLayer, vocab              int
	eps, base                  float32
	neox                       bool
	nExpert, nUsed             int
	freqFactors                []float32
	tokEmbd, output            *matrix
	outNorm                    []float32
	blocks                     []blockW
	threads                    int
	col                        *imatrix.Collector
}

// New prepares m (arch llama incl. Mixtral, mistral, qwen2, qwen3, qwen3moe).
func New(m *model.Model, threads int) (*Runner, error) {
	arch := m.Arch()
	switch arch {
	case "llama", "mistral", "qwen2", "qwen3", "qwen3moe":
	default:
		return nil, fmt.Errorf("calibrate: architecture %q is not supported yet (llama, mistral, mixtral, qwen2, qwen3, qwen3moe)", arch)
	}
	u := func(k string) int { v, _ := m.ArchUint(k); return int(v) }
	r := &Runner{m: m, nEmbd: u("embedding_length"), nHead: u("attention.head_count"), nKV: u("attention.head_count_kv"),
		nLayer: u("block_count"), threads: threads, col: imatrix.NewCollector()}
	if r.threads <= 0 {
		r.threads = runtime.GOMAXPROCS(0)
	}
	if r.nKV == 0 {
		r.nKV = r.nHead
	}
	if r.nEmbd == 0 || r.nHead == 0 || r.nLayer == 0 {
		return nil, fmt.Errorf("calibrate: %s: embedding_length, head_count or block_count missing", m.Path)
	}
	r.hd = u("attention.key_length")
	if r.hd == 0 {
		r.hd = r.nEmbd / r.nHead
	}
	eps, ok := m.ArchFloat("attention.layer_norm_rms_epsilon")
	if !ok {
		eps = 1e-5
	}
	base, ok := m.ArchFloat("rope.freq_base")
	if !ok {
		base = 10000
	}
	r.eps, r.base = float32(eps), float32(base)
	r.neox = arch == "qwen2" || arch == "qwen3" || arch == "qwen3moe" || m.RopeNeoX
	r.nExpert, r.nUsed = u("expert_count"), u("expert_used_count")
	if r.nExpert > 1 && (r.nUsed < 1 || r.nUsed > r.nExpert) {
		return nil, fmt.Errorf("calibrate: expert_used_count %d with %d experts", r.nUsed, r.nExpert)
	}
	var err error
	get := func(name string, in, out int, collect bool) *matrix {
		if err != nil {
			return nil
		}
		t := m.Tensor(name)
		if t == nil {
			err = fmt.Errorf("calibrate: tensor %s missing", name)
			return nil
		}
		if len(t.Shape) != 2 || int(t.Shape[0]) != in || (out > 0 && int(t.Shape[1]) != out) {
			err = fmt.Errorf("calibrate: tensor %s has shape %v, want [%d %d]", name, t.Shape, in, out)
			return nil
		}
		if !quant.CanDequantize(t.Type) {
			err = fmt.Errorf("calibrate: tensor %s: %w", name, &quant.ErrUnsupported{Type: t.Type, Op: "dequantize"})
			return nil
		}
		rb, e := quant.RowSize(t.Type, int64(in))
		if e != nil {
			err = fmt.Errorf("calibrate: tensor %s: %v", name, e)
			return nil
		}
		mt := &matrix{name: name, typ: t.Type, data: t.Data, in: in, out: int(t.Shape[1]), rowBytes: int(rb), collected: collect, nExperts: 1}
		if len(t.Data) < mt.out*mt.rowBytes {
			err = fmt.Errorf("calibrate: tensor %s: data too short", name)
			return nil
		}
		return mt
	}
	experts := func(name string, in, out int) []*matrix {
		if err != nil {
			return nil
		}
		t := m.Tensor(name)
		if t == nil || len(t.Shape) != 3 || int(t.Shape[0]) != in || int(t.Shape[1]) != out || int(t.Shape[2]) != r.nExpert {
			err = fmt.Errorf("calibrate: tensor %s missing or not [%d %d %d]", name, in, out, r.nExpert)
			return nil
		}
		if !quant.CanDequantize(t.Type) {
			err = fmt.Errorf("calibrate: tensor %s: %w", name, &quant.ErrUnsupported{Type: t.Type, Op: "dequantize"})
			return nil
		}
		rb, e := quant.RowSize(t.Type, int64(in))
		if e != nil || len(t.Data) < int(rb)*out*r.nExpert {
			err = fmt.Errorf("calibrate: tensor %s: bad size", name)
			return nil
		}
		ms := make([]*matrix, r.nExpert)
		n := int(rb) * out
		for i := range ms {
			ms[i] = &matrix{name: name, typ: t.Type, data: t.Data[i*n : (i+1)*n], in: in, out: out, rowBytes: int(rb),
				collected: true, expert: i, nExperts: r.nExpert}
		}
		return ms
	}
	vec := func(name string, n int, required bool) []float32 {
		if err != nil {
			return nil
		}
		t := m.Tensor(name)
		if t == nil {
			if required {
				err = fmt.Errorf("calibrate: tensor %s missing", name)
			}
			return nil
		}
		if int(t.Elements()) != n {
			err = fmt.Errorf("calibrate: tensor %s has %d values, want %d", name, t.Elements(), n)
			return nil
		}
		out := make([]float32, n)
		if e := quant.Dequantize(t.Type, t.Data, out); e != nil {
			err = fmt.Errorf("calibrate: tensor %s: %v", name, e)
		}
		return out
	}
	r.tokEmbd = get("token_embd.weight", r.nEmbd, 0, false)
	if err != nil {
		return nil, err
	}
	r.vocab = r.tokEmbd.out
	r.outNorm = vec("output_norm.weight", r.nEmbd, true)
	if m.Tensor("output.weight") != nil {
		r.output = get("output.weight", r.nEmbd, r.vocab, false)
	} else {
		r.output = r.tokEmbd
	}
	r.freqFactors = vec("rope_freqs.weight", r.hd/2, false)
	qDim, kvDim := r.nHead*r.hd, r.nKV*r.hd
	for l := 0; l < r.nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		b := blockW{
			attnNorm: vec(p+"attn_norm.weight", r.nEmbd, true),
			ffnNorm:  vec(p+"ffn_norm.weight", r.nEmbd, true),
			qNorm:    vec(p+"attn_q_norm.weight", r.hd, false),
			kNorm:    vec(p+"attn_k_norm.weight", r.hd, false),
			q:        get(p+"attn_q.weight", r.nEmbd, qDim, true),
			k:        get(p+"attn_k.weight", r.nEmbd, kvDim, true),
			v:        get(p+"attn_v.weight", r.nEmbd, kvDim, true),
			o:        get(p+"attn_output.weight", qDim, r.nEmbd, true),
		}
		if r.nExpert > 1 {
			ffT := m.Tensor(p + "ffn_gate_exps.weight")
			if ffT == nil || len(ffT.Shape) != 3 {
				return nil, fmt.Errorf("calibrate: tensor %sffn_gate_exps.weight missing or not 3-D", p)
			}
			r.nFF = int(ffT.Shape[1])
			b.router = get(p+"ffn_gate_inp.weight", r.nEmbd, r.nExpert, true)
			b.gateE = experts(p+"ffn_gate_exps.weight", r.nEmbd, r.nFF)
			b.upE = experts(p+"ffn_up_exps.weight", r.nEmbd, r.nFF)
			b.downE = experts(p+"ffn_down_exps.weight", r.nFF, r.nEmbd)
		} else {
			ffT := m.Tensor(p + "ffn_gate.weight")
			if ffT == nil || len(ffT.Shape) != 2 {
				return nil, fmt.Errorf("calibrate: tensor %sffn_gate.weight missing or not 2-D", p)
			}
			r.nFF = int(ffT.Shape[1])
			b.gate = get(p+"ffn_gate.weight", r.nEmbd, r.nFF, true)
			b.up = get(p+"ffn_up.weight", r.nEmbd, r.nFF, true)
			b.down = get(p+"ffn_down.weight", r.nFF, r.nEmbd, true)
		}
		if err != nil {
			return nil, err
		}
		b.q.biasF32 = vec(p+"attn_q.bias", qDim, false)
		b.k.biasF32 = vec(p+"attn_k.bias", kvDim, false)
		b.v.biasF32 = vec(p+"attn_v.bias", kvDim, false)
		if err != nil {
			return nil, err
		}
		r.blocks = append(r.blocks, b)
	}
	return r, nil
}

// mul computes y[t][r] = x[t]·W[r] (+ bias) for T rows of x, splitting the
// weight rows over threads; each row is expanded to float32 once.
func (r *Runner) mul(w *matrix, x []float32, T int, y []float32) {
	if T == 0 {
		return
	}
	if w.collected && r.col != nil {
		r.col.Add(w.name, x[:T*w.in], T, w.in, w.expert, w.nExperts)
	}
	var wg sync.WaitGroup
	nw := min(r.threads, w.out)
	chunk := (w.out + nw - 1) / nw
	for s := 0; s < w.out; s += chunk {
		e := min(s+chunk, w.out)
		wg.Add(1)
		go func(s, e int) {
			defer wg.Done()
			row := make([]float32, w.in)
			for o := s; o < e; o++ {
				quant.Dequantize(w.typ, w.data[o*w.rowBytes:(o+1)*w.rowBytes], row)
				var bias float32
				if w.biasF32 != nil {
					bias = w.biasF32[o]
				}
				for t := 0; t < T; t++ {
					xt := x[t*w.in : (t+1)*w.in]
					var sum float32
					for i, v := range row {
						sum += v * xt[i]
					}
					y[t*w.out+o] = sum + bias
				}
			}
		}(s, e)
	}
	wg.Wait()
}

func rmsNorm(x, w []float32, eps float32, out []float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	s := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = v * s * w[i]
	}
}

// rope rotates head vectors of hd values in place at position pos.
func (r *Runner) rope(v []float32, pos int) {
	half := r.hd / 2
	for i := 0; i < half; i++ {
		theta := float64(pos) * math.Pow(float64(r.base), -2*float64(i)/float64(r.hd))
		if r.freqFactors != nil {
			theta /= float64(r.freqFactors[i])
		}
		c, s := float32(math.Cos(theta)), float32(math.Sin(theta))
		a, b := 2*i, 2*i+1
		if r.neox {
			a, b = i, i+half
		}
		x0, x1 := v[a], v[b]
		v[a] = x0*c - x1*s
		v[b] = x0*s + x1*c
	}
}

// Forward runs tokens (one chunk, positions 0..T-1) and returns the logits
// of every position (T×vocab), recording activations when collecting.
func (r *Runner) Forward(tokens []int32) ([]float32, error) {
	T := len(tokens)
	E, qDim, kvDim := r.nEmbd, r.nHead*r.hd, r.nKV*r.hd
	h := make([]float32, T*E)
	emb := make([]float32, E)
	for t, id := range tokens {
		if id < 0 || int(id) >= r.vocab {
			return nil, fmt.Errorf("calibrate: token id %d out of range (vocab %d)", id, r.vocab)
		}
		w := r.tokEmbd
		quant.Dequantize(w.typ, w.data[int(id)*w.rowBytes:(int(id)+1)*w.rowBytes], emb)
		copy(h[t*E:], emb)
	}
	xn := make([]float32, T*E)
	q, k, v := make([]float32, T*qDim), make([]float32, T*kvDim), make([]float32, T*kvDim)
	att := make([]float32, T*qDim)
	tmp := make([]float32, T*E)
	g, u := make([]float32, T*r.nFF), make([]float32, T*r.nFF)
	scores := make([]float32, T)
	scale := float32(1 / math.Sqrt(float64(r.hd)))
	for _, b := range r.blocks {
		for t := 0; t < T; t++ {
			rmsNorm(h[t*E:(t+1)*E], b.attnNorm, r.eps, xn[t*E:(t+1)*E])
		}
		r.mul(b.q, xn, T, q)
		r.mul(b.k, xn, T, k)
		r.mul(b.v, xn, T, v)
		for t := 0; t < T; t++ {
			for hh := 0; hh < r.nHead; hh++ {
				qh := q[t*qDim+hh*r.hd : t*qDim+(hh+1)*r.hd]
				if b.qNorm != nil {
					rmsNorm(qh, b.qNorm, r.eps, qh)
				}
				r.rope(qh, t)
			}
			for hh := 0; hh < r.nKV; hh++ {
				kh := k[t*kvDim+hh*r.hd : t*kvDim+(hh+1)*r.hd]
				if b.kNorm != nil {
					rmsNorm(kh, b.kNorm, r.eps, kh)
				}
				r.rope(kh, t)
			}
		}
		group := r.nHead / r.nKV
		for t := 0; t < T; t++ {
			for hh := 0; hh < r.nHead; hh++ {
				kh := hh / group
				qv := q[t*qDim+hh*r.hd : t*qDim+(hh+1)*r.hd]
				mx := float32(math.Inf(-1))
				for s := 0; s <= t; s++ {
					kv := k[s*kvDim+kh*r.hd : s*kvDim+(kh+1)*r.hd]
					var d float32
					for i := range qv {
						d += qv[i] * kv[i]
					}
					scores[s] = d * scale
					mx = max(mx, scores[s])
				}
				var sum float32
				for s := 0; s <= t; s++ {
					scores[s] = float32(math.Exp(float64(scores[s] - mx)))
					sum += scores[s]
				}
				o := att[t*qDim+hh*r.hd : t*qDim+(hh+1)*r.hd]
				for i := range o {
					o[i] = 0
				}
				for s := 0; s <= t; s++ {
					p := scores[s] / sum
					vv := v[s*kvDim+kh*r.hd : s*kvDim+(kh+1)*r.hd]
					for i := range o {
						o[i] += p * vv[i]
					}
				}
			}
		}
		r.mul(b.o, att, T, tmp)
		for i := range h {
			h[i] += tmp[i]
		}
		for t := 0; t < T; t++ {
			rmsNorm(h[t*E:(t+1)*E], b.ffnNorm, r.eps, xn[t*E:(t+1)*E])
		}
		if b.router != nil {
			r.moe(b, xn, T, tmp)
		} else {
			r.mul(b.gate, xn, T, g)
			r.mul(b.up, xn, T, u)
			for i := range g {
				x := g[i]
				g[i] = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
			}
			r.mul(b.down, g, T, tmp)
		}
		for i := range h {
			h[i] += tmp[i]
		}
	}
	for t := 0; t < T; t++ {
		rmsNorm(h[t*E:(t+1)*E], r.outNorm, r.eps, xn[t*E:(t+1)*E])
	}
	logits := make([]float32, T*r.vocab)
	r.mul(r.output, xn, T, logits)
	return logits, nil
}

// moe is the sparse FFN: each token goes to the nUsed experts with the
// largest router logits, weighted by the softmax over those logits (what
// Mixtral does, and Qwen3-MoE with norm_topk_prob). Each expert sees only
// its tokens, which is what its imatrix entry records.
func (r *Runner) moe(b blockW, xn []float32, T int, out []float32) {
	E := r.nEmbd
	logits := make([]float32, T*r.nExpert)
	r.mul(b.router, xn, T, logits)
	rows := make([][]int, r.nExpert)
	wts := make([][]float32, r.nExpert)
	for t := 0; t < T; t++ {
		l := logits[t*r.nExpert : (t+1)*r.nExpert]
		chosen := make([]int, 0, r.nUsed)
		for len(chosen) < r.nUsed {
			best := -1
			for e := range l {
				taken := false
				for _, c := range chosen {
					taken = taken || c == e
				}
				if !taken && (best < 0 || l[e] > l[best]) {
					best = e
				}
			}
			chosen = append(chosen, best)
		}
		mx := l[chosen[0]]
		var sum float64
		for _, e := range chosen {
			sum += math.Exp(float64(l[e] - mx))
		}
		for _, e := range chosen {
			rows[e] = append(rows[e], t)
			wts[e] = append(wts[e], float32(math.Exp(float64(l[e]-mx))/sum))
		}
	}
	for i := range out[:T*E] {
		out[i] = 0
	}
	for e := 0; e < r.nExpert; e++ {
		n := len(rows[e])
		if n == 0 {
			continue
		}
		x := make([]float32, n*E)
		for j, t := range rows[e] {
			copy(x[j*E:(j+1)*E], xn[t*E:(t+1)*E])
		}
		g, u := make([]float32, n*r.nFF), make([]float32, n*r.nFF)
		r.mul(b.gateE[e], x, n, g)
		r.mul(b.upE[e], x, n, u)
		for i := range g {
			v := g[i]
			g[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
		}
		d := make([]float32, n*E)
		r.mul(b.downE[e], g, n, d)
		for j, t := range rows[e] {
			w := wts[e][j]
			for i := 0; i < E; i++ {
				out[t*E+i] += w * d[j*E+i]
			}
		}
	}
}

// Run evaluates tokens in chunks of opt.Context (the first token of each
// chunk replaced by bos, as llama-imatrix does when the model adds one)
// and returns the accumulated importance matrix.
func (r *Runner) Run(tokens []int32, bos int32, opt Options) (*imatrix.Data, error) {
	n := opt.Context
	if n <= 0 {
		n = 512
	}
	chunks := len(tokens) / n
	if chunks == 0 {
		return nil, fmt.Errorf("calibrate: %d tokens are fewer than one chunk of %d (use a longer text or a smaller --ctx)", len(tokens), n)
	}
	if opt.Chunks > 0 && opt.Chunks < chunks {
		chunks = opt.Chunks
	}
	chunk := make([]int32, n)
	for c := 0; c < chunks; c++ {
		copy(chunk, tokens[c*n:(c+1)*n])
		if bos >= 0 {
			chunk[0] = bos
		}
		if _, err := r.Forward(chunk); err != nil {
			return nil, err
		}
		r.col.EndChunk(n)
		if opt.Progress != nil {
			opt.Progress(c+1, chunks)
		}
	}
	return r.col.Data(""), nil
}
