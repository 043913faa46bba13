//go:build !purego

#include "textflag.h"

// AVX-512 VNNI tiles for prompt processing: 4 weight rows × 4 activations
// per call. Each ZMM holds two activations' blocks side by side ([t | t+1],
// 256 bits each), so one weight block, unpacked once and broadcast to both
// halves, meets two activations per VPDPBUSD. VPDPBUSD multiplies unsigned
// by signed bytes, so weights are made unsigned (Q4_0: the raw nibble;
// Q8_0: x+128) and the offset is removed with the activation's byte sum
// (Z10/Z11 = offset·Σy per lane), computed once per activation block.
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
	VPXORD Z7, Z7, Z7

// ACTS loads the four activations' block (quants at +2, f16 scale at +0):
// Z8=[y0|y1], Z9=[y2|y3], Z10/Z11 their offset sums, Z12/Z13 their scales.
#define ACTS \
	VMOVDQU 2(DX), Y8 \
	VINSERTI64X4 $1, 2(DX)(R9*1), Z8, Z8 \
	VMOVDQU 2(DX)(R9*2), Y9 \
	VINSERTI64X4 $1, 2(DX)(R10*1), Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPDPBUSD Z8, Z30, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPDPBUSD Z9, Z30, Z11 \
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
	VPXORD Z19, Z19, Z19 \
	VPDPBUSD Z8, Z15, Z19 \
	VPSUBD Z10, Z19, Z19 \
	VCVTDQ2PS Z19, Z19 \
	VFMADD231PS Z19, Z17, a01 \
	VPXORD Z20, Z20, Z20 \
	VPDPBUSD Z9, Z15, Z20 \
	VPSUBD Z11, Z20, Z20 \
	VCVTDQ2PS Z20, Z20 \
	VFMADD231PS Z20, Z18, a23

// Q40W unpacks a Q4_0 block's 32 nibbles (at qp) into Z15 = [q | q].
#define Q40W(qp) \
	VMOVDQU qp, X15 \
	VPSRLW $4, X15, X14 \
	VINSERTI128 $1, X14, Y15, Y15 \
	VPANDD Y31, Y15, Y15 \
	VINSERTI64X4 $1, Y15, Z15, Z15

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

// func q4_0Tile4x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)
TEXT ·q4_0Tile4x4VNNI(SB), NOSPLIT, $0-64
	TILEARGS
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z31
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z30

q40tile:
	ACTS
	Q40W(2(SI))
	PAIRS((SI), Z0, Z1)
	Q40W(2(SI)(R8*1))
	PAIRS((SI)(R8*1), Z2, Z3)
	Q40W(2(SI)(R8*2))
	PAIRS((SI)(R8*2), Z4, Z5)
	Q40W(2(SI)(R12*1))
	PAIRS((SI)(R12*1), Z6, Z7)
	ADDQ $18, SI
	ADDQ $34, DX
	DECQ CX
	JNZ q40tile

	STORE
	VZEROUPPER
	RET

// func q8_0Tile4x4VNNI(w *byte, rowBytes, nb int, acts *byte, actBytes int, y *float32, ldy int, f16 *float32)
TEXT ·q8_0Tile4x4VNNI(SB), NOSPLIT, $0-64
	TILEARGS
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z30

q80tile:
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

// Q40ROW8 is one row of the eight-row Q4_0 decode kernel (AVX-512VL VNNI
// on 256-bit registers, which have the whole upper register file to
// themselves): the nibbles meet the activation in one VPDPBUSD that
// starts from -8·Σy (Y29), then one conversion and one FMA by the row's
// d·dy (stored at sp by the block prologue).
#define Q40ROW8(sp, qp, acc) \
	VBROADCASTSS sp, Y26 \
	VMOVDQU32 qp, X27 \
	VPSRLW $4, X27, X25 \
	VINSERTI32X4 $1, X25, Y27, Y27 \
	VPANDD Y31, Y27, Y27 \
	VMOVDQA32 Y29, Y25 \
	VPDPBUSD Y28, Y27, Y25 \
	VCVTDQ2PS Y25, Y25 \
	VFMADD231PS Y25, Y26, acc

// SCALES4 packs the f16 scales of four rows at base, base+R8, base+2·R8,
// base+R12 into AX (R9 is scratch).
#define SCALES4(base) \
	MOVWLZX (base)(R12*1), AX \
	SHLQ $16, AX \
	MOVWLZX (base)(R8*2), R9 \
	ORQ R9, AX \
	SHLQ $16, AX \
	MOVWLZX (base)(R8*1), R9 \
	ORQ R9, AX \
	SHLQ $16, AX \
	MOVWLZX (base), R9 \
	ORQ R9, AX

#define HS8(acc, xacc, dst) \
	VEXTRACTF32X4 $1, acc, X0 \
	VADDPS xacc, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, dst

// func q4_0MatVec8VNNI(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
// Eight rows at a time (rows a positive multiple of 8).
// Frame: 0(SP) the eight rows' d·dy, 32(SP) groups left.
TEXT ·q4_0MatVec8VNNI(SB), NOSPLIT, $48-48
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ nb+24(FP), R10
	MOVQ act+32(FP), R11
	MOVQ y+40(FP), DI
	SHRQ $3, R9
	MOVQ R9, 32(SP)
	LEAQ (R8)(R8*2), R12
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y31
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Y30

q408group:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q408block:
	LEAQ (BX)(R8*4), R13
	SCALES4(BX)
	VMOVQ AX, X24
	SCALES4(R13)
	VMOVQ AX, X25
	VPUNPCKLQDQ X25, X24, X24
	VCVTPH2PS X24, Y24
	MOVWLZX (DX), AX
	VMOVD AX, X25
	VCVTPH2PS X25, X25
	VBROADCASTSS X25, Y25
	VMULPS Y25, Y24, Y24
	VMOVUPS Y24, (SP)
	VMOVDQU32 2(DX), Y28
	VPXORD Y29, Y29, Y29
	VPDPBUSD Y28, Y30, Y29
	VPXORD Y24, Y24, Y24
	VPSUBD Y29, Y24, Y29
	Q40ROW8(0(SP), 2(BX), Y16)
	Q40ROW8(4(SP), 2(BX)(R8*1), Y17)
	Q40ROW8(8(SP), 2(BX)(R8*2), Y18)
	Q40ROW8(12(SP), 2(BX)(R12*1), Y19)
	Q40ROW8(16(SP), 2(R13), Y20)
	Q40ROW8(20(SP), 2(R13)(R8*1), Y21)
	Q40ROW8(24(SP), 2(R13)(R8*2), Y22)
	Q40ROW8(28(SP), 2(R13)(R12*1), Y23)
	ADDQ $18, BX
	ADDQ $34, DX
	DECQ CX
	JNZ q408block

	HS8(Y16, X16, (DI))
	HS8(Y17, X17, 4(DI))
	HS8(Y18, X18, 8(DI))
	HS8(Y19, X19, 12(DI))
	HS8(Y20, X20, 16(DI))
	HS8(Y21, X21, 20(DI))
	HS8(Y22, X22, 24(DI))
	HS8(Y23, X23, 28(DI))
	ADDQ $32, DI
	LEAQ (SI)(R8*8), SI
	DECQ 32(SP)
	JNZ q408group
	VZEROUPPER
	RET
