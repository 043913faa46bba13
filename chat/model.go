package chat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

// ModelInfo is what rendering needs from a model: its chat template(s) and
// the text of its special tokens.
type ModelInfo struct {
	// Template is the default chat template ("" when the model has none).
	Template string
	// Named holds further named templates (e.g. "tool_use").
	Named    map[string]string
	BOS, EOS string
	// EOG is the text of every end-of-generation token.
	EOG []string
}

// TemplateFor picks the template for a request: Hugging Face uses a
// "tool_use" template, when the model has one, for requests with tools.
func (mi *ModelInfo) TemplateFor(withTools bool) string {
	if withTools {
		if t, ok := mi.Named["tool_use"]; ok {
			return t
		}
	}
	return mi.Template
}

// eogNames are token texts llama.cpp treats as end of generation even when
// the metadata does not mark them.
var eogNames = map[string]bool{
	"<|eot_id|>": true, "<|im_end|>": true, "<|end|>": true, "<end_of_turn>": true,
	"<|endoftext|>": true, "<|eom_id|>": true, "<EOT>": true, "<|END_OF_TURN_TOKEN|>": true,
	"<|end_of_text|>": true, "<｜end▁of▁sentence｜>": true, "<turn|>": true, "<|return|>": true,
	"<|end_of_turn|>": true,
}

// InfoFromMetadata reads tokenizer.chat_template (and
// tokenizer.chat_template.NAME), and the BOS/EOS/EOT token texts from
// tokenizer.ggml.tokens.
func InfoFromMetadata(md *gguf.Metadata) ModelInfo {
	mi := ModelInfo{Template: md.String("tokenizer.chat_template"), Named: map[string]string{}}
	for _, kv := range md.KV {
		if name, ok := strings.CutPrefix(kv.Key, "tokenizer.chat_template."); ok {
			if s, ok := kv.Value.(string); ok {
				mi.Named[name] = s
			}
		}
	}
	tokens := md.Strings("tokenizer.ggml.tokens")
	tok := func(key string) (string, bool) {
		id, ok := md.Uint(key)
		if !ok || id >= uint64(len(tokens)) {
			return "", false
		}
		return tokens[id], true
	}
	mi.BOS, _ = tok("tokenizer.ggml.bos_token_id")
	mi.EOS, _ = tok("tokenizer.ggml.eos_token_id")
	seen := map[string]bool{}
	addEOG := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			mi.EOG = append(mi.EOG, s)
		}
	}
	if s, ok := tok("tokenizer.ggml.eos_token_id"); ok {
		addEOG(s)
	}
	for _, k := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		if s, ok := tok(k); ok {
			addEOG(s)
		}
	}
	if len(tokens) > 0 {
		types, _ := md.Get("tokenizer.ggml.token_type")
		for i, t := range tokens {
			if eogNames[t] && isControl(types.Value, i) {
				addEOG(t)
			}
		}
	}
	return mi
}

// isControl reports whether token i is a control or user-defined token
// (or when types are unknown), so plain text that happens to spell a marker
// is not taken for one.
func isControl(types any, i int) bool {
	switch ts := types.(type) {
	case []int32:
		return i >= len(ts) || ts[i] == 3 || ts[i] == 4
	case gguf.Array:
		if v, ok := ts.Values.([]int32); ok {
			return i >= len(v) || v[i] == 3 || v[i] == 4
		}
	}
	return true
}

// InfoFromHFDir reads a Hugging Face folder's chat template as transformers
// does: chat_template.jinja (plus additional_chat_templates/*.jinja), else
// chat_template.json, else tokenizer_config.json's chat_template (a string
// or a list of named templates); and bos_token/eos_token from
// tokenizer_config.json.
func InfoFromHFDir(dir string) (ModelInfo, error) {
	mi := ModelInfo{Named: map[string]string{}}
	var cfg map[string]json.RawMessage
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	if b, err := os.ReadFile(cfgPath); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return mi, fmt.Errorf("%s: %w", cfgPath, err)
		}
	} else if !os.IsNotExist(err) {
		return mi, err
	}
	mi.BOS = tokenText(cfg["bos_token"])
	mi.EOS = tokenText(cfg["eos_token"])
	if mi.EOS != "" {
		mi.EOG = append(mi.EOG, mi.EOS)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		mi.Template = string(b)
		extra, _ := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
		sort.Strings(extra)
		for _, p := range extra {
			if b, err := os.ReadFile(p); err == nil {
				mi.Named[strings.TrimSuffix(filepath.Base(p), ".jinja")] = string(b)
			}
		}
		return mi, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.json")); err == nil {
		var ct map[string]json.RawMessage
		if err := json.Unmarshal(b, &ct); err != nil {
			return mi, fmt.Errorf("%s: %w", filepath.Join(dir, "chat_template.json"), err)
		}
		if err := setTemplates(&mi, ct["chat_template"]); err != nil {
			return mi, fmt.Errorf("%s: %w", filepath.Join(dir, "chat_template.json"), err)
		}
		return mi, nil
	}
	if err := setTemplates(&mi, cfg["chat_template"]); err != nil {
		return mi, fmt.Errorf("%s: %w", cfgPath, err)
	}
	return mi, nil
}

func setTemplates(mi *ModelInfo, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		mi.Template = s
		return nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return fmt.Errorf("chat_template must be a string or a list of {name, template}")
	}
	for _, n := range named {
		if n.Name == "default" {
			mi.Template = n.Template
		} else {
			mi.Named[n.Name] = n.Template
		}
	}
	return nil
}

// tokenText reads a special token given as a string or as an AddedToken
// object ({"content": ...}).
func tokenText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil {
		return obj.Content
	}
	return ""
}
