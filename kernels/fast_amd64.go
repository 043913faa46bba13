//go:build !purego

package kernels

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"

	"github.com/ferryhq/ferry/quant"
)

//go:noescape
func q4_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q8_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func iq4_NLMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func iq4_XSMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q3_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q2_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_1MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q5_1MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q6_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

// asmMatVec adapts an assembly row loop (rows ≥ 1, whole blocks of bs
// elements) to matVecFunc; the caller has already checked every length.
func asmMatVec(f func(w *byte, rowBytes, rows, nb int, act *byte, y *float32), bs int) matVecFunc {
	return func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
		f(unsafe.SliceData(w), rowBytes, rows, cols/bs, unsafe.SliceData(act), unsafe.SliceData(y))
	}
}

// fastPaths lists, for the tests, which kernels were replaced.
var fastPaths = map[quant.Type]string{}

func installFast() {
	if !(cpu.AVX2 && cpu.FMA && cpu.F16C) {
		return
	}
	set := func(t quant.Type, name string, mv matVecFunc) {
		k := table[t]
		k.matvec = mv
		k.dot = func(n int, w, a []byte) float32 {
			var y [1]float32
			mv(w, len(w), 1, n, a, y[:])
			return y[0]
		}
		fastPaths[t] = name
	}
	// Decode streams each thread's rows once: one row at a time keeps a
	// single sequential stream per thread, which the hardware prefetcher
	// follows at full bandwidth; four- and eight-row kernels (faster in
	// cache) measured at half that when streaming from DRAM on this machine.
	set(quant.Q4_0, "avx2", asmMatVec(q4_0MatVecAVX2, 32))
	siluMulFast = func(dst, g, u []float32) int {
		n := len(dst) &^ 7
		if n > 0 {
			siluMulAVX2(unsafe.SliceData(dst), unsafe.SliceData(g), unsafe.SliceData(u), n)
		}
		return n
	}
	actQuantizers[quant.Q8_0] = func(x []float32, dst []byte) {
		if nb := len(x) / 32; nb > 0 {
			quantizeQ8_0AVX2(unsafe.SliceData(x), nb, unsafe.SliceData(dst))
		}
	}
	set(quant.Q8_0, "avx2", asmMatVec(q8_0MatVecAVX2, 32))
	if cpu.VNNI {
		set(quant.Q4_0, "avx512vnni", func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
			// One row at a time: even two interleaved row streams measured at
			// half the single-stream speed when weights come from DRAM.
			nb := cols / 32
			switch {
			case nb%8 == 0 && nb/4 <= 16 && rows >= 4:
				// Block quads (rows up to 2048 wide; the next case up to
				// 16384): 1.26-1.33× q4_0MatVecQP in cache and at least
				// as fast from DRAM, where that kernel was compute-bound.
				var prep [16 * 208]byte
				prepQ4_0Quads(act, nb, prep[:])
				q4_0MatVecQ4(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
			case nb%8 == 0 && nb/4 <= q40PrepPairs/2 && rows >= 4:
				var prep [q40PrepPairs / 2 * 208]byte
				prepQ4_0Quads(act, nb, prep[:])
				q4_0MatVecQ4(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
			case nb%2 == 0 && nb/2 <= 64 && rows >= 4:
				// The activation is prepared once for all rows, in a stack
				// buffer (nothing escapes to the heap) sized to the row so
				// short rows do not pay for clearing the large one.
				var prep [64 * 144]byte
				prepQ4_0(act, nb, prep[:])
				q4_0MatVecQP(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
			case nb%2 == 0 && nb/2 <= q40PrepPairs && rows >= 4:
				var prep [q40PrepPairs * 144]byte
				prepQ4_0(act, nb, prep[:])
				q4_0MatVecQP(unsafe.SliceData(w), rowBytes, rows, nb, &prep[0], unsafe.SliceData(y))
			case nb%2 == 0:
				q4_0MatVecZ(unsafe.SliceData(w), rowBytes, rows, nb, unsafe.SliceData(act), unsafe.SliceData(y))
			default:
				q4_0MatVecAVX2(unsafe.SliceData(w), rowBytes, rows, nb, unsafe.SliceData(act), unsafe.SliceData(y))
			}
		})
		table[quant.Q4_0].matmul = q4_0MatMulVNNI(table[quant.Q4_0], tiledMatMul(table[quant.Q4_0], q4_0Tile8x4VNNI, 32, 8))
		// Q8_0: the eight-row activation-lane tile for groups of six to
		// eight activations (1.4-1.8× the 4×4 tile at batch 8-64), the 4×4
		// tile for the rest.
		table[quant.Q8_0].matmul = laneTiledMatMul(tiledMatMul(table[quant.Q8_0], q8_0Tile4x4VNNI, 32, 4), q8_0Prep8, q8_0Tile8Rows, 320, 32, 8)
		fastPaths[quant.Q4_0] += "+vnni"
		fastPaths[quant.Q8_0] += "+vnni"
	}
	set(quant.F32, "avx2", floatMatVec(f32MatVecAVX2, dotF32Ref, 4))
	set(quant.F16, "avx2", floatMatVec(f16MatVecAVX2, dotF16Ref, 2))
	set(quant.BF16, "avx2", floatMatVec(bf16MatVecAVX2, dotBF16Ref, 2))
	table[quant.F32].matmul = floatMatMul(table[quant.F32], f32Tile1x4, 4)
	table[quant.F16].matmul = floatMatMul(table[quant.F16], f16Tile1x4, 2)
	table[quant.BF16].matmul = floatMatMul(table[quant.BF16], bf16Tile1x4, 2)
	set(quant.Q4_K, "avx2", asmMatVec(q4_KMatVecAVX2, 256))
	set(quant.Q6_K, "avx2", asmMatVec(q6_KMatVecAVX2, 256))
	if cpu.VNNI {
		set(quant.Q6_K, "avx512vnni", asmMatVec(q6_KMatVecVNNI, 256))
	}
	set(quant.Q5_K, "avx2", asmMatVec(q5_KMatVecAVX2, 256))
	set(quant.Q3_K, "avx2", asmMatVec(q3_KMatVecAVX2, 256))
	set(quant.Q2_K, "avx2", asmMatVec(q2_KMatVecAVX2, 256))
	set(quant.Q4_1, "avx2", asmMatVec(q4_1MatVecAVX2, 32))
	set(quant.Q5_1, "avx2", asmMatVec(q5_1MatVecAVX2, 32))
	set(quant.Q5_0, "avx2", asmMatVec(q5_0MatVecAVX2, 32))
	set(quant.IQ4_NL, "avx2", asmMatVec(iq4_NLMatVecAVX2, 32))
	set(quant.IQ4_XS, "avx2", asmMatVec(iq4_XSMatVecAVX2, 256))
	if cpu.AVX512 {
		table[quant.Q4_K].matmul = rowTiledMatMul(table[quant.Q4_K], q4_KTile1x4, 256)
		if cpu.VNNI {
			table[quant.Q4_K].matmul = laneTiledMatMul(table[quant.Q4_K].matmul, q4_KPrep8T, q4_KTile4x8T, 2208, 256, 4)
			// Q5_K had no tile: batches ran its matvec once per activation.
			table[quant.Q5_K].matmul = laneTiledMatMul(table[quant.Q5_K].matmul, q4_KPrep8T, q5_KTile4x8T, 2208, 256, 4)
			fastPaths[quant.Q5_K] += "+avx512tile"
		}
		fastPaths[quant.Q4_K] += "+avx512tile"
		table[quant.Q6_K].matmul = rowTiledMatMul(table[quant.Q6_K], q6_KTile1x4, 256)
		if cpu.VNNI {
			table[quant.Q6_K].matmul = laneTiledMatMul(table[quant.Q6_K].matmul, q6_KPrep8T, q6_KTile4x8T, 2336, 256, 4)
		}
		fastPaths[quant.Q6_K] += "+avx512tile"
	}
}

//go:noescape
func loadSumAVX2(p *byte, n int) uint64

// loadSum adds up b as uint64 words; it exists to read memory as fast as the
// machine allows (the bandwidth probe).
func loadSum(b []byte) uint64 {
	n := len(b) &^ 127
	var s uint64
	if cpu.AVX2 && n > 0 {
		s = loadSumAVX2(unsafe.SliceData(b), n)
	} else {
		s = loadSumGo(b[:n])
	}
	return s + loadSumGo(b[n:])
}

//go:noescape
func q8_0Tile4x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)

// tiledMatMul runs a th-row × 4-activation assembly tile over the largest
// multiple of th rows and groups of 4 activations, and the kernel's matvec
// for the edges. A batch of 4+r activations (r = 2 or 3) ends with a tile
// over its last four activations, overlapping the previous group: the
// overlapped outputs are computed twice by the same kernel (identical
// values), and one tile costs less than two or three matvecs, each of which
// streams the weights again.
func tiledMatMul(k *kernel, tile func(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32), bs, th int) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		r4, b4 := rows/th*th, nBatch&^3
		nb := cols / bs
		tab := unsafe.SliceData(f16tab)
		starts := b4
		if nBatch-b4 >= 2 && nBatch >= 4 {
			starts, b4 = b4+1, nBatch
		}
		for s := 0; s < starts; s += 4 {
			b := min(s, nBatch-4)
			for r := 0; r < r4; r += th {
				tile(&w[r*rowBytes], rowBytes, nb, &acts[b*actBytes], actBytes, &y[b*ldy+r], ldy, tab)
			}
			if r4 < rows {
				for j := s; j < b+4; j++ {
					k.matvec(w[r4*rowBytes:], rowBytes, rows-r4, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy+r4:])
				}
			}
		}
		for j := b4; j < nBatch; j++ {
			k.matvec(w, rowBytes, rows, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy:])
		}
	}
}

//go:noescape
func f32MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)

//go:noescape
func f16MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)

//go:noescape
func bf16MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)

// floatMatVec runs a float-weight assembly loop over the first multiple of
// 8 elements of every row and adds the short tail with the reference.
func floatMatVec(f func(w *byte, rowBytes, rows, n int, x *byte, y *float32), ref dotFunc, esz int) matVecFunc {
	return func(w []byte, rowBytes, rows, cols int, act []byte, y []float32) {
		n8 := cols &^ 7
		if n8 > 0 {
			f(unsafe.SliceData(w), rowBytes, rows, n8, unsafe.SliceData(act), unsafe.SliceData(y))
		} else {
			clear(y[:rows])
		}
		if n8 < cols {
			for r := 0; r < rows; r++ {
				y[r] += ref(cols-n8, w[r*rowBytes+n8*esz:(r+1)*rowBytes], act[4*n8:])
			}
		}
	}
}

//go:noescape
func q4_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)

// rowTiledMatMul runs a one-row × four-activation tile (which loops over
// all rows itself) on groups of four activations, the matvec on the rest.
func rowTiledMatMul(k *kernel, tile func(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int), bs int) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		b4 := nBatch &^ 3
		for b := 0; b < b4; b += 4 {
			tile(unsafe.SliceData(w), rowBytes, rows, cols/bs, &acts[b*actBytes], actBytes, &y[b*ldy], ldy)
		}
		for j := b4; j < nBatch; j++ {
			k.matvec(w, rowBytes, rows, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy:])
		}
	}
}

//go:noescape
func q6_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)

//go:noescape
func q4_0Tile8x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)

//go:noescape
func q4_0MatVecQP(w *byte, rowBytes, rows, nb int, prep *byte, y *float32)

// q40PrepPairs bounds the stack buffer of the prepared Q4_0 activation
// (144 bytes per pair of blocks): rows up to 16384 wide use it.
const q40PrepPairs = 256

// prepQ4_0 lays out a Q8_0 activation for q4_0MatVecQP: per pair of blocks,
// the 64 quants as [b0 0-15 | b1 0-15 | b0 16-31 | b1 16-31] (the order the
// kernel unpacks weight nibbles in), then -8·Σ of each 4-byte group as
// int32 (the Q4_0 offset), then both scales as float32; an even pair's
// slot also holds the next pair's two scales (bytes 136-143), so
// q4_0MatVecQP loads a block quad's four scales at once.
func prepQ4_0(act []byte, nb int, prep []byte) {
	for p := 0; p < nb/2; p++ {
		y0 := (*[34]byte)(act[2*p*34:])
		y1 := (*[34]byte)(act[(2*p+1)*34:])
		out := (*[144]byte)(prep[p*144:])
		copy(out[0:16], y0[2:18])
		copy(out[16:32], y1[2:18])
		copy(out[32:48], y0[18:34])
		copy(out[48:64], y1[18:34])
		for i := 0; i < 16; i++ {
			s := int32(int8(out[4*i])) + int32(int8(out[4*i+1])) + int32(int8(out[4*i+2])) + int32(int8(out[4*i+3]))
			binary.LittleEndian.PutUint32(out[64+4*i:], uint32(-8*s))
		}
		binary.LittleEndian.PutUint32(out[128:], math.Float32bits(f16at(y0[:])))
		binary.LittleEndian.PutUint32(out[132:], math.Float32bits(f16at(y1[:])))
		if p%2 == 0 && p+1 < nb/2 {
			binary.LittleEndian.PutUint32(out[136:], math.Float32bits(f16at(act[(2*p+2)*34:])))
			binary.LittleEndian.PutUint32(out[140:], math.Float32bits(f16at(act[(2*p+3)*34:])))
		}
	}
}

//go:noescape
func q4_0MatVecZ(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func f32Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)

//go:noescape
func f16Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)

//go:noescape
func bf16Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)

// floatMatMul runs a float-weight one-row × four-activation tile over the
// first multiple of 8 columns of groups of four activations, adding the
// column tail with the reference; leftover activations use the matvec.
func floatMatMul(k *kernel, tile func(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int), esz int) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		n8 := cols &^ 7
		b4 := nBatch &^ 3
		if n8 == 0 {
			b4 = 0
		}
		for b := 0; b < b4; b += 4 {
			tile(unsafe.SliceData(w), rowBytes, rows, n8, &acts[b*actBytes], actBytes, &y[b*ldy], ldy)
			if n8 < cols {
				for j := b; j < b+4; j++ {
					a := acts[j*actBytes+4*n8 : (j+1)*actBytes]
					for r := 0; r < rows; r++ {
						y[j*ldy+r] += k.ref(cols-n8, w[r*rowBytes+n8*esz:(r+1)*rowBytes], a)
					}
				}
			}
		}
		for j := b4; j < nBatch; j++ {
			k.matvec(w, rowBytes, rows, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy:])
		}
	}
}

//go:noescape
func q4_0Prep4VNNI(acts *byte, actBytes, nb int, f16 *float32, dst *byte, stride int)

//go:noescape
func q4_0Tile8x8PVNNI(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy int, f16 *float32)

//go:noescape
func q4_0Tile8x4PVNNI(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy int, f16 *float32)

// q40PrepPool holds the prepared four-activation buffers of
// q4_0MatMulVNNI (256 bytes per block), reused across calls so the hot
// path does not allocate.
var q40PrepPool = sync.Pool{New: func() any { return new([]byte) }}

// q4_0MatMulVNNI is tiledMatMul for Q4_0 with the activation side of each
// group of four activations prepared once per call (q4_0Prep4VNNI) rather
// than once per eight rows; calls with fewer than 16 rows gain nothing
// from that and go to plain.
func q4_0MatMulVNNI(k *kernel, plain matMulFunc) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		if rows < 16 || nBatch < 4 {
			plain(w, rowBytes, rows, cols, acts, actBytes, nBatch, y, ldy)
			return
		}
		nb := cols / 32
		bp := q40PrepPool.Get().(*[]byte)
		if cap(*bp) < nb*512 {
			*bp = make([]byte, nb*512)
		}
		prep := (*bp)[:nb*512]
		tab := unsafe.SliceData(f16tab)
		r8, b4 := rows&^7, nBatch&^3
		starts := b4
		if nBatch-b4 >= 2 {
			// As in tiledMatMul: the last group overlaps the previous one.
			starts, b4 = b4+1, nBatch
		}
		for s := 0; s < starts; s += 4 {
			if s+8 <= nBatch {
				// Eight activations: each weight block is unpacked once
				// for both groups.
				q4_0Prep4VNNI(&acts[s*actBytes], actBytes, nb, tab, &prep[0], 512)
				q4_0Prep4VNNI(&acts[(s+4)*actBytes], actBytes, nb, tab, &prep[256], 512)
				for r := 0; r < r8; r += 8 {
					q4_0Tile8x8PVNNI(&w[r*rowBytes], rowBytes, nb, &prep[0], &y[s*ldy+r], ldy, tab)
				}
				if r8 < rows {
					for j := s; j < s+8; j++ {
						k.matvec(w[r8*rowBytes:], rowBytes, rows-r8, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy+r8:])
					}
				}
				s += 4
				continue
			}
			b := min(s, nBatch-4)
			q4_0Prep4VNNI(&acts[b*actBytes], actBytes, nb, tab, &prep[0], 256)
			for r := 0; r < r8; r += 8 {
				q4_0Tile8x4PVNNI(&w[r*rowBytes], rowBytes, nb, &prep[0], &y[b*ldy+r], ldy, tab)
			}
			if r8 < rows {
				for j := s; j < b+4; j++ {
					k.matvec(w[r8*rowBytes:], rowBytes, rows-r8, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy+r8:])
				}
			}
		}
		for j := b4; j < nBatch; j++ {
			k.matvec(w, rowBytes, rows, cols, acts[j*actBytes:(j+1)*actBytes], y[j*ldy:])
		}
		q40PrepPool.Put(bp)
	}
}

//go:noescape
func quantizeQ8_0AVX2(x *float32, nb int, dst *byte)

//go:noescape
func q8_0Prep8T(acts *byte, actBytes, nb int, f16 *float32, dst *byte)

//go:noescape
func q8_0Tile8x8T(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy, nAct int, f16 *float32)

// q8_0Prep8 and q8_0Tile8Rows adapt the Q8_0 lane tile to laneTiledMatMul:
// the f16 table the assembly converts scales with, and one call per eight
// rows.
func q8_0Prep8(acts *byte, actBytes, nb int, dst *byte) {
	q8_0Prep8T(acts, actBytes, nb, unsafe.SliceData(f16tab), dst)
}

func q8_0Tile8Rows(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int) {
	tab := unsafe.SliceData(f16tab)
	for r := 0; r < rows; r += 8 {
		q8_0Tile8x8T((*byte)(unsafe.Add(unsafe.Pointer(w), r*rowBytes)), rowBytes, nb, prep, (*float32)(unsafe.Add(unsafe.Pointer(y), 4*r)), ldy, nAct, tab)
	}
}

// q80TMin is the smallest group of activations given to a lane tile: the
// tile costs the same for one activation as for eight, and for four or
// five the older tiles (plain) measured faster.
const q80TMin = 6

//go:noescape
func siluMulAVX2(dst, gate, up *float32, n int)

//go:noescape
func q4_0MatVecQ4(w *byte, rowBytes, rows, nb int, prep *byte, y *float32)

// prepQ4_0Quads lays out a Q8_0 activation for q4_0MatVecQ4: per quad of
// blocks b0..b3, quants 0-15 of each block (64 bytes, block b in 128-bit
// lane b), then quants 16-31 likewise, then per dword lane -8·Σ of the
// four quants it meets in each half (the Q4_0 offset, 16 int32), then the
// four scales as float32: 208 bytes. nb must be a multiple of 4.
func prepQ4_0Quads(act []byte, nb int, prep []byte) {
	for q := 0; q < nb/4; q++ {
		out := (*[208]byte)(prep[q*208:])
		for b := 0; b < 4; b++ {
			y := (*[34]byte)(act[(4*q+b)*34:])
			copy(out[16*b:16*b+16], y[2:18])
			copy(out[64+16*b:64+16*b+16], y[18:34])
			for i := 0; i < 4; i++ {
				var s int32
				for k := 0; k < 4; k++ {
					s += int32(int8(y[2+4*i+k])) + int32(int8(y[18+4*i+k]))
				}
				binary.LittleEndian.PutUint32(out[128+16*b+4*i:], uint32(-8*s))
			}
			binary.LittleEndian.PutUint32(out[192+4*b:], math.Float32bits(f16at(y[:])))
		}
	}
}

//go:noescape
func q6_KMatVecVNNI(w *byte, rowBytes, rows, nb int, act *byte, y *float32)

//go:noescape
func q4_KPrep8T(acts *byte, actBytes, nb int, dst *byte)

//go:noescape
func q4_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)

// laneTiledMatMul runs an eight-activation lane tile (tile, with its
// activation layout from prep, prepBytes per block of bs weights) over
// multiples of rowMult rows and groups of eight activations (a last group
// of q80TMin..7 zero-padded: zero quants and scale, results not stored);
// the row edge and a smaller last group go to plain.
func laneTiledMatMul(plain matMulFunc, prep func(acts *byte, actBytes, nb int, dst *byte), tile func(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int), prepBytes, bs, rowMult int) matMulFunc {
	return func(w []byte, rowBytes, rows, cols int, acts []byte, actBytes, nBatch int, y []float32, ldy int) {
		r4 := rows / rowMult * rowMult
		if r4 == 0 || nBatch < q80TMin {
			plain(w, rowBytes, rows, cols, acts, actBytes, nBatch, y, ldy)
			return
		}
		nb := cols / bs
		bp := q40PrepPool.Get().(*[]byte)
		need := nb*prepBytes + 8*actBytes
		if cap(*bp) < need {
			*bp = make([]byte, need)
		}
		buf, pad := (*bp)[:nb*prepBytes], (*bp)[nb*prepBytes:need]
		for s := 0; s < nBatch; s += 8 {
			n := min(8, nBatch-s)
			if n < q80TMin {
				plain(w, rowBytes, rows, cols, acts[s*actBytes:], actBytes, n, y[s*ldy:], ldy)
				break
			}
			src := acts[s*actBytes:]
			if n < 8 {
				copy(pad, src[:n*actBytes])
				clear(pad[n*actBytes:])
				src = pad
			}
			prep(&src[0], actBytes, nb, &buf[0])
			tile(unsafe.SliceData(w), rowBytes, r4, nb, &buf[0], &y[s*ldy], ldy, n)
			if r4 < rows {
				plain(w[r4*rowBytes:], rowBytes, rows-r4, cols, src, actBytes, n, y[s*ldy+r4:], ldy)
			}
		}
		q40PrepPool.Put(bp)
	}
}

//go:noescape
func q6_KPrep8T(acts *byte, actBytes, nb int, dst *byte)

//go:noescape
func q6_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)

//go:noescape
func q5_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)
