package imatrix

import (
	"fmt"
	"strings"
)

// minDenseRows is llama-imatrix's cut-off: a plain matrix product over
// fewer activation rows is not recorded (its eval callback skips MUL_MAT
// with src1->ne[1] < 16); expert products always are.
const minDenseRows = 16

// Observe records one weight-matrix product the way llama-imatrix's eval
// callback filters them: only block tensors ("blk.*"), dense products only
// from 16 activation rows on, every expert product. Its signature matches
// engine.Observer, so it can be passed as engine.Options.Observe. The
// first error (inconsistent shapes) is kept and returned by Run and Err.
func (c *Collector) Observe(weight string, expert, experts int, x []float32, rows, cols int) {
	if !strings.HasPrefix(weight, "blk.") || experts <= 1 && rows < minDenseRows {
		return
	}
	if err := c.Add(weight, x, rows, cols, expert, experts); err != nil && c.err == nil {
		c.err = err
	}
}

// Err is the first error Observe met.
func (c *Collector) Err() error { return c.err }

// RunOptions split calibration tokens into chunks.
type RunOptions struct {
	Context int // tokens per chunk (llama-imatrix's -c); default 512
	Chunks  int // stop after this many chunks; 0 = all
	// With AddBOS, BOS replaces the first token of every chunk, as
	// llama-imatrix does when the model adds a BOS token.
	AddBOS bool
	BOS    int32
	// Progress is called after each chunk.
	Progress func(done, total int)
}

// Run evaluates tokens in chunks of opt.Context, as llama-imatrix does:
// eval runs one chunk from a fresh sequence (positions 0..Context-1) on a
// model whose matrix products report to c.Observe; the remainder shorter
// than a chunk is dropped. It returns the accumulated matrix.
func (c *Collector) Run(tokens []int32, opt RunOptions, eval func(chunk []int32) error) (*Data, error) {
	n := opt.Context
	if n <= 0 {
		n = 512
	}
	chunks := len(tokens) / n
	if chunks == 0 {
		return nil, fmt.Errorf("imatrix: %d tokens are fewer than one chunk of %d (use a longer text or a smaller --ctx)", len(tokens), n)
	}
	if opt.Chunks > 0 && opt.Chunks < chunks {
		chunks = opt.Chunks
	}
	chunk := make([]int32, n)
	for i := 0; i < chunks; i++ {
		copy(chunk, tokens[i*n:(i+1)*n])
		if opt.AddBOS {
			chunk[0] = opt.BOS
		}
		if err := eval(chunk); err != nil {
			return nil, err
		}
		if c.err != nil {
			return nil, c.err
		}
		c.EndChunk(n)
		if opt.Progress != nil {
			opt.Progress(i+1, chunks)
		}
	}
	return c.d, nil
}
