//go:build !purego

#include "textflag.h"

DATA q80perm<>+0(SB)/4, $0
DATA q80perm<>+4(SB)/4, $4
DATA q80perm<>+8(SB)/4, $1
DATA q80perm<>+12(SB)/4, $5
DATA q80perm<>+16(SB)/4, $2
DATA q80perm<>+20(SB)/4, $6
DATA q80perm<>+24(SB)/4, $3
DATA q80perm<>+28(SB)/4, $7
GLOBL q80perm<>(SB), RODATA|NOPTR, $32

// Q80ROUND rounds the eight floats in v half away from zero (what
// math.Round does, so the result matches quantizeQ8_0Ref bit for bit) and
// converts them to int32: trunc(v), plus ±1 where |v - trunc(v)| >= 0.5.
#define Q80ROUND(v, t, f, s) \
	VROUNDPS $3, v, t \
	VSUBPS t, v, f \
	VANDPS Y15, f, f \
	VCMPPS $0x1d, Y14, f, f \
	VANDPS Y12, v, s \
	VORPS Y13, s, s \
	VANDPS f, s, s \
	VADDPS s, t, v \
	VCVTTPS2DQ v, v

// func quantizeQ8_0AVX2(x *float32, nb int, dst *byte)
// quantizeQ8_0Ref for nb blocks of 32: d = amax/127 stored as f16, quants
// round(x/d) with the same float32 operations in the same order.
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ dst+16(FP), DI
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x3f000000, AX // 0.5
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x80000000, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X11
	VMOVDQU q80perm<>(SB), Y10

q80block:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4
	VDIVSS X11, X4, X5 // d = amax/127
	VCVTPS2PH $0, X5, X6
	VMOVD X6, AX
	MOVW AX, (DI)
	VXORPS X7, X7, X7
	VCMPSS $4, X7, X5, X8 // d != 0
	VDIVSS X5, X13, X9 // 1/d
	VANDPS X8, X9, X9
	VBROADCASTSS X9, Y9
	VMULPS Y9, Y0, Y0
	VMULPS Y9, Y1, Y1
	VMULPS Y9, Y2, Y2
	VMULPS Y9, Y3, Y3
	Q80ROUND(Y0, Y4, Y5, Y6)
	Q80ROUND(Y1, Y4, Y5, Y6)
	Q80ROUND(Y2, Y4, Y5, Y6)
	Q80ROUND(Y3, Y4, Y5, Y6)
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y10, Y0
	VMOVDQU Y0, 2(DI)
	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JNZ q80block
	VZEROUPPER
	RET
