package grammar

import "github.com/ferryhq/ferry/tokenizer"

// VocabFromTokenizer builds the Vocab of a model's tokenizer: each token's
// bytes are its piece as the streaming decoder emits it after a prompt
// (byte tokens give their byte, SentencePiece ▁ is a space, byte-level BPE
// symbols map back to bytes); control tokens have no bytes and are never
// allowed; the tokenizer's end-of-generation tokens end the output.
func VocabFromTokenizer(t *tokenizer.Tokenizer) *Vocab {
	n := t.VocabSize()
	toks := make([][]byte, n)
	for id := 0; id < n; id++ {
		toks[id] = []byte(t.Piece(int32(id), false))
	}
	return NewVocab(toks, t.EOGTokens())
}
