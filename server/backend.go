// Package server serves models over Ollama's and OpenAI's HTTP APIs. It
// batches concurrent requests to the same model into shared decode steps
// (continuous batching), reuses the KV cache of a shared prompt prefix,
// keeps several models loaded within a memory budget, and manages the
// model store through the store package.
//
// The server talks to a loaded model only through the Backend interface, so
// the scheduler and the HTTP layer are tested with a deterministic fake as
// well as with the real engine.
package server

import (
	"github.com/ferryhq/ferry/api"
)

// Backend is a loaded model as the scheduler drives it.
type Backend interface {
	// Tokenize encodes a prompt. Special tokens written in the text (as
	// chat templates produce them) are parsed; addBOS adds the model's
	// beginning-of-sequence token when the model wants one.
	Tokenize(text string, addBOS bool) ([]int32, error)
	// TokenBytes is the raw bytes of one token (possibly part of a UTF-8
	// character); the scheduler reassembles characters.
	TokenBytes(id int32) []byte
	// IsEOG reports whether a token ends generation.
	IsEOG(id int32) bool
	// VocabSize is the length of a logits row.
	VocabSize() int
	// ContextLength is the number of positions one sequence may hold.
	ContextLength() int
	// NewSeq allocates a sequence (a KV-cache slot).
	NewSeq() (Seq, error)
	// Forward appends each item's tokens to its sequence in one batched
	// pass and writes the logits of each item's last token into
	// item.Logits (len VocabSize) when it is non-nil.
	Forward(items []BatchItem) error
	// Render turns a chat into prompt text with the model's template.
	Render(r RenderRequest) (string, error)
	// Close releases the model.
	Close() error
}

// Embedder is implemented by backends that can produce embeddings. The
// scheduler calls it on its own goroutine, between Forward calls, one
// chunk of at most NumBatch tokens at a time so a long input does not
// stall the other sequences' decoding.
type Embedder interface {
	// EmbedStep appends chunk to seq; start marks an embedding's first
	// chunk (seq is emptied first), done its last, after which it returns
	// the final hidden state pooled as the model asks (llama.cpp's
	// pooling_type; the last token for causal LMs without one), not
	// normalised. Before done it returns nil. On error seq is empty.
	EmbedStep(seq Seq, chunk []int32, start, done bool) ([]float32, error)
}

// Forker is implemented by backends whose sequences can share a prefix's
// KV cache: Fork returns a new sequence holding the first n positions of
// src without recomputing them (the engine shares whole cache pages and
// copies one only when either sequence writes into it). src stays valid
// and may keep growing. The scheduler calls it between Forward calls, on
// its own goroutine.
type Forker interface {
	Fork(src Seq, n int) (Seq, error)
}

// Infiller is implemented by backends whose model can fill in the middle
// (a suffix in /api/generate and /v1/completions).
type Infiller interface {
	// FIM returns the prefix, suffix and middle token ids; ok is false
	// when the model's vocabulary has none.
	FIM() (pre, suf, mid int32, ok bool)
	// TokenizeText encodes text without special tokens: no BOS, and
	// special-token text in it stays plain text.
	TokenizeText(text string) ([]int32, error)
	// BOS is the beginning-of-sequence token and whether the model wants
	// it at the start of a prompt.
	BOS() (int32, bool)
}

// Seq is one sequence's KV cache.
type Seq interface {
	// Len is the number of positions held.
	Len() int
	// Truncate drops positions from n on, so a new prompt can reuse the
	// first n.
	Truncate(n int) error
	// Free returns the slot's memory.
	Free()
}

// BatchItem is one sequence's share of a batched step.
type BatchItem struct {
	Seq    Seq
	Tokens []int32
	Logits []float32 // out: logits after the last token, if non-nil
}

// RenderRequest is what a chat template needs.
type RenderRequest struct {
	Messages            []api.Message
	Tools               []api.Tool
	AddGenerationPrompt bool
	// Template overrides the model's own template (Modelfile TEMPLATE or
	// /api/generate "template"); it is an Ollama Go template.
	Template string
	// Think is the request's think flag (nil: not set).
	Think *bool
}
