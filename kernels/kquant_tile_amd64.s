//go:build !purego

#include "textflag.h"

// Q4_K × Q8_K for prompt processing: one weight row against four
// activations per pass, so the super-block's scales are unpacked and its
// nibbles split once for four dot products (AVX2 arithmetic on the
// AVX-512VL register file: Y16..Y23 hold the accumulators).
//
// GP: SI row, R8 row bytes, R10 blocks per row, R11 activations, R12
// activation bytes, BX weight block, DX activation block (token 0), CX
// blocks left; AX, DI, R9, R13 scratch. Frame: 0(SP) eight int16 scales,
// 16(SP) rows left, 24(SP) output pointer, 32(SP) ldy·4.

// Q4KTOK does one 64-quant chunk (Y0 low nibbles, Y1 high, scales Y2/Y3)
// for the activation block at tok into int accumulator acc.
#define Q4KTOK(tok, j, acc) \
	VPMADDUBSW (4+64*j)tok, Y0, Y4 \
	VPMADDWD Y2, Y4, Y4 \
	VPADDD Y4, acc, acc \
	VPMADDUBSW (36+64*j)tok, Y1, Y5 \
	VPMADDWD Y3, Y5, Y5 \
	VPADDD Y5, acc, acc

#define Q4KCHUNK4(j) \
	VMOVDQU (16+32*j)(BX), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPANDD Y31, Y0, Y0 \
	VPANDD Y31, Y1, Y1 \
	VPBROADCASTW (4*j)(SP), Y2 \
	VPBROADCASTW (2+4*j)(SP), Y3 \
	Q4KTOK((DX), j, Y16) \
	Q4KTOK((DX)(R12*1), j, Y17) \
	Q4KTOK((R13), j, Y18) \
	Q4KTOK((R13)(R12*1), j, Y19)

// Q4KMINS subtracts dmin·dy·Σ min·bsum for the activation at tok.
#define Q4KMINS(tok, facc) \
	VPMADDWD 260tok, Y25, Y0 \
	VCVTDQ2PS Y0, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y27, Y1, Y1 \
	VFNMADD231PS Y0, Y1, facc

// Q4KEND adds d·dy·Σ for the activation at tok.
#define Q4KEND(tok, acc, facc) \
	VCVTDQ2PS acc, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y26, Y1, Y1 \
	VFMADD231PS Y0, Y1, facc

#define HSTORE(facc, xfacc, dst) \
	VEXTRACTF32X4 $1, facc, X0 \
	VADDPS xfacc, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, dst

// Q4KSCALES unpacks the super-block's 6-bit scales and mins (ggml's utmp
// unpacking, from memory): the eight scales as int16 at 0(SP), the mins as
// int16 pairs in Y25 (for VPMADDWD with the activation's bsums). Clobbers
// AX, DI, R9, R13, X0..X3.
#define Q4KSCALES \
	MOVL 12(BX), DI \
	SHRL $4, DI \
	ANDL $0x0f0f0f0f, DI \
	MOVL 8(BX), AX \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	ORL AX, DI \
	MOVL 12(BX), R13 \
	ANDL $0x0f0f0f0f, R13 \
	MOVL 4(BX), AX \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	ORL AX, R13 \
	MOVL 8(BX), R9 \
	ANDL $0x3f3f3f3f, R9 \
	MOVL 4(BX), AX \
	ANDL $0x3f3f3f3f, AX \
	SHLQ $32, R13 \
	ORQ R13, AX \
	SHLQ $32, DI \
	ORQ DI, R9 \
 \
	VMOVQ AX, X0 \
	VPMOVZXBW X0, X0 \
	VMOVDQU X0, 0(SP) \
	VMOVQ R9, X1 \
	VPMOVZXBW X1, X1 \
	VPUNPCKLWD X1, X1, X2 \
	VPUNPCKHWD X1, X1, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VMOVDQA32 Y2, Y25

// func q4_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)
TEXT ·q4_KTile1x4(SB), NOSPLIT, $48-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	MOVQ AX, 16(SP)
	MOVQ nb+24(FP), R10
	MOVQ acts+32(FP), R11
	MOVQ actBytes+40(FP), R12
	MOVQ y+48(FP), AX
	MOVQ AX, 24(SP)
	MOVQ ldy+56(FP), AX
	SHLQ $2, AX
	MOVQ AX, 32(SP)
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y31

q4ktrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q4ktblock:
	VMOVD (BX), X0
	VCVTPH2PS X0, X0
	VBROADCASTSS X0, Y26
	VMOVSHDUP X0, X1
	VBROADCASTSS X1, Y27

	Q4KSCALES

	LEAQ (DX)(R12*2), R13
	Q4KMINS((DX), Y20)
	Q4KMINS((DX)(R12*1), Y21)
	Q4KMINS((R13), Y22)
	Q4KMINS((R13)(R12*1), Y23)

	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	Q4KCHUNK4(0)
	Q4KCHUNK4(1)
	Q4KCHUNK4(2)
	Q4KCHUNK4(3)

	Q4KEND((DX), Y16, Y20)
	Q4KEND((DX)(R12*1), Y17, Y21)
	Q4KEND((R13), Y18, Y22)
	Q4KEND((R13)(R12*1), Y19, Y23)

	ADDQ $144, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q4ktblock

	MOVQ 24(SP), DI
	MOVQ 32(SP), AX
	HSTORE(Y20, X20, (DI))
	HSTORE(Y21, X21, (DI)(AX*1))
	LEAQ (DI)(AX*2), R9
	HSTORE(Y22, X22, (R9))
	HSTORE(Y23, X23, (R9)(AX*1))
	ADDQ $4, DI
	MOVQ DI, 24(SP)
	ADDQ R8, SI
	DECQ 16(SP)
	JNZ q4ktrow
	VZEROUPPER
	RET

// Q6_K × Q8_K prompt tile: one row × four activations, registers as in the
// Q4_K tile; Y11..Y15 hold the bit masks. Frame: 0(SP) sixteen int16
// scales, 32(SP) rows left, 40(SP) output pointer, 48(SP) ldy·4.

#define Q6KTOK(q, addr, acc) \
	VPMADDUBSW addr, q, Y4 \
	VPMADDWD Y3, Y4, Y4 \
	VPADDD Y4, acc, acc

#define Q6KTPART(q, ao, so) \
	VPBROADCASTW (so)(SP), X3 \
	VPBROADCASTW (2+so)(SP), X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	Q6KTOK(q, ao(DX), Y16) \
	Q6KTOK(q, ao(DX)(R12*1), Y17) \
	Q6KTOK(q, ao(R13), Y18) \
	Q6KTOK(q, ao(R13)(R12*1), Y19)

#define Q6KTHALF(h) \
	VMOVDQU (64*h)(BX), Y1 \
	VMOVDQU (64*h+32)(BX), Y2 \
	VMOVDQU (128+32*h)(BX), Y7 \
	VPAND Y15, Y1, Y9 \
	VPAND Y14, Y7, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (4+128*h), 16*h) \
	VPAND Y15, Y2, Y9 \
	VPAND Y13, Y7, Y10 \
	VPSLLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (36+128*h), 16*h+4) \
	VPSRLW $4, Y1, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y12, Y7, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (68+128*h), 16*h+8) \
	VPSRLW $4, Y2, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y11, Y7, Y10 \
	VPSRLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (100+128*h), 16*h+12)

// Q6KBIAS starts acc at -32·Σ scale·bsum for the activation at tok
// (Y8 = the sixteen int16 scales).
#define Q6KBIAS(tok, acc) \
	VPMADDWD 260tok, Y8, Y4 \
	VPSLLD $5, Y4, Y4 \
	VPXORD acc, acc, acc \
	VPSUBD Y4, acc, acc

#define Q6KEND(tok, acc, facc) \
	VCVTDQ2PS acc, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y26, Y1, Y1 \
	VFMADD231PS Y0, Y1, facc

// func q6_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)
TEXT ·q6_KTile1x4(SB), NOSPLIT, $64-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	MOVQ AX, 32(SP)
	MOVQ nb+24(FP), R10
	MOVQ acts+32(FP), R11
	MOVQ actBytes+40(FP), R12
	MOVQ y+48(FP), AX
	MOVQ AX, 40(SP)
	MOVQ ldy+56(FP), AX
	SHLQ $2, AX
	MOVQ AX, 48(SP)
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

q6ktrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q6ktblock:
	// The next row's lines at this offset (rows are contiguous, so this
	// runs one row ahead of the stream): +6-11% from DRAM at batch 8
	// (A/B in one run; the same gained nothing for Q4_K's tile).
	PREFETCHT0 (BX)(R8*1)
	PREFETCHT0 64(BX)(R8*1)
	PREFETCHT0 128(BX)(R8*1)
	PREFETCHT0 192(BX)(R8*1)
	MOVWLZX 208(BX), AX
	VMOVD AX, X0
	VCVTPH2PS X0, X0
	VBROADCASTSS X0, Y26
	VPMOVSXBW 192(BX), Y8
	VMOVDQU Y8, 0(SP)
	LEAQ (DX)(R12*2), R13
	Q6KBIAS((DX), Y16)
	Q6KBIAS((DX)(R12*1), Y17)
	Q6KBIAS((R13), Y18)
	Q6KBIAS((R13)(R12*1), Y19)

	Q6KTHALF(0)
	Q6KTHALF(1)

	Q6KEND((DX), Y16, Y20)
	Q6KEND((DX)(R12*1), Y17, Y21)
	Q6KEND((R13), Y18, Y22)
	Q6KEND((R13)(R12*1), Y19, Y23)

	ADDQ $210, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q6ktblock

	MOVQ 40(SP), DI
	MOVQ 48(SP), AX
	HSTORE(Y20, X20, (DI))
	HSTORE(Y21, X21, (DI)(AX*1))
	LEAQ (DI)(AX*2), R9
	HSTORE(Y22, X22, (R9))
	HSTORE(Y23, X23, (R9)(AX*1))
	ADDQ $4, DI
	MOVQ DI, 40(SP)
	ADDQ R8, SI
	DECQ 32(SP)
	JNZ q6ktrow
	VZEROUPPER
	RET
