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

// ---------------------------------------------------------------------------
// Q3_K: 110-byte super-block = hmask[32], qs[64], 12 bytes of packed signed
// 6-bit scales, d (f16). Quant l of step k (0..3) in half h (0..1) is
// bits 2k..2k+1 of qs[32h+l], minus 4 when bit 4h+k of hmask[l] is clear;
// one scale per 16 quants. The hmask is inverted once (EOR all-ones) and
// shifted right by 1 per step, so "(~hm << 2) & 4" is the amount to
// subtract: 4 vector ops per 16 quants. The sixteen scales are unpacked in
// general registers (ggml's aux words: R10 = scales 0..7, R11 = 8..15) and
// have 32 subtracted as each is broadcast. Per super-block: 16 SDOT + 16 MLA
// and about 100 bit ops, against the portable loop's 256 multiply-adds with
// two shifts and masks each.

// Q3KSUB: one 16-quant sub-block (quants qr, activations ar) times scale
// byte b of reg, minus 32, into V9.
#define Q3KSUB(qr, ar, reg, b) \
	VEOR V7.B16, V7.B16, V7.B16 \
	SDOT(7, qr, ar) \
	UBFX $(8*(b)), reg, $8, R14 \
	SUB $32, R14, R14 \
	VDUP R14, V10.S4 \
	MLA4S(9, 7, 10)

// Q2BITS*: bits 2k..2k+1 of V1/V2 into V3/V4 (V28 = 3).
#define Q2BITSFIRST \
	VAND V28.B16, V1.B16, V3.B16 \
	VAND V28.B16, V2.B16, V4.B16

#define Q2BITS(sh) \
	VUSHR $(sh), V1.B16, V3.B16 \
	VUSHR $(sh), V2.B16, V4.B16 \
	VAND V28.B16, V3.B16, V3.B16 \
	VAND V28.B16, V4.B16, V4.B16

#define Q2BITSLAST \
	VUSHR $6, V1.B16, V3.B16 \
	VUSHR $6, V2.B16, V4.B16

// Q3KSTEP subtracts the high-bit term from V3/V4 (V21/V22 = ~hmask shifted
// to this step's bit, V29 = 4), then dots 32 activations at R13.
#define Q3KSTEP(k, reg) \
	VSHL $2, V21.B16, V5.B16 \
	VSHL $2, V22.B16, V6.B16 \
	VAND V29.B16, V5.B16, V5.B16 \
	VAND V29.B16, V6.B16, V6.B16 \
	VSUB V5.B16, V3.B16, V3.B16 \
	VSUB V6.B16, V4.B16, V4.B16 \
	VUSHR $1, V21.B16, V21.B16 \
	VUSHR $1, V22.B16, V22.B16 \
	VLD1.P 32(R13), [V16.B16, V17.B16] \
	Q3KSUB(3, 16, reg, 2*(k)) \
	Q3KSUB(4, 17, reg, 2*(k)+1)

#define Q3KHALF(h, reg) \
	ADD $(32+32*(h)), R6, R12 \
	VLD1 (R12), [V1.B16, V2.B16] \
	Q2BITSFIRST \
	Q3KSTEP(0, reg) \
	Q2BITS(2) \
	Q3KSTEP(1, reg) \
	Q2BITS(4) \
	Q3KSTEP(2, reg) \
	Q2BITSLAST \
	Q3KSTEP(3, reg)

// func q3_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q3_KMatVecNEON(SB), NOSPLIT, $0-48
	KHEAD
	VMOVI $3, V28.B16
	VMOVI $4, V29.B16
	VMOVI $255, V31.B16

q3krow:
	KROWSTART

q3kblock:
	MOVHU 108(R6), R9
	FMOVS R9, F16
	FCVTHS F16, F16
	FMOVS (R7), F18
	FMULS F18, F16, F24

	// scales: aux words of ggml's q3 unpacking, 6-bit unsigned (bias 32)
	MOVWU 96(R6), R10
	MOVWU 100(R6), R11
	MOVWU 104(R6), R12
	ANDW $0x03030303, R12, R13
	ANDW $0x0f0f0f0f, R10, R14
	ORRW R13<<4, R14, R14
	LSRW $2, R12, R13
	ANDW $0x03030303, R13, R13
	ANDW $0x0f0f0f0f, R11, R15
	ORRW R13<<4, R15, R15
	LSRW $4, R12, R13
	ANDW $0x03030303, R13, R13
	LSRW $4, R10, R19
	ANDW $0x0f0f0f0f, R19, R19
	ORRW R13<<4, R19, R19
	LSRW $6, R12, R13
	ANDW $0x03030303, R13, R13
	LSRW $4, R11, R20
	ANDW $0x0f0f0f0f, R20, R20
	ORRW R13<<4, R20, R20
	ORR R15<<32, R14, R10
	ORR R20<<32, R19, R11

	VLD1 (R6), [V21.B16, V22.B16]
	VEOR V31.B16, V21.B16, V21.B16
	VEOR V31.B16, V22.B16, V22.B16
	VEOR V9.B16, V9.B16, V9.B16
	ADD $4, R7, R13
	Q3KHALF(0, R10)
	Q3KHALF(1, R11)
	KBLOCKEND

	ADD $110, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, q3kblock

	KROWEND
	CBNZ R2, q3krow
	RET

// ---------------------------------------------------------------------------
// Q2_K: 84-byte super-block = 16 scale bytes (low nibble scale, high nibble
// min, one pair per 16 quants), qs[64], d, dmin (f16). Quant l of step k in
// half h is bits 2k..2k+1 of qs[32h+l] (0..3). The min term
// Σ min_j·bsum_j is done in vectors: the 16 mins widened to 16 bits
// (UXTL), multiplied by the 16 int16 bsums (MUL .8H: |min·bsum| ≤
// 15·2048 fits), pairwise-widened to four int32 lanes (SADDLP/SADALP) and
// FMA'd with -dmin·dy straight into V0. Per super-block: 16 SDOT + 16 MLA,
// about 60 bit ops, and 8 vector ops for the mins.
#define MUL8H(d, n, m) WORD $(0x4E609C00 | ((m)<<16) | ((n)<<5) | (d))
#define SADDLP8H(d, n) WORD $(0x4E602800 | ((n)<<5) | (d))
#define SADALP8H(d, n) WORD $(0x4E606800 | ((n)<<5) | (d))

// Q2KSUB: one 16-quant sub-block times the low nibble of byte b of reg.
#define Q2KSUB(qr, ar, reg, b) \
	VEOR V7.B16, V7.B16, V7.B16 \
	SDOT(7, qr, ar) \
	UBFX $(8*(b)), reg, $4, R14 \
	VDUP R14, V10.S4 \
	MLA4S(9, 7, 10)

#define Q2KSTEP(k, reg) \
	VLD1.P 32(R13), [V16.B16, V17.B16] \
	Q2KSUB(3, 16, reg, 2*(k)) \
	Q2KSUB(4, 17, reg, 2*(k)+1)

#define Q2KHALF(h, reg) \
	ADD $(16+32*(h)), R6, R12 \
	VLD1 (R12), [V1.B16, V2.B16] \
	Q2BITSFIRST \
	Q2KSTEP(0, reg) \
	Q2BITS(2) \
	Q2KSTEP(1, reg) \
	Q2BITS(4) \
	Q2KSTEP(2, reg) \
	Q2BITSLAST \
	Q2KSTEP(3, reg)

// func q2_KMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q2_KMatVecNEON(SB), NOSPLIT, $0-48
	KHEAD
	VMOVI $3, V28.B16

q2krow:
	KROWSTART

q2kblock:
	MOVHU 80(R6), R9
	FMOVS R9, F16
	FCVTHS F16, F16
	MOVHU 82(R6), R9
	FMOVS R9, F17
	FCVTHS F17, F17
	FMOVS (R7), F18
	FMULS F18, F16, F24
	FMULS F18, F17, F17
	FNEGS F17, F17

	// mins: -dmin·dy · Σ (scale byte >> 4) · bsum, in four lanes of V0
	VLD1 (R6), [V1.B16]
	VUSHR $4, V1.B16, V2.B16
	VUXTL V2.B8, V3.H8
	VUXTL2 V2.B16, V4.H8
	ADD $260, R7, R12
	VLD1 (R12), [V5.H8, V6.H8]
	MUL8H(5, 3, 5)
	MUL8H(6, 4, 6)
	SADDLP8H(7, 5)
	SADALP8H(7, 6)
	SCVTF4S(7, 7)
	VDUP V17.S[0], V12.S4
	VFMLA V12.S4, V7.S4, V0.S4

	MOVD (R6), R10
	MOVD 8(R6), R11
	VEOR V9.B16, V9.B16, V9.B16
	ADD $4, R7, R13
	Q2KHALF(0, R10)
	Q2KHALF(1, R11)
	KBLOCKEND

	ADD $84, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, q2kblock

	KROWEND
	CBNZ R2, q2krow
	RET

// ---------------------------------------------------------------------------
// IQ4_XS: 136-byte super-block = d (f16), scales_h (16 bits: 2 per
// sub-block), scales_l[4] (4 bits per sub-block), qs[128]; eight sub-blocks
// of 32: low nibbles of 16 bytes are elements 0..15, high nibbles 16..31,
// each an index into IQ4_NL's signed codebook (one TBL per 16). Scale =
// (low4 | high2 << 4) - 32, built in general registers. Per super-block:
// 16 TBL + 16 SDOT + 8 MLA.
DATA iq4xsTab<>+0(SB)/8, $0xF6EADDCFBFAD9881
DATA iq4xsTab<>+8(SB)/8, $0x7159453526190D01
GLOBL iq4xsTab<>(SB), RODATA|NOPTR, $16

#define IQ4XSSUB(ib) \
	VLD1.P 16(R12), [V1.B16] \
	VLD1.P 32(R13), [V16.B16, V17.B16] \
	VUSHR $4, V1.B16, V2.B16 \
	VAND V30.B16, V1.B16, V1.B16 \
	VTBL V1.B16, [V28.B16], V1.B16 \
	VTBL V2.B16, [V28.B16], V2.B16 \
	VEOR V7.B16, V7.B16, V7.B16 \
	SDOT(7, 1, 16) \
	SDOT(7, 2, 17) \
	UBFX $(4*(ib)), R10, $4, R14 \
	UBFX $(2*(ib)), R11, $2, R15 \
	ORR R15<<4, R14, R14 \
	SUB $32, R14, R14 \
	VDUP R14, V10.S4 \
	MLA4S(9, 7, 10)

// func iq4_XSMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·iq4_XSMatVecNEON(SB), NOSPLIT, $0-48
	KHEAD
	VMOVI $15, V30.B16
	MOVD $iq4xsTab<>(SB), R9
	VLD1 (R9), [V28.B16]

iq4xsrow:
	KROWSTART

iq4xsblock:
	MOVHU (R6), R9
	FMOVS R9, F16
	FCVTHS F16, F16
	FMOVS (R7), F18
	FMULS F18, F16, F24

	MOVHU 2(R6), R11
	MOVWU 4(R6), R10
	VEOR V9.B16, V9.B16, V9.B16
	ADD $8, R6, R12
	ADD $4, R7, R13
	IQ4XSSUB(0)
	IQ4XSSUB(1)
	IQ4XSSUB(2)
	IQ4XSSUB(3)
	IQ4XSSUB(4)
	IQ4XSSUB(5)
	IQ4XSSUB(6)
	IQ4XSSUB(7)
	KBLOCKEND

	ADD $136, R6
	ADD $292, R7
	SUB $1, R8
	CBNZ R8, iq4xsblock

	KROWEND
	CBNZ R2, iq4xsrow
	RET
