package engine

import "github.com/ferryhq/ferry/quant"

// scratch holds every buffer a forward chunk needs, sized once at Load for
// BatchSize tokens, so steps allocate nothing (the logits buffer grows only
// when a step asks for more rows than any step before).
type scratch struct {
	batch int

	tokID  []int32
	tokSeq []*Seq
	tokPos []int
	tokOut []int
	outIdx []int

	x, xn, o          []float32
	q, k, v, qkv, att []float32
	gate, up, up2     []float32
	cos, sin          []float32
	acts              [maxFused][]byte

	router   []float32
	sel      []int32
	selW     []float32
	expCount []int
	expTok   []int32
	xg, xd   []float32

	// Attention: tiles of the chunk and per-worker buffers.
	tiles   []attnTile
	maxTile int
	workers []attnScratch

	logits  []float32 // output rows: logits, or hidden states when hidden
	outRows [][]float32
	hidden  bool // the current step returns hidden states (SeqTokens.Hidden)

	mm   matmulJob
	qa   quantJob
	attn attnJob
	glu  gluJob
}

func newScratch(e *Engine) *scratch {
	c := &e.cfg
	B := e.opts.BatchSize
	s := &scratch{batch: B}
	qDim, kDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	ff := max(c.FFN, c.ExpertFFN)
	s.tokID = make([]int32, B)
	s.tokSeq = make([]*Seq, B)
	s.tokPos = make([]int, B)
	s.tokOut = make([]int, B)
	s.outIdx = make([]int, B)
	s.x = make([]float32, B*c.Dim)
	s.xn = make([]float32, B*c.Dim)
	s.o = make([]float32, B*c.Dim)
	s.q = make([]float32, B*qDim)
	s.k = make([]float32, B*kDim)
	s.v = make([]float32, B*vDim)
	s.att = make([]float32, B*c.Heads*c.ValueDim)
	for _, L := range e.layers {
		if L.wqkv.ok() {
			s.qkv = make([]float32, B*(qDim+kDim+vDim))
		}
		if L.fusedGateUp {
			s.up2 = make([]float32, B*2*c.FFN)
		}
	}
	s.gate = make([]float32, B*ff)
	s.up = make([]float32, B*ff)
	half := c.Rope.Dim / 2
	s.cos = make([]float32, 2*B*half)
	s.sin = make([]float32, 2*B*half)
	maxAct := 0
	for _, L := range e.layers {
		ls := []*linear{&L.wq, &L.wk, &L.wv, &L.wqkv, &L.wo, &L.gate, &L.up, &L.down, &L.router}
		for x := range L.gateE {
			ls = append(ls, &L.gateE[x], &L.upE[x], &L.downE[x])
		}
		for _, l := range ls {
			if l.ok() && actType(l.typ) != quant.F32 {
				maxAct = max(maxAct, actRowBytes(l.typ, l.in))
			}
		}
	}
	if actType(e.output.typ) != quant.F32 {
		maxAct = max(maxAct, actRowBytes(e.output.typ, c.Dim))
	}
	for i := range s.acts {
		s.acts[i] = make([]byte, B*maxAct)
	}
	if c.Experts > 0 {
		s.router = make([]float32, B*c.Experts)
		s.sel = make([]int32, B*c.ExpertsUsed)
		s.selW = make([]float32, B*c.ExpertsUsed)
		s.expCount = make([]int, c.Experts)
		s.expTok = make([]int32, c.Experts*B)
		s.xg = make([]float32, B*c.Dim)
		s.xd = make([]float32, B*c.Dim)
	}
	// A tile's scores are (tokens × group heads × context) floats; keep
	// that near 1M floats per worker, at least one token.
	group := c.Heads / c.KVHeads
	s.maxTile = max(1, min(16, (1<<20)/(group*e.opts.Context)))
	s.tiles = make([]attnTile, 0, B)
	s.workers = make([]attnScratch, e.opts.Threads)
	for i := range s.workers {
		s.workers[i] = attnScratch{
			scores: make([]float32, s.maxTile*group*e.opts.Context),
			qact:   make([]byte, s.maxTile*group*c.HeadDim*4),
			probs:  make([]float32, group*pageTokens),
			vout:   make([]float32, group*c.ValueDim),
			v:      make([]float32, c.ValueDim),
		}
	}
	s.mm = matmulJob{}
	s.qa = quantJob{}
	s.attn = attnJob{e: e}
	s.glu = gluJob{e: e}
	return s
}

type attnScratch struct {
	scores      []float32
	qact        []byte
	probs, vout []float32
	v           []float32
}

func (s *scratch) ensureOut(rows, vocab int) {
	if cap(s.outRows) < rows {
		s.outRows = make([][]float32, rows)
	}
	if len(s.logits) < rows*vocab {
		s.logits = make([]float32, rows*vocab)
		s.outRows = s.outRows[:0]
	}
	s.outRows = s.outRows[:rows]
	for i := range s.outRows {
		s.outRows[i] = s.logits[i*vocab : (i+1)*vocab]
	}
}
