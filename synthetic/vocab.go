package synthetic

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// byteRunes is GPT-2's bytes_to_unicode table: every byte maps to a
// printable rune, so byte-level BPE tokens are valid strings.
var byteRunes = func() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

// vocab is a synthetic byte-level BPE vocabulary: the 256 byte tokens, then
// tokens built by merges (each merge joins two existing tokens into a new
// one, so the merge list is valid for a GPT-2 style tokenizer), then the
// special tokens.
type vocab struct {
	tokens  []string
	types   []int32
	merges  []string
	bos     int
	eos     int
	eot     int // end of turn (may equal eos)
	pre     string
	special []string
}

// specials returns the family's control tokens (placed at the end of the
// vocabulary, as Llama 3 and Qwen do) and which are bos/eos/eot.
func specials(family string) (names []string, bos, eos, eot int) {
	switch family {
	case "llama3":
		names = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
			"<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
			"<|eom_id|>", "<|eot_id|>", "<|python_tag|>"}
		for i := 3; len(names) < 256; i++ {
			names = append(names, fmt.Sprintf("<|reserved_special_token_%d|>", i))
		}
		return names, 0, 1, 9
	case "qwen":
		names = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
			"<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
			"<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"}
		return names, 0, 0, 2
	case "gemma":
		return []string{"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"}, 2, 1, 5
	default: // mistral, phi3
		return []string{"<unk>", "<s>", "</s>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"}, 1, 2, 3
	}
}

// buildVocab makes a deterministic vocabulary of exactly size tokens.
func buildVocab(size int, family string, seed uint64) (*vocab, error) {
	names, bos, eos, eot := specials(family)
	nNormal := size - len(names)
	if nNormal < 256 {
		return nil, fmt.Errorf("synthetic: vocabulary of %d tokens leaves no room for 256 byte tokens", size)
	}
	v := &vocab{pre: "llama-bpe", special: names}
	if family == "qwen" {
		v.pre = "qwen2"
	}
	v.tokens = make([]string, 0, size)
	v.types = make([]int32, 0, size)
	seen := make(map[string]bool, size)
	for b := 0; b < 256; b++ {
		s := string(byteRunes[b])
		v.tokens = append(v.tokens, s)
		v.types = append(v.types, 1)
		seen[s] = true
	}
	// Favour letters, space (Ġ) and common punctuation so merges resemble
	// real subwords; lengths stay short because partners are drawn mostly
	// from the early (short) tokens.
	rng := rand.New(rand.NewPCG(seed, 0x766f636162))
	common := []rune("etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBG.,'-0123456789Ġ")
	pick := func() string {
		n := len(v.tokens)
		switch r := rng.IntN(10); {
		case r < 4:
			return string(common[rng.IntN(len(common))])
		case r < 8:
			return v.tokens[256+rng.IntN(min(n-256, 4000))]
		default:
			return v.tokens[rng.IntN(n)]
		}
	}
	var sb strings.Builder
	for tries := 0; len(v.tokens) < nNormal; tries++ {
		if tries > 50*size {
			return nil, fmt.Errorf("synthetic: could not build %d distinct merges", nNormal-256)
		}
		var a, b string
		if len(v.tokens) == 256 {
			a, b = "Ġ", "t"
		} else {
			a, b = pick(), pick()
		}
		if len(a)+len(b) > 48 {
			continue
		}
		sb.Reset()
		sb.WriteString(a)
		sb.WriteString(b)
		tok := sb.String()
		if seen[tok] {
			continue
		}
		seen[tok] = true
		v.tokens = append(v.tokens, tok)
		v.types = append(v.types, 1)
		v.merges = append(v.merges, a+" "+b)
	}
	base := len(v.tokens)
	for _, s := range names {
		v.tokens = append(v.tokens, s)
		v.types = append(v.types, 3)
	}
	v.bos, v.eos, v.eot = base+bos, base+eos, base+eot
	return v, nil
}

// chatTemplate is a small template in the family's turn format, so chat
// front ends have something to render with.
func chatTemplate(family string) string {
	switch family {
	case "llama3":
		return "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
	case "qwen":
		return "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	case "gemma":
		return "{{ bos_token }}{% for message in messages %}<start_of_turn>{% if message['role'] == 'assistant' %}model{% else %}{{ message['role'] }}{% endif %}\n{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
	default:
		return "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
	}
}
