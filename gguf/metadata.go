package gguf

import "fmt"

// Metadata is an ordered set of GGUF key/value pairs with lookup by key. It
// is also the common currency for model hyperparameters: loaders of other
// formats describe a model with the same keys llama.cpp uses
// ("llama.embedding_length", "tokenizer.ggml.tokens", ...).
type Metadata struct {
	KV    []KV
	index map[string]int
}

// Get returns the entry for key.
func (m *Metadata) Get(key string) (KV, bool) {
	if m.index == nil && len(m.KV) > 0 {
		m.reindex()
	}
	i, ok := m.index[key]
	if !ok {
		return KV{}, false
	}
	return m.KV[i], true
}

func (m *Metadata) reindex() {
	m.index = make(map[string]int, len(m.KV))
	for i, kv := range m.KV {
		m.index[kv.Key] = i
	}
}

// Set adds or replaces key with a Go value (see Writer.Set for the types).
func (m *Metadata) Set(key string, v any) error {
	vt, val, err := typed(v)
	if err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	m.SetKV(KV{Key: key, Type: vt, Value: val})
	return nil
}

// SetKV adds or replaces an already typed entry.
func (m *Metadata) SetKV(kv KV) {
	if m.index == nil {
		m.reindex()
	}
	if i, ok := m.index[kv.Key]; ok {
		m.KV[i] = kv
		return
	}
	m.index[kv.Key] = len(m.KV)
	m.KV = append(m.KV, kv)
}

// Delete removes key if present.
func (m *Metadata) Delete(key string) {
	if m.index == nil {
		m.reindex()
	}
	i, ok := m.index[key]
	if !ok {
		return
	}
	m.KV = append(m.KV[:i:i], m.KV[i+1:]...)
	m.reindex()
}

// String returns a string value, or "" when absent or not a string.
func (m *Metadata) String(key string) string {
	kv, _ := m.Get(key)
	s, _ := kv.Value.(string)
	return s
}

// Uint returns a non-negative integer value of any width and whether it was
// present and integral.
func (m *Metadata) Uint(key string) (uint64, bool) {
	kv, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	return toUint(kv.Value)
}

// Float returns a numeric value as float64.
func (m *Metadata) Float(key string) (float64, bool) {
	kv, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	if u, ok := toUint(kv.Value); ok {
		return float64(u), true
	}
	return 0, false
}

// Bool returns a bool value and whether it was present.
func (m *Metadata) Bool(key string) (bool, bool) {
	kv, ok := m.Get(key)
	if !ok {
		return false, false
	}
	b, ok := kv.Value.(bool)
	return b, ok
}

// Strings returns a string-array value (nil when absent).
func (m *Metadata) Strings(key string) []string {
	kv, _ := m.Get(key)
	if a, ok := kv.Value.(Array); ok {
		s, _ := a.Values.([]string)
		return s
	}
	return nil
}

// Architecture is general.architecture ("llama", "qwen2", ...).
func (m *Metadata) Architecture() string { return m.String("general.architecture") }

func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}
