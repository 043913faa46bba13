//go:build !purego

#include "textflag.h"

// Register use shared by the legacy-quant kernels:
//   SI row pointer, R8 row bytes, R9 rows left, R10 blocks per row,
//   R11 activation, DI output, BX/DX block pointers, CX block counter.
//   Y15 0x0F bytes, Y14 0x08 bytes, Y13 int16 ones, Y0 accumulator.

#define CONSTS \
	MOVL $0x0F0F0F0F, AX \
	MOVD AX, X15 \
	VPBROADCASTD X15, Y15 \
	MOVL $0x08080808, AX \
	MOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVL $0x00010001, AX \
	MOVD AX, X13 \
	VPBROADCASTD X13, Y13

// SCALE2 leaves broadcast(f16(wp) * f16(ap)) in Y1.
#define SCALE2(wp, ap) \
	MOVWLZX wp, AX \
	MOVWLZX ap, R12 \
	SHLL $16, R12 \
	ORL R12, AX \
	MOVD AX, X1 \
	VCVTPH2PS X1, X1 \
	VMOVSHDUP X1, X2 \
	VMULSS X2, X1, X1 \
	VBROADCASTSS X1, Y1

// DOTI8 accumulates Y0 += Y1 * float(Σ signed(Y2) * signed(Y3)) per 4-byte lane.
#define DOTI8 \
	VPSIGNB Y2, Y2, Y4 \
	VPSIGNB Y2, Y3, Y3 \
	VPMADDUBSW Y3, Y4, Y4 \
	VPMADDWD Y13, Y4, Y4 \
	VCVTDQ2PS Y4, Y4 \
	VFMADD231PS Y4, Y1, Y0

// HSUM stores the horizontal sum of Y0 at (DI).
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	MOVSS X0, (DI)

// func q4_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q4_0MatVecAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ act+32(FP), R11
	MOVQ y+40(FP), DI
	CONSTS

q40row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

q40block:
	SCALE2((BX), (DX))
	VMOVDQU 2(BX), X2
	VPSRLW $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND Y15, Y2, Y2
	VPSUBB Y14, Y2, Y2
	VMOVDQU 2(DX), Y3
	DOTI8
	ADDQ $18, BX
	ADDQ $34, DX
	DECQ CX
	JNZ q40block

	HSUM
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ R9
	JNZ q40row
	VZEROUPPER
	RET

// func q8_0MatVecAVX2(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q8_0MatVecAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ act+32(FP), R11
	MOVQ y+40(FP), DI
	CONSTS

q80row:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VXORPS Y0, Y0, Y0

q80block:
	SCALE2((BX), (DX))
	VMOVDQU 2(BX), Y2
	VMOVDQU 2(DX), Y3
	DOTI8
	ADDQ $34, BX
	ADDQ $34, DX
	DECQ CX
	JNZ q80block

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
