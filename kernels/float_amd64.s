//go:build !purego

#include "textflag.h"

// Float-weight matvec (F32, F16, BF16 weights; F32 activations): four
// independent FMA accumulators over 32 elements per iteration, then 8 at a
// time. n must be a multiple of 8; the caller adds any shorter tail.

#define FLOATROWS(name, LOAD8, esz) \
TEXT name(SB), NOSPLIT, $0-48 \
	MOVQ w+0(FP), SI \
	MOVQ rowBytes+8(FP), R8 \
	MOVQ rows+16(FP), R9 \
	MOVQ n+24(FP), R10 \
	MOVQ x+32(FP), R11 \
	MOVQ y+40(FP), DI \
row: \
	MOVQ SI, BX \
	MOVQ R11, DX \
	MOVQ R10, CX \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	CMPQ CX, $32 \
	JLT tail8 \
loop32: \
	LOAD8(0, Y4) \
	LOAD8(8*esz, Y5) \
	LOAD8(16*esz, Y6) \
	LOAD8(24*esz, Y7) \
	VFMADD231PS (DX), Y4, Y0 \
	VFMADD231PS 32(DX), Y5, Y1 \
	VFMADD231PS 64(DX), Y6, Y2 \
	VFMADD231PS 96(DX), Y7, Y3 \
	ADDQ $(32*esz), BX \
	ADDQ $128, DX \
	SUBQ $32, CX \
	CMPQ CX, $32 \
	JGE loop32 \
tail8: \
	CMPQ CX, $8 \
	JLT done \
	LOAD8(0, Y4) \
	VFMADD231PS (DX), Y4, Y0 \
	ADDQ $(8*esz), BX \
	ADDQ $32, DX \
	SUBQ $8, CX \
	JMP tail8 \
done: \
	VADDPS Y1, Y0, Y0 \
	VADDPS Y3, Y2, Y2 \
	VADDPS Y2, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI) \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R9 \
	JNZ row \
	VZEROUPPER \
	RET

#define LOADF32(off, dst) VMOVUPS off(BX), dst
#define LOADF16(off, dst) VCVTPH2PS off(BX), dst
#define LOADBF16(off, dst) VPMOVZXWD off(BX), dst; VPSLLD $16, dst, dst

// func f32MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)
FLOATROWS(·f32MatVecAVX2, LOADF32, 4)

// func f16MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)
FLOATROWS(·f16MatVecAVX2, LOADF16, 2)

// func bf16MatVecAVX2(w *byte, rowBytes, rows, n int, x *byte, y *float32)
FLOATROWS(·bf16MatVecAVX2, LOADBF16, 2)

// Float-weight prompt tile: one row × four activations, so each weight
// vector is loaded (and for F16/BF16 converted) once for four FMAs.
// Loops over all rows; n must be a multiple of 8 (the caller adds tails).
// Registers: SI row, R8 row bytes, R9 rows left, R10 n, R11 activation 0,
// R12 activation bytes, DI output (token 0), R13 ldy·4, BX/DX/CX/AX loop.
#define FLOATTILE(name, LOAD8, esz) \
TEXT name(SB), NOSPLIT, $0-64 \
	MOVQ w+0(FP), SI \
	MOVQ rowBytes+8(FP), R8 \
	MOVQ rows+16(FP), R9 \
	MOVQ n+24(FP), R10 \
	MOVQ acts+32(FP), R11 \
	MOVQ actBytes+40(FP), R12 \
	MOVQ y+48(FP), DI \
	MOVQ ldy+56(FP), R13 \
	SHLQ $2, R13 \
trow: \
	MOVQ SI, BX \
	MOVQ R11, DX \
	LEAQ (R11)(R12*2), AX \
	MOVQ R10, CX \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
tloop: \
	LOAD8(0, Y4) \
	VFMADD231PS (DX), Y4, Y0 \
	VFMADD231PS (DX)(R12*1), Y4, Y1 \
	VFMADD231PS (AX), Y4, Y2 \
	VFMADD231PS (AX)(R12*1), Y4, Y3 \
	ADDQ $(8*esz), BX \
	ADDQ $32, DX \
	ADDQ $32, AX \
	SUBQ $8, CX \
	JNZ tloop \
	LEAQ (DI)(R13*2), AX \
	VEXTRACTF128 $1, Y0, X4 \
	VADDPS X4, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI) \
	VEXTRACTF128 $1, Y1, X4 \
	VADDPS X4, X1, X1 \
	VHADDPS X1, X1, X1 \
	VHADDPS X1, X1, X1 \
	VMOVSS X1, (DI)(R13*1) \
	VEXTRACTF128 $1, Y2, X4 \
	VADDPS X4, X2, X2 \
	VHADDPS X2, X2, X2 \
	VHADDPS X2, X2, X2 \
	VMOVSS X2, (AX) \
	VEXTRACTF128 $1, Y3, X4 \
	VADDPS X4, X3, X3 \
	VHADDPS X3, X3, X3 \
	VHADDPS X3, X3, X3 \
	VMOVSS X3, (AX)(R13*1) \
	ADDQ $4, DI \
	ADDQ R8, SI \
	DECQ R9 \
	JNZ trow \
	VZEROUPPER \
	RET

// func f32Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)
FLOATTILE(·f32Tile1x4, LOADF32, 4)

// func f16Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)
FLOATTILE(·f16Tile1x4, LOADF16, 2)

// func bf16Tile1x4(w *byte, rowBytes, rows, n int, acts *byte, actBytes int, y *float32, ldy int)
FLOATTILE(·bf16Tile1x4, LOADBF16, 2)
