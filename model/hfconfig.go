package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// hfConfig is a parsed config.json, numbers kept as json.Number so that
// integers and floats keep their exact values.
type hfConfig map[string]any

// maxConfigSize bounds config.json; real ones are a few KB.
const maxConfigSize = 16 << 20

func readHFConfig(path string) (hfConfig, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than any real config.json", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var c hfConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", path, err)
	}
	if c == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return c, nil
}

// has reports whether key is present and not null.
func (c hfConfig) has(key string) bool { v, ok := c[key]; return ok && v != nil }

// find returns the first of keys that is present and not null, like
// convert_hf_to_gguf.py's find_hparam.
func (c hfConfig) find(keys ...string) (any, string, bool) {
	for _, k := range keys {
		if c.has(k) {
			return c[k], k, true
		}
	}
	return nil, "", false
}

func (c hfConfig) float(keys ...string) (float64, bool) {
	v, _, ok := c.find(keys...)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

func (c hfConfig) int(keys ...string) (int64, bool) {
	v, _, ok := c.find(keys...)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true
		}
		f, err := x.Float64()
		if err == nil && f == float64(int64(f)) {
			return int64(f), true
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	return 0, false
}

func (c hfConfig) str(key string) string {
	s, _ := c[key].(string)
	return s
}

func (c hfConfig) obj(key string) hfConfig {
	m, _ := c[key].(map[string]any)
	return hfConfig(m)
}

func (c hfConfig) strings(key string) []string {
	a, _ := c[key].([]any)
	var out []string
	for _, v := range a {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// flatten merges a nested text_config into the top level, as llama.cpp's
// converter does for multimodal checkpoints (Gemma 3).
func (c hfConfig) flatten() hfConfig {
	tc := c.obj("text_config")
	if tc == nil {
		return c
	}
	out := make(hfConfig, len(c)+len(tc))
	for k, v := range c {
		out[k] = v
	}
	for k, v := range tc {
		out[k] = v
	}
	return out
}

// ropeParams returns the RoPE settings in the newer rope_parameters form,
// built from the classic rope_theta/rope_scaling keys when needed, exactly
// as convert_hf_to_gguf.py's TextModel does: rope_parameters wins over
// rope_scaling, and rope_theta/"type" are mirrored into it.
func (c hfConfig) ropeParams() hfConfig {
	rp := hfConfig{}
	src := c.obj("rope_parameters")
	if src == nil {
		src = c.obj("rope_scaling")
	}
	for k, v := range src {
		rp[k] = v
	}
	if !rp.has("full_attention") && !rp.has("sliding_attention") {
		if v, _, ok := c.find("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"); ok {
			rp["sliding_attention"] = map[string]any{"rope_theta": v}
		}
		if !rp.has("rope_theta") {
			if v, _, ok := c.find("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"); ok {
				rp["rope_theta"] = v
			}
		}
		if !rp.has("rope_type") && rp.has("type") {
			rp["rope_type"] = rp["type"]
		}
	}
	return rp
}

// fullRope is the parameters that apply to full-attention layers.
func (rp hfConfig) fullRope() hfConfig {
	if f := rp.obj("full_attention"); f != nil {
		return f
	}
	return rp
}
