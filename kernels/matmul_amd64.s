//go:build !purego

#include "textflag.h"
#include "tile_amd64.h"

// AVX-512 VNNI tiles for prompt processing and batched decode. Q8_0: 4
// weight rows × 4 activations per call; each ZMM holds two activations'
// blocks side by side ([t | t+1], 256 bits each), so one weight block,
// unpacked once and broadcast to both halves, meets two activations per
// VPDPBUSD. (The Q4_0 tiles further down put four activations in one ZMM;
// see their own comment.) VPDPBUSD multiplies unsigned
// by signed bytes, so weights are made unsigned (Q4_0: the raw nibble;
// Q8_0: x+128) and the offset is removed with the activation's byte sum
// (Z10/Z11 = -offset·Σy per lane, the starting value of each VPDPBUSD),
// computed once per activation block. Z28 stays zero.
//
// GP registers: SI weight block (row 0), R8 row bytes, R12 3·row bytes,
// DX activation block (token 0), R9 activation bytes, R10 3·activation
// bytes, CX blocks left, R13 f16→f32 table, AX scratch, DI output, BX ldy·4.
// Z0..Z7 accumulators (row r, token pair p in Z(2r+p)); Z31 nibble mask;
// Z30 offset bytes.

#define TILEARGS \
	MOVQ w+0(FP), SI \
	MOVQ rowBytes+8(FP), R8 \
	MOVQ nb+16(FP), CX \
	MOVQ acts+24(FP), DX \
	MOVQ actBytes+32(FP), R9 \
	MOVQ y+40(FP), DI \
	MOVQ ldy+48(FP), BX \
	MOVQ f16+56(FP), R13 \
	SHLQ $2, BX \
	LEAQ (R8)(R8*2), R12 \
	LEAQ (R9)(R9*2), R10 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z28, Z28, Z28

// ACTS loads the four activations' block (quants at +2, f16 scale at +0):
// Z8=[y0|y1], Z9=[y2|y3], Z10/Z11 their offset sums, Z12/Z13 their scales.
#define ACTS \
	VMOVDQU 2(DX), Y8 \
	VINSERTI64X4 $1, 2(DX)(R9*1), Z8, Z8 \
	VMOVDQU 2(DX)(R9*2), Y9 \
	VINSERTI64X4 $1, 2(DX)(R10*1), Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPDPBUSD Z8, Z30, Z10 \
	VPSUBD Z10, Z28, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPDPBUSD Z9, Z30, Z11 \
	VPSUBD Z11, Z28, Z11 \
	MOVWLZX (DX), AX \
	VBROADCASTSS (R13)(AX*4), Y12 \
	MOVWLZX (DX)(R9*1), AX \
	VBROADCASTSS (R13)(AX*4), Y14 \
	VINSERTF64X4 $1, Y14, Z12, Z12 \
	MOVWLZX (DX)(R9*2), AX \
	VBROADCASTSS (R13)(AX*4), Y13 \
	MOVWLZX (DX)(R10*1), AX \
	VBROADCASTSS (R13)(AX*4), Y14 \
	VINSERTF64X4 $1, Y14, Z13, Z13

// PAIRS multiplies the unsigned weight block in Z15 (scale address dp)
// with both activation pairs into accumulators a01, a23.
#define PAIRS(dp, a01, a23) \
	MOVWLZX dp, AX \
	VBROADCASTSS (R13)(AX*4), Z16 \
	VMULPS Z12, Z16, Z17 \
	VMULPS Z13, Z16, Z18 \
	VMOVDQA32 Z10, Z19 \
	VPDPBUSD Z8, Z15, Z19 \
	VCVTDQ2PS Z19, Z19 \
	VFMADD231PS Z19, Z17, a01 \
	VMOVDQA32 Z11, Z20 \
	VPDPBUSD Z9, Z15, Z20 \
	VCVTDQ2PS Z20, Z20 \
	VFMADD231PS Z20, Z18, a23

// Q80W loads a Q8_0 block's 32 int8 (at qp) as x+128 into Z15 = [q | q].
#define Q80W(qp) \
	VMOVDQU qp, Y15 \
	VPXORD Y30, Y15, Y15 \
	VINSERTI64X4 $1, Y15, Z15, Z15

// HS4 stores the sums of the two 256-bit halves of acc at lo and hi.
#define HS4(acc, yacc, xacc, lo, hi) \
	VEXTRACTF64X4 $1, acc, Y9 \
	VEXTRACTF128 $1, yacc, X8 \
	VADDPS X8, xacc, X8 \
	VHADDPS X8, X8, X8 \
	VHADDPS X8, X8, X8 \
	VMOVSS X8, lo \
	VEXTRACTF128 $1, Y9, X8 \
	VADDPS X8, X9, X8 \
	VHADDPS X8, X8, X8 \
	VHADDPS X8, X8, X8 \
	VMOVSS X8, hi

// STORE writes the 16 results: row r of token t at DI + t·BX + 4r.
#define STORE \
	LEAQ (DI)(BX*2), AX \
	HS4(Z0, Y0, X0, (DI), (DI)(BX*1)) \
	HS4(Z1, Y1, X1, (AX), (AX)(BX*1)) \
	HS4(Z2, Y2, X2, 4(DI), 4(DI)(BX*1)) \
	HS4(Z3, Y3, X3, 4(AX), 4(AX)(BX*1)) \
	HS4(Z4, Y4, X4, 8(DI), 8(DI)(BX*1)) \
	HS4(Z5, Y5, X5, 8(AX), 8(AX)(BX*1)) \
	HS4(Z6, Y6, X6, 12(DI), 12(DI)(BX*1)) \
	HS4(Z7, Y7, X7, 12(AX), 12(AX)(BX*1))

// func q8_0Tile4x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)
TEXT ·q8_0Tile4x4VNNI(SB), NOSPLIT, $0-64
	TILEARGS
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z30

q80tile:
	// The next four rows' lines at this block offset, so the next tile
	// starts from cache: +27-32% from DRAM at batch 8 (A/B in one run).
	LEAQ (SI)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 (AX)(R12*1)
	ACTS
	Q80W(2(SI))
	PAIRS((SI), Z0, Z1)
	Q80W(2(SI)(R8*1))
	PAIRS((SI)(R8*1), Z2, Z3)
	Q80W(2(SI)(R8*2))
	PAIRS((SI)(R8*2), Z4, Z5)
	Q80W(2(SI)(R12*1))
	PAIRS((SI)(R12*1), Z6, Z7)
	ADDQ $34, SI
	ADDQ $34, DX
	DECQ CX
	JNZ q80tile

	STORE
	VZEROUPPER
	RET



// Lane pattern for the two-block Q4_0 kernel's scales: lanes 0-3 and 8-11
// belong to the first block, 4-7 and 12-15 to the second.
DATA q40zidx<>+0(SB)/8, $0
DATA q40zidx<>+8(SB)/8, $0
DATA q40zidx<>+16(SB)/8, $0x0000000100000001
DATA q40zidx<>+24(SB)/8, $0x0000000100000001
DATA q40zidx<>+32(SB)/8, $0
DATA q40zidx<>+40(SB)/8, $0
DATA q40zidx<>+48(SB)/8, $0x0000000100000001
DATA q40zidx<>+56(SB)/8, $0x0000000100000001
GLOBL q40zidx<>(SB), RODATA|NOPTR, $64

// func q4_0MatVecZ(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// One row at a time (a single sequential stream, which prefetches at full
// bandwidth), two blocks per ZMM: weights [b0 low|b1 low|b0 high|b1 high]
// against the activations shuffled to match, one VPDPBUSD for 64 quants.
// nb must be even.
TEXT ·q4_0MatVecZ(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ act+32(FP), R11
	MOVQ y+40(FP), DI
	SHRQ $1, R10
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z30
	VMOVDQU32 q40zidx<>(SB), Z29

q40zrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Z0, Z0, Z0

q40zpair:
	MOVWLZX 34(DX), AX
	SHLQ $16, AX
	MOVWLZX (DX), R12
	ORQ R12, AX
	SHLQ $16, AX
	MOVWLZX 18(BX), R12
	ORQ R12, AX
	SHLQ $16, AX
	MOVWLZX (BX), R12
	ORQ R12, AX
	VMOVQ AX, X1
	VCVTPH2PS X1, X1
	VMOVHLPS X1, X1, X2
	VMULPS X2, X1, X1
	VPERMPS Z1, Z29, Z1

	VMOVDQU32 2(BX), X2
	VINSERTI32X4 $1, 20(BX), Y2, Y2
	VPSRLW $4, Y2, Y3
	VINSERTI64X4 $1, Y3, Z2, Z2
	VPANDD Z31, Z2, Z2

	VMOVDQU32 2(DX), Y3
	VINSERTI64X4 $1, 36(DX), Z3, Z3
	VSHUFI64X2 $0xD8, Z3, Z3, Z3

	VPXORD Z4, Z4, Z4
	VPDPBUSD Z3, Z30, Z4
	VPXORD Z5, Z5, Z5
	VPDPBUSD Z3, Z2, Z5
	VPSUBD Z4, Z5, Z5
	VCVTDQ2PS Z5, Z5
	VFMADD231PS Z5, Z1, Z0

	ADDQ $36, BX
	ADDQ $68, DX
	DECQ CX
	JNZ q40zpair

	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q40zrow
	VZEROUPPER
	RET

// Eight-row × four-activation Q4_0 tile. Each ZMM holds one block of
// all four activations as four 128-bit lanes, [y0 | y1 | y2 | y3], half a
// block each: Z16 the quants 0-15, Z17 the quants 16-31. A weight block's
// 16 nibble bytes are broadcast to all four lanes straight from memory
// (one load), so the low nibbles (weights 0-15) and high nibbles (weights
// 16-31) each meet all four activations in a single VPDPBUSD: two per row
// and block, then one conversion, one scale product (weight scale
// broadcast from the f16 table against Z19, the four activation scales)
// and one FMA. The activation side (ACTS4: loads, -8·Σy per lane in Z18,
// scales) is shared by the eight rows. Z0..Z7 accumulate rows 0..7 across
// all blocks and are reduced once at the end (lanes 4k..4k+3 belong to
// activation k). Z20..Z24 scratch, Z28 zero, Z30 8s, Z31 nibble mask. GP as
// in the 4×4 tile, but BX points at row 4 and ldy·4 waits in the frame.

#define ACTS4 \
	VMOVDQU32 2(DX), X16 \
	VINSERTI32X4 $1, 2(DX)(R9*1), Z16, Z16 \
	VINSERTI32X4 $2, 2(DX)(R9*2), Z16, Z16 \
	VINSERTI32X4 $3, 2(DX)(R10*1), Z16, Z16 \
	VMOVDQU32 18(DX), X17 \
	VINSERTI32X4 $1, 18(DX)(R9*1), Z17, Z17 \
	VINSERTI32X4 $2, 18(DX)(R9*2), Z17, Z17 \
	VINSERTI32X4 $3, 18(DX)(R10*1), Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPDPBUSD Z16, Z30, Z18 \
	VPDPBUSD Z17, Z30, Z18 \
	VPSUBD Z18, Z28, Z18 \
	MOVWLZX (DX), AX \
	VBROADCASTSS (R13)(AX*4), X19 \
	MOVWLZX (DX)(R9*1), AX \
	VBROADCASTSS (R13)(AX*4), X24 \
	VINSERTF32X4 $1, X24, Z19, Z19 \
	MOVWLZX (DX)(R9*2), AX \
	VBROADCASTSS (R13)(AX*4), X24 \
	VINSERTF32X4 $2, X24, Z19, Z19 \
	MOVWLZX (DX)(R10*1), AX \
	VBROADCASTSS (R13)(AX*4), X24 \
	VINSERTF32X4 $3, X24, Z19, Z19

#define ROW4(dp, qp, acc) \
	VBROADCASTI32X4 qp, Z20 \
	VPANDD Z31, Z20, Z21 \
	VPSRLW $4, Z20, Z22 \
	VPANDD Z31, Z22, Z22 \
	VMOVDQA32 Z18, Z23 \
	VPDPBUSD Z16, Z21, Z23 \
	VPDPBUSD Z17, Z22, Z23 \
	VCVTDQ2PS Z23, Z23 \
	MOVWLZX dp, AX \
	VMULPS.BCST (R13)(AX*4), Z19, Z24 \
	VFMADD231PS Z23, Z24, acc

// HS4L reduces each 128-bit lane of acc (scratch Z23, Z24) and stores lane
// k's sum at activation k's output: off(DI), off(DI)(BX*1), off(DI)(BX*2),
// off(DI)(R11*1).
#define HS4L(acc, xacc, off) \
	VPERMILPS $0x4E, acc, Z23 \
	VADDPS Z23, acc, acc \
	VPERMILPS $0xB1, acc, Z23 \
	VADDPS Z23, acc, acc \
	VMOVSS xacc, off(DI) \
	VEXTRACTF32X4 $1, acc, X24 \
	VMOVSS X24, off(DI)(BX*1) \
	VEXTRACTF32X4 $2, acc, X24 \
	VMOVSS X24, off(DI)(BX*2) \
	VEXTRACTF32X4 $3, acc, X24 \
	VMOVSS X24, off(DI)(R11*1)

// func q4_0Tile8x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)
TEXT ·q4_0Tile8x4VNNI(SB), NOSPLIT, $8-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ nb+16(FP), CX
	MOVQ acts+24(FP), DX
	MOVQ actBytes+32(FP), R9
	MOVQ y+40(FP), DI
	MOVQ ldy+48(FP), AX
	SHLQ $2, AX
	MOVQ AX, 0(SP)
	MOVQ f16+56(FP), R13
	LEAQ (R8)(R8*2), R12
	LEAQ (R9)(R9*2), R10
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z28, Z28, Z28
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z30

q408t:
	ACTS4
	LEAQ (SI)(R8*4), BX
	ROW4((SI), 2(SI), Z0)
	ROW4((SI)(R8*1), 2(SI)(R8*1), Z1)
	ROW4((SI)(R8*2), 2(SI)(R8*2), Z2)
	ROW4((SI)(R12*1), 2(SI)(R12*1), Z3)
	ROW4((BX), 2(BX), Z4)
	ROW4((BX)(R8*1), 2(BX)(R8*1), Z5)
	ROW4((BX)(R8*2), 2(BX)(R8*2), Z6)
	ROW4((BX)(R12*1), 2(BX)(R12*1), Z7)
	ADDQ $18, SI
	ADDQ $34, DX
	DECQ CX
	JNZ q408t

	MOVQ 0(SP), BX
	LEAQ (BX)(BX*2), R11
	HS4L(Z0, X0, 0)
	HS4L(Z1, X1, 4)
	HS4L(Z2, X2, 8)
	HS4L(Z3, X3, 12)
	HS4L(Z4, X4, 16)
	HS4L(Z5, X5, 20)
	HS4L(Z6, X6, 24)
	HS4L(Z7, X7, 28)
	VZEROUPPER
	RET

// func q4_0Prep4VNNI(acts *byte, actBytes, nb int, f16 *float32, dst *byte, stride int)
// Runs ACTS4 for every block of four activations once and stores Z16..Z19
// (256 bytes, every stride bytes per block) for q4_0Tile8x4PVNNI and
// q4_0Tile8x8PVNNI, so a call over many rows pays for the activation side
// once instead of once per eight rows.
TEXT ·q4_0Prep4VNNI(SB), NOSPLIT, $0-48
	MOVQ acts+0(FP), DX
	MOVQ actBytes+8(FP), R9
	MOVQ nb+16(FP), CX
	MOVQ f16+24(FP), R13
	MOVQ dst+32(FP), DI
	MOVQ stride+40(FP), R11
	LEAQ (R9)(R9*2), R10
	VPXORD Z28, Z28, Z28
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z30

q40prep4:
	ACTS4
	VMOVDQU32 Z16, (DI)
	VMOVDQU32 Z17, 64(DI)
	VMOVDQU32 Z18, 128(DI)
	VMOVDQU32 Z19, 192(DI)
	ADDQ R11, DI
	ADDQ $34, DX
	DECQ CX
	JNZ q40prep4
	VZEROUPPER
	RET

// func q4_0Tile8x4PVNNI(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy int, f16 *float32)
// q4_0Tile8x4VNNI with the activation side read from q4_0Prep4VNNI's
// output (DX, 256 bytes per block).
TEXT ·q4_0Tile8x4PVNNI(SB), NOSPLIT, $8-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ nb+16(FP), CX
	MOVQ prep+24(FP), DX
	MOVQ y+32(FP), DI
	MOVQ ldy+40(FP), AX
	SHLQ $2, AX
	MOVQ AX, 0(SP)
	MOVQ f16+48(FP), R13
	LEAQ (R8)(R8*2), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31

q408p:
	PREFETCH_NEXT8
	VMOVDQU32 (DX), Z16
	VMOVDQU32 64(DX), Z17
	VMOVDQU32 128(DX), Z18
	VMOVDQU32 192(DX), Z19
	LEAQ (SI)(R8*4), BX
	ROW4((SI), 2(SI), Z0)
	ROW4((SI)(R8*1), 2(SI)(R8*1), Z1)
	ROW4((SI)(R8*2), 2(SI)(R8*2), Z2)
	ROW4((SI)(R12*1), 2(SI)(R12*1), Z3)
	ROW4((BX), 2(BX), Z4)
	ROW4((BX)(R8*1), 2(BX)(R8*1), Z5)
	ROW4((BX)(R8*2), 2(BX)(R8*2), Z6)
	ROW4((BX)(R12*1), 2(BX)(R12*1), Z7)
	ADDQ $18, SI
	ADDQ $256, DX
	DECQ CX
	JNZ q408p

	MOVQ 0(SP), BX
	LEAQ (BX)(BX*2), R11
	HS4L(Z0, X0, 0)
	HS4L(Z1, X1, 4)
	HS4L(Z2, X2, 8)
	HS4L(Z3, X3, 12)
	HS4L(Z4, X4, 16)
	HS4L(Z5, X5, 20)
	HS4L(Z6, X6, 24)
	HS4L(Z7, X7, 28)
	VZEROUPPER
	RET

// ROW8X(dp, qp, acc, acc2) is ROW4 for eight activations: the weight
// block is unpacked once and meets the first group (Z16..Z19) into acc and
// the second group (Z24..Z27) into acc2.
#define ROW8X(dp, qp, acc, acc2) \
	VBROADCASTI32X4 qp, Z20 \
	VPANDD Z31, Z20, Z21 \
	VPSRLW $4, Z20, Z22 \
	VPANDD Z31, Z22, Z22 \
	MOVWLZX dp, AX \
	VMOVDQA32 Z18, Z23 \
	VPDPBUSD Z16, Z21, Z23 \
	VPDPBUSD Z17, Z22, Z23 \
	VCVTDQ2PS Z23, Z23 \
	VMULPS.BCST (R13)(AX*4), Z19, Z29 \
	VFMADD231PS Z23, Z29, acc \
	VMOVDQA32 Z26, Z28 \
	VPDPBUSD Z24, Z21, Z28 \
	VPDPBUSD Z25, Z22, Z28 \
	VCVTDQ2PS Z28, Z28 \
	VMULPS.BCST (R13)(AX*4), Z27, Z30 \
	VFMADD231PS Z28, Z30, acc2

// func q4_0Tile8x8PVNNI(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy int, f16 *float32)
// Eight rows × eight activations from two prepared groups (512 bytes per
// block: group 0 then group 1). Z0..Z7 rows 0..7 of activations 0-3,
// Z8..Z15 of activations 4-7; every other vector register is in use.
TEXT ·q4_0Tile8x8PVNNI(SB), NOSPLIT, $8-56
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ nb+16(FP), CX
	MOVQ prep+24(FP), DX
	MOVQ y+32(FP), DI
	MOVQ ldy+40(FP), AX
	SHLQ $2, AX
	MOVQ AX, 0(SP)
	MOVQ f16+48(FP), R13
	LEAQ (R8)(R8*2), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31

q488p:
	PREFETCH_NEXT8
	VMOVDQU32 (DX), Z16
	VMOVDQU32 64(DX), Z17
	VMOVDQU32 128(DX), Z18
	VMOVDQU32 192(DX), Z19
	VMOVDQU32 256(DX), Z24
	VMOVDQU32 320(DX), Z25
	VMOVDQU32 384(DX), Z26
	VMOVDQU32 448(DX), Z27
	LEAQ (SI)(R8*4), BX
	ROW8X((SI), 2(SI), Z0, Z8)
	ROW8X((SI)(R8*1), 2(SI)(R8*1), Z1, Z9)
	ROW8X((SI)(R8*2), 2(SI)(R8*2), Z2, Z10)
	ROW8X((SI)(R12*1), 2(SI)(R12*1), Z3, Z11)
	ROW8X((BX), 2(BX), Z4, Z12)
	ROW8X((BX)(R8*1), 2(BX)(R8*1), Z5, Z13)
	ROW8X((BX)(R8*2), 2(BX)(R8*2), Z6, Z14)
	ROW8X((BX)(R12*1), 2(BX)(R12*1), Z7, Z15)
	ADDQ $18, SI
	ADDQ $512, DX
	DECQ CX
	JNZ q488p

	MOVQ 0(SP), BX
	LEAQ (BX)(BX*2), R11
	HS4L(Z0, X0, 0)
	HS4L(Z1, X1, 4)
	HS4L(Z2, X2, 8)
	HS4L(Z3, X3, 12)
	HS4L(Z4, X4, 16)
	HS4L(Z5, X5, 20)
	HS4L(Z6, X6, 24)
	HS4L(Z7, X7, 28)
	LEAQ (DI)(BX*4), DI
	HS4L(Z8, X8, 0)
	HS4L(Z9, X9, 4)
	HS4L(Z10, X10, 8)
	HS4L(Z11, X11, 12)
	HS4L(Z12, X12, 16)
	HS4L(Z13, X13, 20)
	HS4L(Z14, X14, 24)
	HS4L(Z15, X15, 28)
	VZEROUPPER
	RET
