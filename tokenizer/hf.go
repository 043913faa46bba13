package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

// HFMetadata reads a Hugging Face model folder's tokenizer files
// (tokenizer.json or tokenizer.model, tokenizer_config.json,
// chat_template.jinja, config.json, generation_config.json) and returns the
// tokenizer.ggml.* and tokenizer.chat_template keys llama.cpp's
// convert_hf_to_gguf.py writes for it.
//
// A sentencepiece tokenizer.model is used when present (as llama.cpp's
// _set_vocab_sentencepiece), unless tokenizer.json is a byte-level BPE
// tokenizer; otherwise tokenizer.json is read as byte-level BPE
// (_set_vocab_gpt2). The token list is padded with [PAD{id}] tokens up to
// config.json's vocab_size.
func HFMetadata(dir string) ([]gguf.KV, error) {
	h := &hfReader{dir: dir}
	if err := h.readJSON("config.json", &h.config); err != nil {
		return nil, err
	}
	if err := h.readJSON("tokenizer_config.json", &h.tokConfig); err != nil {
		return nil, err
	}
	if err := h.readJSON("tokenizer.json", &h.tokJSON); err != nil {
		return nil, err
	}
	if h.tokJSON != nil && h.tokJSON.Model.Type == "BPE" {
		if err := json.Unmarshal(h.tokJSON.Model.RawVocab, &h.tokJSON.Model.Vocab); err != nil {
			return nil, fmt.Errorf("%s: tokenizer.json model.vocab: %w", dir, err)
		}
	}
	spPath := filepath.Join(dir, "tokenizer.model")
	_, spErr := os.Stat(spPath)
	switch {
	case h.tokJSON != nil && h.isByteLevelBPE():
		return h.gpt2()
	case spErr == nil:
		return h.sentencepiece(spPath)
	case h.tokJSON != nil && h.tokJSON.Model.Type == "BPE":
		return h.llamaHF()
	case h.tokJSON != nil:
		return nil, fmt.Errorf("%s: tokenizer.json model %q is not supported without a tokenizer.model (supported: byte-level BPE)", dir, h.tokJSON.Model.Type)
	}
	return nil, fmt.Errorf("%s: no tokenizer.json or tokenizer.model", dir)
}

// SentencePieceMetadata returns the GGUF tokenizer keys for a lone
// sentencepiece model file, as HFMetadata does for a folder holding only it.
func SentencePieceMetadata(path string) ([]gguf.KV, error) {
	h := &hfReader{dir: filepath.Dir(path)}
	return h.sentencepiece(path)
}

type hfAddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfTokenizerJSON struct {
	AddedTokens  []hfAddedToken  `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	PostProc     json.RawMessage `json:"post_processor"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        struct {
		Type         string           `json:"type"`
		RawVocab     json.RawMessage  `json:"vocab"`
		Vocab        map[string]int64 `json:"-"` // decoded for BPE models only
		UnkToken     json.RawMessage  `json:"unk_token"`
		Merges       json.RawMessage  `json:"merges"`
		ByteFallback bool             `json:"byte_fallback"`
		IgnoreMerges bool             `json:"ignore_merges"`
	} `json:"model"`
}

type hfReader struct {
	dir       string
	config    map[string]any
	tokConfig map[string]any
	tokJSON   *hfTokenizerJSON
}

func (h *hfReader) readJSON(name string, dst any) error {
	data, err := os.ReadFile(filepath.Join(h.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(h.dir, name), err)
	}
	return nil
}

func (h *hfReader) isByteLevelBPE() bool {
	t := h.tokJSON
	if t.Model.Type != "BPE" || t.Model.ByteFallback {
		return false
	}
	var dec struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(t.Decoder, &dec)
	return dec.Type == "ByteLevel"
}

// configInt reads an integer from config.json (or its text_config).
func (h *hfReader) configInt(key string) (int64, bool) {
	if v, ok := jsonInt(h.config[key]); ok {
		return v, true
	}
	if tc, ok := h.config["text_config"].(map[string]any); ok {
		return jsonInt(tc[key])
	}
	return 0, false
}

func jsonInt(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>")) ||
		(strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"))
}

// jsonTokenCount is one more than the largest id in tokenizer.json's
// vocabulary and added tokens; ids are bounded (2^24) so that a hostile
// file cannot make the vocabulary arrays huge.
func (h *hfReader) jsonTokenCount() (int64, error) {
	tj := h.tokJSON
	maxID := int64(-1)
	for s, id := range tj.Model.Vocab {
		if id < 0 || id >= 1<<24 {
			return 0, fmt.Errorf("%s: tokenizer.json: token %q has id %d", h.dir, s, id)
		}
		maxID = max(maxID, id)
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID >= 1<<24 {
			return 0, fmt.Errorf("%s: tokenizer.json: added token %q has id %d", h.dir, a.Content, a.ID)
		}
		maxID = max(maxID, int64(a.ID))
	}
	return maxID + 1, nil
}

func (h *hfReader) gpt2() ([]gguf.KV, error) {
	tj := h.tokJSON
	n, err := h.jsonTokenCount()
	if err != nil {
		return nil, err
	}
	if vs, ok := h.configInt("vocab_size"); ok {
		if vs < n {
			return nil, fmt.Errorf("%s: config.json vocab_size %d is smaller than the tokenizer's %d tokens", h.dir, vs, n)
		}
		n = vs
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("%s: vocabulary of %d tokens is implausibly large", h.dir, n)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	present := make([]bool, n)
	for s, id := range tj.Model.Vocab {
		tokens[id], types[id], present[id] = s, int32(TypeNormal), true
	}
	for _, a := range tj.AddedTokens {
		s := a.Content
		if a.Special || looksSpecial(s) {
			types[a.ID] = int32(TypeControl)
		} else {
			// llama.cpp pre-normalizes user-defined spaces.
			s = strings.ReplaceAll(s, "▁", " ")
			types[a.ID] = int32(TypeUserDefined)
		}
		tokens[a.ID], present[a.ID] = s, true
	}
	for i := range tokens {
		if !present[i] {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), int32(TypeUnused)
		}
	}
	pre, custom, err := preNameFromJSON(tj.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer.json: %w", h.dir, err)
	}
	kvs := []gguf.KV{
		strKV("tokenizer.ggml.model", "gpt2"),
		strKV("tokenizer.ggml.pre", pre),
		{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: types}},
	}
	if custom {
		kvs = append(kvs, strKV(KeyPreTokenizer, string(tj.PreTokenizer)))
	}
	var lstrip, rstrip []int32
	for _, a := range tj.AddedTokens {
		if a.LStrip {
			lstrip = append(lstrip, a.ID)
		}
		if a.RStrip {
			rstrip = append(rstrip, a.ID)
		}
	}
	kvs = append(kvs, stripKVs(lstrip, rstrip)...)
	if len(tj.Normalizer) > 0 && string(tj.Normalizer) != "null" {
		if _, err := normalizerFromJSON(tj.Normalizer); err != nil {
			return nil, fmt.Errorf("%s: tokenizer.json: %w", h.dir, err)
		}
		kvs = append(kvs, strKV(KeyNormalizer, string(tj.Normalizer)))
	}
	if tj.Model.IgnoreMerges != preImpliesIgnoreMerges(pre) {
		kvs = append(kvs, gguf.KV{Key: KeyIgnoreMerges, Type: gguf.TypeBool, Value: tj.Model.IgnoreMerges})
	}
	merges, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer.json: %w", h.dir, err)
	}
	sv := h.specialVocab(-1)
	if len(merges) > 0 {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.merges", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: merges}})
	}
	kvs = append(kvs, sv.kvs()...)
	// llama.cpp turns BOS on for the Llama 3 family (and Tekken, Chameleon)
	// when the file says nothing; Hugging Face adds BOS only through the
	// post-processor or add_bos_token. Say so explicitly when they differ.
	if preImpliesAddBOS(pre) && !sv.hasAdd("bos") {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Type: gguf.TypeBool, Value: false})
	}
	return kvs, nil
}

func (s *specialVocab) hasAdd(typ string) bool {
	for _, e := range s.add {
		if e.typ == typ {
			return true
		}
	}
	return false
}

func strKV(k, v string) gguf.KV { return gguf.KV{Key: k, Type: gguf.TypeString, Value: v} }

// parseMerges accepts both merge forms: "a b" strings and [a, b] pairs
// (transformers ≥ 4.45), encoding spaces inside pair parts as U+0120 the
// way gguf-py does.
func parseMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		return strs, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("model.merges: want a list of \"a b\" strings or of [a, b] pairs: %w", err)
	}
	out := make([]string, len(pairs))
	enc := func(p string) string { return strings.ReplaceAll(p, " ", "Ġ") }
	for i, pair := range pairs {
		if len(pair) != 2 {
			return nil, fmt.Errorf("model.merges[%d]: want a pair, got %d strings", i, len(pair))
		}
		out[i] = enc(pair[0]) + " " + enc(pair[1])
	}
	return out, nil
}

// preNameFromJSON names a tokenizer.json pre_tokenizer the way llama.cpp's
// converter would (it hashes the tokenization of a probe string; the
// pre-tokenizer definitions of those families are recognised here
// directly). custom is true when no llama.cpp name fits: the definition is
// then stored under KeyPreTokenizer and run as it is.
func preNameFromJSON(raw json.RawMessage) (name string, custom bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "default", true, nil
	}
	// Validate that ferry can run it.
	p := &preTokenizer{}
	if err := p.addJSON(raw); err != nil {
		return "", false, err
	}
	sig := preSignature(raw)
	if n, ok := knownPreSignatures[sig]; ok {
		return n, false, nil
	}
	return "default", true, nil
}

// preSignature flattens a pre_tokenizer into a comparable string.
func preSignature(raw json.RawMessage) string {
	var def map[string]any
	if json.Unmarshal(raw, &def) != nil {
		return ""
	}
	var parts []string
	var walk func(d map[string]any)
	walk = func(d map[string]any) {
		switch d["type"] {
		case "Sequence":
			if subs, ok := d["pretokenizers"].([]any); ok {
				for _, s := range subs {
					if m, ok := s.(map[string]any); ok {
						walk(m)
					}
				}
			}
		case "Split":
			pat, _ := d["pattern"].(map[string]any)
			re, _ := pat["Regex"].(string)
			parts = append(parts, fmt.Sprintf("Split(%s,%v,%v)", re, d["behavior"], d["invert"]))
		case "ByteLevel":
			useRegex := true
			if b, ok := d["use_regex"].(bool); ok {
				useRegex = b
			}
			aps, _ := d["add_prefix_space"].(bool)
			parts = append(parts, fmt.Sprintf("ByteLevel(%v,%v)", aps, useRegex))
		case "Digits":
			ind, _ := d["individual_digits"].(bool)
			parts = append(parts, fmt.Sprintf("Digits(%v)", ind))
		default:
			parts = append(parts, fmt.Sprint(d["type"]))
		}
	}
	walk(def)
	return strings.Join(parts, ";")
}

const (
	hfLlama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfQwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfGPT4oRegex  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownPreSignatures = map[string]string{
	"Split(" + hfLlama3Regex + ",Isolated,false);ByteLevel(false,false)": "llama-bpe",
	"Split(" + hfQwen2Regex + ",Isolated,false);ByteLevel(false,false)":  "qwen2",
	"Split(" + reTekken + ",Isolated,false);ByteLevel(false,false)":      "tekken",
	"Split(" + hfGPT4oRegex + ",Isolated,false);ByteLevel(false,false)":  "gpt-4o",
	"ByteLevel(false,true)":              "gpt-2",
	"Digits(true);ByteLevel(false,true)": "starcoder",
	"Split([\r\n],Isolated,false);Split(\\s?\\p{L}+,Isolated,false);Split(\\s?\\p{P}+,Isolated,false);Split(" + reCJK + ",Isolated,false);Digits(true);ByteLevel(false,false)": "deepseek-coder",
}

// specialVocab is gguf-py's SpecialVocab: special token ids, add_*_token
// flags and the chat template, from tokenizer.json, tokenizer_config.json
// and config.json.
type specialVocab struct {
	extraEOG []int32 // generation_config.json eos ids
	ids      []idEntry
	add      []addEntry
	template any // string or []map[string]string
	nVocab   int64
}

type idEntry struct {
	typ string
	id  int64
}

type addEntry struct {
	typ string
	on  bool
}

func (s *specialVocab) setID(typ string, v any) {
	id, ok := jsonInt(v)
	if !ok || id < 0 {
		return
	}
	if s.nVocab >= 0 && id >= s.nVocab {
		return
	}
	for _, e := range s.ids {
		if e.typ == typ {
			return
		}
	}
	s.ids = append(s.ids, idEntry{typ, id})
}

func (s *specialVocab) setAdd(typ string, on bool) {
	for i, e := range s.add {
		if e.typ == typ {
			s.add[i].on = on
			return
		}
	}
	s.add = append(s.add, addEntry{typ, on})
}

func tokenContent(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case map[string]any:
		c, ok := x["content"].(string)
		return c, ok
	}
	return "", false
}

func (h *hfReader) specialVocab(nVocab int64) *specialVocab {
	s := &specialVocab{nVocab: nVocab}
	types := []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}
	var added []hfAddedToken
	cfg := h.tokConfig
	if h.tokJSON != nil {
		added = h.tokJSON.AddedTokens
		str := func(k string) string {
			v, _ := tokenContent(cfg[k])
			return v
		}
		bos, cls, eos, sep := str("bos_token"), str("cls_token"), str("eos_token"), str("sep_token")
		if bos == "" && cls != "" && cfg != nil {
			cfg["bos_token"], bos = cls, cls
		}
		if eos == "" && sep != "" && cfg != nil {
			cfg["eos_token"], eos = sep, sep
		}
		var pp map[string]any
		_ = json.Unmarshal(h.tokJSON.PostProc, &pp)
		procs := []any{pp}
		if list, ok := pp["processors"].([]any); ok {
			procs = list
		}
		for _, p := range procs {
			proc, _ := p.(map[string]any)
			if proc == nil {
				continue
			}
			switch proc["type"] {
			case "RobertaProcessing":
				s.setAdd("bos", true)
				s.setAdd("eos", true)
				s.setAdd("sep", true)
			case "TemplateProcessing":
				single, _ := proc["single"].([]any)
				pair, _ := proc["pair"].([]any)
				specialID := func(item any) string {
					m, _ := item.(map[string]any)
					st, _ := m["SpecialToken"].(map[string]any)
					id, _ := st["id"].(string)
					return id
				}
				seqID := func(item any) string {
					m, _ := item.(map[string]any)
					st, _ := m["Sequence"].(map[string]any)
					id, _ := st["id"].(string)
					return id
				}
				var first, last string
				if len(single) > 1 {
					if first = specialID(single[0]); first != "" {
						if cfg == nil {
							bos = first
						}
						s.setAdd("bos", first == bos || first == cls)
					}
					if last = specialID(single[len(single)-1]); last != "" {
						if cfg == nil {
							eos = last
						} else if last != eos {
							if !contains(types, "eot") {
								types = append(types, "eot")
								cfg["eot_token"] = eos
							} else if !contains(types, "eom") {
								types = append(types, "eom")
								cfg["eom_token"] = eos
							}
							cfg["eos_token"], eos = last, last
						}
						s.setAdd("eos", last == eos)
					}
				}
				if len(pair) > 0 {
					start, stop := 0, len(pair)
					if first != "" && specialID(pair[0]) == first {
						start = 1
					}
					if last != "" && specialID(pair[len(pair)-1]) == last {
						stop = len(pair) - 1
					}
					if start < stop {
						mid := pair[start:stop]
						a, b := seqID(mid[0]), seqID(mid[len(mid)-1])
						if a == "A" && b == "B" && len(mid) > 2 {
							mid = mid[1 : len(mid)-1]
							addSep := false
							if e := specialID(mid[0]); e != "" && (e == sep || e == eos) && last == "" {
								addSep = true
							}
							if len(mid) == 2 {
								if e := specialID(mid[1]); e != "" && (e == sep || e == eos) {
									addSep = true
								}
							}
							s.setAdd("sep", addSep)
						}
					}
				}
			}
		}
	}
	if cfg == nil {
		h.configIDs(s, types)
		return s
	}
	// Chat template: tokenizer_config.json, else chat_template.jinja (with
	// additional_chat_templates/*.jinja), else chat_template.json.
	var alt any
	if b, err := os.ReadFile(filepath.Join(h.dir, "chat_template.jinja")); err == nil {
		alt = string(b)
		extra, _ := filepath.Glob(filepath.Join(h.dir, "additional_chat_templates", "*.jinja"))
		if len(extra) > 0 {
			list := []map[string]string{{"name": "default", "template": string(b)}}
			for _, p := range extra {
				if tb, err := os.ReadFile(p); err == nil {
					list = append(list, map[string]string{"name": strings.TrimSuffix(filepath.Base(p), ".jinja"), "template": string(tb)})
				}
			}
			alt = list
		}
	} else if b, err := os.ReadFile(filepath.Join(h.dir, "chat_template.json")); err == nil {
		var ct map[string]any
		if json.Unmarshal(b, &ct) == nil {
			alt = ct["chat_template"]
		}
	}
	tmpl, ok := cfg["chat_template"]
	if !ok {
		tmpl = alt
	}
	switch x := tmpl.(type) {
	case string:
		s.template = x
	case []any:
		var list []map[string]string
		for _, it := range x {
			m, _ := it.(map[string]any)
			name, _ := m["name"].(string)
			t, ok := m["template"].(string)
			if ok {
				list = append(list, map[string]string{"name": name, "template": t})
			}
		}
		s.template = list
	case []map[string]string:
		s.template = x
	}
	for _, typ := range types {
		if b, ok := cfg["add_"+typ+"_token"].(bool); ok {
			s.setAdd(typ, b)
		}
		content, ok := tokenContent(cfg[typ+"_token"])
		if !ok {
			continue
		}
		for _, a := range added {
			if a.Content == content {
				s.setID(typ, float64(a.ID))
				break
			}
		}
	}
	h.configIDs(s, types)
	return s
}

func (h *hfReader) configIDs(s *specialVocab, types []string) {
	for _, typ := range types {
		v, ok := h.config[typ+"_token_id"]
		if !ok || v == nil {
			if tc, ok := h.config["text_config"].(map[string]any); ok {
				v = tc[typ+"_token_id"]
			}
		}
		s.setID(typ, v)
	}
	// generation_config.json: an EOS the other files do not name, and the
	// further end-of-sequence ids of a list (Llama 3 instruct: end of
	// text, end of message, end of turn), kept as extra end-of-generation
	// tokens.
	var gen map[string]any
	if h.dir == "" || h.readJSON("generation_config.json", &gen) != nil || gen == nil {
		return
	}
	var ids []any
	switch v := gen["eos_token_id"].(type) {
	case float64:
		ids = []any{v}
	case []any:
		ids = v
	}
	for i, v := range ids {
		id, ok := jsonInt(v)
		if !ok || id < 0 || (s.nVocab >= 0 && id >= s.nVocab) {
			continue
		}
		if i == 0 {
			s.setID("eos", v)
		}
		s.extraEOG = append(s.extraEOG, int32(id))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var specialIDKeys = map[string]string{
	"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
	"pad": "padding_token_id", "cls": "cls_token_id", "mask": "mask_token_id", "eot": "eot_token_id",
	"eom": "eom_token_id",
}

func (s *specialVocab) kvs() (out []gguf.KV) {
	defer func() {
		// Only ids beyond the EOS itself need recording.
		var extra []int32
		for _, id := range s.extraEOG {
			isEOS := false
			for _, e := range s.ids {
				if e.typ == "eos" && int32(e.id) == id {
					isEOS = true
				}
			}
			if !isEOS {
				extra = append(extra, id)
			}
		}
		if len(extra) > 0 {
			out = append(out, gguf.KV{Key: KeyEOGIDs, Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: extra}})
		}
	}()
	for _, e := range s.ids {
		if k, ok := specialIDKeys[e.typ]; ok {
			out = append(out, gguf.KV{Key: "tokenizer.ggml." + k, Type: gguf.TypeUint32, Value: uint32(e.id)})
		}
	}
	for _, e := range s.add {
		switch e.typ {
		case "bos", "eos", "sep":
			out = append(out, gguf.KV{Key: "tokenizer.ggml.add_" + e.typ + "_token", Type: gguf.TypeBool, Value: e.on})
		}
	}
	switch t := s.template.(type) {
	case string:
		out = append(out, strKV("tokenizer.chat_template", t))
	case []map[string]string:
		var def *string
		var names []string
		named := map[string]string{}
		for _, m := range t {
			name := sanitizeTemplateName(m["name"])
			tmpl := m["template"]
			if name == "" {
				continue
			}
			if name == "default" {
				d := tmpl
				def = &d
				continue
			}
			if _, dup := named[name]; !dup {
				names = append(names, name)
			}
			named[name] = tmpl
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, strKV("tokenizer.chat_template."+n, named[n]))
		}
		if len(names) > 0 {
			out = append(out, gguf.KV{Key: "tokenizer.chat_templates", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: names}})
		}
		if def != nil {
			out = append(out, strKV("tokenizer.chat_template", *def))
		}
	}
	return out
}

func sanitizeTemplateName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// sentencepiece builds llama.cpp's _set_vocab_sentencepiece keys.
func (h *hfReader) sentencepiece(path string) ([]gguf.KV, error) {
	sp, err := ReadSPModel(path)
	if err != nil {
		return nil, err
	}
	return h.spModelKVs(sp, path)
}

func (h *hfReader) spModelKVs(sp *SPModel, path string) ([]gguf.KV, error) {
	if sp.ModelType != 2 {
		return nil, fmt.Errorf("%s: sentencepiece model type %d is not BPE (unigram vocabularies are not supported)", path, sp.ModelType)
	}
	n := int64(len(sp.Pieces))
	if vs, ok := h.configInt("vocab_size_per_layer_input"); ok && vs > 0 {
		n = vs
	} else if vs, ok := h.configInt("vocab_size"); ok && vs > 0 {
		n = vs
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("%s: vocabulary of %d tokens is implausibly large", path, n)
	}
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		scores[i] = -10000
		types[i] = int32(TypeUnused)
	}
	for i, p := range sp.Pieces {
		if int64(i) >= n {
			break
		}
		// llama.cpp's converter types user-defined pieces as normal, but
		// sentencepiece always matches them as whole symbols; keeping the
		// type makes the partition step do the same.
		ty := TypeNormal
		switch p.Type {
		case TypeUnknown, TypeControl, TypeUnused, TypeByte, TypeUserDefined:
			ty = p.Type
		}
		tokens[i], scores[i], types[i] = p.Piece, p.Score, int32(ty)
	}
	var addedJSON map[string]int64
	if h.dir != "" {
		if err := h.readJSON("added_tokens.json", &addedJSON); err != nil {
			return nil, err
		}
	}
	for k, id := range addedJSON {
		if id >= 0 && id < n {
			tokens[id], scores[id], types[id] = k, -1000, int32(TypeUserDefined)
		}
	}
	var lstrip, rstrip []int32
	if dec, ok := h.tokConfig["added_tokens_decoder"].(map[string]any); ok {
		for k, v := range dec {
			var id int64
			if _, err := fmt.Sscan(k, &id); err != nil || id < 0 || id >= n {
				continue
			}
			m, _ := v.(map[string]any)
			content, ok := m["content"].(string)
			if !ok {
				continue
			}
			if b, _ := m["lstrip"].(bool); b {
				lstrip = append(lstrip, int32(id))
			}
			if b, _ := m["rstrip"].(bool); b {
				rstrip = append(rstrip, int32(id))
			}
			special, _ := m["special"].(bool)
			if special || looksSpecial(content) {
				types[id] = int32(TypeControl)
			} else {
				content = strings.ReplaceAll(content, "▁", " ")
				types[id] = int32(TypeUserDefined)
			}
			scores[id], tokens[id] = -1000, content
		}
	}
	// Added tokens only tokenizer.json knows (ids past the sentencepiece
	// vocabulary that would otherwise stay [PAD] slots), as llama.cpp's
	// Phi-3 converter reads them.
	if h.tokJSON != nil {
		for _, a := range h.tokJSON.AddedTokens {
			id := int64(a.ID)
			if id < 0 || id >= n || types[id] != int32(TypeUnused) || id < int64(len(sp.Pieces)) {
				continue
			}
			types[id] = int32(TypeUserDefined)
			if a.Special || looksSpecial(a.Content) {
				types[id] = int32(TypeControl)
			}
			scores[id], tokens[id] = -1000, a.Content
			if a.LStrip {
				lstrip = append(lstrip, a.ID)
			}
			if a.RStrip {
				rstrip = append(rstrip, a.ID)
			}
		}
	}
	kvs := []gguf.KV{
		strKV("tokenizer.ggml.model", "llama"),
		strKV("tokenizer.ggml.pre", "default"),
		{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.scores", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeFloat32, Values: scores}},
		{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: types}},
	}
	sv := h.specialVocab(n)
	kvs = append(kvs, sv.kvs()...)
	sort.Slice(lstrip, func(i, j int) bool { return lstrip[i] < lstrip[j] })
	sort.Slice(rstrip, func(i, j int) bool { return rstrip[i] < rstrip[j] })
	kvs = append(kvs, stripKVs(lstrip, rstrip)...)
	// Normalizer flags llama.cpp's SPM keys can express. Gemma's converter
	// writes add_space_prefix=false for its add_dummy_prefix=false model;
	// remove_extra_whitespaces is llama.cpp's key for the same flag.
	if !sp.AddDummyPrefix {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Type: gguf.TypeBool, Value: false})
	}
	if sp.RemoveExtraWhitespaces {
		kvs = append(kvs, gguf.KV{Key: KeyRemoveExtraWhitespaces, Type: gguf.TypeBool, Value: true})
	}
	return kvs, nil
}

func stripKVs(lstrip, rstrip []int32) []gguf.KV {
	var out []gguf.KV
	if len(lstrip) > 0 {
		out = append(out, gguf.KV{Key: KeyLStrip, Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: lstrip}})
	}
	if len(rstrip) > 0 {
		out = append(out, gguf.KV{Key: KeyRStrip, Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: rstrip}})
	}
	return out
}

// llamaHF reads a SentencePiece-style tokenizer.json (BPE over ▁-escaped
// text, usually with byte fallback) when no tokenizer.model is there.
// llama.cpp's converter (_set_vocab_llama_hf) writes such vocabularies as
// "llama" with every score -1000, which loses the merge order; ferry writes
// scores from the merge ranks (so llama.cpp's SentencePiece algorithm
// approximates it) and the merges themselves, which FromMetadata uses to
// merge exactly as Hugging Face's BPE does.
func (h *hfReader) llamaHF() ([]gguf.KV, error) {
	tj := h.tokJSON
	n, err := h.jsonTokenCount()
	if err != nil {
		return nil, err
	}
	if vs, ok := h.configInt("vocab_size"); ok && vs > n {
		n = vs
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	scores := make([]float32, n)
	present := make([]bool, n)
	for s, id := range tj.Model.Vocab {
		ty := TypeNormal
		if _, ok := parseByteToken(s); ok {
			ty = TypeByte
		}
		tokens[id], types[id], present[id] = s, int32(ty), true
	}
	var unk string
	_ = json.Unmarshal(tj.Model.UnkToken, &unk)
	if id, ok := tj.Model.Vocab[unk]; ok && unk != "" {
		types[id] = int32(TypeUnknown)
	}
	var lstrip, rstrip []int32
	for _, a := range tj.AddedTokens {
		s := a.Content
		switch {
		case s == unk:
			types[a.ID] = int32(TypeUnknown)
		case a.Special || looksSpecial(s):
			types[a.ID] = int32(TypeControl)
		default:
			s = strings.ReplaceAll(s, "▁", " ")
			types[a.ID] = int32(TypeUserDefined)
		}
		tokens[a.ID], present[a.ID] = s, true
		if a.LStrip {
			lstrip = append(lstrip, a.ID)
		}
		if a.RStrip {
			rstrip = append(rstrip, a.ID)
		}
	}
	for i := range tokens {
		if !present[i] {
			tokens[i], types[i], scores[i] = fmt.Sprintf("[PAD%d]", i), int32(TypeUnused), -1000
		}
	}
	merges, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer.json: %w", h.dir, err)
	}
	// A token's score is minus the rank of the first merge producing it:
	// SentencePiece merges the highest score first, BPE the lowest rank.
	made := make([]bool, n)
	for rank, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok {
			continue
		}
		if id, ok := tj.Model.Vocab[a+b]; ok && !made[id] {
			made[id] = true
			scores[id] = -float32(rank)
		}
	}
	kvs := []gguf.KV{
		strKV("tokenizer.ggml.model", "llama"),
		strKV("tokenizer.ggml.pre", "default"),
		{Key: "tokenizer.ggml.tokens", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.scores", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeFloat32, Values: scores}},
		{Key: "tokenizer.ggml.token_type", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeInt32, Values: types}},
	}
	if len(merges) > 0 {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.merges", Type: gguf.TypeArray, Value: gguf.Array{Type: gguf.TypeString, Values: merges}})
	}
	sv := h.specialVocab(n)
	kvs = append(kvs, sv.kvs()...)
	kvs = append(kvs, stripKVs(lstrip, rstrip)...)
	if !h.spacePrefixFromJSON() {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Type: gguf.TypeBool, Value: false})
	}
	return kvs, nil
}

// spacePrefixFromJSON tells whether a SentencePiece-style tokenizer.json
// adds the dummy prefix: a Prepend("▁") normalizer or a Metaspace
// pre-tokenizer whose prepend_scheme is not "never".
func (h *hfReader) spacePrefixFromJSON() bool {
	found := false
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var d map[string]json.RawMessage
		if json.Unmarshal(raw, &d) != nil {
			return
		}
		var typ string
		_ = json.Unmarshal(d["type"], &typ)
		switch typ {
		case "Sequence":
			for _, k := range []string{"normalizers", "pretokenizers"} {
				var subs []json.RawMessage
				_ = json.Unmarshal(d[k], &subs)
				for _, sub := range subs {
					walk(sub)
				}
			}
		case "Prepend":
			var p string
			_ = json.Unmarshal(d["prepend"], &p)
			if p == "▁" {
				found = true
			}
		case "Metaspace":
			var scheme string
			_ = json.Unmarshal(d["prepend_scheme"], &scheme)
			var add *bool
			_ = json.Unmarshal(d["add_prefix_space"], &add)
			if scheme == "always" || scheme == "first" || (scheme == "" && (add == nil || *add)) {
				found = true
			}
		}
	}
	walk(h.tokJSON.Normalizer)
	walk(h.tokJSON.PreTokenizer)
	return found
}
