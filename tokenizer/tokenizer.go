// Package tokenizer turns text into token ids and back exactly as the
// reference implementations do: llama.cpp for vocabularies stored in GGUF
// metadata, and Hugging Face tokenizers / the sentencepiece library for the
// files they read (tokenizer.json, tokenizer.model).
//
// The canonical description of a vocabulary is llama.cpp's GGUF tokenizer
// metadata (tokenizer.ggml.model, .tokens, .scores, .token_type, .merges,
// special token ids, ...). Loaders of other formats produce those keys
// (HFMetadata, Llama2CMetadata) and FromMetadata builds a Tokenizer from
// them, so every model, whatever its source, is tokenized by one code path.
//
// Two model families are implemented: SentencePiece BPE ("llama": scores,
// byte fallback, the ▁ whitespace escape) and byte-level BPE ("gpt2": merges
// by rank over the GPT-2 byte-to-unicode alphabet, after a family-specific
// pre-tokenizer).
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

// TokenType is llama.cpp's token type as stored in tokenizer.ggml.token_type.
type TokenType int32

// Token types, numbered as in GGUF (and sentencepiece's piece types).
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Kind is the tokenization algorithm.
type Kind int

// Tokenizer kinds.
const (
	// KindSPM is SentencePiece BPE (GGUF tokenizer.ggml.model = "llama").
	KindSPM Kind = iota
	// KindBPE is byte-level BPE (GGUF tokenizer.ggml.model = "gpt2").
	KindBPE
)

// String is the GGUF tokenizer.ggml.model name of the kind.
func (k Kind) String() string {
	switch k {
	case KindSPM:
		return "llama"
	case KindBPE:
		return "gpt2"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Metadata keys ferry adds beyond llama.cpp's, for behaviour llama.cpp's keys
// cannot express. They are written only when needed, so a vocabulary that
// llama.cpp describes fully gets exactly llama.cpp's keys.
const (
	// KeyPreTokenizer holds a tokenizer.json "pre_tokenizer" object (JSON)
	// for byte-level BPE vocabularies whose pre-tokenizer has no llama.cpp
	// name, so that unknown families still tokenize correctly.
	KeyPreTokenizer = "tokenizer.ferry.pre_tokenizer"
	// KeyRemoveExtraWhitespaces mirrors sentencepiece's
	// normalizer_spec.remove_extra_whitespaces (llama.cpp's key name).
	KeyRemoveExtraWhitespaces = "tokenizer.ggml.remove_extra_whitespaces"
	// KeyIgnoreMerges records tokenizer.json's model.ignore_merges when it
	// differs from what llama.cpp infers from tokenizer.ggml.pre (on for
	// the Llama 3 family, off otherwise).
	KeyIgnoreMerges = "tokenizer.ferry.ignore_merges"
	// KeyLStrip and KeyRStrip list the ids of added tokens that swallow the
	// whitespace before / after them (tokenizer.json's lstrip / rstrip),
	// which llama.cpp only knows for a few models by name.
	// KeyEOGIDs lists further end-of-generation ids (generation_config.json's
	// eos_token_id list) beyond EOS/EOT and the tokens recognised by text.
	KeyEOGIDs = "tokenizer.ferry.eog_ids"
	KeyLStrip = "tokenizer.ferry.lstrip_ids"
	KeyRStrip = "tokenizer.ferry.rstrip_ids"
)

// noToken marks an absent special token.
const noToken int32 = -1

// Tokenizer encodes and decodes text for one vocabulary. It is safe for
// concurrent use.
type Tokenizer struct {
	kind   Kind
	pre    string
	tokens []string
	scores []float32
	types  []TokenType
	ids    map[string]int32

	// byte-level BPE
	ranks        map[[2]int32]int32
	ignoreMerges bool
	pretok       *preTokenizer
	normalizer   []normStep
	cache        *wordCache

	// SentencePiece
	byteIDs        [256]int32
	addSpacePrefix bool
	removeExtraWS  bool
	spmCutSafe     bool // no token has ▁ right after another character

	bos, eos, eot, eom, unk, pad, sep int32
	addBOS, addEOS                    bool

	lstrip, rstrip map[int32]bool
	specials       []int32         // control/user-defined/unknown tokens, longest first
	specialLens    [256][]int      // distinct special-token lengths by first byte, longest first
	specialSet     map[string]bool // texts of the special tokens
	eog            map[int32]bool
}

// Kind reports the algorithm.
func (t *Tokenizer) Kind() Kind { return t.kind }

// Pre is the pre-tokenizer name (tokenizer.ggml.pre), "" when absent.
func (t *Tokenizer) Pre() string { return t.pre }

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the stored text of token id ("" when out of range).
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the token type of id.
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// ID looks up a token by its stored text.
func (t *Tokenizer) ID(text string) (int32, bool) {
	id, ok := t.ids[text]
	return id, ok
}

// BOS is the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT is the end-of-turn id, or -1.
func (t *Tokenizer) EOT() int32 { return t.eot }

// Unknown is the unknown-token id, or -1.
func (t *Tokenizer) Unknown() int32 { return t.unk }

// Padding is the padding id, or -1.
func (t *Tokenizer) Padding() int32 { return t.pad }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// EOG reports whether id ends generation (EOS, EOT, EOM, and end-of-turn
// tokens such as <|eot_id|>, <|im_end|>, <end_of_turn>, <|end|>).
func (t *Tokenizer) EOG(id int32) bool { return t.eog[id] }

// IsEOG is EOG.
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGTokens lists the end-of-generation ids in ascending order.
func (t *Tokenizer) EOGTokens() []int32 {
	out := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// IsControl reports whether id is a control (or unknown) token, which has no
// text of its own in llama.cpp's decoding.
func (t *Tokenizer) IsControl(id int32) bool {
	ty := t.Type(id)
	return ty == TypeControl || ty == TypeUnknown
}

// FromMetadata builds a tokenizer from GGUF tokenizer.ggml.* keys.
func FromMetadata(md *gguf.Metadata) (*Tokenizer, error) {
	if md == nil {
		return nil, errors.New("tokenizer: no metadata")
	}
	model := md.String("tokenizer.ggml.model")
	t := &Tokenizer{
		pre: md.String("tokenizer.ggml.pre"),
		bos: noToken, eos: noToken, eot: noToken, eom: noToken, unk: noToken, pad: noToken, sep: noToken,
	}
	switch model {
	case "llama":
		t.kind = KindSPM
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addBOS, t.addSpacePrefix = true, true
	case "gpt2":
		t.kind = KindBPE
		t.bos, t.eos = 11, 11
	case "":
		return nil, errors.New("tokenizer: metadata has no tokenizer.ggml.model")
	default:
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.model %q is not supported (supported: llama, gpt2)", model)
	}

	t.tokens = md.Strings("tokenizer.ggml.tokens")
	if len(t.tokens) == 0 {
		return nil, errors.New("tokenizer: tokenizer.ggml.tokens is missing or empty")
	}
	if len(t.tokens) > 1<<31-1 {
		return nil, errors.New("tokenizer: too many tokens")
	}
	n := len(t.tokens)
	t.scores = make([]float32, n)
	if kv, ok := md.Get("tokenizer.ggml.scores"); ok {
		a, ok := kv.Value.(gguf.Array)
		s, ok2 := a.Values.([]float32)
		if !ok || !ok2 {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.scores is %v, want an array of float32", kv.Type)
		}
		if len(s) != n {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.scores has %d entries for %d tokens", len(s), n)
		}
		copy(t.scores, s)
	}
	t.types = make([]TokenType, n)
	for i := range t.types {
		t.types[i] = TypeNormal
	}
	if kv, ok := md.Get("tokenizer.ggml.token_type"); ok {
		vals, err := intArray(kv)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.token_type: %w", err)
		}
		if len(vals) != n {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.token_type has %d entries for %d tokens", len(vals), n)
		}
		for i, v := range vals {
			t.types[i] = TokenType(v)
		}
	}
	t.ids = make(map[string]int32, n)
	for i, s := range t.tokens {
		if s == "" {
			// llama.cpp renames empty tokens so they cannot match.
			s = fmt.Sprintf("[EMPTY_%d]", i)
		}
		// A later duplicate wins, as in llama.cpp's token_to_id map.
		t.ids[s] = int32(i)
	}

	if t.kind == KindBPE {
		t.ignoreMerges = preImpliesIgnoreMerges(t.pre)
		t.addBOS = preImpliesAddBOS(t.pre)
		switch t.pre {
		case "glm4", "chatglm-bpe":
			t.bos = noToken
		}
		if b, ok := md.Bool(KeyIgnoreMerges); ok {
			t.ignoreMerges = b
		}
		if err := t.loadMerges(md); err != nil {
			return nil, err
		}
		pt, err := preTokenizerFor(t.pre, md.String(KeyPreTokenizer))
		if err != nil {
			return nil, err
		}
		t.pretok = pt
		if def := md.String(KeyNormalizer); def != "" {
			steps, err := normalizerFromJSON(json.RawMessage(def))
			if err != nil {
				return nil, fmt.Errorf("tokenizer: %s: %w", KeyNormalizer, err)
			}
			t.normalizer = steps
		}
	}

	// Special token ids; an id out of range is ignored, as llama.cpp does.
	for _, s := range []struct {
		key string
		dst *int32
	}{
		{"bos_token_id", &t.bos}, {"eos_token_id", &t.eos}, {"eot_token_id", &t.eot}, {"eom_token_id", &t.eom},
		{"unknown_token_id", &t.unk}, {"seperator_token_id", &t.sep}, {"padding_token_id", &t.pad},
	} {
		kv, ok := md.Get("tokenizer.ggml." + s.key)
		if !ok {
			continue
		}
		v, ok := intValue(kv.Value)
		if !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.%s is %v, want an integer", s.key, kv.Type)
		}
		if v == 0xFFFFFFFF || v == -1 {
			*s.dst = noToken
			continue
		}
		if v < 0 || v >= int64(n) {
			continue
		}
		*s.dst = int32(v)
	}
	// Defaults (SentencePiece 1/2/0, GPT-2 11) may not exist in a small
	// vocabulary.
	for _, p := range []*int32{&t.bos, &t.eos, &t.eot, &t.eom, &t.unk, &t.pad, &t.sep} {
		if *p >= int32(n) {
			*p = noToken
		}
	}
	if b, ok := md.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.addBOS = b
	}
	if b, ok := md.Bool("tokenizer.ggml.add_eos_token"); ok {
		t.addEOS = b
	}
	if b, ok := md.Bool("tokenizer.ggml.add_space_prefix"); ok && t.kind == KindSPM {
		t.addSpacePrefix = b
	}
	if b, ok := md.Bool(KeyRemoveExtraWhitespaces); ok && t.kind == KindSPM {
		t.removeExtraWS = b
	}
	if t.addBOS && t.bos == noToken {
		t.addBOS = false
	}
	if t.addEOS && t.eos == noToken {
		t.addEOS = false
	}

	if t.kind == KindSPM {
		// A "llama" vocabulary that carries merges (a SentencePiece-style
		// tokenizer.json) merges by rank, as Hugging Face's BPE does.
		if _, ok := md.Get("tokenizer.ggml.merges"); ok {
			if err := t.loadMerges(md); err != nil {
				return nil, err
			}
		}
		t.spmCutSafe = true
		for _, s := range t.tokens {
			if i := strings.Index(s, "▁"); i >= 0 && strings.Contains(strings.TrimLeft(s, "▁"), "▁") {
				t.spmCutSafe = false
				break
			}
		}
		for b := 0; b < 256; b++ {
			id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]
			if !ok {
				if id2, ok2 := t.ids[string([]byte{byte(b)})]; ok2 {
					id, ok = id2, true
				}
			}
			if !ok {
				id = t.unk
			}
			t.byteIDs[b] = id
		}
	}

	t.cache = newWordCache()
	t.findEOG()
	if kv, ok := md.Get(KeyEOGIDs); ok {
		if ids, err := intArray(kv); err == nil {
			for _, id := range ids {
				if id >= 0 && id < int64(n) {
					t.eog[int32(id)] = true
				}
			}
		}
	}
	t.setStripAttrs(md)
	for i, ty := range t.types {
		if (ty == TypeControl || ty == TypeUserDefined || ty == TypeUnknown) && t.tokens[i] != "" {
			t.specials = append(t.specials, int32(i))
		}
	}
	sort.SliceStable(t.specials, func(i, j int) bool {
		return len(t.tokens[t.specials[i]]) > len(t.tokens[t.specials[j]])
	})
	t.specialSet = make(map[string]bool, len(t.specials))
	for _, id := range t.specials {
		s := t.tokens[id]
		t.specialSet[s] = true
		lens := t.specialLens[s[0]]
		if len(lens) == 0 || lens[len(lens)-1] != len(s) {
			t.specialLens[s[0]] = append(lens, len(s))
		}
	}
	return t, nil
}

// preImpliesIgnoreMerges is llama.cpp's rule: the Llama 3 family and
// Tekken skip the merges for words that are whole tokens.
func preImpliesIgnoreMerges(pre string) bool {
	switch pre {
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "tekken":
		return true
	}
	return false
}

// preImpliesAddBOS is llama.cpp's default add_bos for byte-level BPE.
func preImpliesAddBOS(pre string) bool {
	return preImpliesIgnoreMerges(pre) || pre == "chameleon"
}

// findEOG follows llama.cpp: end-of-turn tokens are recognised by their text
// (and promoted to control tokens), and EOS/EOT/EOM always end generation.
func (t *Tokenizer) findEOG() {
	eotTexts := []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}
	if t.eot == noToken {
		for _, s := range eotTexts {
			if id, ok := t.ids[s]; ok {
				t.eot = id
				t.types[id] = TypeControl
				break
			}
		}
	}
	if t.eom == noToken {
		if id, ok := t.ids["<|eom_id|>"]; ok {
			t.eom = id
			t.types[id] = TypeControl
		}
	}
	t.eog = map[int32]bool{}
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"} {
		if id, ok := t.ids[s]; ok {
			if s == "<|fim_pad|>" || s == "<|repo_name|>" || s == "<|file_sep|>" {
				// FIM separators end generation only when typed as control.
				if t.types[id] != TypeControl {
					continue
				}
			} else {
				t.types[id] = TypeControl
			}
			t.eog[id] = true
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != noToken {
			t.eog[id] = true
		}
	}
}

// setStripAttrs applies llama.cpp's per-model lstrip/rstrip attributes, and
// the ones HFMetadata recorded from tokenizer.json.
func (t *Tokenizer) setStripAttrs(md *gguf.Metadata) {
	t.lstrip, t.rstrip = map[int32]bool{}, map[int32]bool{}
	name := strings.ToLower(md.String("general.name"))
	if strings.Contains(name, "phi-3") || strings.Contains(name, "phi3") {
		for i, ty := range t.types {
			if ty == TypeControl || ty == TypeUserDefined || ty == TypeUnknown {
				t.rstrip[int32(i)] = true
			}
		}
		if id, ok := t.ids["</s>"]; ok {
			t.rstrip[id] = true
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if id, ok := t.ids[s]; ok {
				delete(t.rstrip, id)
			}
		}
	}
	if strings.Contains(t.pre, "jina-v2") {
		if id, ok := t.ids["<mask>"]; ok {
			t.lstrip[id] = true
		}
	}
	for key, dst := range map[string]map[int32]bool{KeyLStrip: t.lstrip, KeyRStrip: t.rstrip} {
		kv, ok := md.Get(key)
		if !ok {
			continue
		}
		ids, err := intArray(kv)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if id >= 0 && id < int64(len(t.tokens)) {
				dst[int32(id)] = true
			}
		}
	}
}

func (t *Tokenizer) loadMerges(md *gguf.Metadata) error {
	merges := md.Strings("tokenizer.ggml.merges")
	if kv, ok := md.Get("tokenizer.ggml.merges"); ok && merges == nil {
		return fmt.Errorf("tokenizer: tokenizer.ggml.merges is %v, want an array of strings", kv.Type)
	}
	t.ranks = make(map[[2]int32]int32, len(merges))
	for i, m := range merges {
		// llama.cpp splits at the first space after the first byte, so a
		// merge may start with a literal space.
		p := -1
		if len(m) > 1 {
			if k := strings.IndexByte(m[1:], ' '); k >= 0 {
				p = k + 1
			}
		}
		if p < 0 {
			continue
		}
		a, ok1 := t.ids[m[:p]]
		b, ok2 := t.ids[m[p+1:]]
		if !ok1 || !ok2 {
			// A merge whose parts are not tokens can never apply to
			// token symbols; llama.cpp keeps it but it is unreachable
			// except through non-token intermediate symbols, which
			// byte-level vocabularies always contain.
			continue
		}
		key := [2]int32{a, b}
		if _, dup := t.ranks[key]; !dup {
			t.ranks[key] = int32(i)
		}
	}
	return nil
}

func intArray(kv gguf.KV) ([]int64, error) {
	a, ok := kv.Value.(gguf.Array)
	if !ok {
		return nil, fmt.Errorf("is %v, want an integer array", kv.Type)
	}
	var out []int64
	switch v := a.Values.(type) {
	case []int32:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint32:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int8:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint8:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int16:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint16:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int64:
		out = v
	default:
		return nil, fmt.Errorf("is an array of %v, want integers", a.Type)
	}
	return out, nil
}

func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > 1<<62 {
			return -1, true
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// fragment is a piece of input: either raw text or an already-known token.
type fragment struct {
	text  string
	token int32 // -1 for text
}

// partition splits text on special tokens as llama.cpp's
// tokenizer_st_partition does: every control/user-defined/unknown token
// (longest first) is cut out of the remaining raw text. Without
// parseSpecial only user-defined tokens are recognised.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, token: noToken}}
	present := t.specialsIn(text)
	if len(present) == 0 {
		return frags
	}
	for _, id := range t.specials {
		if !present[t.tokens[id]] {
			continue
		}
		ty := t.types[id]
		if !parseSpecial && (ty == TypeControl || ty == TypeUnknown) {
			continue
		}
		tok := t.tokens[id]
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.token != noToken || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			changed = true
			rest := f.text
			for {
				i := strings.Index(rest, tok)
				if i < 0 {
					if rest != "" {
						next = append(next, fragment{text: rest, token: noToken})
					}
					break
				}
				left := rest[:i]
				if t.lstrip[id] {
					left = strings.TrimRight(left, " \t\n\v\f\r")
				}
				if left != "" {
					next = append(next, fragment{text: left, token: noToken})
				}
				next = append(next, fragment{token: id})
				rest = rest[i+len(tok):]
				if t.rstrip[id] {
					rest = strings.TrimLeft(rest, " \t\n\v\f\r")
				}
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// specialsIn finds which special tokens occur anywhere in text with one
// pass over it, so that partition only searches for those: vocabularies
// such as Gemma's have thousands of control tokens. A token absent from the
// text cannot appear in any fragment of it.
func (t *Tokenizer) specialsIn(text string) map[string]bool {
	var present map[string]bool
	for i := 0; i < len(text); i++ {
		for _, l := range t.specialLens[text[i]] {
			if i+l > len(text) {
				continue
			}
			if present[text[i:i+l]] {
				continue
			}
			if t.specialSet[text[i:i+l]] {
				if present == nil {
					present = map[string]bool{}
				}
				present[text[i:i+l]] = true
			}
		}
	}
	return present
}

// Encode tokenizes text. addSpecial adds BOS/EOS as the vocabulary asks
// (add_bos_token / add_eos_token); parseSpecial recognises control tokens
// such as "<|eot_id|>" written in the text (user-defined tokens are always
// recognised, as in llama.cpp and Hugging Face).
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	frags := t.partition(text, parseSpecial)
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	switch t.kind {
	case KindSPM:
		prevSpecial := true
		for _, f := range frags {
			if f.token != noToken {
				out = append(out, f.token)
				prevSpecial = true
				continue
			}
			out = t.encodeSPM(f.text, prevSpecial, out)
			prevSpecial = false
		}
	case KindBPE:
		for _, f := range frags {
			if f.token != noToken {
				out = append(out, f.token)
				continue
			}
			text := f.text
			if t.normalizer != nil {
				text = t.normalize(text)
			}
			var err error
			out, err = t.encodeBPE(text, out)
			if err != nil {
				return nil, err
			}
		}
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out, nil
}

// Piece returns the text token id stands for, as llama.cpp's
// token_to_piece: byte tokens give their byte, SentencePiece ▁ becomes a
// space, byte-level BPE symbols are mapped back to bytes. Control and
// unknown tokens give their stored text only when special is true.
func (t *Tokenizer) Piece(id int32, special bool) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	ty := t.types[id]
	text := t.tokens[id]
	if ty == TypeControl || ty == TypeUnknown {
		if !special {
			return ""
		}
		return text
	}
	if ty == TypeUserDefined {
		return text
	}
	switch t.kind {
	case KindSPM:
		switch ty {
		case TypeByte:
			if b, ok := parseByteToken(text); ok {
				return string([]byte{b})
			}
			return ""
		case TypeNormal:
			return strings.ReplaceAll(text, "▁", " ")
		}
		return ""
	case KindBPE:
		if ty == TypeNormal {
			return decodeByteLevel(text)
		}
		return ""
	}
	return ""
}

// Decode turns ids back into text: the concatenation of their pieces, with
// control tokens shown as their text, except a leading BOS and a trailing
// EOS that Encode's addSpecial would add (llama.cpp's detokenize with
// remove_special and unparse_special). For SentencePiece vocabularies the
// dummy-prefix space is removed from the first piece that has text, as
// sentencepiece's decoder does. Bytes that do not form valid UTF-8 are kept
// as they are.
func (t *Tokenizer) Decode(ids []int32) string {
	if t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		ids = ids[1:]
	}
	if t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var sb strings.Builder
	stripSpace := t.kind == KindSPM && t.addSpacePrefix
	for _, id := range ids {
		p := t.Piece(id, true)
		if p == "" {
			continue
		}
		if stripSpace && !t.IsControl(id) {
			if t.Type(id) == TypeNormal {
				p = strings.TrimPrefix(p, " ")
			}
			stripSpace = false
		}
		sb.WriteString(p)
	}
	return sb.String()
}

func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(s[3])
	lo, ok2 := hexVal(s[4])
	if !ok1 || !ok2 {
		return 0, false
	}
	return hi<<4 | lo, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// utf8Len is the length of the UTF-8 sequence starting with byte c, as
// llama.cpp's unicode_len_utf8 (invalid lead bytes count as one).
func utf8Len(c byte) int {
	return int(utf8LenTable[c>>4])
}

var utf8LenTable = [16]uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}
