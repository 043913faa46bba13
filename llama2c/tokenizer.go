package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Vocab is a llama2.c tokenizer file (tokenizer.bin, tok512.bin): an int32
// max_token_length, then for each token a float32 score, an int32 byte
// length and the token's bytes. Token ids are positions in the file.
type Vocab struct {
	MaxTokenLength int
	Tokens         []string // raw bytes, not necessarily UTF-8
	Scores         []float32
}

// maxTokenBytes bounds one token's length; real files stay under 100.
const maxTokenBytes = 1 << 16

// ReadVocab reads a tokenizer file. vocabSize > 0 requires exactly that many
// tokens (the checkpoint's vocab_size); 0 reads until the end of the file.
func ReadVocab(path string, vocabSize int) (*Vocab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVocab(path, b, vocabSize)
}

// ParseVocab parses a tokenizer file image; name is used in errors.
func ParseVocab(name string, b []byte, vocabSize int) (*Vocab, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%s: llama2c tokenizer: file has %d bytes, need at least 4", name, len(b))
	}
	maxLen := int32(binary.LittleEndian.Uint32(b))
	if maxLen <= 0 || maxLen > maxTokenBytes {
		return nil, fmt.Errorf("%s: llama2c tokenizer: max_token_length %d is implausible", name, maxLen)
	}
	v := &Vocab{MaxTokenLength: int(maxLen)}
	// Each entry takes at least 8 bytes, which bounds the allocation.
	capHint := (len(b) - 4) / 8
	if vocabSize > 0 {
		if vocabSize > capHint {
			return nil, fmt.Errorf("%s: llama2c tokenizer: %d tokens cannot fit in %d bytes", name, vocabSize, len(b))
		}
		capHint = vocabSize
	}
	v.Tokens = make([]string, 0, capHint)
	v.Scores = make([]float32, 0, capHint)
	off := 4
	for off < len(b) && (vocabSize <= 0 || len(v.Tokens) < vocabSize) {
		id := len(v.Tokens)
		if len(b)-off < 8 {
			return nil, fmt.Errorf("%s: llama2c tokenizer: token %d: truncated at byte %d", name, id, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		n := int32(binary.LittleEndian.Uint32(b[off+4:]))
		off += 8
		if n < 0 || n > maxTokenBytes {
			return nil, fmt.Errorf("%s: llama2c tokenizer: token %d: length %d is implausible", name, id, n)
		}
		if int(n) > len(b)-off {
			return nil, fmt.Errorf("%s: llama2c tokenizer: token %d: %d bytes run past the end of the file", name, id, n)
		}
		if math.IsNaN(float64(score)) {
			return nil, fmt.Errorf("%s: llama2c tokenizer: token %d: score is NaN", name, id)
		}
		v.Tokens = append(v.Tokens, string(b[off:off+int(n)]))
		v.Scores = append(v.Scores, score)
		off += int(n)
	}
	if vocabSize > 0 && len(v.Tokens) != vocabSize {
		return nil, fmt.Errorf("%s: llama2c tokenizer: has %d tokens, the checkpoint's vocab_size is %d", name, len(v.Tokens), vocabSize)
	}
	if off != len(b) {
		return nil, fmt.Errorf("%s: llama2c tokenizer: %d unexpected bytes after token %d (vocab_size %d)", name, len(b)-off, len(v.Tokens)-1, vocabSize)
	}
	if len(v.Tokens) == 0 {
		return nil, fmt.Errorf("%s: llama2c tokenizer: no tokens", name)
	}
	return v, nil
}

// FindVocab looks next to a checkpoint for its tokenizer file
// (tokenizer.bin, then tok*.bin) holding exactly vocabSize tokens and
// returns its path, or "" when there is none.
func FindVocab(checkpoint string, vocabSize int) string {
	dir := filepath.Dir(checkpoint)
	cands := []string{filepath.Join(dir, "tokenizer.bin")}
	more, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
	sort.Strings(more)
	cands = append(cands, more...)
	self, _ := filepath.Abs(checkpoint)
	for _, p := range cands {
		if abs, _ := filepath.Abs(p); abs == self {
			continue
		}
		st, err := os.Stat(p)
		// Tokenizer files are small (a 32000-token one is ~430 KB); a big
		// .bin next to the checkpoint is another checkpoint, not read.
		if err != nil || !st.Mode().IsRegular() || st.Size() > 64<<20 {
			continue
		}
		if _, err := ReadVocab(p, vocabSize); err == nil {
			return p
		}
	}
	return ""
}
