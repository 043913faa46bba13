package quant

import (
	"fmt"
	"runtime"
	"sync"
)

// traits is one entry of the type table, like ggml's type_traits: how to
// turn float32 rows into blocks and back, and how to take the dot product of
// a weight row with an activation row in the type's vec_dot format.
type traits struct {
	// quantize converts whole blocks with ggml's reference algorithm, the
	// one ggml_quantize_chunk uses when no importance matrix is given.
	quantize func(x []float32, y []byte)
	// quantizeW converts one row using importance weights qw (len = row
	// length); nil when the type has no importance-matrix path.
	quantizeW func(x []float32, y []byte, qw []float32)
	// dequantize converts whole blocks back to float32.
	dequantize func(x []byte, y []float32)
	// vecDotType is the format the activation row must be in for vecDot.
	vecDotType Type
	// vecDot is the portable dot product of n weights with n activations.
	vecDot func(n int, w, act []byte) float32
}

var table = map[Type]*traits{}

func register(t Type, tr *traits) { table[t] = tr }

// Supported reports whether ferry can dequantize type t (and which other
// operations it has).
func Supported(t Type) (dequantize, quantize, vecDot bool) {
	tr, ok := table[t]
	if !ok {
		return false, false, false
	}
	return tr.dequantize != nil, tr.quantize != nil, tr.vecDot != nil
}

// CanQuantize reports whether Quantize supports type t.
func CanQuantize(t Type) bool { _, q, _ := Supported(t); return q }

// CanDequantize reports whether Dequantize supports type t.
func CanDequantize(t Type) bool { d, _, _ := Supported(t); return d }

// HasImatrix reports whether type t uses an importance matrix when given one.
func HasImatrix(t Type) bool {
	tr, ok := table[t]
	return ok && tr.quantizeW != nil
}

// ErrUnsupported is returned (wrapped) for types ferry cannot process yet.
type ErrUnsupported struct {
	Type Type
	Op   string
}

func (e *ErrUnsupported) Error() string {
	return fmt.Sprintf("type %s is not supported yet (%s)", e.Type, e.Op)
}

func lookup(t Type, op string) (*traits, error) {
	tr, ok := table[t]
	if !ok {
		if !t.Known() {
			return nil, fmt.Errorf("unknown tensor type %d", uint32(t))
		}
		return nil, &ErrUnsupported{t, op}
	}
	switch op {
	case "quantize":
		if tr.quantize == nil {
			return nil, &ErrUnsupported{t, op}
		}
	case "dequantize":
		if tr.dequantize == nil {
			return nil, &ErrUnsupported{t, op}
		}
	case "dot product":
		if tr.vecDot == nil {
			return nil, &ErrUnsupported{t, op}
		}
	}
	return tr, nil
}

// checkSizes verifies that n elements fill whole blocks and that buf holds
// exactly their bytes.
func checkSizes(t Type, n int, nbytes int) error {
	bs := t.BlockSize()
	if n%bs != 0 {
		return fmt.Errorf("%s: %d elements is not a multiple of the block size %d", t, n, bs)
	}
	want := n / bs * t.BytesPerBlock()
	if nbytes != want {
		return fmt.Errorf("%s: %d elements need %d bytes, buffer has %d", t, n, want, nbytes)
	}
	return nil
}

// Quantize converts src (a whole number of blocks; for ggml these are whole
// rows laid end to end) to type t in dst, bit-exact with ggml's quantization
// without an importance matrix. dst must be exactly the size of the result.
func Quantize(t Type, src []float32, dst []byte) error {
	tr, err := lookup(t, "quantize")
	if err != nil {
		return err
	}
	if err := checkSizes(t, len(src), len(dst)); err != nil {
		return err
	}
	tr.quantize(src, dst)
	return nil
}

// QuantizeWeighted quantizes rows of rowLen elements with importance weights
// imatrix (one per column, len(imatrix) == rowLen), as llama.cpp does for
// the K, IQ4 and legacy 4/5-bit types. For types without an importance path
// (Q8_0, F16, ...) or with a nil imatrix it equals Quantize.
func QuantizeWeighted(t Type, src []float32, dst []byte, rowLen int, imatrix []float32) error {
	tr, err := lookup(t, "quantize")
	if err != nil {
		return err
	}
	if err := checkSizes(t, len(src), len(dst)); err != nil {
		return err
	}
	if imatrix == nil || tr.quantizeW == nil {
		tr.quantize(src, dst)
		return nil
	}
	if rowLen <= 0 || len(src)%rowLen != 0 || rowLen%t.BlockSize() != 0 {
		return fmt.Errorf("%s: row length %d does not divide %d elements into whole blocks", t, rowLen, len(src))
	}
	if len(imatrix) != rowLen {
		return fmt.Errorf("%s: importance matrix has %d entries, row length is %d", t, len(imatrix), rowLen)
	}
	rowBytes := rowLen / t.BlockSize() * t.BytesPerBlock()
	for r := 0; r < len(src)/rowLen; r++ {
		tr.quantizeW(src[r*rowLen:(r+1)*rowLen], dst[r*rowBytes:(r+1)*rowBytes], imatrix)
	}
	return nil
}

// Dequantize converts src (whole blocks of type t) to float32 in dst, which
// must hold exactly the number of elements src encodes.
func Dequantize(t Type, src []byte, dst []float32) error {
	tr, err := lookup(t, "dequantize")
	if err != nil {
		return err
	}
	if err := checkSizes(t, len(dst), len(src)); err != nil {
		return err
	}
	tr.dequantize(src, dst)
	return nil
}

// VecDotType is the activation format ggml pairs with weights of type t in
// dot products: Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1,
// Q8_K for the K and IQ types, and the type itself for F32/F16/BF16.
func VecDotType(t Type) Type {
	if tr, ok := table[t]; ok {
		return tr.vecDotType
	}
	return F32
}

// VecDot is the portable reference dot product of a weight row w (n
// elements of type t) with an activation row act already quantized to
// VecDotType(t), computed in the same order as ggml's generic C code. It
// panics if the buffers are too short, like a slice index would.
func VecDot(t Type, n int, w []byte, act []byte) float32 {
	tr, ok := table[t]
	if !ok || tr.vecDot == nil {
		panic(fmt.Sprintf("quant.VecDot: %v", &ErrUnsupported{t, "dot product"}))
	}
	return tr.vecDot(n, w, act)
}

// QuantizeRows quantizes rows×rowLen float32 values to dst, splitting whole
// rows over workers goroutines (workers <= 0 means GOMAXPROCS). imatrix may
// be nil. The result is identical to QuantizeWeighted on the whole buffer.
func QuantizeRows(t Type, src []float32, rows, rowLen int, dst []byte, imatrix []float32, workers int) error {
	if _, err := lookup(t, "quantize"); err != nil {
		return err
	}
	if rows < 0 || rowLen <= 0 || len(src) != rows*rowLen {
		return fmt.Errorf("%s: %d values is not %d rows of %d", t, len(src), rows, rowLen)
	}
	if rowLen%t.BlockSize() != 0 {
		return fmt.Errorf("%s: row length %d is not a multiple of the block size %d", t, rowLen, t.BlockSize())
	}
	rowBytes := rowLen / t.BlockSize() * t.BytesPerBlock()
	if len(dst) != rows*rowBytes {
		return fmt.Errorf("%s: %d rows need %d bytes, buffer has %d", t, rows, rows*rowBytes, len(dst))
	}
	return parallelRows(rows, workers, func(r0, r1 int) error {
		return QuantizeWeighted(t, src[r0*rowLen:r1*rowLen], dst[r0*rowBytes:r1*rowBytes], rowLen, imatrix)
	})
}

// DequantizeRows is the parallel counterpart of Dequantize for rows×rowLen
// elements.
func DequantizeRows(t Type, src []byte, rows, rowLen int, dst []float32, workers int) error {
	if _, err := lookup(t, "dequantize"); err != nil {
		return err
	}
	if rows < 0 || rowLen <= 0 || len(dst) != rows*rowLen || rowLen%t.BlockSize() != 0 {
		return fmt.Errorf("%s: cannot split %d values into %d rows of %d", t, len(dst), rows, rowLen)
	}
	rowBytes := rowLen / t.BlockSize() * t.BytesPerBlock()
	if len(src) != rows*rowBytes {
		return fmt.Errorf("%s: %d rows need %d bytes, buffer has %d", t, rows, rows*rowBytes, len(src))
	}
	return parallelRows(rows, workers, func(r0, r1 int) error {
		return Dequantize(t, src[r0*rowBytes:r1*rowBytes], dst[r0*rowLen:r1*rowLen])
	})
}

func parallelRows(rows, workers int, f func(r0, r1 int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > rows {
		workers = rows
	}
	if workers <= 1 {
		if rows == 0 {
			return nil
		}
		return f(0, rows)
	}
	// Chunks smaller than a worker's share keep all cores busy when rows
	// take unequal time (outlier rows make K-quant searches longer).
	chunk := rows / (workers * 4)
	if chunk < 1 {
		chunk = 1
	}
	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				r0 := next
				next += chunk
				stop := firstErr != nil
				mu.Unlock()
				if stop || r0 >= rows {
					return
				}
				r1 := min(r0+chunk, rows)
				if err := f(r0, r1); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
