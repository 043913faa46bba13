//go:build !purego

#include "textflag.h"

// Matvecs for the 32-element legacy types (Q8_0 / Q8_1 activations) with
// NEON + SDOT, one block per iteration as q4_0MatVecNEON in dot_arm64.s:
// rebuild the block's 32 quants as bytes in V1 (elements 0..15) and V2
// (16..31), SDOT them against the activation's two 16-byte halves, convert
// the four int32 lanes and FMA them with d·dy into V0. Types with a min
// (Q4_1, Q5_1) add m·s (s = dy·Σ activation bytes, stored in the Q8_1 block)
// to a scalar F20 that joins V0's lane sum at the end of the row.
//
// Q5 high bits: the 32-bit qh word is broadcast, a table lookup (TBL) spreads
// byte k of it over lanes 8k..8k+7, and CMTST against the lane's bit
// (1, 2, 4 ... 128 twice) turns bit j into an all-ones byte j, masked to
// 0x10 and ORed onto the nibble: 7 vector ops per block instead of 32
// shift/mask pairs.
#define SDOT(d, n, m) WORD $(0x4E809400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4S(d, n) WORD $(0x4E21D800 | ((n)<<5) | (d))
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP2S(d, n) WORD $(0x7E30D800 | ((n)<<5) | (d))

// q5idx: TBL indexes spreading bytes 0,1 (first 16 lanes) and 2,3 (next).
DATA q5idx<>+0(SB)/8, $0x0000000000000000
DATA q5idx<>+8(SB)/8, $0x0101010101010101
DATA q5idx<>+16(SB)/8, $0x0202020202020202
DATA q5idx<>+24(SB)/8, $0x0303030303030303
GLOBL q5idx<>(SB), RODATA|NOPTR, $32

// q5bit: the bit each lane tests.
DATA q5bit<>+0(SB)/8, $0x8040201008040201
DATA q5bit<>+8(SB)/8, $0x8040201008040201
GLOBL q5bit<>(SB), RODATA|NOPTR, $16

// iq4nlTab: IQ4_NL's 16 signed codebook values (-127 ... 113), a TBL table.
DATA iq4nlTab<>+0(SB)/8, $0xF6EADDCFBFAD9881
DATA iq4nlTab<>+8(SB)/8, $0x7159453526190D01
GLOBL iq4nlTab<>(SB), RODATA|NOPTR, $16

#define LHEAD \
	MOVD w+0(FP), R0 \
	MOVD rowBytes+8(FP), R1 \
	MOVD rows+16(FP), R2 \
	MOVD nb+24(FP), R3 \
	MOVD act+32(FP), R4 \
	MOVD y+40(FP), R5

#define LROWSTART \
	MOVD R0, R6 \
	MOVD R4, R7 \
	MOVD R3, R8 \
	VEOR V0.B16, V0.B16, V0.B16 \
	VEOR V20.B16, V20.B16, V20.B16

// LROWEND stores V0's lane sum plus F20 (the min term, zero if none).
#define LROWEND \
	FADDP4S(1, 0, 0) \
	FADDP2S(1, 1) \
	FADDS F20, F1, F1 \
	FMOVS F1, (R5) \
	ADD $4, R5 \
	ADD R1, R0 \
	SUB $1, R2

// SCALE leaves f16(R6) * f16(R7) broadcast in V6.
#define SCALE \
	MOVHU (R6), R9 \
	MOVHU (R7), R10 \
	FMOVS R9, F16 \
	FMOVS R10, F17 \
	FCVTHS F16, F16 \
	FCVTHS F17, F17 \
	FMULS F16, F17, F16 \
	VDUP V16.S[0], V6.S4

// MINTERM adds f16(2(R6)) * f16(2(R7)) (Q4_1/Q5_1 m times Q8_1 s) to F20.
#define MINTERM \
	MOVHU 2(R6), R9 \
	MOVHU 2(R7), R10 \
	FMOVS R9, F18 \
	FMOVS R10, F19 \
	FCVTHS F18, F18 \
	FCVTHS F19, F19 \
	FMULS F18, F19, F18 \
	FADDS F18, F20, F20

// SPLIT unpacks the 16 bytes at (R11) into low nibbles V1, high nibbles V2.
#define SPLIT \
	VLD1 (R11), [V1.B16] \
	VUSHR $4, V1.B16, V2.B16 \
	VAND V30.B16, V1.B16, V1.B16

// Q5HIGH ORs bit j of the 32-bit qh at (R11) as bit 4 onto quant j (V1 for
// j < 16, V2 for j >= 16).
#define Q5HIGH \
	MOVWU (R11), R9 \
	VDUP R9, V23.S4 \
	VTBL V27.B16, [V23.B16], V21.B16 \
	VTBL V26.B16, [V23.B16], V22.B16 \
	VCMTST V25.B16, V21.B16, V21.B16 \
	VCMTST V25.B16, V22.B16, V22.B16 \
	VAND V29.B16, V21.B16, V21.B16 \
	VAND V29.B16, V22.B16, V22.B16 \
	VORR V21.B16, V1.B16, V1.B16 \
	VORR V22.B16, V2.B16, V2.B16

// DOT32 SDOTs V1/V2 against the 32 activation bytes at (R12) and adds the
// lanes times V6 to V0.
#define DOT32 \
	VLD1 (R12), [V3.B16, V4.B16] \
	VEOR V5.B16, V5.B16, V5.B16 \
	SDOT(5, 1, 3) \
	SDOT(5, 2, 4) \
	SCVTF4S(5, 5) \
	VFMLA V6.S4, V5.S4, V0.S4

// Q5CONSTS loads the high-bit helpers into V25..V27 and 0x10 into V29.
#define Q5CONSTS \
	MOVD $q5idx<>(SB), R9 \
	VLD1 (R9), [V27.B16, V28.B16] \
	VMOV V28.B16, V26.B16 \
	MOVD $q5bit<>(SB), R9 \
	VLD1 (R9), [V25.B16] \
	VMOVI $16, V29.B16

// ---------------------------------------------------------------------------
// Q5_0: 22-byte block = d (f16), qh (32 bits), qs[16]; quant j = nibble |
// qh bit j << 4, minus 16 (signed bytes -16..15).

// func q5_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q5_0MatVecNEON(SB), NOSPLIT, $0-48
	LHEAD
	VMOVI $15, V30.B16
	Q5CONSTS
	VMOVI $16, V28.B16

q50row:
	LROWSTART

q50block:
	SCALE
	ADD $6, R6, R11
	SPLIT
	ADD $2, R6, R11
	Q5HIGH
	VSUB V28.B16, V1.B16, V1.B16
	VSUB V28.B16, V2.B16, V2.B16
	ADD $2, R7, R12
	DOT32
	ADD $22, R6
	ADD $34, R7
	SUB $1, R8
	CBNZ R8, q50block

	LROWEND
	CBNZ R2, q50row
	RET

// ---------------------------------------------------------------------------
// Q4_1: 20-byte block = d, m (f16), qs[16]; quants 0..15 unsigned, weight =
// d·q + m. Against Q8_1 (d, s = d·Σq8, 32 bytes): d·dy·Σq·q8 + m·s.

// func q4_1MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q4_1MatVecNEON(SB), NOSPLIT, $0-48
	LHEAD
	VMOVI $15, V30.B16

q41row:
	LROWSTART

q41block:
	SCALE
	MINTERM
	ADD $4, R6, R11
	SPLIT
	ADD $4, R7, R12
	DOT32
	ADD $20, R6
	ADD $36, R7
	SUB $1, R8
	CBNZ R8, q41block

	LROWEND
	CBNZ R2, q41row
	RET

// ---------------------------------------------------------------------------
// Q5_1: 24-byte block = d, m (f16), qh (32 bits), qs[16]; quants 0..31
// unsigned (nibble | qh bit << 4), weight = d·q + m, against Q8_1.

// func q5_1MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q5_1MatVecNEON(SB), NOSPLIT, $0-48
	LHEAD
	VMOVI $15, V30.B16
	Q5CONSTS

q51row:
	LROWSTART

q51block:
	SCALE
	MINTERM
	ADD $8, R6, R11
	SPLIT
	ADD $4, R6, R11
	Q5HIGH
	ADD $4, R7, R12
	DOT32
	ADD $24, R6
	ADD $36, R7
	SUB $1, R8
	CBNZ R8, q51block

	LROWEND
	CBNZ R2, q51row
	RET

// ---------------------------------------------------------------------------
// IQ4_NL: 18-byte block = d (f16), qs[16] of 4-bit indexes into a signed
// 16-entry codebook; one TBL per 16 nibbles gives the signed bytes.

// func iq4_NLMatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·iq4_NLMatVecNEON(SB), NOSPLIT, $0-48
	LHEAD
	VMOVI $15, V30.B16
	MOVD $iq4nlTab<>(SB), R9
	VLD1 (R9), [V28.B16]

iq4nlrow:
	LROWSTART

iq4nlblock:
	SCALE
	ADD $2, R6, R11
	SPLIT
	VTBL V1.B16, [V28.B16], V1.B16
	VTBL V2.B16, [V28.B16], V2.B16
	ADD $2, R7, R12
	DOT32
	ADD $18, R6
	ADD $34, R7
	SUB $1, R8
	CBNZ R8, iq4nlblock

	LROWEND
	CBNZ R2, iq4nlrow
	RET
