// Package imatrix reads and writes llama.cpp's importance matrices: the
// GGUF format (tensors NAME.in_sum2 and NAME.counts, general.type =
// "imatrix") and the legacy binary .dat format. An importance matrix holds,
// per weight tensor, the mean square of the activations that multiply each
// column; the quantizers use it to weight their error.
package imatrix

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/quant"
)

// Entry is the accumulated statistics of one weight tensor: Sums holds
// ne0*len(Counts) sums of squared activations (one row of ne0 per expert
// matrix) and Counts how many activation rows each matrix saw.
type Entry struct {
	Sums   []float32
	Counts []float32
}

// Data is a whole importance matrix.
type Data struct {
	Entries    map[string]*Entry
	Datasets   []string
	ChunkCount int
	ChunkSize  int
	// Legacy is true when read from the .dat format, whose sums are already
	// scaled by the call count.
	Legacy bool
}

// Values returns the per-tensor importance weights exactly as
// llama-quantize derives them: sums divided by the counts (GGUF; 1 where
// a matrix saw no data) or by the call count (legacy).
func (d *Data) Values() map[string][]float32 {
	out := make(map[string][]float32, len(d.Entries))
	for name, e := range d.Entries {
		nc := len(e.Counts)
		if nc == 0 || len(e.Sums) == 0 {
			continue
		}
		ne0 := len(e.Sums) / nc
		v := make([]float32, len(e.Sums))
		if !d.Legacy {
			for j := 0; j < nc; j++ {
				c := e.Counts[j]
				for i := 0; i < ne0; i++ {
					if c > 0 {
						v[j*ne0+i] = e.Sums[j*ne0+i] / c
					} else {
						v[j*ne0+i] = 1
					}
				}
			}
		} else {
			ncall := int64(e.Counts[0])
			for i := range v {
				if ncall > 0 {
					v[i] = e.Sums[i] / float32(ncall)
				} else {
					v[i] = e.Sums[i]
				}
			}
		}
		out[name] = v
	}
	return out
}

// Read loads an importance matrix in either format, detected from the file
// content. Non-finite values are an error (llama-quantize refuses them too).
func Read(path string) (*Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: not an imatrix file: %w", path, err)
	}
	var d *Data
	if string(magic[:]) == gguf.Magic {
		d, err = readGGUF(path)
	} else {
		var b []byte
		b, err = os.ReadFile(path)
		if err == nil {
			d, err = ParseLegacy(b)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, e := range d.Entries {
		for _, v := range e.Sums {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s: imatrix entry %s contains non-finite value %v", path, name, v)
			}
		}
	}
	return d, nil
}

func readGGUF(path string) (*Data, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &Data{Entries: map[string]*Entry{}}
	if t := f.String("general.type"); t != "" && t != "imatrix" {
		return nil, fmt.Errorf("general.type is %q, not imatrix", t)
	}
	d.Datasets = f.Strings("imatrix.datasets")
	if v, ok := f.Uint("imatrix.chunk_count"); ok {
		d.ChunkCount = int(v)
	}
	if v, ok := f.Uint("imatrix.chunk_size"); ok {
		d.ChunkSize = int(v)
	}
	readF32 := func(t *gguf.TensorInfo) ([]float32, error) {
		if t.Type != quant.F32 {
			return nil, fmt.Errorf("tensor %s has type %s, want F32", t.Name, t.Type)
		}
		b := f.TensorData(t)
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		name, ok := strings.CutSuffix(t.Name, ".in_sum2")
		if !ok {
			continue
		}
		ct, ok := f.Tensor(name + ".counts")
		if !ok {
			return nil, fmt.Errorf("tensor %s has no matching %s.counts", t.Name, name)
		}
		sums, err := readF32(t)
		if err != nil {
			return nil, err
		}
		counts, err := readF32(ct)
		if err != nil {
			return nil, err
		}
		if len(counts) == 0 || len(sums)%len(counts) != 0 {
			return nil, fmt.Errorf("tensor %s: %d sums do not split into %d matrices", t.Name, len(sums), len(counts))
		}
		d.Entries[name] = &Entry{Sums: sums, Counts: counts}
	}
	if len(d.Entries) == 0 {
		return nil, errors.New("no NAME.in_sum2 tensors: not an imatrix GGUF")
	}
	return d, nil
}

// maxLegacyName bounds a tensor name in the legacy format.
const maxLegacyName = 1 << 16

// ParseLegacy parses llama.cpp's legacy imatrix.dat layout: int32 entry
// count, then per entry int32 name length, name, int32 call count, int32
// value count and the float32 values; optionally followed by int32 chunk
// count, int32 length and the dataset file name.
func ParseLegacy(b []byte) (*Data, error) {
	r := bytes.NewReader(b)
	i32 := func(what string) (int32, error) {
		var v int32
		if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
			return 0, fmt.Errorf("legacy imatrix: reading %s at byte %d: %w", what, int(r.Size())-r.Len(), io.ErrUnexpectedEOF)
		}
		return v, nil
	}
	n, err := i32("entry count")
	if err != nil {
		return nil, err
	}
	if n <= 0 || int64(n)*12 > int64(len(b)) {
		return nil, fmt.Errorf("legacy imatrix: bad entry count %d", n)
	}
	d := &Data{Entries: map[string]*Entry{}, Legacy: true}
	for i := 0; i < int(n); i++ {
		l, err := i32("name length")
		if err != nil {
			return nil, err
		}
		if l <= 0 || l > maxLegacyName || int(l) > r.Len() {
			return nil, fmt.Errorf("legacy imatrix: entry %d: bad name length %d", i, l)
		}
		name := make([]byte, l)
		io.ReadFull(r, name)
		ncall, err := i32("call count")
		if err != nil {
			return nil, err
		}
		nval, err := i32("value count")
		if err != nil {
			return nil, err
		}
		if nval < 1 || int64(nval)*4 > int64(r.Len()) {
			return nil, fmt.Errorf("legacy imatrix: entry %s: bad value count %d", name, nval)
		}
		vals := make([]float32, nval)
		binary.Read(r, binary.LittleEndian, vals)
		d.Entries[string(name)] = &Entry{Sums: vals, Counts: []float32{float32(ncall)}}
	}
	if r.Len() >= 8 {
		last, _ := i32("chunk count")
		d.ChunkCount = int(last)
		l, _ := i32("dataset length")
		if l > 0 && int(l) <= r.Len() {
			name := make([]byte, l)
			io.ReadFull(r, name)
			d.Datasets = []string{string(name)}
		}
	}
	return d, nil
}

func (d *Data) sortedNames() []string {
	names := make([]string, 0, len(d.Entries))
	for n := range d.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WriteGGUF writes d in llama.cpp's GGUF imatrix format.
func (d *Data) WriteGGUF(path string) error {
	w := gguf.NewWriter()
	w.Set("general.type", "imatrix")
	ds := d.Datasets
	if ds == nil {
		ds = []string{}
	}
	w.Set("imatrix.datasets", ds)
	w.Set("imatrix.chunk_count", uint32(d.ChunkCount))
	w.Set("imatrix.chunk_size", uint32(d.ChunkSize))
	for _, name := range d.sortedNames() {
		e := d.Entries[name]
		nmat := uint64(len(e.Counts))
		if nmat == 0 || len(e.Sums)%len(e.Counts) != 0 {
			return fmt.Errorf("imatrix entry %s: %d sums, %d counts", name, len(e.Sums), len(e.Counts))
		}
		ne0 := uint64(len(e.Sums)) / nmat
		if err := w.AddTensorData(name+".in_sum2", quant.F32, []uint64{ne0, nmat}, f32Bytes(e.Sums)); err != nil {
			return err
		}
		if err := w.AddTensorData(name+".counts", quant.F32, []uint64{1, nmat}, f32Bytes(e.Counts)); err != nil {
			return err
		}
	}
	return writeAtomic(path, func(out io.Writer) error { _, err := w.WriteTo(out); return err })
}

// WriteLegacy writes d in the legacy .dat format (sums scaled as llama.cpp
// scales them: mean per column times the call count of the first matrix).
func (d *Data) WriteLegacy(path string) error {
	return writeAtomic(path, func(out io.Writer) error {
		bw := bufio.NewWriter(out)
		le := binary.LittleEndian
		binary.Write(bw, le, int32(len(d.Entries)))
		for _, name := range d.sortedNames() {
			e := d.Entries[name]
			binary.Write(bw, le, int32(len(name)))
			bw.WriteString(name)
			ncall := int32(0)
			if len(e.Counts) > 0 {
				ncall = int32(e.Counts[0])
			}
			binary.Write(bw, le, ncall)
			binary.Write(bw, le, int32(len(e.Sums)))
			vals := e.Sums
			if !d.Legacy && len(e.Counts) > 0 {
				ne0 := len(e.Sums) / len(e.Counts)
				vals = make([]float32, len(e.Sums))
				for i := range vals {
					c := e.Counts[i/ne0]
					if c > 0 {
						vals[i] = e.Sums[i] / c * float32(ncall)
					}
				}
			}
			binary.Write(bw, le, vals)
		}
		binary.Write(bw, le, int32(d.ChunkCount))
		ds := ""
		if len(d.Datasets) > 0 {
			ds = d.Datasets[0]
		}
		binary.Write(bw, le, int32(len(ds)))
		bw.WriteString(ds)
		return bw.Flush()
	})
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// Collector accumulates an importance matrix the way llama.cpp's
// llama-imatrix does: for every matrix multiplication with a weight tensor
// it adds the squares of the input activations per column and counts the
// rows. It is safe for one goroutine; the engine calls Add from its hook.
type Collector struct {
	d   *Data
	err error // first error of Observe
}

// NewCollector starts an empty importance matrix.
func NewCollector() *Collector { return &Collector{d: &Data{Entries: map[string]*Entry{}}} }

// Add records rows activation rows of cols values (x is rows×cols) that
// multiplied weight tensor name; expert selects the matrix of a 3-D expert
// tensor with nExperts matrices (use 0 and 1 for plain weights).
func (c *Collector) Add(name string, x []float32, rows, cols, expert, nExperts int) error {
	if nExperts < 1 || expert < 0 || expert >= nExperts || len(x) != rows*cols {
		return fmt.Errorf("imatrix: bad activation shape for %s", name)
	}
	e := c.d.Entries[name]
	if e == nil {
		e = &Entry{Sums: make([]float32, cols*nExperts), Counts: make([]float32, nExperts)}
		c.d.Entries[name] = e
	}
	if len(e.Sums) != cols*nExperts {
		return fmt.Errorf("imatrix: %s: %d columns, earlier calls had %d", name, cols*nExperts, len(e.Sums))
	}
	s := e.Sums[expert*cols : (expert+1)*cols]
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for i, v := range row {
			s[i] += v * v
		}
	}
	e.Counts[expert] += float32(rows)
	return nil
}

// EndChunk counts one evaluated chunk of chunkSize tokens.
func (c *Collector) EndChunk(chunkSize int) {
	c.d.ChunkCount++
	c.d.ChunkSize = chunkSize
}

// Data returns the accumulated matrix (shared, not copied).
func (c *Collector) Data(dataset string) *Data {
	if dataset != "" {
		c.d.Datasets = []string{dataset}
	}
	return c.d
}
