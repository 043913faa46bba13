//go:build !purego

#include "textflag.h"

// Float-weight matvec (F32 activations) with NEON: four FMA accumulators,
// 16 elements per iteration; n must be a positive multiple of 16 (the Go
// wrapper adds the tail). F16 widens with FCVTL/FCVTL2, BF16 by zipping
// zeros under each half.
#define FCVTL4S(d, n) WORD $(0x0E217800 | ((n)<<5) | (d))
#define FCVTL24S(d, n) WORD $(0x4E217800 | ((n)<<5) | (d))
#define FADD4S(d, n, m) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP2S(d, n) WORD $(0x7E30D800 | ((n)<<5) | (d))

#define FLOATHEAD \
	MOVD w+0(FP), R0 \
	MOVD rowBytes+8(FP), R1 \
	MOVD rows+16(FP), R2 \
	MOVD n+24(FP), R3 \
	MOVD x+32(FP), R4 \
	MOVD y+40(FP), R5

#define FLOATROWSTART \
	MOVD R0, R6 \
	MOVD R4, R7 \
	MOVD R3, R8 \
	VEOR V0.B16, V0.B16, V0.B16 \
	VEOR V9.B16, V9.B16, V9.B16 \
	VEOR V10.B16, V10.B16, V10.B16 \
	VEOR V11.B16, V11.B16, V11.B16

#define FLOATFMA \
	VLD1.P 64(R7), [V16.S4, V17.S4, V18.S4, V19.S4] \
	VFMLA V16.S4, V1.S4, V0.S4 \
	VFMLA V17.S4, V2.S4, V9.S4 \
	VFMLA V18.S4, V3.S4, V10.S4 \
	VFMLA V19.S4, V4.S4, V11.S4

#define FLOATROWEND \
	FADD4S(0, 0, 9) \
	FADD4S(10, 10, 11) \
	FADD4S(0, 0, 10) \
	FADDP4S(1, 0, 0) \
	FADDP2S(1, 1) \
	FMOVS F1, (R5) \
	ADD $4, R5 \
	ADD R1, R0 \
	SUB $1, R2

// func f32MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)
TEXT ·f32MatVecNEON(SB), NOSPLIT, $0-48
	FLOATHEAD
f32row:
	FLOATROWSTART
f32loop:
	VLD1.P 64(R6), [V1.S4, V2.S4, V3.S4, V4.S4]
	FLOATFMA
	SUB $16, R8
	CBNZ R8, f32loop
	FLOATROWEND
	CBNZ R2, f32row
	RET

// func f16MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)
TEXT ·f16MatVecNEON(SB), NOSPLIT, $0-48
	FLOATHEAD
f16row:
	FLOATROWSTART
f16loop:
	VLD1.P 32(R6), [V12.H8, V13.H8]
	FCVTL4S(1, 12)
	FCVTL24S(2, 12)
	FCVTL4S(3, 13)
	FCVTL24S(4, 13)
	FLOATFMA
	SUB $16, R8
	CBNZ R8, f16loop
	FLOATROWEND
	CBNZ R2, f16row
	RET

// func bf16MatVecNEON(w *byte, rowBytes, rows, n int, x *byte, y *float32)
TEXT ·bf16MatVecNEON(SB), NOSPLIT, $0-48
	FLOATHEAD
	VEOR V31.B16, V31.B16, V31.B16
bf16row:
	FLOATROWSTART
bf16loop:
	VLD1.P 32(R6), [V12.H8, V13.H8]
	VZIP1 V12.H8, V31.H8, V1.H8
	VZIP2 V12.H8, V31.H8, V2.H8
	VZIP1 V13.H8, V31.H8, V3.H8
	VZIP2 V13.H8, V31.H8, V4.H8
	FLOATFMA
	SUB $16, R8
	CBNZ R8, bf16loop
	FLOATROWEND
	CBNZ R2, bf16row
	RET
