package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

// MetadataFromPath reads a stand-alone tokenizer: a Hugging Face folder or
// its tokenizer.json / tokenizer_config.json, a sentencepiece
// tokenizer.model, or a llama2.c tokenizer .bin. It returns the GGUF
// tokenizer keys; model files (GGUF, checkpoints) are model.Open's job.
func MetadataFromPath(path string) ([]gguf.KV, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return HFMetadata(path)
	}
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, ".json"):
		return HFMetadata(filepath.Dir(path))
	case strings.HasSuffix(base, ".model"):
		return SentencePieceMetadata(path)
	case strings.HasSuffix(base, ".bin"):
		return Llama2CMetadata(path, 0)
	}
	return nil, fmt.Errorf("%s: not a tokenizer file ferry knows (tokenizer.json, tokenizer.model, llama2.c tokenizer .bin, or a model folder)", path)
}

// FromKVs builds a tokenizer from a list of metadata entries.
func FromKVs(kvs []gguf.KV) (*Tokenizer, error) {
	return FromMetadata(&gguf.Metadata{KV: kvs})
}
