package engine

import (
	"errors"
	"fmt"
)

// Pooling is how Embed reduces a sequence's per-token hidden states to one
// vector. The values are llama.cpp's llama_pooling_type numbers, as stored
// in a GGUF's "<arch>.pooling_type".
type Pooling int

// Pooling kinds. PoolingNone is what llama.cpp uses for a model without a
// pooling_type key (every causal LM); a server then takes the hidden state
// of the last token, as Ollama's runner does (llama_get_embeddings_ith of
// the sequence's last token), so Embed treats None like Last.
const (
	PoolingNone Pooling = 0
	PoolingMean Pooling = 1
	PoolingCLS  Pooling = 2 // the first token
	PoolingLast Pooling = 3
	PoolingRank Pooling = 4 // reranker head: not supported
)

// String names the pooling as llama.cpp's --pooling flag does.
func (p Pooling) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	case PoolingRank:
		return "rank"
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// Pooling is the model's pooling from "<arch>.pooling_type", PoolingNone
// when the key is absent.
func (e *Engine) Pooling() Pooling {
	if v, ok := e.mdl.ArchUint("pooling_type"); ok && v <= uint64(PoolingRank) {
		return Pooling(v)
	}
	return PoolingNone
}

// Embed runs tokens as the whole content of s (s is emptied first; nil
// uses a temporary sequence) and returns the final hidden state (after the
// output norm, before the output projection) pooled over the tokens: the
// mean, the first token (CLS) or the last token (Last and None). The
// vector is not normalised. On return s holds the tokens' KV cache, so a
// caller may reuse it as a prefix; on error s is empty.
//
// Only hidden states are computed: the vocabulary-sized output projection
// is skipped. A caller that interleaves an embedding with other work (a
// server's scheduler) does the same with a Pooler and Hidden steps.
func (e *Engine) Embed(s *Seq, tokens []int32, pool Pooling) ([]float32, error) {
	if e.kv == nil {
		return nil, errors.New("engine: Embed after Close")
	}
	if len(tokens) == 0 {
		return nil, errors.New("engine: Embed of no tokens")
	}
	pl, err := NewPooler(pool, e.cfg.Dim)
	if err != nil {
		return nil, err
	}
	if len(tokens) > e.opts.Context {
		return nil, &ContextError{Have: 0, Add: len(tokens), Context: e.opts.Context}
	}
	if s == nil {
		s = e.NewSeq()
		defer e.Free(s)
	} else if err := s.Truncate(0); err != nil {
		return nil, err
	}
	// One chunk per step keeps the hidden rows (and the mean's
	// accumulation) bounded by BatchSize, not the input length.
	for off := 0; off < len(tokens); off += e.opts.BatchSize {
		chunk := tokens[off:min(off+e.opts.BatchSize, len(tokens))]
		rows, err := e.Step([]SeqTokens{{Seq: s, Tokens: chunk, AllLogits: pl.AllRows(), Hidden: true}})
		if err != nil {
			s.Truncate(0)
			return nil, err
		}
		pl.Add(rows, len(chunk))
	}
	return pl.Vector(), nil
}

// Pooler accumulates the hidden rows of an embedding fed in chunks, each
// chunk a Hidden step with AllLogits set as AllRows says.
type Pooler struct {
	pool Pooling
	n    int // tokens seen
	sum  []float64
	out  []float32
}

// NewPooler starts pooling dim-wide hidden states; rank pooling (a
// reranker head) is refused.
func NewPooler(p Pooling, dim int) (*Pooler, error) {
	if p < PoolingNone || p > PoolingLast {
		return nil, fmt.Errorf("engine: pooling %v is not supported for embeddings", p)
	}
	pl := &Pooler{pool: p, out: make([]float32, dim)}
	if p == PoolingMean {
		pl.sum = make([]float64, dim)
	}
	return pl, nil
}

// AllRows reports whether the next chunk's step needs a hidden row per
// token (mean; CLS on the first chunk) rather than only the last one.
func (pl *Pooler) AllRows() bool {
	return pl.pool == PoolingMean || pl.pool == PoolingCLS && pl.n == 0
}

// Add takes the rows a Hidden step returned for a chunk of count tokens.
func (pl *Pooler) Add(rows [][]float32, count int) {
	if len(rows) == 0 {
		return
	}
	switch pl.pool {
	case PoolingMean:
		for _, r := range rows {
			for i, v := range r {
				pl.sum[i] += float64(v)
			}
		}
	case PoolingCLS:
		if pl.n == 0 {
			copy(pl.out, rows[0])
		}
	default:
		copy(pl.out, rows[len(rows)-1])
	}
	pl.n += count
}

// Vector is the pooled state of the tokens added so far (not normalised).
func (pl *Pooler) Vector() []float32 {
	out := append([]float32(nil), pl.out...)
	if pl.pool == PoolingMean && pl.n > 0 {
		inv := 1 / float64(pl.n)
		for i, v := range pl.sum {
			out[i] = float32(v * inv)
		}
	}
	return out
}
