package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/chat"
	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/tokenizer"
)

// EngineLoader loads models with ferry's CPU engine.
type EngineLoader struct {
	Threads     int    // 0: the engine's default (physical cores)
	KVCacheType string // "f16" (default), "q8_0", "f32"
	MaxContext  int    // cap on a model's default context; default 4096
}

// kvBytesPerElem is the size of one cached K/V element per cache type.
func kvBytesPerElem(t string) float64 {
	switch strings.ToLower(t) {
	case "f32":
		return 4
	case "q8_0":
		return 34.0 / 32
	}
	return 2
}

// contextFor picks the per-sequence context: the request's num_ctx, or the
// model's training context capped at MaxContext.
func (l *EngineLoader) contextFor(m *model.Model, numCtx int) int {
	if numCtx > 0 {
		return numCtx
	}
	maxc := l.MaxContext
	if maxc <= 0 {
		maxc = 4096
	}
	c, _ := m.ArchUint("context_length")
	if c == 0 || int(c) > maxc {
		return maxc
	}
	return int(c)
}

// kvPageTokens is the engine's KV-cache page size: sequences hold whole
// pages and forks share them.
const kvPageTokens = 32

// cacheTokens is the KV capacity for parallel sequences of ctx positions:
// each may hold ctx rounded up to whole pages, so every slot can fill its
// context at once, and a write into a page shared by a fork always finds
// a free page to copy it to (sharing leaves at least one unused).
func cacheTokens(ctx, parallel int) int {
	return (ctx + kvPageTokens - 1) / kvPageTokens * kvPageTokens * max(parallel, 1)
}

// Estimate is the weights' bytes plus a full KV cache for parallel
// sequences of the chosen context. Weights are mmapped, so their bytes
// count fully: they become resident as soon as the model runs.
func (l *EngineLoader) Estimate(sm *store.Model, numCtx, parallel int) (int64, error) {
	m, err := model.Open(sm.Path)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	return l.estimate(m, numCtx, parallel), nil
}

func (l *EngineLoader) estimate(m *model.Model, numCtx, parallel int) int64 {
	var weights int64
	for _, t := range m.Tensors {
		weights += int64(len(t.Data))
	}
	layers, _ := m.ArchUint("block_count")
	dim, _ := m.ArchUint("embedding_length")
	heads, _ := m.ArchUint("attention.head_count")
	kvHeads, ok := m.ArchUint("attention.head_count_kv")
	if !ok {
		kvHeads = heads
	}
	headDim := uint64(0)
	if heads > 0 {
		headDim = dim / heads
	}
	if k, ok := m.ArchUint("attention.key_length"); ok {
		headDim = k
	}
	valDim := headDim
	if v, ok := m.ArchUint("attention.value_length"); ok {
		valDim = v
	}
	tokens := float64(cacheTokens(l.contextFor(m, numCtx), parallel))
	kv := tokens * float64(layers) * float64(kvHeads*(headDim+valDim)) * kvBytesPerElem(l.KVCacheType)
	return weights + int64(kv)
}

// Load opens the model, builds the engine with a KV cache shared by
// parallel sequences, its tokenizer and chat template.
func (l *EngineLoader) Load(sm *store.Model, numCtx, parallel int) (*Loaded, error) {
	m, err := model.Open(sm.Path)
	if err != nil {
		return nil, err
	}
	ctx := l.contextFor(m, numCtx)
	e, err := engine.Load(m, engine.Options{Threads: l.Threads, Context: ctx, CacheTokens: cacheTokens(ctx, parallel), KVCacheType: l.KVCacheType})
	if err != nil {
		m.Close()
		return nil, err
	}
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		e.Close()
		m.Close()
		return nil, fmt.Errorf("%s: tokenizer: %w", sm.Path, err)
	}
	b := &engineBackend{m: m, e: e, tok: tok, info: chat.InfoFromMetadata(&m.Metadata), ctx: ctx, fim: findFIM(&m.Metadata, tok)}
	if sm.Template != "" {
		b.info.Template = sm.Template
	}
	return &Loaded{Backend: b, Size: l.estimate(m, numCtx, parallel)}, nil
}

// engineBackend adapts engine + tokenizer + chat to Backend.
type engineBackend struct {
	m    *model.Model
	e    *engine.Engine
	tok  *tokenizer.Tokenizer
	info chat.ModelInfo
	ctx  int
	rows []engine.SeqTokens
	fim  fimIDs
}

// fimIDs are a model's fill-in-the-middle tokens.
type fimIDs struct {
	pre, suf, mid int32
	ok            bool
}

// fimKeys are the GGUF keys of the FIM tokens (llama.cpp's, then the older
// CodeLlama names), fimTexts the token texts llama.cpp looks for when the
// keys are absent, per family.
var (
	fimKeys = [3][]string{
		{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
		{"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
		{"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
	}
	fimTexts = [3][]string{
		{"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<fim_prefix>"},
		{"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<fim_suffix>"},
		{"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<fim_middle>"},
	}
)

// findFIM reads the FIM token ids from the metadata, else finds them in
// the vocabulary by text; ok only when all three exist.
func findFIM(md *gguf.Metadata, tok *tokenizer.Tokenizer) fimIDs {
	return fimFromMetadata(md, tok.VocabSize(), tok.ID)
}

// fimFromMetadata is findFIM over any vocabulary: vocab is its size and id
// looks a token up by text. /api/show uses it on the GGUF's token list, so
// the insert capability means exactly what loading the model finds.
func fimFromMetadata(md *gguf.Metadata, vocab int, id func(string) (int32, bool)) fimIDs {
	var ids [3]int32
	for i := range ids {
		ids[i] = -1
		for _, k := range fimKeys[i] {
			if v, ok := md.Uint(k); ok && v < uint64(vocab) {
				ids[i] = int32(v)
				break
			}
		}
		for _, t := range fimTexts[i] {
			if ids[i] >= 0 {
				break
			}
			if v, ok := id(t); ok {
				ids[i] = v
			}
		}
		if ids[i] < 0 {
			return fimIDs{}
		}
	}
	return fimIDs{pre: ids[0], suf: ids[1], mid: ids[2], ok: true}
}

// FIM implements Infiller.
func (b *engineBackend) FIM() (pre, suf, mid int32, ok bool) {
	return b.fim.pre, b.fim.suf, b.fim.mid, b.fim.ok
}

// TokenizeText implements Infiller.
func (b *engineBackend) TokenizeText(text string) ([]int32, error) {
	return b.tok.Encode(text, false, false)
}

// BOS implements Infiller.
func (b *engineBackend) BOS() (int32, bool) { return b.tok.BOS(), b.tok.AddBOS() }

type engineSeq struct {
	e    *engine.Engine
	s    *engine.Seq
	pool *engine.Pooler // the embedding being fed into s, if any
}

func (s *engineSeq) Len() int             { return s.s.Len() }
func (s *engineSeq) Truncate(n int) error { return s.s.Truncate(n) }
func (s *engineSeq) Free()                { s.e.Free(s.s) }

func (b *engineBackend) Tokenize(text string, addBOS bool) ([]int32, error) {
	ids, err := b.tok.Encode(text, addBOS, true)
	if err != nil {
		return nil, err
	}
	// A template that writes the BOS text itself plus the BOS Encode adds
	// would give two; llama.cpp warns about it, ferry drops one.
	if addBOS && len(ids) >= 2 && ids[0] == b.tok.BOS() && ids[1] == b.tok.BOS() && b.tok.AddBOS() {
		ids = ids[1:]
	}
	return ids, nil
}

func (b *engineBackend) TokenBytes(id int32) []byte { return []byte(b.tok.Piece(id, false)) }
func (b *engineBackend) IsEOG(id int32) bool        { return b.tok.IsEOG(id) }
func (b *engineBackend) VocabSize() int             { return b.e.Vocab() }
func (b *engineBackend) ContextLength() int         { return b.ctx }

func (b *engineBackend) NewSeq() (Seq, error) { return &engineSeq{e: b.e, s: b.e.NewSeq()}, nil }

// Fork shares src's first n positions through the engine's copy-on-write
// pages: the cache holds them once, so forking never takes more memory
// than the --parallel x context estimate.
func (b *engineBackend) Fork(src Seq, n int) (Seq, error) {
	es, ok := src.(*engineSeq)
	if !ok || es.e != b.e {
		return nil, errors.New("fork of a sequence from another backend")
	}
	f, err := b.e.Fork(es.s, n)
	if err != nil {
		return nil, err
	}
	return &engineSeq{e: b.e, s: f}, nil
}

func (b *engineBackend) Forward(items []BatchItem) error {
	b.rows = b.rows[:0]
	for _, it := range items {
		b.rows = append(b.rows, engine.SeqTokens{Seq: it.Seq.(*engineSeq).s, Tokens: it.Tokens})
	}
	out, err := b.e.Step(b.rows)
	if err != nil {
		return err
	}
	if len(out) != len(items) {
		return fmt.Errorf("engine returned %d logits rows for %d sequences", len(out), len(items))
	}
	for i, it := range items {
		if it.Logits != nil {
			copy(it.Logits, out[i])
		}
	}
	return nil
}

// EmbedStep runs a chunk as a hidden-state step (no output projection)
// and pools it with the engine's Pooler; a reranker's pooling (rank) is
// refused.
func (b *engineBackend) EmbedStep(seq Seq, chunk []int32, start, done bool) ([]float32, error) {
	es := seq.(*engineSeq)
	if start {
		p := b.e.Pooling()
		if p == engine.PoolingRank {
			return nil, errf(http.StatusBadRequest, "%s: pooling type %v (a reranker) does not produce embeddings", b.m.Path, p)
		}
		pl, err := engine.NewPooler(p, b.e.Config().Dim)
		if err != nil {
			return nil, err
		}
		if err := es.s.Truncate(0); err != nil {
			return nil, err
		}
		es.pool = pl
	}
	if es.pool == nil {
		return nil, errors.New("embedding chunk without a start")
	}
	rows, err := b.e.Step([]engine.SeqTokens{{Seq: es.s, Tokens: chunk, AllLogits: es.pool.AllRows(), Hidden: true}})
	if err != nil {
		es.s.Truncate(0)
		es.pool = nil
		return nil, err
	}
	es.pool.Add(rows, len(chunk))
	if !done {
		return nil, nil
	}
	v := es.pool.Vector()
	es.pool = nil
	return v, nil
}

// Render uses the request's template (a Modelfile TEMPLATE), else the
// model's chat template. A model without one (a base model such as
// stories260K) gets the messages' contents joined by blank lines, so
// /api/generate sends the prompt as it is.
func (b *engineBackend) Render(r RenderRequest) (string, error) {
	tmpl := r.Template
	if tmpl == "" {
		tmpl = b.info.TemplateFor(len(r.Tools) > 0)
	}
	if tmpl == "" {
		var parts []string
		for _, m := range r.Messages {
			if m.Content != "" {
				parts = append(parts, m.Content)
			}
		}
		return strings.Join(parts, "\n\n"), nil
	}
	o := chat.RenderOptions{AddGenerationPrompt: r.AddGenerationPrompt, BOS: b.info.BOS, EOS: b.info.EOS}
	if r.Think != nil {
		// Ollama Go templates read .Think; Qwen3-style Jinja templates
		// read enable_thinking.
		o.Think = r.Think
		o.Extra = map[string]any{"enable_thinking": *r.Think}
	}
	for _, m := range r.Messages {
		cm := chat.Message{Role: m.Role, Content: m.Content, Thinking: m.Thinking, ToolCallID: m.ToolCallID, Name: m.ToolName}
		for _, tc := range m.ToolCalls {
			args, _ := json.Marshal(tc.Function.Arguments)
			cm.ToolCalls = append(cm.ToolCalls, chat.ToolCall{ID: tc.ID, Type: "function", Function: chat.ToolCallFunction{Index: tc.Function.Index, Name: tc.Function.Name, Arguments: args}})
		}
		o.Messages = append(o.Messages, cm)
	}
	if len(r.Tools) > 0 {
		tools, err := json.Marshal(r.Tools)
		if err != nil {
			return "", err
		}
		o.Tools = tools
	}
	return chat.Render(tmpl, o)
}

// ChatTemplate is the template Render uses without a request template.
func (b *engineBackend) ChatTemplate(withTools bool) string { return b.info.TemplateFor(withTools) }

func (b *engineBackend) Close() error {
	return errors.Join(b.e.Close(), b.m.Close())
}
