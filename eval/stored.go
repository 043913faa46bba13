package eval

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/internal/mmap"
)

// Stored reference log-probabilities, so a quantized model can be compared
// with its full-precision original without loading both (the idea of
// llama.cpp's --kl-divergence-base; the file format is ferry's own):
//
//	magic "FERRYLPB", uint32 version (1), uint32 ctx, uint32 vocab,
//	uint32 chunks, uint32 token count, int32 tokens[count],
//	then for each chunk and each scored position (ctx/2 .. ctx-2) the
//	vocabulary's log-probabilities as float32.
//
// Little-endian. Float32, not half: half-precision log-probabilities put a
// floor of about 3e-5 under the measured KL divergence, a twentieth of what
// Q8_0 costs a small model, too coarse for a regression gate.
const storedMagic = "FERRYLPB"

// SaveReference scores tokens with s and writes the log-probabilities of
// every scored position to path (atomically).
func SaveReference(path string, s Scorer, tokens []int32, opt Options) error {
	cs, err := chunks(tokens, opt)
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 1<<20)
	n := s.VocabSize()
	hdr := []uint32{1, uint32(opt.Ctx), uint32(n), uint32(len(cs)), uint32(len(cs) * opt.Ctx)}
	w.WriteString(storedMagic)
	for _, v := range hdr {
		binary.Write(w, binary.LittleEndian, v)
	}
	for _, c := range cs {
		for _, t := range c {
			binary.Write(w, binary.LittleEndian, t)
		}
	}
	row := make([]float64, n)
	buf := make([]byte, 4*n)
	err = scoreChunks(s, cs, opt, row, func(_, _ int, _ int32) error {
		for i, v := range row {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(v)))
		}
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

// StoredReference reads a file written by SaveReference.
type StoredReference struct {
	Ctx, Vocab, Chunks int
	Tokens             []int32

	m    *mmap.File
	data []byte // the log-prob section
	row  []float64
}

// OpenReference maps a stored reference file and checks its size.
func OpenReference(path string) (*StoredReference, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	b := m.Data()
	bad := func(format string, a ...any) (*StoredReference, error) {
		m.Close()
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	if len(b) < 28 || string(b[:8]) != storedMagic {
		return bad("not a ferry reference log-prob file (bad magic)")
	}
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(b[8+4*i:]) }
	if u(0) != 1 {
		return bad("unsupported version %d", u(0))
	}
	r := &StoredReference{Ctx: int(u(1)), Vocab: int(u(2)), Chunks: int(u(3)), m: m}
	nt := uint64(u(4))
	if r.Ctx < 4 || r.Vocab == 0 || nt != uint64(r.Chunks)*uint64(r.Ctx) {
		return bad("inconsistent header (ctx %d, vocab %d, chunks %d, tokens %d)", r.Ctx, r.Vocab, r.Chunks, nt)
	}
	// Checked multiplications: a crafted header must not wrap around to
	// the file's size and then index past the mapping.
	per := uint64(r.Ctx - 1 - r.Ctx/2)
	hi, lpBytes := bits.Mul64(uint64(r.Chunks)*per, uint64(r.Vocab)*4)
	if nt > uint64(len(b))/4 || hi != 0 || lpBytes > uint64(len(b)) {
		return bad("size %d is too small for its header (ctx %d, vocab %d, chunks %d)", len(b), r.Ctx, r.Vocab, r.Chunks)
	}
	if want := 28 + 4*nt + lpBytes; uint64(len(b)) != want {
		return bad("size %d does not match its header (want %d): truncated?", len(b), want)
	}
	r.Tokens = make([]int32, nt)
	for i := range r.Tokens {
		r.Tokens[i] = int32(binary.LittleEndian.Uint32(b[28+4*i:]))
	}
	r.data = b[28+4*nt:]
	r.row = make([]float64, r.Vocab)
	return r, nil
}

// Close unmaps the file.
func (r *StoredReference) Close() error { return r.m.Close() }

// LogProbs implements RefLogProbs.
func (r *StoredReference) LogProbs(ci, pos int) ([]float64, error) {
	first := r.Ctx / 2
	per := r.Ctx - 1 - first
	if ci < 0 || ci >= r.Chunks || pos < first || pos >= r.Ctx-1 {
		return nil, fmt.Errorf("reference has no position %d of chunk %d", pos, ci)
	}
	off := ((ci * per) + (pos - first)) * r.Vocab * 4
	src := r.data[off : off+4*r.Vocab]
	for i := range r.row {
		r.row[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
	}
	return r.row, nil
}

// Matches checks that the stored reference was computed on the same tokens
// and chunking as tokens/opt would produce.
func (r *StoredReference) Matches(tokens []int32, opt Options) error {
	cs, err := chunks(tokens, opt)
	if err != nil {
		return err
	}
	if opt.Ctx != r.Ctx || len(cs) != r.Chunks {
		return fmt.Errorf("reference was made with ctx %d and %d chunks; this run has ctx %d and %d chunks", r.Ctx, r.Chunks, opt.Ctx, len(cs))
	}
	for ci, c := range cs {
		for i, t := range c {
			if r.Tokens[ci*r.Ctx+i] != t {
				return fmt.Errorf("reference tokens differ at chunk %d position %d: different text or tokenizer", ci, i)
			}
		}
	}
	return nil
}
