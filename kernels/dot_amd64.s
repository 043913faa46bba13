//go:build !purego

#include "textflag.h"

// Register use shared by the legacy-quant kernels:
//   SI row pointer, R8 row bytes, R9 rows left, R10 blocks per row,
//   R11 activation, DI output, BX/DX block pointers, CX block counter.
//   Y15 0x0F bytes, Y14 0x08 bytes, Y13 int16 ones, Y0 accumulator.

#define CONSTS \
	MOVL $0x0F0F0F0F, AX \
	VMOVD AX, X15 \
	VPBROADCASTD X15, Y15 \
	MOVL $0x08080808, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVL $0x00010001, AX \
	VMOVD AX, X13 \
	VPBROADCASTD X13, Y13

// SCALE2 leaves broadcast(f16(wp) * f16(ap)) in Y1.
#define SCALE2(wp, ap) \
	MOVWLZX wp, AX \
	MOVWLZX ap, R12 \
	SHLL $16, R12 \
	ORL R12, AX \
	VMOVD AX, X1 \
	VCVTPH2PS X1, X1 \
	VMOVSHDUP X1, X2 \
	VMULSS X2, X1, X1 \
	VBROADCASTSS X1, Y1

// DOTI8(acc) accumulates acc += Y1 * float(Σ signed(Y2) * signed(Y3)) per
// 4-byte lane (ggml's sign trick: |x| · (y·sign x) fits VPMADDUBSW).
#define DOTI8(acc) \
	VPSIGNB Y2, Y2, Y4 \
	VPSIGNB Y2, Y3, Y3 \
	VPMADDUBSW Y3, Y4, Y4 \
	VPMADDWD Y13, Y4, Y4 \
	VCVTDQ2PS Y4, Y4 \
	VFMADD231PS Y4, Y1, acc

// HSUM stores the horizontal sum of Y0 at (DI).
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI)

#define LOADARGS \
	MOVQ w+0(FP), SI \
	MOVQ rowBytes+8(FP), R8 \
	MOVQ rows+16(FP), R9 \
	MOVQ nb+24(FP), R10 \
	MOVQ act+32(FP), R11 \
	MOVQ y+40(FP), DI

#define Q40BLOCK(wo, ao, acc) \
	SCALE2(wo(BX), ao(DX)) \
	VMOVDQU wo+2(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VPSUBB Y14, Y2, Y2 \
	VMOVDQU ao+2(DX), Y3 \
	DOTI8(acc)

// func q4_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Two blocks per iteration into two accumulators so consecutive FMAs do
// not wait on each other.
TEXT ·q4_0MatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS

q40row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	CMPQ CX, $2
	JLT q40tail

q40pair:
	Q40BLOCK(0, 0, Y0)
	Q40BLOCK(18, 34, Y5)
	ADDQ $36, BX
	ADDQ $68, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE q40pair

q40tail:
	TESTQ CX, CX
	JZ q40end
	Q40BLOCK(0, 0, Y0)

q40end:
	VADDPS Y5, Y0, Y0
	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q40row
	VZEROUPPER
	RET

#define Q80BLOCK(wo, ao, acc) \
	SCALE2(wo(BX), ao(DX)) \
	VMOVDQU wo+2(BX), Y2 \
	VMOVDQU ao+2(DX), Y3 \
	DOTI8(acc)

// func q8_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q8_0MatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS

q80row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	CMPQ CX, $2
	JLT q80tail

q80pair:
	Q80BLOCK(0, 0, Y0)
	Q80BLOCK(34, 34, Y5)
	ADDQ $68, BX
	ADDQ $68, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE q80pair

q80tail:
	TESTQ CX, CX
	JZ q80end
	Q80BLOCK(0, 0, Y0)

q80end:
	VADDPS Y5, Y0, Y0
	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q80row
	VZEROUPPER
	RET

// func loadSumAVX2(p *byte, n int) uint64
// Streams n bytes (a multiple of 128) through four YMM accumulators: the
// bandwidth probe's load loop, as fast as the kernels' own loads.
TEXT ·loadSumAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $7, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	TESTQ CX, CX
	JZ lsdone

lsloop:
	VPADDQ (SI), Y0, Y0
	VPADDQ 32(SI), Y1, Y1
	VPADDQ 64(SI), Y2, Y2
	VPADDQ 96(SI), Y3, Y3
	ADDQ $128, SI
	DECQ CX
	JNZ lsloop

lsdone:
	VPADDQ Y1, Y0, Y0
	VPADDQ Y3, Y2, Y2
	VPADDQ Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	MOVQ X0, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET

// func q4_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Per 256-element super-block: the eight 6-bit scales and mins are unpacked
// with scalar shifts (ggml's utmp trick); the mins meet the activation's
// 16-element sums (bsums) in one VPMADDWD; the quants go through
// VPMADDUBSW (unsigned nibble × signed activation) and VPMADDWD by the
// broadcast sub-block scale. Integer sums are exact; each super-block adds
// d·dy·Σ and dmin·dy·Σmins into float accumulators.
// Frame: 0(SP) eight int16 scales, 16(SP) rows left, 24(SP) output pointer.
TEXT ·q4_KMatVecAVX2(SB), NOSPLIT, $32-48
	LOADARGS
	MOVQ R9, 16(SP)
	MOVQ DI, 24(SP)
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

q4krow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5

q4kblock:
	// d·dy and dmin·dy
	VMOVD (BX), X1
	VCVTPH2PS X1, X1
	VBROADCASTSS (DX), X2
	VMULPS X2, X1, X1
	VBROADCASTSS X1, Y6
	VMOVSHDUP X1, X2
	VBROADCASTSS X2, Y7

	// unpack scales (AX) and mins (R12), eight bytes each
	MOVL 4(BX), AX
	MOVL 8(BX), R12
	MOVL 12(BX), R13
	MOVL R12, R9
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	MOVL R13, DI
	SHRL $4, DI
	ANDL $0x0f0f0f0f, DI
	ORL DI, R9
	MOVL AX, DI
	SHRL $6, DI
	ANDL $0x03030303, DI
	SHLL $4, DI
	ANDL $0x0f0f0f0f, R13
	ORL DI, R13
	ANDL $0x3f3f3f3f, R12
	ANDL $0x3f3f3f3f, AX
	SHLQ $32, R13
	ORQ R13, AX
	SHLQ $32, R9
	ORQ R9, R12

	VMOVQ AX, X1
	VPMOVZXBW X1, X1
	VMOVDQU X1, 0(SP)

	// mins · bsums
	VMOVQ R12, X2
	VPMOVZXBW X2, X2
	VPUNPCKLWD X2, X2, X3
	VPUNPCKHWD X2, X2, X4
	VINSERTI128 $1, X4, Y3, Y3
	VPMADDWD 260(DX), Y3, Y3
	VCVTDQ2PS Y3, Y3
	VFMADD231PS Y3, Y7, Y5

	VPXOR Y8, Y8, Y8

#define Q4KCHUNK(j) \
	VMOVDQU (16+32*j)(BX), Y1 \
	VPSRLW $4, Y1, Y2 \
	VPAND Y15, Y1, Y1 \
	VPAND Y15, Y2, Y2 \
	VPMADDUBSW (4+64*j)(DX), Y1, Y1 \
	VPMADDUBSW (36+64*j)(DX), Y2, Y2 \
	VPBROADCASTW (4*j)(SP), Y3 \
	VPBROADCASTW (2+4*j)(SP), Y4 \
	VPMADDWD Y3, Y1, Y1 \
	VPMADDWD Y4, Y2, Y2 \
	VPADDD Y1, Y8, Y8 \
	VPADDD Y2, Y8, Y8

	Q4KCHUNK(0)
	Q4KCHUNK(1)
	Q4KCHUNK(2)
	Q4KCHUNK(3)

	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y6, Y0

	ADDQ $144, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q4kblock

	VSUBPS Y5, Y0, Y0
	MOVQ 24(SP), DI
	HSUM
	ADDQ $4, DI
	MOVQ DI, 24(SP)
	ADDQ R8, SI
	DECQ 16(SP)
	JNZ q4krow
	VZEROUPPER
	RET

// func q6_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Per super-block: the sixteen int8 scales are widened to int16 (kept in
// the frame for per-part broadcasts); the -32 offset of every quant is
// folded in once as -32·Σ scale·bsum; each 32-quant part is rebuilt from
// its low nibble and two high bits and goes through VPMADDUBSW/VPMADDWD.
// Frame: 0(SP) sixteen int16 scales, 32(SP) rows left, 40(SP) output pointer.
TEXT ·q6_KMatVecAVX2(SB), NOSPLIT, $48-48
	LOADARGS
	MOVQ R9, 32(SP)
	MOVQ DI, 40(SP)
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x03030303, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x0C0C0C0C, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x30303030, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0xC0C0C0C0, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11

q6krow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

q6kblock:
	// d·dy
	MOVWLZX 208(BX), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULSS (DX), X1, X1
	VBROADCASTSS X1, Y6

	// scales, and sumi = -32 Σ scale·bsum
	VPMOVSXBW 192(BX), Y1
	VMOVDQU Y1, 0(SP)
	VPMADDWD 260(DX), Y1, Y1
	VPSLLD $5, Y1, Y1
	VPXOR Y8, Y8, Y8
	VPSUBD Y1, Y8, Y8

#define Q6KPART(q, ao, so) \
	VPMADDUBSW ao(DX), q, q \
	VPBROADCASTW (so)(SP), X3 \
	VPBROADCASTW (2+so)(SP), X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPMADDWD Y3, q, q \
	VPADDD q, Y8, Y8

#define Q6KHALF(h) \
	VMOVDQU (64*h)(BX), Y1 \
	VMOVDQU (64*h+32)(BX), Y2 \
	VMOVDQU (128+32*h)(BX), Y7 \
	VPAND Y15, Y1, Y9 \
	VPAND Y14, Y7, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPART(Y9, 4+128*h, 16*h) \
	VPAND Y15, Y2, Y9 \
	VPAND Y13, Y7, Y10 \
	VPSLLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPART(Y9, 36+128*h, 16*h+4) \
	VPSRLW $4, Y1, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y12, Y7, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPART(Y9, 68+128*h, 16*h+8) \
	VPSRLW $4, Y2, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y11, Y7, Y10 \
	VPSRLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPART(Y9, 100+128*h, 16*h+12)

	Q6KHALF(0)
	Q6KHALF(1)

	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y6, Y0

	ADDQ $210, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q6kblock

	MOVQ 40(SP), DI
	HSUM
	ADDQ $4, DI
	MOVQ DI, 40(SP)
	ADDQ R8, SI
	DECQ 32(SP)
	JNZ q6krow
	VZEROUPPER
	RET


#define Q5KCHUNK(j) \
	VMOVDQU (48+32*j)(BX), Y1 \
	VPSRLW $4, Y1, Y2 \
	VPAND Y15, Y1, Y1 \
	VPAND Y15, Y2, Y2 \
	VPSRLW $(2*j), Y9, Y10 \
	VPAND Y14, Y10, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y1, Y1 \
	VPSRLW $(2*j+1), Y9, Y10 \
	VPAND Y14, Y10, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y2, Y2 \
	VPMADDUBSW (4+64*j)(DX), Y1, Y1 \
	VPMADDUBSW (36+64*j)(DX), Y2, Y2 \
	VPBROADCASTW (4*j)(SP), Y3 \
	VPBROADCASTW (2+4*j)(SP), Y4 \
	VPMADDWD Y3, Y1, Y1 \
	VPMADDWD Y4, Y2, Y2 \
	VPADDD Y1, Y8, Y8 \
	VPADDD Y2, Y8, Y8

// func q5_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Q4_K's kernel plus the fifth bit: qh (Y9) bit 2j (2j+1) of each byte
// adds 16 to the low (high) nibbles of chunk j.
// Frame: 0(SP) eight int16 scales, 16(SP) rows left, 24(SP) output pointer.
TEXT ·q5_KMatVecAVX2(SB), NOSPLIT, $32-48
	LOADARGS
	MOVQ R9, 16(SP)
	MOVQ DI, 24(SP)
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x01010101, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14

q5krow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5

q5kblock:
	// d·dy and dmin·dy
	VMOVD (BX), X1
	VCVTPH2PS X1, X1
	VBROADCASTSS (DX), X2
	VMULPS X2, X1, X1
	VBROADCASTSS X1, Y6
	VMOVSHDUP X1, X2
	VBROADCASTSS X2, Y7

	// unpack scales (AX) and mins (R12), eight bytes each
	MOVL 4(BX), AX
	MOVL 8(BX), R12
	MOVL 12(BX), R13
	MOVL R12, R9
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	MOVL R13, DI
	SHRL $4, DI
	ANDL $0x0f0f0f0f, DI
	ORL DI, R9
	MOVL AX, DI
	SHRL $6, DI
	ANDL $0x03030303, DI
	SHLL $4, DI
	ANDL $0x0f0f0f0f, R13
	ORL DI, R13
	ANDL $0x3f3f3f3f, R12
	ANDL $0x3f3f3f3f, AX
	SHLQ $32, R13
	ORQ R13, AX
	SHLQ $32, R9
	ORQ R9, R12

	VMOVQ AX, X1
	VPMOVZXBW X1, X1
	VMOVDQU X1, 0(SP)

	// mins · bsums
	VMOVQ R12, X2
	VPMOVZXBW X2, X2
	VPUNPCKLWD X2, X2, X3
	VPUNPCKHWD X2, X2, X4
	VINSERTI128 $1, X4, Y3, Y3
	VPMADDWD 260(DX), Y3, Y3
	VCVTDQ2PS Y3, Y3
	VFMADD231PS Y3, Y7, Y5

	VPXOR Y8, Y8, Y8
	VMOVDQU 16(BX), Y9

	Q5KCHUNK(0)
	Q5KCHUNK(1)
	Q5KCHUNK(2)
	Q5KCHUNK(3)

	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y6, Y0

	ADDQ $176, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q5kblock

	VSUBPS Y5, Y0, Y0
	MOVQ 24(SP), DI
	HSUM
	ADDQ $4, DI
	MOVQ DI, 24(SP)
	ADDQ R8, SI
	DECQ 16(SP)
	JNZ q5krow
	VZEROUPPER
	RET


// Byte i of the pattern picks qh byte i/8 (VPSHUFB works per 128-bit lane;
// qh is broadcast to every dword first, so both lanes see all four bytes).
DATA q5shuf<>+0(SB)/8, $0x0000000000000000
DATA q5shuf<>+8(SB)/8, $0x0101010101010101
DATA q5shuf<>+16(SB)/8, $0x0202020202020202
DATA q5shuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5shuf<>(SB), RODATA|NOPTR, $32

// Q50BLOCK: Q5_0 block at wo(BX): nibbles plus the fifth bit (qh bit i →
// 16 on element i), minus 16, dotted like Q4_0.
#define Q50BLOCK(wo, ao, acc) \
	SCALE2(wo(BX), ao(DX)) \
	VPBROADCASTD wo+2(BX), Y7 \
	VPSHUFB Y12, Y7, Y7 \
	VPAND Y11, Y7, Y7 \
	VPCMPEQB Y11, Y7, Y7 \
	VPAND Y10, Y7, Y7 \
	VMOVDQU wo+6(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VPOR Y7, Y2, Y2 \
	VPSUBB Y10, Y2, Y2 \
	VMOVDQU ao+2(DX), Y3 \
	DOTI8(acc)

// func q5_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q5_0MatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS
	MOVL $0x10101010, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVQ $0x8040201008040201, AX
	VMOVQ AX, X11
	VPBROADCASTQ X11, Y11
	VMOVDQU q5shuf<>(SB), Y12

q50row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	CMPQ CX, $2
	JLT q50tail

q50pair:
	Q50BLOCK(0, 0, Y0)
	Q50BLOCK(22, 34, Y5)
	ADDQ $44, BX
	ADDQ $68, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE q50pair

q50tail:
	TESTQ CX, CX
	JZ q50end
	Q50BLOCK(0, 0, Y0)

q50end:
	VADDPS Y5, Y0, Y0
	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q50row
	VZEROUPPER
	RET

// The IQ4_NL / IQ4_XS codebook as signed bytes, for VPSHUFB (both lanes).
DATA iq4tab<>+0(SB)/8, $0xF6EADDCFBFAD9881
DATA iq4tab<>+8(SB)/8, $0x7159453526190D01
DATA iq4tab<>+16(SB)/8, $0xF6EADDCFBFAD9881
DATA iq4tab<>+24(SB)/8, $0x7159453526190D01
GLOBL iq4tab<>(SB), RODATA|NOPTR, $32

#define IQ4NLBLOCK(wo, ao, acc) \
	SCALE2(wo(BX), ao(DX)) \
	VMOVDQU wo+2(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VPSHUFB Y2, Y12, Y2 \
	VMOVDQU ao+2(DX), Y3 \
	DOTI8(acc)

// func iq4_NLMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Q4_0's loop with the nibbles mapped through the codebook (VPSHUFB).
TEXT ·iq4_NLMatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS
	VMOVDQU iq4tab<>(SB), Y12

iq4nlrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	CMPQ CX, $2
	JLT iq4nltail

iq4nlpair:
	IQ4NLBLOCK(0, 0, Y0)
	IQ4NLBLOCK(18, 34, Y5)
	ADDQ $36, BX
	ADDQ $68, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE iq4nlpair

iq4nltail:
	TESTQ CX, CX
	JZ iq4nlend
	IQ4NLBLOCK(0, 0, Y0)

iq4nlend:
	VADDPS Y5, Y0, Y0
	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ iq4nlrow
	VZEROUPPER
	RET

// IQ4XSSCALE stores sub-block ib's signed scale (ls - 32) as int16 at
// 2·ib(SP): ls = scales_l nibble | two bits of scales_h << 4.
#define IQ4XSSCALE(ib) \
	MOVBLZX (4+ib/2)(BX), AX \
	SHRL $(4*(ib%2)), AX \
	ANDL $15, AX \
	MOVWLZX 2(BX), R12 \
	SHRL $(2*ib), R12 \
	ANDL $3, R12 \
	SHLL $4, R12 \
	ORL R12, AX \
	SUBL $32, AX \
	MOVW AX, (2*ib)(SP)

#define IQ4XSSUB(ib) \
	VMOVDQU (8+16*ib)(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VPSHUFB Y2, Y12, Y2 \
	VMOVDQU (4+32*ib)(DX), Y3 \
	VPSIGNB Y2, Y2, Y4 \
	VPSIGNB Y2, Y3, Y3 \
	VPMADDUBSW Y3, Y4, Y4 \
	VPBROADCASTW (2*ib)(SP), Y5 \
	VPMADDWD Y5, Y4, Y4 \
	VPADDD Y4, Y8, Y8

// func iq4_XSMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Frame: 0(SP) eight int16 sub-block scales.
TEXT ·iq4_XSMatVecAVX2(SB), NOSPLIT, $16-48
	LOADARGS
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU iq4tab<>(SB), Y12

iq4xsrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

iq4xsblock:
	IQ4XSSCALE(0)
	IQ4XSSCALE(1)
	IQ4XSSCALE(2)
	IQ4XSSCALE(3)
	IQ4XSSCALE(4)
	IQ4XSSCALE(5)
	IQ4XSSCALE(6)
	IQ4XSSCALE(7)
	VPXOR Y8, Y8, Y8
	IQ4XSSUB(0)
	IQ4XSSUB(1)
	IQ4XSSUB(2)
	IQ4XSSUB(3)
	IQ4XSSUB(4)
	IQ4XSSUB(5)
	IQ4XSSUB(6)
	IQ4XSSUB(7)
	MOVWLZX (BX), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULSS (DX), X1, X1
	VBROADCASTSS X1, Y1
	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y1, Y0
	ADDQ $136, BX
	ADDQ $292, DX
	DECQ CX
	JNZ iq4xsblock

	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ iq4xsrow
	VZEROUPPER
	RET

// Q3KGROUP: 32 quants (shift 2k of the 2-bit plane in Y7, high bit 4h+k
// of hmask Y6) against activations at 4+128h+32k, sub-blocks 8h+2k and
// 8h+2k+1. The quant is taken as low | high<<2 (0..7); the -4 offset is
// removed once per super-block through the bsums.
#define Q3KGROUP(h, k) \
	VPSRLW $(2*k), Y7, Y1 \
	VPAND Y14, Y1, Y1 \
	VPSRLW $(4*h+k), Y6, Y2 \
	VPAND Y13, Y2, Y2 \
	VPSLLW $2, Y2, Y2 \
	VPOR Y2, Y1, Y1 \
	VPMADDUBSW (4+128*h+32*k)(DX), Y1, Y1 \
	VPBROADCASTW (2*(8*h+2*k))(SP), X3 \
	VPBROADCASTW (2*(8*h+2*k)+2)(SP), X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y8, Y8

// func q3_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Frame: 0(SP) sixteen int16 scales (already minus 32), 32(SP) their
// unpacked bytes, 48(SP) rows left, 56(SP) output pointer.
TEXT ·q3_KMatVecAVX2(SB), NOSPLIT, $64-48
	LOADARGS
	MOVQ R9, 48(SP)
	MOVQ DI, 56(SP)
	MOVL $0x03030303, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x01010101, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x00200020, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12

q3krow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

q3kblock:
	// sixteen 6-bit scales (ggml's kmask unpacking) → int16 - 32
	MOVL 96(BX), AX
	MOVL 100(BX), R12
	MOVL 104(BX), R13
	MOVL AX, DI
	ANDL $0x0f0f0f0f, DI
	MOVL R13, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, DI
	MOVL DI, 32(SP)
	MOVL R12, DI
	ANDL $0x0f0f0f0f, DI
	MOVL R13, R9
	SHRL $2, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, DI
	MOVL DI, 36(SP)
	MOVL AX, DI
	SHRL $4, DI
	ANDL $0x0f0f0f0f, DI
	MOVL R13, R9
	SHRL $4, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, DI
	MOVL DI, 40(SP)
	MOVL R12, DI
	SHRL $4, DI
	ANDL $0x0f0f0f0f, DI
	MOVL R13, R9
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, DI
	MOVL DI, 44(SP)
	VPMOVZXBW 32(SP), Y5
	VPSUBW Y12, Y5, Y5
	VMOVDQU Y5, 0(SP)

	// sumi starts at -4·Σ scale·bsum
	VPMADDWD 260(DX), Y5, Y5
	VPSLLD $2, Y5, Y5
	VPXOR Y8, Y8, Y8
	VPSUBD Y5, Y8, Y8

	VMOVDQU (BX), Y6
	VMOVDQU 32(BX), Y7
	Q3KGROUP(0, 0)
	Q3KGROUP(0, 1)
	Q3KGROUP(0, 2)
	Q3KGROUP(0, 3)
	VMOVDQU 64(BX), Y7
	Q3KGROUP(1, 0)
	Q3KGROUP(1, 1)
	Q3KGROUP(1, 2)
	Q3KGROUP(1, 3)

	MOVWLZX 108(BX), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULSS (DX), X1, X1
	VBROADCASTSS X1, Y1
	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y1, Y0
	ADDQ $110, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q3kblock

	MOVQ 56(SP), DI
	HSUM
	ADDQ $4, DI
	MOVQ DI, 56(SP)
	ADDQ R8, SI
	DECQ 48(SP)
	JNZ q3krow
	VZEROUPPER
	RET

// Q2KGROUP: 32 two-bit quants (shift 2k of the plane in Y7) against
// activations at 4+128h+32k, sub-blocks 8h+2k and 8h+2k+1.
#define Q2KGROUP(h, k) \
	VPSRLW $(2*k), Y7, Y1 \
	VPAND Y14, Y1, Y1 \
	VPMADDUBSW (4+128*h+32*k)(DX), Y1, Y1 \
	VPBROADCASTW (2*(8*h+2*k))(SP), X3 \
	VPBROADCASTW (2*(8*h+2*k)+2)(SP), X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y8, Y8

// func q2_KMatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Frame: 0(SP) sixteen int16 sub-block scales.
TEXT ·q2_KMatVecAVX2(SB), NOSPLIT, $32-48
	LOADARGS
	MOVL $0x03030303, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, X15

q2krow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9

q2kblock:
	// d·dy, dmin·dy
	MOVL 80(BX), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VBROADCASTSS (DX), X2
	VMULPS X2, X1, X1
	VBROADCASTSS X1, Y10
	VMOVSHDUP X1, X2
	VBROADCASTSS X2, Y11

	// scales (low nibbles) to the frame; mins (high nibbles) · bsums
	VMOVDQU (BX), X5
	VPAND X15, X5, X6
	VPMOVZXBW X6, Y6
	VMOVDQU Y6, 0(SP)
	VPSRLW $4, X5, X5
	VPAND X15, X5, X5
	VPMOVZXBW X5, Y5
	VPMADDWD 260(DX), Y5, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS Y5, Y11, Y9

	VPXOR Y8, Y8, Y8
	VMOVDQU 16(BX), Y7
	Q2KGROUP(0, 0)
	Q2KGROUP(0, 1)
	Q2KGROUP(0, 2)
	Q2KGROUP(0, 3)
	VMOVDQU 48(BX), Y7
	Q2KGROUP(1, 0)
	Q2KGROUP(1, 1)
	Q2KGROUP(1, 2)
	Q2KGROUP(1, 3)

	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y10, Y0
	ADDQ $84, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q2kblock

	VSUBPS Y9, Y0, Y0
	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q2krow
	VZEROUPPER
	RET

// SCALEMIN: for a Q4_1/Q5_1 block at wp and its Q8_1 activation at ap,
// Y1 = broadcast(d·dy) and X6 += m·s (the min term, summed in lane 0).
#define SCALEMIN(wp, ap) \
	MOVWLZX 2+wp, AX \
	SHLQ $16, AX \
	MOVWLZX 2+ap, R12 \
	ORQ R12, AX \
	SHLQ $16, AX \
	MOVWLZX ap, R12 \
	ORQ R12, AX \
	SHLQ $16, AX \
	MOVWLZX wp, R12 \
	ORQ R12, AX \
	VMOVQ AX, X1 \
	VCVTPH2PS X1, X1 \
	VMOVSHDUP X1, X2 \
	VMULPS X2, X1, X1 \
	VMOVHLPS X1, X1, X2 \
	VADDSS X2, X6, X6 \
	VBROADCASTSS X1, Y1

// DOTU8: acc += Y1 · float(Σ unsigned(Y2) · signed(Y3)).
#define DOTU8(acc) \
	VPMADDUBSW Y3, Y2, Y4 \
	VPMADDWD Y13, Y4, Y4 \
	VCVTDQ2PS Y4, Y4 \
	VFMADD231PS Y4, Y1, acc

#define Q41BLOCK(wo, ao) \
	SCALEMIN(wo(BX), ao(DX)) \
	VMOVDQU wo+4(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VMOVDQU ao+4(DX), Y3 \
	DOTU8(Y0)

#define Q51BLOCK(wo, ao) \
	SCALEMIN(wo(BX), ao(DX)) \
	VPBROADCASTD wo+4(BX), Y7 \
	VPSHUFB Y12, Y7, Y7 \
	VPAND Y11, Y7, Y7 \
	VPCMPEQB Y11, Y7, Y7 \
	VPAND Y10, Y7, Y7 \
	VMOVDQU wo+8(BX), X2 \
	VPSRLW $4, X2, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND Y15, Y2, Y2 \
	VPOR Y7, Y2, Y2 \
	VMOVDQU ao+4(DX), Y3 \
	DOTU8(Y0)

#define ROWEND \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VADDSS X6, X0, X0 \
	VMOVSS X0, (DI)

// func q4_1MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q4_1MatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS

q41row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS X6, X6, X6

q41block:
	Q41BLOCK(0, 0)
	ADDQ $20, BX
	ADDQ $36, DX
	DECQ CX
	JNZ q41block

	ROWEND
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q41row
	VZEROUPPER
	RET

// func q5_1MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q5_1MatVecAVX2(SB), NOSPLIT, $0-48
	LOADARGS
	CONSTS
	MOVL $0x10101010, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVQ $0x8040201008040201, AX
	VMOVQ AX, X11
	VPBROADCASTQ X11, Y11
	VMOVDQU q5shuf<>(SB), Y12

q51row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0
	VXORPS X6, X6, X6

q51block:
	Q51BLOCK(0, 0)
	ADDQ $24, BX
	ADDQ $36, DX
	DECQ CX
	JNZ q51block

	ROWEND
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q51row
	VZEROUPPER
	RET

// The float lanes each block pair's ZMM needs from a quad's four scales:
// [s0 s0 s0 s0 s1 s1 s1 s1] twice for the first pair, s2/s3 for the second.

DATA q40qa<>+0(SB)/8, $0
DATA q40qa<>+8(SB)/8, $0
DATA q40qa<>+16(SB)/8, $0x0000000100000001
DATA q40qa<>+24(SB)/8, $0x0000000100000001
DATA q40qa<>+32(SB)/8, $0
DATA q40qa<>+40(SB)/8, $0
DATA q40qa<>+48(SB)/8, $0x0000000100000001
DATA q40qa<>+56(SB)/8, $0x0000000100000001
GLOBL q40qa<>(SB), RODATA|NOPTR, $64

DATA q40qb<>+0(SB)/8, $0x0000000200000002
DATA q40qb<>+8(SB)/8, $0x0000000200000002
DATA q40qb<>+16(SB)/8, $0x0000000300000003
DATA q40qb<>+24(SB)/8, $0x0000000300000003
DATA q40qb<>+32(SB)/8, $0x0000000200000002
DATA q40qb<>+40(SB)/8, $0x0000000200000002
DATA q40qb<>+48(SB)/8, $0x0000000300000003
DATA q40qb<>+56(SB)/8, $0x0000000300000003
GLOBL q40qb<>(SB), RODATA|NOPTR, $64

// QPAIR: one Q4_0 block pair at wo(BX) against its prepared activation at
// po(DX) (see prepQ4_0), scaled by the per-lane float scales in zs.
#define QPAIR(wo, po, zs, xq, yq, zq, yt, zu, acc) \
	VMOVDQU32 (wo+2)(BX), xq \
	VINSERTI32X4 $1, (wo+20)(BX), yq, yq \
	VPSRLW $4, yq, yt \
	VINSERTI64X4 $1, yt, zq, zq \
	VPANDD Z31, zq, zq \
	VMOVDQU32 (po+64)(DX), zu \
	VPDPBUSD po(DX), zq, zu \
	VCVTDQ2PS zu, zu \
	VFMADD231PS zu, zs, acc

// func q4_0MatVecQP(w *byte, rowBytes, rows, nb int, prep *byte, y *float32)
// Same results as the former q4_0MatVecZP (same prepared activation, same float
// operations per lane) with the scales of a block quad handled at once: the
// four f16 weight scales go into one XMM (a load and three VPINSRW), one
// conversion and one multiply by the four activation scales (prepQ4_0
// stores them together in the first pair's slot), two VPERMPS spread them
// over the two pairs' lanes: 27 instead of 34 instructions per quad. Single
// thread, this measured about 5% faster than that kernel both in cache
// and from DRAM. A VPERMW gathering the scales straight from a 64-byte
// weight load has fewer instructions but measured 20% slower from DRAM
// (the load spans two lines). nb must be even.
TEXT ·q4_0MatVecQP(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ prep+32(FP), R11
	MOVQ y+40(FP), DI
	SHRQ $1, R10
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31
	VMOVDQU32 q40qa<>(SB), Z29
	VMOVDQU32 q40qb<>(SB), Z12

q40qprow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z6, Z6, Z6
	CMPQ CX, $2
	JLT q40qptail

q40qpquad:
	// A software prefetch 32 quads ahead: the hardware prefetcher alone
	// left this kernel 6-8% short of the read bandwidth with two threads
	// (A/B in one run; the same prefetch gained nothing for Q6_K).
	PREFETCHT0 2304(BX)
	MOVWLZX (BX), AX
	VMOVD AX, X11
	VPINSRW $1, 18(BX), X11, X11
	VPINSRW $2, 36(BX), X11, X11
	VPINSRW $3, 54(BX), X11, X11
	VCVTPH2PS X11, X11
	VMULPS 128(DX), X11, X11
	VPERMPS Z11, Z29, Z1
	VPERMPS Z11, Z12, Z7
	QPAIR(0, 0, Z1, X2, Y2, Z2, Y3, Z5, Z0)
	QPAIR(36, 144, Z7, X8, Y8, Z8, Y9, Z10, Z6)
	ADDQ $72, BX
	ADDQ $288, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE q40qpquad

q40qptail:
	TESTQ CX, CX
	JZ q40qpend
	// A last lone pair: its two scales are in its own slot.
	MOVWLZX 18(BX), AX
	SHLL $16, AX
	MOVWLZX (BX), R12
	ORL R12, AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULPS 128(DX), X1, X1
	VPERMPS Z1, Z29, Z1
	QPAIR(0, 0, Z1, X2, Y2, Z2, Y3, Z5, Z0)

q40qpend:
	VADDPS Z6, Z0, Z0
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
	JNZ q40qprow
	VZEROUPPER
	RET

// The lane pattern for a block quad's scales: lane group b (128 bits) gets
// block b's scale.
DATA q40q4idx<>+0(SB)/8, $0
DATA q40q4idx<>+8(SB)/8, $0
DATA q40q4idx<>+16(SB)/8, $0x0000000100000001
DATA q40q4idx<>+24(SB)/8, $0x0000000100000001
DATA q40q4idx<>+32(SB)/8, $0x0000000200000002
DATA q40q4idx<>+40(SB)/8, $0x0000000200000002
DATA q40q4idx<>+48(SB)/8, $0x0000000300000003
DATA q40q4idx<>+56(SB)/8, $0x0000000300000003
GLOBL q40q4idx<>(SB), RODATA|NOPTR, $64

// Q40QUAD: one block quad at wo(BX) (four 18-byte blocks) against its
// prepared activation at po(DX) (see prepQ4_0Quads) into acc. The four
// scales are gathered with scalar loads and shifts (general-purpose
// pipes, idle in this loop) and converted together; the four blocks' quants
// fill one ZMM (one 128-bit lane per block), so one VPDPBUSD takes the low
// nibbles of all four and one the high nibbles, and one convert and one
// FMA finish the quad.
#define Q40QUAD(wo, po, acc) \
	MOVWLZX (wo)(BX), AX \
	MOVWLZX (wo+18)(BX), R12 \
	SHLQ $16, R12 \
	ORQ R12, AX \
	MOVWLZX (wo+36)(BX), R13 \
	SHLQ $32, R13 \
	ORQ R13, AX \
	MOVWLZX (wo+54)(BX), R12 \
	SHLQ $48, R12 \
	ORQ R12, AX \
	VMOVQ AX, X11 \
	VCVTPH2PS X11, X11 \
	VMULPS (po+192)(DX), X11, X11 \
	VPERMPS Z11, Z29, Z1 \
	VMOVDQU (wo+2)(BX), X2 \
	VINSERTI32X4 $1, (wo+20)(BX), Z2, Z2 \
	VINSERTI32X4 $2, (wo+38)(BX), Z2, Z2 \
	VINSERTI32X4 $3, (wo+56)(BX), Z2, Z2 \
	VPSRLW $4, Z2, Z3 \
	VPANDD Z31, Z2, Z2 \
	VPANDD Z31, Z3, Z3 \
	VMOVDQU32 (po+128)(DX), Z5 \
	VPDPBUSD (po)(DX), Z2, Z5 \
	VPDPBUSD (po+64)(DX), Z3, Z5 \
	VCVTDQ2PS Z5, Z5 \
	VFMADD231PS Z5, Z1, acc

// func q4_0MatVecQ4(w *byte, rowBytes, rows, nb int, prep *byte, y *float32)
// Q4_0 × Q8_0 decode kernel over block quads (prepQ4_0Quads layout, 208
// bytes per quad), two quads per iteration into two accumulators. nb must
// be a multiple of 8.
TEXT ·q4_0MatVecQ4(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ prep+32(FP), R11
	MOVQ y+40(FP), DI
	SHRQ $3, R10
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31
	VMOVDQU32 q40q4idx<>(SB), Z29

q40q4row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z6, Z6, Z6

q40q4oct:
	// As in q4_0MatVecQP: a software prefetch 2.3 KB ahead.
	PREFETCHT0 2304(BX)
	PREFETCHT0 2368(BX)
	Q40QUAD(0, 0, Z0)
	Q40QUAD(72, 208, Z6)
	ADDQ $144, BX
	ADDQ $416, DX
	DECQ CX
	JNZ q40q4oct

	VADDPS Z6, Z0, Z0
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
	JNZ q40q4row
	VZEROUPPER
	RET


// VPERMW indices for Q6_K part p (0..7): its 32 quants' two scales, 2p for
// the first sixteen (low 128 bits) and 2p+1 for the rest, eight times each.
DATA q6kidx<>+0(SB)/8, $0x0000000000000000
DATA q6kidx<>+8(SB)/8, $0x0000000000000000
DATA q6kidx<>+16(SB)/8, $0x0001000100010001
DATA q6kidx<>+24(SB)/8, $0x0001000100010001
DATA q6kidx<>+32(SB)/8, $0x0002000200020002
DATA q6kidx<>+40(SB)/8, $0x0002000200020002
DATA q6kidx<>+48(SB)/8, $0x0003000300030003
DATA q6kidx<>+56(SB)/8, $0x0003000300030003
DATA q6kidx<>+64(SB)/8, $0x0004000400040004
DATA q6kidx<>+72(SB)/8, $0x0004000400040004
DATA q6kidx<>+80(SB)/8, $0x0005000500050005
DATA q6kidx<>+88(SB)/8, $0x0005000500050005
DATA q6kidx<>+96(SB)/8, $0x0006000600060006
DATA q6kidx<>+104(SB)/8, $0x0006000600060006
DATA q6kidx<>+112(SB)/8, $0x0007000700070007
DATA q6kidx<>+120(SB)/8, $0x0007000700070007
DATA q6kidx<>+128(SB)/8, $0x0008000800080008
DATA q6kidx<>+136(SB)/8, $0x0008000800080008
DATA q6kidx<>+144(SB)/8, $0x0009000900090009
DATA q6kidx<>+152(SB)/8, $0x0009000900090009
DATA q6kidx<>+160(SB)/8, $0x000a000a000a000a
DATA q6kidx<>+168(SB)/8, $0x000a000a000a000a
DATA q6kidx<>+176(SB)/8, $0x000b000b000b000b
DATA q6kidx<>+184(SB)/8, $0x000b000b000b000b
DATA q6kidx<>+192(SB)/8, $0x000c000c000c000c
DATA q6kidx<>+200(SB)/8, $0x000c000c000c000c
DATA q6kidx<>+208(SB)/8, $0x000d000d000d000d
DATA q6kidx<>+216(SB)/8, $0x000d000d000d000d
DATA q6kidx<>+224(SB)/8, $0x000e000e000e000e
DATA q6kidx<>+232(SB)/8, $0x000e000e000e000e
DATA q6kidx<>+240(SB)/8, $0x000f000f000f000f
DATA q6kidx<>+248(SB)/8, $0x000f000f000f000f
GLOBL q6kidx<>(SB), RODATA|NOPTR, $256

// Q6KPV is Q6KPART with the part's two scales picked from the sixteen
// (Y24) by one VPERMW, and VPMADDWD + VPADDD fused into VPDPWSSD (AVX-512
// VNNI): three operations where Q6KPART has six.
#define Q6KPV(q, ao, idx) \
	VPMADDUBSW ao(DX), q, q \
	VPERMW Y24, idx, Y3 \
	VPDPWSSD Y3, q, Y8

#define Q6KHALFV(h, i0, i1, i2, i3) \
	VMOVDQU (64*h)(BX), Y1 \
	VMOVDQU (64*h+32)(BX), Y2 \
	VMOVDQU (128+32*h)(BX), Y7 \
	VPAND Y15, Y1, Y9 \
	VPAND Y14, Y7, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPV(Y9, (4+128*h), i0) \
	VPAND Y15, Y2, Y9 \
	VPAND Y13, Y7, Y10 \
	VPSLLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPV(Y9, (36+128*h), i1) \
	VPSRLW $4, Y1, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y12, Y7, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPV(Y9, (68+128*h), i2) \
	VPSRLW $4, Y2, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y11, Y7, Y10 \
	VPSRLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KPV(Y9, (100+128*h), i3)

// func q6_KMatVecVNNI(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// q6_KMatVecAVX2 with Q6KPV: the scales stay in a register (Y24) and the
// part loop does half the integer work, which matters because that kernel
// ran at about the DRAM rate even from cache.
TEXT ·q6_KMatVecVNNI(SB), NOSPLIT, $0-48
	LOADARGS
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x03030303, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x0C0C0C0C, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x30303030, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0xC0C0C0C0, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11
	VMOVDQU32 q6kidx<>+0(SB), Y16
	VMOVDQU32 q6kidx<>+32(SB), Y17
	VMOVDQU32 q6kidx<>+64(SB), Y18
	VMOVDQU32 q6kidx<>+96(SB), Y19
	VMOVDQU32 q6kidx<>+128(SB), Y20
	VMOVDQU32 q6kidx<>+160(SB), Y21
	VMOVDQU32 q6kidx<>+192(SB), Y22
	VMOVDQU32 q6kidx<>+224(SB), Y23

q6kvrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

q6kvblock:
	// d·dy
	MOVWLZX 208(BX), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULSS (DX), X1, X1
	VBROADCASTSS X1, Y6

	// scales, and sumi = -32 Σ scale·bsum
	VPMOVSXBW 192(BX), Y24
	VPMADDWD 260(DX), Y24, Y1
	VPSLLD $5, Y1, Y1
	VPXOR Y8, Y8, Y8
	VPSUBD Y1, Y8, Y8

	Q6KHALFV(0, Y16, Y17, Y18, Y19)
	Q6KHALFV(1, Y20, Y21, Y22, Y23)

	VCVTDQ2PS Y8, Y8
	VFMADD231PS Y8, Y6, Y0

	ADDQ $210, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q6kvblock

	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q6kvrow
	VZEROUPPER
	RET
