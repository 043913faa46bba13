//go:build !purego

#include "textflag.h"

// NEON kernels with the dot-product extension (SDOT). Go's assembler has no
// mnemonics for SDOT, SCVTF (vector) or FADDP, so they are encoded here.
#define SDOT(d, n, m) WORD $(0x4E809400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4S(d, n) WORD $(0x4E21D800 | ((n)<<5) | (d))
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP2S(d, n) WORD $(0x7E30D800 | ((n)<<5) | (d))

// SCALE leaves f16(R6) * f16(R7) in F16 and broadcast in V6.
#define SCALE \
	MOVHU (R6), R9 \
	MOVHU (R7), R10 \
	FMOVS R9, F16 \
	FMOVS R10, F17 \
	FCVTHS F16, F16 \
	FCVTHS F17, F17 \
	FMULS F16, F17, F16 \
	VDUP V16.S[0], V6.S4

// ACCUM converts the int32 lanes of V5 and adds them times V6 to V0.
#define ACCUM \
	SCVTF4S(5, 5) \
	VFMLA V6.S4, V5.S4, V0.S4

// STORESUM writes the sum of V0's lanes at (R5) and advances R5.
#define STORESUM \
	FADDP4S(1, 0, 0) \
	FADDP2S(1, 1) \
	FMOVS F1, (R5) \
	ADD $4, R5

// func q8_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q8_0MatVecNEON(SB), NOSPLIT, $0-48
	MOVD w+0(FP), R0
	MOVD rowBytes+8(FP), R1
	MOVD rows+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD act+32(FP), R4
	MOVD y+40(FP), R5

q80row:
	MOVD R0, R6
	MOVD R4, R7
	MOVD R3, R8
	VEOR V0.B16, V0.B16, V0.B16

q80block:
	SCALE
	ADD $2, R6, R11
	ADD $2, R7, R12
	VLD1 (R11), [V1.B16, V2.B16]
	VLD1 (R12), [V3.B16, V4.B16]
	VEOR V5.B16, V5.B16, V5.B16
	SDOT(5, 1, 3)
	SDOT(5, 2, 4)
	ACCUM
	ADD $34, R6
	ADD $34, R7
	SUB $1, R8
	CBNZ R8, q80block

	STORESUM
	ADD R1, R0
	SUB $1, R2
	CBNZ R2, q80row
	RET

// func q4_0MatVecNEON(w *byte, rowBytes, rows, nb int, act *byte, y *float32)
TEXT ·q4_0MatVecNEON(SB), NOSPLIT, $0-48
	MOVD w+0(FP), R0
	MOVD rowBytes+8(FP), R1
	MOVD rows+16(FP), R2
	MOVD nb+24(FP), R3
	MOVD act+32(FP), R4
	MOVD y+40(FP), R5
	VMOVI $15, V30.B16
	VMOVI $8, V29.B16

q40row:
	MOVD R0, R6
	MOVD R4, R7
	MOVD R3, R8
	VEOR V0.B16, V0.B16, V0.B16

q40block:
	SCALE
	ADD $2, R6, R11
	ADD $2, R7, R12
	VLD1 (R11), [V1.B16]
	VLD1 (R12), [V3.B16, V4.B16]
	VUSHR $4, V1.B16, V2.B16
	VAND V30.B16, V1.B16, V1.B16
	VSUB V29.B16, V1.B16, V1.B16
	VSUB V29.B16, V2.B16, V2.B16
	VEOR V5.B16, V5.B16, V5.B16
	SDOT(5, 1, 3)
	SDOT(5, 2, 4)
	ACCUM
	ADD $18, R6
	ADD $34, R7
	SUB $1, R8
	CBNZ R8, q40block

	STORESUM
	ADD R1, R0
	SUB $1, R2
	CBNZ R2, q40row
	RET
