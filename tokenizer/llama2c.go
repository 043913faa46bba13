package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

// Llama2CMetadata reads a llama2.c tokenizer file (tokenizer.bin,
// tok512.bin: int32 max_token_length, then per token float32 score, int32
// length and the bytes) and returns the GGUF tokenizer keys llama.cpp's
// convert-llama2c-to-ggml writes: SentencePiece pieces with ▁ for spaces,
// <unk>/<s>/</s> at ids 0/1/2 and byte tokens typed as bytes. vocabSize is
// the model's vocabulary size; 0 or less reads every token in the file.
func Llama2CMetadata(path string, vocabSize int) ([]gguf.KV, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseLlama2C(path, data, vocabSize)
}

func parseLlama2C(path string, data []byte, vocabSize int) ([]gguf.KV, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%s: too short for a llama2.c tokenizer (%d bytes)", path, len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 || maxLen > 1<<20 {
		return nil, fmt.Errorf("%s: max_token_length %d is not plausible for a llama2.c tokenizer", path, maxLen)
	}
	// Each token takes at least 8 bytes, which bounds the allocation.
	limit := (len(data) - 4) / 8
	if vocabSize > limit {
		return nil, fmt.Errorf("%s: vocabulary size %d needs at least %d bytes, the file has %d", path, vocabSize, 4+8*vocabSize, len(data))
	}
	var (
		tokens []string
		scores []float32
		types  []int32
	)
	off := 4
	for id := 0; vocabSize <= 0 || id < vocabSize; id++ {
		if vocabSize <= 0 && off == len(data) {
			break
		}
		if off+8 > len(data) {
			return nil, fmt.Errorf("%s: token %d: file ends at byte %d", path, id, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if n < 0 || int(n) > len(data)-off {
			return nil, fmt.Errorf("%s: token %d: length %d at byte %d runs past the end of the file", path, id, n, off-4)
		}
		text := string(data[off : off+int(n)])
		off += int(n)
		ty := TypeNormal
		switch {
		case id == 0:
			text, ty = "<unk>", TypeUnknown
		case id == 1:
			text, ty = "<s>", TypeControl
		case id == 2:
			text, ty = "</s>", TypeControl
		case text == "":
			ty = TypeControl
		default:
			if _, ok := parseByteToken(text); ok {
				ty = TypeByte
			}
		}
		tokens = append(tokens, strings.ReplaceAll(text, " ", "▁"))
		scores = append(scores, score)
		types = append(types, int32(ty))
	}
	if len(tokens) < 3 {
		return nil, fmt.Errorf("%s: only %d tokens; a llama2.c vocabulary has <unk>, <s>, </s> first", path, len(tokens))
	}
	return []gguf.KV{
		{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.scores", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeFloat32, Values: scores}},
		{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: types}},
		{Key: "tokenizer.ggml.model", Type: gguf.TypeString, Value: "llama"},
		{Key: "tokenizer.ggml.unknown_token_id", Type: gguf.TypeUint32, Value: uint32(0)},
		{Key: "tokenizer.ggml.bos_token_id", Type: gguf.TypeUint32, Value: uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Type: gguf.TypeUint32, Value: uint32(2)},
		{Key: "tokenizer.ggml.seperator_token_id", Type: gguf.TypeUint32, Value: uint32(math.MaxUint32)},
		{Key: "tokenizer.ggml.padding_token_id", Type: gguf.TypeUint32, Value: uint32(math.MaxUint32)},
	}, nil
}
