package inspect

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/ferryhq/ferry/llama2c"
)

// inspectTokenizerFile recognises stand-alone tokenizer files:
// tokenizer.json, a SentencePiece .model and a llama2.c tokenizer .bin.
func inspectTokenizerFile(path string) (*Report, bool) {
	name := filepath.Base(path)
	size := fileSize(path)
	r := &Report{Path: path, Format: "tokenizer", FileSize: size}
	switch {
	case strings.HasSuffix(name, ".json") && strings.Contains(name, "tokenizer") && name != "tokenizer_config.json":
		n, kind, ok := tokenizerJSON(path)
		if !ok {
			return nil, false
		}
		r.Vocab = &Vocab{Size: n, Tokenizer: kind, Files: []string{name}}
	case strings.HasSuffix(name, ".model"):
		n, ok := sentencePieceModel(path)
		if !ok {
			return nil, false
		}
		r.Vocab = &Vocab{Size: n, Tokenizer: "SentencePiece", Files: []string{name}}
	case strings.HasSuffix(name, ".bin") && size < 64<<20:
		v, err := llama2c.ReadVocab(path, 0)
		if err != nil {
			return nil, false
		}
		r.Vocab = &Vocab{Size: len(v.Tokens), Tokenizer: "llama2.c tokenizer", Files: []string{name}}
	default:
		return nil, false
	}
	r.Next = "next: ferry tokenize " + quote(path) + " \"some text\""
	return r, true
}

// inspectTokenizerDir reports a folder holding only tokenizer files (a HF
// tokenizer without weights).
func inspectTokenizerDir(dir string) (*Report, bool) {
	v, chat := hfTokenizer(dir, config{})
	if v == nil {
		return nil, false
	}
	r := &Report{Path: dir, Format: "tokenizer", Vocab: v, ChatTemplate: chat, FileSize: filesSize(dir, v.Files)}
	for _, f := range []string{"vocab.bpe", "merges.txt", "encoder.json", "vocab.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			v.Files = append(v.Files, f)
			r.FileSize += fileSize(filepath.Join(dir, f))
		}
	}
	r.Notes = append(r.Notes, "tokenizer only: no weights")
	r.Next = "next: ferry tokenize " + quote(dir) + " \"some text\""
	return r, true
}
