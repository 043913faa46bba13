package inspect

import (
	"fmt"
	"math"
	"strings"

	"github.com/ferryhq/ferry/gguf"
)

func inspectGGUF(path string) (*Report, error) {
	// Only the header is read (no mapping), so a 40 GB file costs what a
	// small one does on every platform.
	f, err := gguf.ReadHeader(path)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Path:         path,
		Format:       "gguf",
		Version:      fmt.Sprintf("GGUF v%d", f.Version),
		Architecture: f.Architecture(),
		Name:         f.String("general.name"),
		FileSize:     int64(f.Size),
		Alignment:    f.Alignment,
		TensorCount:  len(f.Tensors),
	}
	hist := typeHist{}
	r.Tensors = make([]TensorRow, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		n := t.Elements()
		r.Parameters += n
		hist.add(t.Type.String(), n, t.Size)
		r.Tensors[i] = TensorRow{Name: t.Name, Type: t.Type.String(), Shape: t.Shape, Offset: t.Offset, Bytes: t.Size}
	}
	r.Types = hist.list()
	r.Metadata = make([]Entry, len(f.KV))
	for i, kv := range f.KV {
		r.Metadata[i] = entry(kv)
	}
	r.Hparams = ggufHparams(&f.Metadata)
	if toks := f.Strings("tokenizer.ggml.tokens"); toks != nil {
		model := f.String("tokenizer.ggml.model")
		r.Vocab = &Vocab{Size: len(toks), Tokenizer: tokenizerKind(model), Pre: f.String("tokenizer.ggml.pre")}
	}
	_, r.ChatTemplate = f.Get("tokenizer.chat_template")
	if n, ok := f.Uint("split.count"); ok && n > 1 {
		no, _ := f.Uint("split.no")
		r.Notes = append(r.Notes, fmt.Sprintf("split GGUF: this is part %d of %d; counts cover this part only", no+1, n))
	}
	switch {
	case len(f.Tensors) == 0 && r.Vocab != nil:
		r.Notes = append(r.Notes, "vocabulary only: no tensors")
		r.Next = "next: ferry tokenize " + quote(path) + " \"some text\""
	case len(f.Tensors) == 0:
		r.Next = "next: nothing to run: the file has no tensors"
	default:
		r.Next = "next: ferry run " + quote(path)
	}
	return r, nil
}

// tokenizerKind names the algorithm behind a tokenizer.ggml.model value.
func tokenizerKind(model string) string {
	switch model {
	case "llama":
		return "SentencePiece (llama)"
	case "gpt2":
		return "BPE (gpt2)"
	case "bert":
		return "WordPiece (bert)"
	case "t5":
		return "Unigram (t5)"
	case "rwkv":
		return "RWKV (rwkv)"
	case "":
		return ""
	}
	return model
}

func ggufHparams(md *gguf.Metadata) Hparams {
	a := md.Architecture() + "."
	u := func(k string) uint64 { v, _ := md.Uint(a + k); return v }
	h := Hparams{
		ContextLength:     u("context_length"),
		EmbeddingLength:   u("embedding_length"),
		BlockCount:        u("block_count"),
		FeedForwardLength: u("feed_forward_length"),
		HeadCount:         u("attention.head_count"),
		HeadCountKV:       u("attention.head_count_kv"),
		KeyLength:         u("attention.key_length"),
		ValueLength:       u("attention.value_length"),
		ExpertCount:       u("expert_count"),
		ExpertUsedCount:   u("expert_used_count"),
		SlidingWindow:     u("attention.sliding_window"),
	}
	h.RopeFreqBase, _ = md.Float(a + "rope.freq_base")
	h.RopeScaling = md.String(a + "rope.scaling.type")
	// Some architectures store per-layer head counts as arrays.
	if kv, ok := md.Get(a + "attention.head_count_kv"); ok {
		if arr, ok := kv.Value.(gguf.Array); ok {
			h.KVHeadsPerLayer = uintArray(arr)
			h.HeadCountKV = 0
			if len(h.KVHeadsPerLayer) > 0 {
				h.HeadCountKV = h.KVHeadsPerLayer[0]
			}
		}
	}
	if kv, ok := md.Get(a + "attention.head_count"); ok {
		if arr, ok := kv.Value.(gguf.Array); ok {
			if v := uintArray(arr); len(v) > 0 {
				h.HeadCount = v[0]
			}
		}
	}
	if kv, ok := md.Get(a + "feed_forward_length"); ok {
		if arr, ok := kv.Value.(gguf.Array); ok {
			if v := uintArray(arr); len(v) > 0 {
				h.FeedForwardLength = v[0]
			}
		}
	}
	return h
}

func uintArray(a gguf.Array) []uint64 {
	var out []uint64
	switch v := a.Values.(type) {
	case []int32:
		for _, x := range v {
			out = append(out, uint64(max(x, 0)))
		}
	case []uint32:
		for _, x := range v {
			out = append(out, uint64(x))
		}
	case []int64:
		for _, x := range v {
			out = append(out, uint64(max(x, 0)))
		}
	case []uint64:
		out = append(out, v...)
	}
	return out
}

// entry converts a metadata value for reports: arrays become plain JSON
// arrays (nested ones too) and non-finite floats become strings, which
// JSON cannot hold as numbers.
func entry(kv gguf.KV) Entry {
	e := Entry{Key: kv.Key, Type: kv.Type.String(), Value: jsonValue(kv.Value), Short: shortValue(kv.Value, 0)}
	if a, ok := kv.Value.(gguf.Array); ok {
		e.Type = arrayType(a)
	}
	return e
}

func arrayType(a gguf.Array) string {
	if a.Type == gguf.TypeArray {
		if v, ok := a.Values.([]gguf.Array); ok && len(v) > 0 {
			return "array[" + arrayType(v[0]) + "]"
		}
	}
	return "array[" + a.Type.String() + "]"
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		return finite(float64(x))
	case float64:
		return finite(x)
	case gguf.Array:
		switch vs := x.Values.(type) {
		case []gguf.Array:
			out := make([]any, len(vs))
			for i, a := range vs {
				out[i] = jsonValue(a)
			}
			return out
		case []float32:
			for _, f := range vs {
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					out := make([]any, len(vs))
					for i, g := range vs {
						out[i] = finite(float64(g))
					}
					return out
				}
			}
		case []float64:
			for _, f := range vs {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					out := make([]any, len(vs))
					for i, g := range vs {
						out[i] = finite(g)
					}
					return out
				}
			}
		case []uint8:
			// encoding/json would write []byte as base64.
			out := make([]uint16, len(vs))
			for i, b := range vs {
				out[i] = uint16(b)
			}
			return out
		}
		return x.Values
	}
	return v
}

func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return f
}

// shortValue renders a value for text mode: strings quoted and cut,
// arrays as their length and first few elements.
func shortValue(v any, depth int) string {
	const maxStr, maxElems = 60, 6
	switch x := v.(type) {
	case string:
		if len(x) > maxStr {
			return fmt.Sprintf("%q… (%d bytes)", cutUTF8(x, maxStr), len(x))
		}
		return fmt.Sprintf("%q", x)
	case gguf.Array:
		n := x.Len()
		var parts []string
		for i := 0; i < n && i < maxElems; i++ {
			parts = append(parts, shortValue(index(x, i), depth+1))
		}
		s := "[" + strings.Join(parts, ", ")
		if n > maxElems {
			s += fmt.Sprintf(", … %d total", n)
		}
		return s + "]"
	}
	return fmt.Sprint(v)
}

func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func index(a gguf.Array, i int) any {
	switch v := a.Values.(type) {
	case []uint8:
		return v[i]
	case []int8:
		return v[i]
	case []uint16:
		return v[i]
	case []int16:
		return v[i]
	case []uint32:
		return v[i]
	case []int32:
		return v[i]
	case []float32:
		return v[i]
	case []bool:
		return v[i]
	case []string:
		return v[i]
	case []uint64:
		return v[i]
	case []int64:
		return v[i]
	case []float64:
		return v[i]
	case []gguf.Array:
		return v[i]
	}
	return nil
}

func isLegacy(head []byte) bool {
	_, ok := gguf.SniffLegacy(head)
	return ok
}

func inspectLegacy(path string, head []byte, size int64) (*Report, error) {
	l, _ := gguf.SniffLegacy(head)
	r := &Report{Path: path, Format: "ggml", Version: l.String(), FileSize: size}
	r.Legacy = &LegacyInfo{Format: l.Format, Version: l.Version, NVocab: l.NVocab, NEmbd: l.NEmbd, NMult: l.NMult,
		NHead: l.NHead, NLayer: l.NLayer, NRot: l.NRot, FType: l.FType, Convertible: l.Convertible(), Advice: l.Advice()}
	r.Notes = append(r.Notes, "legacy format, must be converted to GGUF: "+l.Advice())
	if l.HaveHparams {
		r.Hparams = Hparams{EmbeddingLength: uint64(l.NEmbd), BlockCount: uint64(l.NLayer), HeadCount: uint64(l.NHead)}
		r.Vocab = &Vocab{Size: int(l.NVocab)}
	}
	if l.Convertible() {
		r.Next = "next: python convert_llama_ggml_to_gguf.py --input " + quote(path) + " --output model.gguf (llama.cpp), then ferry inspect model.gguf"
	} else {
		r.Next = "next: convert the original weights instead: ferry convert HF_FOLDER --to gguf"
	}
	return r, nil
}

func quote(p string) string {
	if strings.ContainsAny(p, " \t'\"$`\\") {
		return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	return p
}
