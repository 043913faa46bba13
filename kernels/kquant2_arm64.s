//go:build !purego

#include "textflag.h"

// More K-quant matvecs (Q8_K activations) with NEON + SDOT, in the style of
// kquant_arm64.s: every kernel rebuilds the signed/unsigned 8-bit quants of
// a super-block in vector registers, SDOTs them against the activation
// bytes, multiplies each sub-block's int32 lanes by its integer scale (MLA
// with a broadcast scale) into V9, and applies the super-block's float scale
// d·dy once per super-block into V0. Min terms use Q8_K's bsums (sums of 16
// activations), so they never touch the quants.
#define SDOT(d, n, m) WORD $(0x4E809400 | ((m)<<16) | ((n)<<5) | (d))
#define MLA4S(d, n, m) WORD $(0x4EA09400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4S(d, n) WORD $(0x4E21D800 | ((n)<<5) | (d))
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP2S(d, n) WORD $(0x7E30D800 | ((n)<<5) | (d))

#define KHEAD \
	MOVD w+0(FP), R0 \
	MOVD rowBytes+8(FP), R1 \
	MOVD rows+16(FP), R2 \
	MOVD nb+24(FP), R3 \
	MOVD act+32(FP), R4 \
	MOVD y+40(FP), R5

#define KROWSTART \
	MOVD R0, R6 \
	MOVD R4, R7 \
	MOVD R3, R8 \
	VEOR V0.B16, V0.B16, V0.B16 \
	VEOR V20.B16, V20.B16, V20.B16

// KBLOCKEND applies d·dy (F24) to the super-block's integer lanes in V9.
#define KBLOCKEND \
	SCVTF4S(9, 9) \
	VDUP V24.S[0], V12.S4 \
	VFMLA V12.S4, V9.S4, V0.S4

// KROWEND stores the lane sum of V0 minus the scalar min term F20.
#define KROWEND \
	FADDP4S(1, 0, 0) \
	FADDP2S(1, 1) \
	FSUBS F20, F1, F1 \
	FMOVS F1, (R5) \
	ADD $4, R5 \
	ADD R1, R0 \
	SUB $1, R2

// ---------------------------------------------------------------------------
// Q5_K: 176-byte super-block = d, dmin (f16), 12 bytes of packed 6-bit
// scales/mins (as Q4_K), qh[32], qs[128]. Quant l of sub-block s (32 each)
// is the nibble of qs[32*(s/2)+l] (low for even s, high for odd) plus bit s
// of qh[l] as bit 4: values 0..31, so SDOT's signed bytes hold them as is.
// The two qh vectors are shifted right by 2 after each 64-quant chunk, so
// bits 0 and 1 are always the ones moved to bit 4 (SHL 4 / SHL 3, AND 0x10,
// ORR). Per super-block: 4×(2 loads of quants+acts, 14 bit ops, 4 SDOT,
// 2 MLA) plus the Q4_K scale unpacking and 8 scalar min MADDs, against the
// portable loop's 256 multiply-adds with a branch and shift per quant.

// Q5KMIN adds mins byte j (of R11) × (bsum[2j] + bsum[2j+1]) to R16.
#define Q5KMIN(j) \
	MOVH (260+4*j)(R7), R14 \
	MOVH (262+4*j)(R7), R15 \
	ADD R15, R14, R14 \
	UBFX $(8*j), R11, $8, R15 \
	MADD R14, R16, R15, R16

// Q5KCHUNK: sub-blocks 2j (low nibbles + qh bit 0) and 2j+1 (high nibbles +
// qh bit 1), 32 bytes of qs at R12 against 64 activations at R13; scales
// are bytes 2j and 2j+1 of R10.
#define Q5KCHUNK(j) \
	VLD1.P 32(R12), [V1.B16, V2.B16] \
	VLD1.P 64(R13), [V16.B16, V17.B16, V18.B16, V19.B16] \
	VAND V30.B16, V1.B16, V3.B16 \
	VAND V30.B16, V2.B16, V4.B16 \
	VUSHR $4, V1.B16, V5.B16 \
	VUSHR $4, V2.B16, V6.B16 \
	VSHL $4, V21.B16, V25.B16 \
	VSHL $4, V22.B16, V26.B16 \
	VAND V29.B16, V25.B16, V25.B16 \
	VAND V29.B16, V26.B16, V26.B16 \
	VORR V25.B16, V3.B16, V3.B16 \
	VORR V26.B16, V4.B16, V4.B16 \
	VSHL $3, V21.B16, V25.B16 \
	VSHL $3, V22.B16, V26.B16 \
	VAND V29.B16, V25.B16, V25.B16 \
	VAND V29.B16, V26.B16, V26.B16 \
	VORR V25.B16, V5.B16, V5.B16 \
	VORR V26.B16, V6.B16, V6.B16 \
	VUSHR $2, V21.B16, V21.B16 \
	VUSHR $2, V22.B16, V22.B16 \
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

// func q5_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q5_KMatVecNEON(SB), NOSPLIT, $0-48
	KHEAD
	VMOVI $15, V30.B16
	VMOVI $16, V29.B16

q5krow:
	KROWSTART

q5kblock:
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
	Q5KMIN(0)
	Q5KMIN(1)
	Q5KMIN(2)
	Q5KMIN(3)
	Q5KMIN(4)
	Q5KMIN(5)
	Q5KMIN(6)
	Q5KMIN(7)
	SCVTFS R16, F19
	FMULS F17, F19, F19
	FADDS F19, F20, F20

	ADD $16, R6, R12
	VLD1 (R12), [V21.B16, V22.B16]
	VEOR V9.B16, V9.B16, V9.B16
	ADD $48, R6, R12
	ADD $4, R7, R13
	Q5KCHUNK(0)
	Q5KCHUNK(1)
	Q5KCHUNK(2)
	Q5KCHUNK(3)
	KBLOCKEND

	ADD $176, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, q5kblock

	KROWEND
	CBNZ R2, q5krow
	RET
