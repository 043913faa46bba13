//go:build !purego

#include "textflag.h"

// K-quant matvec with NEON + SDOT (V16..V19 carry activations, so the
// super-block scale d·dy lives in V24). Integer sums per sub-block come from
// SDOT; each is multiplied by its sub-block scale with MLA (vector ×
// broadcast scale); super-block scales are applied in float at the end.
#define SDOT(d, n, m) WORD $(0x4E809400 | ((m)<<16) | ((n)<<5) | (d))
#define MLA4S(d, n, m) WORD $(0x4EA09400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4S(d, n) WORD $(0x4E21D800 | ((n)<<5) | (d))
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP2S(d, n) WORD $(0x7E30D800 | ((n)<<5) | (d))

// Q4KMIN adds mins byte j (of R11) × (bsum[2j] + bsum[2j+1]) to R16.
#define Q4KMIN(j) \
	MOVH (260+4*j)(R7), R14 \
	MOVH (262+4*j)(R7), R15 \
	ADD R15, R14, R14 \
	UBFX $(8*j), R11, $8, R15 \
	MADD R14, R16, R15, R16

// Q4KCHUNK: 64 quants (32 bytes at R12) against 64 activations (R13),
// sub-block scales are bytes 2j and 2j+1 of R10.
#define Q4KCHUNK(j) \
	VLD1.P 32(R12), [V1.B16, V2.B16] \
	VLD1.P 64(R13), [V16.B16, V17.B16, V18.B16, V19.B16] \
	VAND V30.B16, V1.B16, V3.B16 \
	VAND V30.B16, V2.B16, V4.B16 \
	VUSHR $4, V1.B16, V5.B16 \
	VUSHR $4, V2.B16, V6.B16 \
	VEOR V7.B16, V7.B16, V7.B16 \
	VEOR V8.B16, V8.B16, V8.B16 \
	SDOT(7, 3, 16) \
	SDOT(7, 4, 17) \
	SDOT(8, 5, 18) \
	SDOT(8, 6, 19) \
	UBFX $(16*j), R10, $8, R14 \
	VDUP R14, V10.S4 \
	MLA4S(9, 7, 10) \
	UBFX $(16*j+8), R10, $8, R14 \
	VDUP R14, V11.S4 \
	MLA4S(9, 8, 11)

// func q4_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q4_KMatVecNEON(SB), NOSPLIT, $0-48
	MOVD w+0(FP), R0
	MOVD rowBytes+8(FP), R1
	MOVD rows+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD act+32(FP), R4
	MOVD y+40(FP), R5
	VMOVI $15, V30.B16

q4krow:
	MOVD R0, R6
	MOVD R4, R7
	MOVD R3, R8
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V20.B16, V20.B16, V20.B16

q4kblock:
	MOVHU (R6), R9
	FMOVS R9, F16
	FCVTHS F16, F16
	MOVHU 2(R6), R9
	FMOVS R9, F17
	FCVTHS F17, F17
	FMOVS (R7), F18
	FMULS F18, F16, F24
	FMULS F18, F17, F17

	// scales (R10) and mins (R11), eight bytes each: ggml's utmp unpacking
	MOVWU 4(R6), R10
	MOVWU 8(R6), R11
	MOVWU 12(R6), R12
	LSRW $4, R12, R13
	ANDW $0x0f0f0f0f, R13, R13
	LSRW $6, R11, R14
	ANDW $0x03030303, R14, R14
	ORRW R14<<4, R13, R13
	ANDW $0x0f0f0f0f, R12, R15
	LSRW $6, R10, R14
	ANDW $0x03030303, R14, R14
	ORRW R14<<4, R15, R15
	ANDW $0x3f3f3f3f, R11, R11
	ANDW $0x3f3f3f3f, R10, R10
	ORR R15<<32, R10, R10
	ORR R13<<32, R11, R11

	MOVD ZR, R16
	Q4KMIN(0)
	Q4KMIN(1)
	Q4KMIN(2)
	Q4KMIN(3)
	Q4KMIN(4)
	Q4KMIN(5)
	Q4KMIN(6)
	Q4KMIN(7)
	SCVTFS R16, F19
	FMULS F17, F19, F19
	FADDS F19, F20, F20

	VEOR V9.B16, V9.B16, V9.B16
	ADD $16, R6, R12
	ADD $4, R7, R13
	Q4KCHUNK(0)
	Q4KCHUNK(1)
	Q4KCHUNK(2)
	Q4KCHUNK(3)

	SCVTF4S(9, 9)
	VDUP V24.S[0], V12.S4
	VFMLA V12.S4, V9.S4, V0.S4

	ADD $144, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, q4kblock

	FADDP4S(1, 0, 0)
	FADDP2S(1, 1)
	FSUBS F20, F1, F1
	FMOVS F1, (R5)
	ADD $4, R5
	ADD R1, R0
	SUB $1, R2
	CBNZ R2, q4krow
	RET

// Q6KSUB: one 16-quant sub-block (q register qr, activations ar) scaled by
// signed byte sb of R10 into V9.
#define Q6KSUB(qr, ar, sb) \
	VEOR V7.B16, V7.B16, V7.B16 \
	SDOT(7, qr, ar) \
	SBFX $(8*(sb)), R10, $8, R14 \
	VDUP R14, V10.S4 \
	MLA4S(9, 7, 10)

// Q6KPART finishes part p: V20/V21 hold the two halves' 6-bit quants
// (0..63); subtract 32, load 32 activations, two scaled sub-blocks.
#define Q6KPART(p) \
	VSUB V28.B16, V20.B16, V20.B16 \
	VSUB V28.B16, V21.B16, V21.B16 \
	VLD1.P 32(R13), [V16.B16, V17.B16] \
	Q6KSUB(20, 16, 2*p) \
	Q6KSUB(21, 17, 2*p+1)

#define Q6KHALF(h) \
	ADD $(64*h), R6, R12 \
	VLD1 (R12), [V1.B16, V2.B16, V3.B16, V4.B16] \
	ADD $(128+32*h), R6, R12 \
	VLD1 (R12), [V5.B16, V6.B16] \
	MOVD (192+8*h)(R6), R10 \
	VAND V30.B16, V1.B16, V20.B16 \
	VAND V29.B16, V5.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V20.B16, V20.B16 \
	VAND V30.B16, V2.B16, V21.B16 \
	VAND V29.B16, V6.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V21.B16, V21.B16 \
	Q6KPART(0) \
	VAND V30.B16, V3.B16, V20.B16 \
	VUSHR $2, V5.B16, V22.B16 \
	VAND V29.B16, V22.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V20.B16, V20.B16 \
	VAND V30.B16, V4.B16, V21.B16 \
	VUSHR $2, V6.B16, V22.B16 \
	VAND V29.B16, V22.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V21.B16, V21.B16 \
	Q6KPART(1) \
	VUSHR $4, V1.B16, V20.B16 \
	VUSHR $4, V5.B16, V22.B16 \
	VAND V29.B16, V22.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V20.B16, V20.B16 \
	VUSHR $4, V2.B16, V21.B16 \
	VUSHR $4, V6.B16, V22.B16 \
	VAND V29.B16, V22.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V21.B16, V21.B16 \
	Q6KPART(2) \
	VUSHR $4, V3.B16, V20.B16 \
	VUSHR $6, V5.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V20.B16, V20.B16 \
	VUSHR $4, V4.B16, V21.B16 \
	VUSHR $6, V6.B16, V22.B16 \
	VSHL $4, V22.B16, V22.B16 \
	VORR V22.B16, V21.B16, V21.B16 \
	Q6KPART(3)

// func q6_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q6_KMatVecNEON(SB), NOSPLIT, $0-48
	MOVD w+0(FP), R0
	MOVD rowBytes+8(FP), R1
	MOVD rows+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD act+32(FP), R4
	MOVD y+40(FP), R5
	VMOVI $15, V30.B16
	VMOVI $3, V29.B16
	VMOVI $32, V28.B16

q6krow:
	MOVD R0, R6
	MOVD R4, R7
	MOVD R3, R8
	VEOR V0.B16, V0.B16, V0.B16

q6kblock:
	MOVHU 208(R6), R9
	FMOVS R9, F16
	FCVTHS F16, F16
	FMOVS (R7), F18
	FMULS F18, F16, F24
	VEOR V9.B16, V9.B16, V9.B16
	ADD $4, R7, R13
	Q6KHALF(0)
	Q6KHALF(1)
	SCVTF4S(9, 9)
	VDUP V24.S[0], V12.S4
	VFMLA V12.S4, V9.S4, V0.S4

	ADD $210, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, q6kblock

	FADDP4S(1, 0, 0)
	FADDP2S(1, 1)
	FMOVS F1, (R5)
	ADD $4, R5
	ADD R1, R0
	SUB $1, R2
	CBNZ R2, q6krow
	RET
