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
// is skipped.
func (e *Engine) Embed(s *Seq, tokens []int32, pool Pooling) ([]float32, error) {
	if e.kv == nil {
		return nil, errors.New("engine: Embed after Close")
	}
	if len(tokens) == 0 {
		return nil, errors.New("engine: Embed of no tokens")
	}
	if pool < PoolingNone || pool > PoolingLast {
		return nil, fmt.Errorf("engine: pooling %v is not supported for embeddings", pool)
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
	dim := e.cfg.Dim
	out := make([]float32, dim)
	var sum []float64
	if pool == PoolingMean {
		sum = make([]float64, dim)
	}
	// One chunk per step keeps the hidden rows (and the mean's
	// accumulation) bounded by BatchSize, not the input length.
	for off := 0; off < len(tokens); off += e.opts.BatchSize {
		end := min(off+e.opts.BatchSize, len(tokens))
		all := pool == PoolingMean || pool == PoolingCLS && off == 0
		rows, err := e.Step([]SeqTokens{{Seq: s, Tokens: tokens[off:end], AllLogits: all, Hidden: true}})
		if err != nil {
			s.Truncate(0)
			return nil, err
		}
		switch pool {
		case PoolingMean:
			for _, r := range rows {
				for i, v := range r {
					sum[i] += float64(v)
				}
			}
		case PoolingCLS:
			if off == 0 {
				copy(out, rows[0])
			}
		default:
			if end == len(tokens) {
				copy(out, rows[len(rows)-1])
			}
		}
	}
	if pool == PoolingMean {
		inv := 1 / float64(len(tokens))
		for i, v := range sum {
			out[i] = float32(v * inv)
		}
	}
	return out, nil
}
