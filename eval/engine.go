package eval

import "github.com/ferryhq/ferry/engine"

// EngineScorer scores token sequences with ferry's engine, one fresh
// sequence per chunk so chunks never see each other's context.
type EngineScorer struct{ Engine *engine.Engine }

// VocabSize implements Scorer.
func (s EngineScorer) VocabSize() int { return s.Engine.Vocab() }

// Score implements Scorer.
func (s EngineScorer) Score(tokens []int32, fn func(pos int, logits []float32)) error {
	seq := s.Engine.NewSeq()
	defer s.Engine.Free(seq)
	rows, err := s.Engine.Step([]engine.SeqTokens{{Seq: seq, Tokens: tokens, AllLogits: true}})
	if err != nil {
		return err
	}
	for i, row := range rows {
		fn(i, row)
	}
	return nil
}
