package engine

import (
	"errors"
	"fmt"

	"github.com/ferryhq/ferry/kernels"
	"github.com/ferryhq/ferry/quant"
)

// pageTokens is the number of positions in one KV-cache page. Sequences own
// lists of pages; forks share whole pages (copy on write), so a common prompt
// prefix is stored once.
const pageTokens = 32

// kvCache is a pool of pages. Each page holds, for every layer, the keys and
// values of pageTokens positions, one row per position in the cache type.
type kvCache struct {
	typ        quant.Type
	layers     int
	kRow, vRow int // bytes per position
	kDim, vDim int // elements per position
	heads      int
	k, v       [][]byte
	refs       []int32
	free       []int32
}

func newKVCache(t quant.Type, layers, heads, kDim, vDim, tokens int) *kvCache {
	pages := (tokens + pageTokens - 1) / pageTokens
	kr, _ := quant.RowSize(t, int64(kDim))
	vr, _ := quant.RowSize(t, int64(vDim))
	c := &kvCache{typ: t, layers: layers, heads: heads, kRow: int(kr), vRow: int(vr), kDim: kDim, vDim: vDim}
	c.k = make([][]byte, layers)
	c.v = make([][]byte, layers)
	for l := 0; l < layers; l++ {
		c.k[l] = make([]byte, pages*pageTokens*c.kRow)
		c.v[l] = make([]byte, pages*pageTokens*c.vRow)
	}
	c.refs = make([]int32, pages)
	c.free = make([]int32, pages)
	for i := range c.free {
		c.free[i] = int32(pages - 1 - i)
	}
	return c
}

// Bytes is the cache's memory footprint.
func (c *kvCache) Bytes() int64 {
	return int64(len(c.refs)) * pageTokens * int64(c.kRow+c.vRow) * int64(c.layers)
}

var errCacheFull = errors.New("KV cache is full")

func (c *kvCache) alloc() (int32, error) {
	if len(c.free) == 0 {
		return 0, errCacheFull
	}
	p := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.refs[p] = 1
	return p, nil
}

func (c *kvCache) release(p int32) {
	c.refs[p]--
	if c.refs[p] == 0 {
		c.free = append(c.free, p)
	}
}

func (c *kvCache) copyPage(dst, src int32) {
	for l := 0; l < c.layers; l++ {
		kb := pageTokens * c.kRow
		vb := pageTokens * c.vRow
		copy(c.k[l][int(dst)*kb:int(dst+1)*kb], c.k[l][int(src)*kb:int(src+1)*kb])
		copy(c.v[l][int(dst)*vb:int(dst+1)*vb], c.v[l][int(src)*vb:int(src+1)*vb])
	}
}

// Seq is one sequence (a conversation, a request): its tokens' keys and
// values in the engine's cache. Create with Engine.NewSeq or Engine.Fork,
// release with Engine.Free.
type Seq struct {
	e     *Engine
	id    int
	n     int
	pages []int32
	freed bool
}

// ID is a number unique among the engine's sequences, for logs.
func (s *Seq) ID() int { return s.id }

// Len is the number of positions the sequence holds in the cache.
func (s *Seq) Len() int { return s.n }

// Truncate drops every position from n on, so generation can resume from a
// shorter prefix (a cached prompt shared with a previous request, an edited
// turn). n greater than Len is an error.
func (s *Seq) Truncate(n int) error {
	if s.freed {
		return errors.New("engine: sequence already freed")
	}
	if n < 0 || n > s.n {
		return fmt.Errorf("engine: cannot truncate a sequence of %d tokens to %d", s.n, n)
	}
	s.n = n
	keep := (n + pageTokens - 1) / pageTokens
	for _, p := range s.pages[keep:] {
		s.e.kv.release(p)
	}
	s.pages = s.pages[:keep]
	return nil
}

// NewSeq starts an empty sequence.
func (e *Engine) NewSeq() *Seq {
	e.nextSeqID++
	return &Seq{e: e, id: e.nextSeqID, pages: make([]int32, 0, (e.opts.Context+pageTokens-1)/pageTokens)}
}

// Fork starts a sequence holding the first n positions of s, sharing their
// cache pages until either sequence writes into a shared page.
func (e *Engine) Fork(s *Seq, n int) (*Seq, error) {
	if s.e != e || s.freed {
		return nil, errors.New("engine: fork of a sequence that is freed or belongs to another engine")
	}
	if n < 0 || n > s.n {
		return nil, fmt.Errorf("engine: cannot fork %d positions of a sequence of %d", n, s.n)
	}
	f := e.NewSeq()
	f.n = n
	for _, p := range s.pages[:(n+pageTokens-1)/pageTokens] {
		e.kv.refs[p]++
		f.pages = append(f.pages, p)
	}
	return f, nil
}

// Free returns the sequence's cache pages to the engine. The Seq must not be
// used afterwards.
func (e *Engine) Free(s *Seq) {
	if s == nil || s.freed || s.e != e {
		return
	}
	s.Truncate(0)
	s.freed = true
}

// FreeTokens is how many more positions the cache can take (ignoring
// sharing): free pages times the page size.
func (e *Engine) FreeTokens() int { return len(e.kv.free) * pageTokens }

// reserve makes positions [s.n, s.n+count) writable: it allocates pages and
// copies shared pages about to be written.
func (s *Seq) reserve(count int) error {
	c := s.e.kv
	end := s.n + count
	for pi := s.n / pageTokens; pi*pageTokens < end; pi++ {
		if pi < len(s.pages) {
			if p := s.pages[pi]; c.refs[p] > 1 {
				np, err := c.alloc()
				if err != nil {
					return err
				}
				c.copyPage(np, p)
				c.release(p)
				s.pages[pi] = np
			}
			continue
		}
		np, err := c.alloc()
		if err != nil {
			return err
		}
		s.pages = append(s.pages, np)
	}
	return nil
}

// Page layout, per layer: pages one after another; within a page, one
// block per KV head. A key block is pageTokens rows of one head's key (so a
// run of positions is a small matrix the kernels multiply queries with). A
// value block is stored transposed for F16/F32 caches, one row of
// pageTokens positions per value dimension, so probabilities times values
// is a matrix-vector product too; Q8_0 values stay row-wise (a block can
// only be quantized whole).

// headBytes are the bytes of one head's key (value) row.
func (c *kvCache) kHeadBytes() int { return c.kRow / c.heads }
func (c *kvCache) vHeadBytes() int { return c.vRow / c.heads }

// vTransposed reports whether value blocks are stored transposed.
func (c *kvCache) vTransposed() bool { return c.typ != quant.Q8_0 }

// kBlock returns head h's key block (pageTokens rows) of page slot pi of s.
func (s *Seq) kBlock(l, pi, h int) []byte {
	c := s.e.kv
	n := pageTokens * c.kHeadBytes()
	off := (int(s.pages[pi])*c.heads + h) * n
	return c.k[l][off : off+n]
}

// vBlock returns head h's value block of page slot pi of s.
func (s *Seq) vBlock(l, pi, h int) []byte {
	c := s.e.kv
	n := pageTokens * c.vHeadBytes()
	off := (int(s.pages[pi])*c.heads + h) * n
	return c.v[l][off : off+n]
}

// store writes position pos's keys and values (all heads) for layer l.
func (s *Seq) store(l, pos int, k, v []float32) {
	c := s.e.kv
	pi, slot := pos/pageTokens, pos%pageTokens
	kd, vd := c.kDim/c.heads, c.vDim/c.heads
	kb, vb := c.kHeadBytes(), c.vHeadBytes()
	for h := 0; h < c.heads; h++ {
		storeRow(c.typ, k[h*kd:(h+1)*kd], s.kBlock(l, pi, h)[slot*kb:(slot+1)*kb])
		blk := s.vBlock(l, pi, h)
		x := v[h*vd : (h+1)*vd]
		switch c.typ {
		case quant.F32:
			f := bytesF32(blk)
			for d, val := range x {
				f[d*pageTokens+slot] = val
			}
		case quant.F16:
			f := bytesU16(blk)
			for d, val := range x {
				f[d*pageTokens+slot] = kernels.F32ToF16(val)
			}
		default:
			storeRow(c.typ, x, blk[slot*vb:(slot+1)*vb])
		}
	}
}

// storeRow writes x into a cache row of type t.
func storeRow(t quant.Type, x []float32, dst []byte) {
	switch t {
	case quant.F32:
		copy(dst, f32Bytes(x))
	case quant.F16:
		d := bytesU16(dst)
		for i, v := range x {
			d[i] = kernels.F32ToF16(v)
		}
	case quant.Q8_0:
		kernels.QuantizeActivations(quant.Q8_0, x, dst)
	}
}
