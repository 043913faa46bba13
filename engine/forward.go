package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ferryhq/ferry/kernels"
	"github.com/ferryhq/ferry/quant"
)

// SeqTokens is one sequence's share of a step: tokens to append to it.
type SeqTokens struct {
	Seq    *Seq
	Tokens []int32
	// AllLogits asks for logits at every token of this entry (evaluation,
	// perplexity); otherwise only the last token's logits are returned.
	AllLogits bool
	// Hidden returns the final hidden state (after the output norm, before
	// the output projection; Dim wide) instead of logits, for embeddings.
	// The vocabulary-sized projection is skipped. Every entry of a step
	// must agree on Hidden.
	Hidden bool
}

// Step runs one forward pass over a batch that may mix sequences: some
// decoding one token, others prefilling prompt chunks. Each entry's tokens
// are appended at the sequence's current end (positions Len() ..). It
// returns the requested logits rows in batch order (one row per entry, or
// one per token for AllLogits entries), or hidden-state rows for Hidden
// steps. The rows alias engine memory and stay valid until the next Step.
//
// On error (bad token id, context or cache exhausted) no sequence's length
// changes.
func (e *Engine) Step(batch []SeqTokens) ([][]float32, error) {
	if e.kv == nil {
		return nil, errors.New("engine: Step after Close")
	}
	sc := e.sc
	total, nOut := 0, 0
	for i, b := range batch {
		s := b.Seq
		if s == nil || s.e != e || s.freed {
			return nil, fmt.Errorf("engine: batch entry %d: sequence is nil, freed or from another engine", i)
		}
		for _, o := range batch[:i] {
			if o.Seq == s {
				return nil, fmt.Errorf("engine: batch entry %d: sequence %d appears twice in one step", i, s.id)
			}
		}
		if len(b.Tokens) == 0 {
			return nil, fmt.Errorf("engine: batch entry %d: no tokens", i)
		}
		if b.Hidden != batch[0].Hidden {
			return nil, fmt.Errorf("engine: batch entry %d: a step cannot mix hidden-state and logits entries", i)
		}
		if s.n+len(b.Tokens) > e.opts.Context {
			return nil, &ContextError{Have: s.n, Add: len(b.Tokens), Context: e.opts.Context}
		}
		for _, t := range b.Tokens {
			if t < 0 || int(t) >= e.cfg.Vocab {
				return nil, fmt.Errorf("engine: token id %d is outside the vocabulary (0..%d)", t, e.cfg.Vocab-1)
			}
		}
		total += len(b.Tokens)
		if b.AllLogits {
			nOut += len(b.Tokens)
		} else {
			nOut++
		}
	}
	for _, b := range batch {
		if err := b.Seq.reserve(len(b.Tokens)); err != nil {
			if errors.Is(err, errCacheFull) {
				return nil, fmt.Errorf("engine: KV cache is full (%d positions): free or truncate sequences, or raise the cache size", e.opts.CacheTokens)
			}
			return nil, err
		}
	}
	width := e.cfg.Vocab
	sc.hidden = len(batch) > 0 && batch[0].Hidden
	if sc.hidden {
		width = e.cfg.Dim
	}
	sc.ensureOut(nOut, width)

	// Walk the batch in chunks of at most BatchSize tokens; a chunk may
	// cover the tail of one entry and the head of the next.
	ent, off, out := 0, 0, 0
	for ent < len(batch) {
		n := 0
		for n < e.opts.BatchSize && ent < len(batch) {
			b := batch[ent]
			take := min(len(b.Tokens)-off, e.opts.BatchSize-n)
			for i := 0; i < take; i++ {
				p := off + i
				sc.tokID[n] = b.Tokens[p]
				sc.tokSeq[n] = b.Seq
				sc.tokPos[n] = b.Seq.n + p
				sc.tokOut[n] = -1
				if b.AllLogits || p == len(b.Tokens)-1 {
					sc.tokOut[n] = out
					out++
				}
				n++
			}
			off += take
			if off == len(b.Tokens) {
				ent++
				off = 0
			}
		}
		e.forward(n)
	}
	for _, b := range batch {
		b.Seq.n += len(b.Tokens)
	}
	return sc.outRows[:nOut], nil
}

// ContextError reports a step that would grow a sequence past the context.
type ContextError struct{ Have, Add, Context int }

func (c *ContextError) Error() string {
	return fmt.Sprintf("context window exceeded: sequence has %d tokens, adding %d would pass the context size %d (raise --ctx or shorten the conversation)", c.Have, c.Add, c.Context)
}

// forward runs the model over the first n tokens staged in the scratch.
func (e *Engine) forward(n int) {
	c := &e.cfg
	sc := e.sc
	dim := c.Dim
	qDim, kDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim

	// Embeddings.
	scale := float32(1)
	if e.fam.embedScale {
		scale = float32(math.Sqrt(float64(dim)))
	}
	for t := 0; t < n; t++ {
		x := sc.x[t*dim : (t+1)*dim]
		rowF32(&e.tokEmbd, int(sc.tokID[t]), x)
		if scale != 1 {
			for i := range x {
				x[i] *= scale
			}
		}
	}
	sc.buildTiles(n, sc.maxTile)
	// RoPE angles per token, for both layer kinds.
	half := c.Rope.Dim / 2
	for t := 0; t < n; t++ {
		for k, r := range e.ropes {
			o := (k*sc.batch + t) * half
			r.angles(sc.tokPos[t], sc.cos[o:o+half], sc.sin[o:o+half])
		}
	}

	for l := range e.layers {
		L := &e.layers[l]
		for t := 0; t < n; t++ {
			kernels.RMSNorm(sc.xn[t*dim:(t+1)*dim], sc.x[t*dim:(t+1)*dim], L.attnNorm, c.Eps)
		}
		if L.wqkv.ok() {
			w := qDim + kDim + vDim
			e.matmul(&L.wqkv, sc.xn, n, sc.qkv)
			for t := 0; t < n; t++ {
				r := sc.qkv[t*w : (t+1)*w]
				copy(sc.q[t*qDim:], r[:qDim])
				copy(sc.k[t*kDim:], r[qDim:qDim+kDim])
				copy(sc.v[t*vDim:], r[qDim+kDim:])
			}
		} else {
			e.matmuls(sc.xn, n, &L.wq, sc.q, &L.wk, sc.k, &L.wv, sc.v)
		}
		kind := 0
		if L.sliding {
			kind = 1
		}
		r := e.ropes[kind]
		for t := 0; t < n; t++ {
			q := sc.q[t*qDim : (t+1)*qDim]
			k := sc.k[t*kDim : (t+1)*kDim]
			v := sc.v[t*vDim : (t+1)*vDim]
			addBias(q, L.bq)
			addBias(k, L.bk)
			addBias(v, L.bv)
			o := (kind*sc.batch + t) * half
			cos, sin := sc.cos[o:o+half], sc.sin[o:o+half]
			for h := 0; h < c.Heads; h++ {
				qh := q[h*c.HeadDim : (h+1)*c.HeadDim]
				if L.qNorm != nil {
					kernels.RMSNorm(qh, qh, L.qNorm, c.Eps)
				}
				r.apply(qh, cos, sin)
			}
			for h := 0; h < c.KVHeads; h++ {
				kh := k[h*c.HeadDim : (h+1)*c.HeadDim]
				if L.kNorm != nil {
					kernels.RMSNorm(kh, kh, L.kNorm, c.Eps)
				}
				r.apply(kh, cos, sin)
			}
			// Pre-scale the queries so attention scores come straight out
			// of the kernels.
			for i := range q {
				q[i] *= c.AttnScale
			}
			sc.tokSeq[t].store(l, sc.tokPos[t], k, v)
		}
		sc.attn.layer, sc.attn.n = l, n
		e.pool.do(&sc.attn)
		e.matmul(&L.wo, sc.att, n, sc.o)
		for t := 0; t < n; t++ {
			o := sc.o[t*dim : (t+1)*dim]
			addBias(o, L.bo)
			if L.attnPostNorm != nil {
				kernels.RMSNorm(o, o, L.attnPostNorm, c.Eps)
			}
			x := sc.x[t*dim : (t+1)*dim]
			for i := range x {
				x[i] += o[i]
			}
			kernels.RMSNorm(sc.xn[t*dim:(t+1)*dim], x, L.ffnNorm, c.Eps)
		}
		if L.router.ok() {
			e.moe(L, n)
		} else {
			e.ffn(L, n)
		}
		for t := 0; t < n; t++ {
			o := sc.o[t*dim : (t+1)*dim]
			if L.ffnPostNorm != nil {
				kernels.RMSNorm(o, o, L.ffnPostNorm, c.Eps)
			}
			x := sc.x[t*dim : (t+1)*dim]
			for i := range x {
				x[i] += o[i]
			}
		}
	}

	// Final norm and logits for the rows that asked for them.
	if sc.hidden {
		// Embeddings: the normed state is the answer; no projection.
		for t := 0; t < n; t++ {
			if o := sc.tokOut[t]; o >= 0 {
				kernels.RMSNorm(sc.logits[o*dim:(o+1)*dim], sc.x[t*dim:(t+1)*dim], e.outputNorm, c.Eps)
			}
		}
		return
	}
	m := 0
	for t := 0; t < n; t++ {
		if sc.tokOut[t] < 0 {
			continue
		}
		kernels.RMSNorm(sc.xn[m*dim:(m+1)*dim], sc.x[t*dim:(t+1)*dim], e.outputNorm, c.Eps)
		sc.outIdx[m] = sc.tokOut[t]
		m++
	}
	if m == 0 {
		return
	}
	first := sc.outIdx[0]
	// Output rows are consecutive within a chunk, so compute in place.
	e.matmul(&e.output, sc.xn, m, sc.logits[first*c.Vocab:(first+m)*c.Vocab])
	if c.FinalSoftcap > 0 {
		softcap(sc.logits[first*c.Vocab:(first+m)*c.Vocab], c.FinalSoftcap)
	}
}

func addBias(x, b []float32) {
	if b == nil {
		return
	}
	for i := range x {
		x[i] += b[i]
	}
}

// ffn computes the dense gated feed-forward of sc.xn into sc.o.
func (e *Engine) ffn(L *layer, n int) {
	c := &e.cfg
	sc := e.sc
	ff := c.FFN
	if L.fusedGateUp {
		e.matmul(&L.up, sc.xn, n, sc.up2)
		for t := 0; t < n; t++ {
			r := sc.up2[t*2*ff : (t+1)*2*ff]
			e.glu(sc.gate[t*ff:(t+1)*ff], r[:ff], r[ff:])
		}
	} else if n == 1 && e.pool.n > 1 && L.gate.out == L.up.out {
		// Decode: each worker applies the activation to the gate/up rows
		// it just computed, instead of one core doing all of it afterwards
		// while the others wait.
		sc.mm.glu, sc.mm.gelu = true, e.fam.gelu
		e.matmuls(sc.xn, n, &L.gate, sc.gate, &L.up, sc.up, nil, nil)
		sc.mm.glu = false
	} else {
		e.matmuls(sc.xn, n, &L.gate, sc.gate, &L.up, sc.up, nil, nil)
		e.glu(sc.gate[:n*ff], sc.gate[:n*ff], sc.up[:n*ff])
	}
	e.matmul(&L.down, sc.gate, n, sc.o)
}

// glu writes act(g)*u into dst, on the pool when there is enough work.
func (e *Engine) glu(dst, g, u []float32) {
	if len(dst) >= 1<<14 && e.pool.n > 1 {
		j := &e.sc.glu
		j.dst, j.g, j.u = dst, g, u
		e.pool.do(j)
		return
	}
	e.gluRange(dst, g, u)
}

type gluJob struct {
	e         *Engine
	dst, g, u []float32
}

func (j *gluJob) run(part, parts int) {
	lo, hi := split(len(j.dst), part, parts, 256)
	j.e.gluRange(j.dst[lo:hi], j.g[lo:hi], j.u[lo:hi])
}

func (e *Engine) gluRange(dst, g, u []float32) { gluSpan(e.fam.gelu, dst, g, u) }

func gluSpan(gelu bool, dst, g, u []float32) {
	if gelu {
		for i := range dst {
			dst[i] = geluTanh(g[i]) * u[i]
		}
		return
	}
	kernels.SiLUMul(dst, g, u)
}

// moe routes each token to its top experts and sums their gated FFNs,
// weighted by the router's softmax (renormalised over the chosen experts
// when the family asks for it). Tokens are grouped per expert so each
// expert's weights are streamed once per chunk.
func (e *Engine) moe(L *layer, n int) {
	c := &e.cfg
	sc := e.sc
	dim, ne, k, eff := c.Dim, c.Experts, c.ExpertsUsed, c.ExpertFFN
	e.matmul(&L.router, sc.xn, n, sc.router)
	for x := 0; x < ne; x++ {
		sc.expCount[x] = 0
	}
	for t := 0; t < n; t++ {
		p := sc.router[t*ne : (t+1)*ne]
		softmax(p)
		sel := sc.sel[t*k : (t+1)*k]
		w := sc.selW[t*k : (t+1)*k]
		var sum float32
		for j := 0; j < k; j++ {
			best := -1
			for x := 0; x < ne; x++ {
				taken := false
				for _, s := range sel[:j] {
					if int(s) == x {
						taken = true
					}
				}
				if !taken && (best < 0 || p[x] > p[best]) {
					best = x
				}
			}
			sel[j], w[j] = int32(best), p[best]
			sum += p[best]
		}
		if e.fam.normTopK && sum > 0 {
			for j := range w {
				w[j] /= sum
			}
		}
		for j := 0; j < k; j++ {
			x := sel[j]
			sc.expTok[int(x)*sc.batch+sc.expCount[x]] = int32(t*k + j)
			sc.expCount[x]++
		}
	}
	clear(sc.o[:n*dim])
	for x := 0; x < ne; x++ {
		m := sc.expCount[x]
		if m == 0 {
			continue
		}
		list := sc.expTok[x*sc.batch : x*sc.batch+m]
		for i, tj := range list {
			t := int(tj) / k
			copy(sc.xg[i*dim:(i+1)*dim], sc.xn[t*dim:(t+1)*dim])
		}
		e.matmuls(sc.xg, m, &L.gateE[x], sc.gate, &L.upE[x], sc.up, nil, nil)
		e.glu(sc.gate[:m*eff], sc.gate[:m*eff], sc.up[:m*eff])
		e.matmul(&L.downE[x], sc.gate, m, sc.xd)
		for i, tj := range list {
			t := int(tj) / k
			axpy(sc.selW[tj], sc.xd[i*dim:(i+1)*dim], sc.o[t*dim:(t+1)*dim])
		}
	}
}

// matmul computes y[t] = W · x[t] for n rows of x (row length l.in, output
// row length l.out), on the worker pool.
func (e *Engine) matmul(l *linear, x []float32, n int, y []float32) {
	e.matmuls(x, n, l, y, nil, nil, nil, nil)
}

// matmuls runs up to three products of the same input in one dispatch (q,
// k and v; gate and up), quantizing the input once per activation format.
func (e *Engine) matmuls(x []float32, n int, l0 *linear, y0 []float32, l1 *linear, y1 []float32, l2 *linear, y2 []float32) {
	sc := e.sc
	j := &sc.mm
	j.n, j.cnt = n, 0
	for _, p := range [...]struct {
		l *linear
		y []float32
	}{{l0, y0}, {l1, y1}, {l2, y2}} {
		if p.l == nil {
			continue
		}
		if e.opts.Observe != nil {
			e.opts.Observe(p.l.name, p.l.expertIdx, max(p.l.expertOf, 1), x[:n*p.l.in], n, p.l.in)
		}
		k := j.cnt
		j.l[k], j.y[k] = p.l, p.y
		at := actType(p.l.typ)
		switch {
		case at == quant.F32:
			j.act[k], j.actStride[k] = f32Bytes(x[:n*p.l.in]), 4*p.l.in
		default:
			reused := false
			for i := 0; i < k; i++ {
				if actType(j.l[i].typ) == at && j.l[i].in == p.l.in {
					j.act[k], j.actStride[k] = j.act[i], j.actStride[i]
					reused = true
					break
				}
			}
			if !reused {
				j.actStride[k] = actRowBytes(p.l.typ, p.l.in)
				j.act[k] = sc.acts[k][:n*j.actStride[k]]
				if n == 1 {
					// One token: the job would split by token, leaving
					// every other worker idle behind a full barrier
					// (four of them per layer in decode).
					quantizeAct(p.l.typ, x[:p.l.in], j.act[k])
				} else {
					q := &sc.qa
					q.t, q.x, q.dim, q.n, q.dst, q.stride = p.l.typ, x, p.l.in, n, j.act[k], j.actStride[k]
					e.pool.do(q)
				}
			}
		}
		j.cnt++
	}
	e.pool.do(j)
}

const maxFused = 3

type matmulJob struct {
	cnt       int
	l         [maxFused]*linear
	act       [maxFused][]byte
	actStride [maxFused]int
	y         [maxFused][]float32
	n         int
	// glu (one token, gate and up of equal height): every part takes the
	// same rows of both and writes act(gate)*up into the gate rows.
	glu, gelu bool
}

// run splits the rows of all the job's matrices (taken end to end): each
// worker streams its rows once and applies them to every token of the
// chunk.
func (j *matmulJob) run(part, parts int) {
	if j.glu {
		g, u := j.l[0], j.l[1]
		lo, hi := split(g.out, part, parts, 16)
		if lo < hi {
			mulRows(g, lo, hi, j.act[0][:j.actStride[0]], 1, j.y[0])
			mulRows(u, lo, hi, j.act[1][:j.actStride[1]], 1, j.y[1])
			gluSpan(j.gelu, j.y[0][lo:hi], j.y[0][lo:hi], j.y[1][lo:hi])
		}
		return
	}
	total := 0
	for i := 0; i < j.cnt; i++ {
		total += j.l[i].out
	}
	lo, hi := split(total, part, parts, 16)
	off := 0
	for i := 0; i < j.cnt; i++ {
		l := j.l[i]
		a, b := max(lo-off, 0), min(hi-off, l.out)
		off += l.out
		if a >= b {
			continue
		}
		act := j.act[i][:j.n*j.actStride[i]]
		if j.n == 1 {
			mulRows(l, a, b, act, 1, j.y[i])
			continue
		}
		// Prompt chunks: tiles of rows stay in cache while every token of
		// the chunk is multiplied with them.
		const tile = 64
		for r0 := a; r0 < b; r0 += tile {
			mulRows(l, r0, min(r0+tile, b), act, j.n, j.y[i])
		}
	}
}

type quantJob struct {
	t      quant.Type
	x      []float32
	dim, n int
	dst    []byte
	stride int
}

func (j *quantJob) run(part, parts int) {
	lo, hi := split(j.n, part, parts, 1)
	for t := lo; t < hi; t++ {
		quantizeAct(j.t, j.x[t*j.dim:(t+1)*j.dim], j.dst[t*j.stride:(t+1)*j.stride])
	}
}

// attnJob computes causal attention for the chunk against the sequences'
// caches (which already hold this chunk's keys and values). Work items are
// (tile, KV head) pairs: a tile is a run of consecutive tokens of one
// sequence, so each cached key/value row is converted to F32 once and used
// by every query head of the group and every token of the tile.
type attnJob struct {
	e        *Engine
	layer, n int
}

// attnTile is a run of tokens [t0, t1) of one sequence, positions
// consecutive from pos0.
type attnTile struct{ t0, t1 int }

// buildTiles splits the chunk's n tokens into tiles of at most maxTile.
func (sc *scratch) buildTiles(n, maxTile int) {
	sc.tiles = sc.tiles[:0]
	for t := 0; t < n; {
		u := t + 1
		for u < n && u-t < maxTile && sc.tokSeq[u] == sc.tokSeq[t] && sc.tokPos[u] == sc.tokPos[u-1]+1 {
			u++
		}
		sc.tiles = append(sc.tiles, attnTile{t, u})
		t = u
	}
}

func (j *attnJob) run(part, parts int) {
	e := j.e
	c := &e.cfg
	sc := e.sc
	L := &e.layers[j.layer]
	hd, vd := c.HeadDim, c.ValueDim
	qDim := c.Heads * hd
	group := c.Heads / c.KVHeads
	kv := e.kv
	kt := kv.typ
	w := &sc.workers[part]
	// With few items (decode, one KV head) split the query heads of a group
	// too, so every worker gets some.
	gsplit := 1
	if base := len(sc.tiles) * c.KVHeads; base < parts {
		gsplit = min(group, (parts+base-1)/base)
	}
	items := len(sc.tiles) * c.KVHeads * gsplit
	lo, hi := split(items, part, parts, 1)
	for it := lo; it < hi; it++ {
		gi := it % gsplit
		g0, g1 := group*gi/gsplit, group*(gi+1)/gsplit
		ng := g1 - g0
		tile, h := sc.tiles[it/gsplit/c.KVHeads], it/gsplit%c.KVHeads
		s := sc.tokSeq[tile.t0]
		first, last := sc.tokPos[tile.t0], sc.tokPos[tile.t1-1]
		window := 0
		if L.sliding && c.SlidingWindow > 0 {
			window = c.SlidingWindow
		}
		lo := 0
		if window > 0 {
			lo = max(0, first-window+1)
		}
		span := last - lo + 1
		scores := w.scores[:(tile.t1-tile.t0)*group*span]
		// Queries of this head group, in the key type's activation format.
		qact := w.qact
		qStride := ng * hd * 4
		if kt == quant.Q8_0 {
			qStride = kernels.ActivationSize(quant.Q8_0, ng*hd)
		}
		for i := tile.t0; i < tile.t1; i++ {
			q := sc.q[i*qDim+(h*group+g0)*hd : i*qDim+(h*group+g1)*hd]
			dst := qact[(i-tile.t0)*qStride : (i-tile.t0+1)*qStride]
			if kt == quant.Q8_0 {
				kernels.QuantizeActivations(quant.Q8_0, q, dst)
			} else {
				copy(dst, f32Bytes(q))
			}
		}
		// Scores, page by page: rows (token i, head g) over positions lo..last.
		for pi := lo / pageTokens; pi*pageTokens <= last; pi++ {
			p0 := max(lo, pi*pageTokens)
			p1 := min(last, pi*pageTokens+pageTokens-1)
			kb := kv.kHeadBytes()
			blk := s.kBlock(j.layer, pi, h)[(p0-pi*pageTokens)*kb : (p1-pi*pageTokens+1)*kb]
			for i := tile.t0; i < tile.t1; i++ {
				if sc.tokPos[i] < p0 {
					continue
				}
				y := scores[((i-tile.t0)*group+g0)*span+p0-lo:]
				kernels.MatMulStrided(kt, blk, p1-p0+1, hd, qact[(i-tile.t0)*qStride:(i-tile.t0+1)*qStride], ng, y, span)
			}
		}
		for i := tile.t0; i < tile.t1; i++ {
			pos := sc.tokPos[i]
			start := lo
			if window > 0 {
				start = max(0, pos-window+1)
			}
			for g := g0; g < g1; g++ {
				row := scores[((i-tile.t0)*group+g)*span:]
				sv := row[start-lo : pos-lo+1]
				if c.AttnSoftcap > 0 {
					softcap(sv, c.AttnSoftcap)
				}
				softmax(sv)
				// Zero the masked ends so whole pages can be multiplied.
				clear(row[:start-lo])
				clear(row[pos-lo+1 : span])
			}
		}
		// Values.
		for i := tile.t0; i < tile.t1; i++ {
			out := sc.att[(i*c.Heads+h*group+g0)*vd : (i*c.Heads+h*group+g1)*vd]
			clear(out)
		}
		for pi := lo / pageTokens; pi*pageTokens <= last; pi++ {
			p0 := max(lo, pi*pageTokens)
			p1 := min(last, pi*pageTokens+pageTokens-1)
			blk := s.vBlock(j.layer, pi, h)
			for i := tile.t0; i < tile.t1; i++ {
				pos := sc.tokPos[i]
				if pos < p0 || window > 0 && p1 <= pos-window {
					continue
				}
				out := sc.att[(i*c.Heads+h*group+g0)*vd : (i*c.Heads+h*group+g1)*vd]
				if kv.vTransposed() {
					// probabilities of this page's slots, zero outside
					// [p0, p1]
					probs := w.probs[:ng*pageTokens]
					clear(probs)
					for g := 0; g < ng; g++ {
						row := scores[((i-tile.t0)*group+g0+g)*span:]
						copy(probs[g*pageTokens+p0-pi*pageTokens:], row[p0-lo:p1-lo+1])
					}
					tmp := w.vout[:ng*vd]
					kernels.MatMulStrided(kt, blk, vd, pageTokens, f32Bytes(probs), ng, tmp, vd)
					for x := range out {
						out[x] += tmp[x]
					}
					continue
				}
				vb := kv.vHeadBytes()
				for p := p0; p <= p1; p++ {
					vf := w.v[:vd]
					loadRow(kt, blk[(p-pi*pageTokens)*vb:(p-pi*pageTokens+1)*vb], vf)
					for g := 0; g < ng; g++ {
						a := scores[((i-tile.t0)*group+g0+g)*span+p-lo]
						axpy(a, vf, out[g*vd:(g+1)*vd])
					}
				}
			}
		}
	}
}

// loadRow converts one cached head row to float32.
func loadRow(t quant.Type, b []byte, dst []float32) {
	switch t {
	case quant.F32:
		copy(dst, bytesF32(b))
	case quant.F16:
		for i, h := range bytesU16(b)[:len(dst)] {
			dst[i] = kernels.F16ToF32(h)
		}
	default: // Q8_0
		for blk := 0; blk*32 < len(dst); blk++ {
			bb := b[blk*34 : blk*34+34]
			d := kernels.F16ToF32(binary.LittleEndian.Uint16(bb))
			for i := 0; i < 32; i++ {
				dst[blk*32+i] = d * float32(int8(bb[2+i]))
			}
		}
	}
}
