package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/llama2c"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/safetensors"
	"github.com/ferryhq/ferry/tokenizer"
)

func inspectLlama2C(path string) (*Report, error) {
	f, err := llama2c.ReadHeader(path)
	if err != nil {
		return nil, err
	}
	c := f.Config
	r := &Report{Path: path, Format: "llama2c", Architecture: "llama", FileSize: f.Size}
	hist := typeHist{}
	for _, t := range f.Tensors {
		n := uint64(t.Elements())
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		r.Tensors = append(r.Tensors, TensorRow{Name: t.Name, Type: "F32", Shape: shape, Offset: uint64(t.Offset), Bytes: uint64(t.Size)})
		if strings.HasPrefix(t.Name, "freq_cis") {
			continue // obsolete RoPE tables, not weights
		}
		r.Parameters += n
		hist.add("F32", n, uint64(t.Size))
	}
	r.TensorCount = len(r.Tensors)
	r.Types = hist.list()
	r.Hparams = Hparams{ContextLength: uint64(c.SeqLen), EmbeddingLength: uint64(c.Dim), BlockCount: uint64(c.NLayers),
		FeedForwardLength: uint64(c.HiddenDim), HeadCount: uint64(c.NHeads), HeadCountKV: uint64(c.NKVHeads), RopeFreqBase: 10000}
	r.Vocab = &Vocab{Size: c.VocabSize}
	if c.SharedClassifier {
		r.Notes = append(r.Notes, "classifier shared with the token embeddings")
	} else {
		r.Notes = append(r.Notes, "separate classifier (wcls)")
	}
	if tok := llama2c.FindVocab(path, c.VocabSize); tok != "" {
		r.Vocab.Tokenizer = "SentencePiece (llama2.c tokenizer file)"
		r.Vocab.Files = []string{filepath.Base(tok)}
		r.Next = "next: ferry convert " + quote(path) + " --to gguf -o model.gguf   (or ferry run " + quote(path) + ")"
	} else {
		r.Notes = append(r.Notes, "no tokenizer file (tokenizer.bin, tok*.bin) with "+strconv.Itoa(c.VocabSize)+" tokens next to it")
		r.Next = "next: put the tokenizer file (tokenizer.bin) next to it, then ferry convert " + quote(path) + " --to gguf"
	}
	return r, nil
}

// config is a parsed config.json with json.Number numbers.
type config map[string]any

func readConfig(path string) (config, error) {
	var c config
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("%s: %d bytes, larger than any real config.json", path, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", path, err)
	}
	return c, nil
}

func (c config) num(keys ...string) (float64, bool) {
	for _, k := range keys {
		if n, ok := c[k].(json.Number); ok {
			f, err := n.Float64()
			return f, err == nil
		}
	}
	return 0, false
}

func (c config) u(keys ...string) uint64 {
	f, ok := c.num(keys...)
	if !ok || f < 0 {
		return 0
	}
	return uint64(f)
}

func (c config) str(k string) string { s, _ := c[k].(string); return s }

func (c config) obj(k string) config {
	m, _ := c[k].(map[string]any)
	return config(m)
}

func isSafetensors(path string, head []byte, size int64) bool {
	if !strings.HasSuffix(path, ".safetensors") || len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n+8 <= uint64(size) && head[8] == '{'
}

func inspectSafetensorsFile(path string) (*Report, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &Report{Path: path, Format: "safetensors", FileSize: fileSize(path)}
	addSafetensors(r, []*safetensors.File{f}, nil)
	r.Next = "next: ferry inspect the folder holding it with its config.json"
	return r, nil
}

// inspectHF reports a Hugging Face or MLX folder from config.json, the
// safetensors headers and the tokenizer files.
func inspectHF(dir string) (*Report, error) {
	cfg, err := readConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	r := &Report{Path: dir, Format: "safetensors"}
	q := mlxQuant(cfg)
	if q != nil {
		r.Format = "mlx"
		r.Quantization = q
	}
	for _, f := range set.Files {
		r.Files = append(r.Files, filepath.Base(f.Path))
		r.FileSize += fileSize(f.Path)
	}
	addSafetensors(r, set.Files, q)
	addHFFolder(r, dir, cfg)
	return r, nil
}

// addHFFolder adds what a Hugging Face folder tells beside its weights:
// hyperparameters from config.json and the tokenizer files.
func addHFFolder(r *Report, dir string, cfg config) {
	hfHparams(r, dir, cfg)
	r.Vocab, r.ChatTemplate = hfTokenizer(dir, cfg)
	if r.Vocab != nil {
		r.FileSize += filesSize(dir, r.Vocab.Files)
	}
	if r.Architecture != "" {
		r.Next = "next: ferry convert " + quote(dir) + " --to gguf -o model.gguf   (or ferry run " + quote(dir) + ")"
	} else {
		r.Next = "next: ferry cannot convert this architecture yet"
	}
}

func filesSize(dir string, names []string) int64 {
	var n int64
	for _, f := range names {
		n += fileSize(filepath.Join(dir, f))
	}
	return n
}

func hfHparams(r *Report, dir string, cfg config) {
	arch, class, err := model.HFArchitecture(dir)
	if err != nil {
		r.Notes = append(r.Notes, err.Error())
	}
	r.Architecture, r.SourceArch = arch, class
	if r.SourceArch == "" {
		r.SourceArch = cfg.str("model_type")
	}
	// Multimodal configs (Gemma 3) keep the language model in text_config.
	if tc := cfg.obj("text_config"); tc != nil {
		for k, v := range cfg {
			if _, ok := tc[k]; !ok {
				tc[k] = v
			}
		}
		cfg = tc
	}
	h := Hparams{
		ContextLength:     cfg.u("max_position_embeddings", "n_positions", "max_sequence_length"),
		EmbeddingLength:   cfg.u("hidden_size", "n_embd", "d_model"),
		BlockCount:        cfg.u("num_hidden_layers", "n_layer", "num_layers"),
		FeedForwardLength: cfg.u("intermediate_size", "n_inner", "moe_intermediate_size"),
		HeadCount:         cfg.u("num_attention_heads", "n_head"),
		HeadCountKV:       cfg.u("num_key_value_heads", "n_head_kv"),
		KeyLength:         cfg.u("head_dim"),
		ExpertCount:       cfg.u("num_local_experts", "num_experts"),
		ExpertUsedCount:   cfg.u("num_experts_per_tok"),
		SlidingWindow:     cfg.u("sliding_window"),
	}
	if h.HeadCountKV == 0 {
		h.HeadCountKV = h.HeadCount
	}
	h.ValueLength = h.KeyLength
	rp := cfg.obj("rope_parameters")
	// Gemma 3 style: one rope_parameters entry per attention type; the
	// global ("full") layers' base is llama.cpp's rope.freq_base.
	if full := rp.obj("full_attention"); full != nil {
		rp = full
	}
	if v, ok := cfg["use_sliding_window"].(bool); ok && !v {
		h.SlidingWindow = 0
	}
	if base, ok := cfg.num("rope_theta"); ok {
		h.RopeFreqBase = base
	} else if base, ok := rp.num("rope_theta"); ok {
		h.RopeFreqBase = base
	}
	for _, rs := range []config{cfg.obj("rope_scaling"), rp} {
		if t := rs.str("rope_type"); t != "" && t != "default" {
			h.RopeScaling = t
			break
		}
		if t := rs.str("type"); t != "" && t != "default" {
			h.RopeScaling = t
			break
		}
	}
	r.Hparams = h
}

// hfTokenizer reads tokenizer.json / tokenizer.model / tokenizer_config.json.
func hfTokenizer(dir string, cfg config) (*Vocab, bool) {
	v := &Vocab{}
	chat := false
	if n, kind, ok := tokenizerJSON(filepath.Join(dir, "tokenizer.json")); ok {
		v.Size, v.Tokenizer = n, kind
		v.Files = append(v.Files, "tokenizer.json")
	}
	if n, ok := sentencePieceModel(filepath.Join(dir, "tokenizer.model")); ok {
		if v.Size == 0 {
			v.Size, v.Tokenizer = n, "SentencePiece"
		}
		v.Files = append(v.Files, "tokenizer.model")
	}
	if tc, err := readConfig(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		v.Files = append(v.Files, "tokenizer_config.json")
		if t, ok := tc["chat_template"]; ok && t != nil {
			chat = true
		}
	}
	for _, f := range []string{"chat_template.jinja", "chat_template.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			chat = true
			v.Files = append(v.Files, f)
		}
	}
	// The model's vocabulary (embedding rows) can exceed the tokenizer's.
	if n := cfg.u("vocab_size"); n > 0 {
		if v.Size > 0 && uint64(v.Size) != n {
			v.Tokenizer += fmt.Sprintf(" (%d tokens in the tokenizer)", v.Size)
		}
		v.Size = int(n)
	} else if tc := cfg.obj("text_config"); tc != nil && tc.u("vocab_size") > 0 {
		v.Size = int(tc.u("vocab_size"))
	}
	if v.Size == 0 && len(v.Files) == 0 {
		return nil, chat
	}
	return v, chat
}

// tokenizerJSON counts the tokens of a tokenizers-library file: the
// largest id in model.vocab and added_tokens, plus one.
func tokenizerJSON(path string) (int, string, bool) {
	// The largest real tokenizer.json files are ~35 MB.
	if st, err := os.Stat(path); err != nil || st.Size() > 256<<20 {
		return 0, "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	var tj struct {
		Model struct {
			Type  string          `json:"type"`
			Vocab json.RawMessage `json:"vocab"`
		} `json:"model"`
		Added []struct {
			ID int `json:"id"`
		} `json:"added_tokens"`
		PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		return 0, "", false
	}
	maxID := -1
	var byName map[string]int
	var list []json.RawMessage
	if json.Unmarshal(tj.Model.Vocab, &byName) == nil {
		for _, id := range byName {
			maxID = max(maxID, id)
		}
	} else if json.Unmarshal(tj.Model.Vocab, &list) == nil {
		maxID = len(list) - 1
	}
	for _, a := range tj.Added {
		maxID = max(maxID, a.ID)
	}
	kind := tj.Model.Type
	if kind == "" {
		kind = "tokenizer.json"
	}
	if kind == "BPE" && bytes.Contains(tj.PreTokenizer, []byte(`"ByteLevel"`)) {
		kind = "BPE (byte-level)"
	}
	return maxID + 1, kind, maxID >= 0
}

// sentencePieceModel counts the pieces of a SentencePiece tokenizer.model.
// Files over 64 MiB are not read: real ones are a few MB.
func sentencePieceModel(path string) (int, bool) {
	if st, err := os.Stat(path); err != nil || st.Size() > 64<<20 {
		return 0, false
	}
	m, err := tokenizer.ReadSPModel(path)
	if err != nil {
		return 0, false
	}
	return len(m.Pieces), true
}

// mlxQuant reads config.json "quantization" (or "quantization_config").
// Keys besides group_size/bits/mode are per-layer overrides: an object
// with their own group_size/bits, or false for a layer left unquantized.
func mlxQuant(cfg config) *Quantization {
	qc := cfg.obj("quantization")
	if qc == nil {
		return nil
	}
	q := &Quantization{GroupSize: int(qc.u("group_size")), Bits: int(qc.u("bits")), Mode: qc.str("mode")}
	if q.Mode == "" {
		q.Mode = "affine"
	}
	for k, v := range qc {
		switch k {
		case "group_size", "bits", "mode":
			continue
		}
		switch x := v.(type) {
		case bool:
			q.Overrides = append(q.Overrides, Override{Path: k, Quantized: x, GroupSize: q.GroupSize, Bits: q.Bits})
		case map[string]any:
			o := config(x)
			q.Overrides = append(q.Overrides, Override{Path: k, Quantized: true, GroupSize: int(o.u("group_size")), Bits: int(o.u("bits"))})
		}
	}
	sort.Slice(q.Overrides, func(i, j int) bool { return q.Overrides[i].Path < q.Overrides[j].Path })
	return q
}

// bitsFor returns the quantization bits of the module whose weight is
// name ("model.layers.0.mlp.down_proj.weight").
func (q *Quantization) bitsFor(name string) (bits, group int) {
	mod := strings.TrimSuffix(name, ".weight")
	for _, o := range q.Overrides {
		if o.Path == mod && o.Quantized {
			return o.Bits, o.GroupSize
		}
	}
	return q.Bits, q.GroupSize
}

// addSafetensors fills tensors, parameters and the type histogram. With an
// MLX quantization, a packed uint32 weight with a .scales sibling counts
// 32/bits parameters per element, and its scales and biases count toward
// its type's bytes ("Q4 g64") rather than as parameters.
func addSafetensors(r *Report, files []*safetensors.File, q *Quantization) {
	names := map[string]bool{}
	for _, f := range files {
		for i := range f.Tensors {
			names[f.Tensors[i].Name] = true
		}
	}
	hist := typeHist{}
	for _, f := range files {
		base := filepath.Base(f.Path)
		for i := range f.Tensors {
			t := &f.Tensors[i]
			r.Tensors = append(r.Tensors, TensorRow{Name: t.Name, Type: string(t.DType), Shape: t.Shape, Offset: t.Begin, Bytes: t.Size(), File: base})
			n := t.Elements()
			typ := string(t.DType)
			if q != nil {
				stem, isAux := strings.CutSuffix(t.Name, ".scales")
				if !isAux {
					stem, isAux = strings.CutSuffix(t.Name, ".biases")
				}
				if isAux && names[stem+".weight"] {
					bits, group := q.bitsFor(stem + ".weight")
					hist.addBytes(fmt.Sprintf("MLX Q%d g%d", bits, group), t.Size())
					continue
				}
				if stem, ok := strings.CutSuffix(t.Name, ".weight"); ok && names[stem+".scales"] && t.DType == safetensors.U32 {
					bits, group := q.bitsFor(t.Name)
					if bits > 0 {
						n = n * 32 / uint64(bits)
					}
					typ = fmt.Sprintf("MLX Q%d g%d", bits, group)
				}
			}
			r.Parameters += n
			hist.add(typ, n, t.Size())
		}
	}
	r.TensorCount = len(r.Tensors)
	r.Types = hist.list()
}

// addBytes adds storage to a type without counting a tensor or elements.
func (h typeHist) addBytes(typ string, bytes uint64) {
	s := h[typ]
	if s == nil {
		s = &TypeStat{Type: typ}
		h[typ] = s
	}
	s.Bytes += bytes
}
