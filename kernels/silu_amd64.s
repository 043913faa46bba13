//go:build !purego

#include "textflag.h"

// Constants of Expf as float32 bits, in its order of use.
DATA siluc<>+0(SB)/4, $0x3fb8aa3b // log2e
DATA siluc<>+4(SB)/4, $0x3f000000 // 0.5
DATA siluc<>+8(SB)/4, $0x3f318000 // ln2hi
DATA siluc<>+12(SB)/4, $0xb95e8083 // ln2lo
DATA siluc<>+16(SB)/4, $0x3ab60b61 // 1/720
DATA siluc<>+20(SB)/4, $0x3c088889 // 1/120
DATA siluc<>+24(SB)/4, $0x3d2aaaab // 1/24
DATA siluc<>+28(SB)/4, $0x3e2aaaab // 1/6
DATA siluc<>+32(SB)/4, $0x3f800000 // 1
DATA siluc<>+36(SB)/4, $0x42b00000 // 88
DATA siluc<>+40(SB)/4, $0xc2ae999a // -87.3
DATA siluc<>+44(SB)/4, $0x80000000 // sign bit
DATA siluc<>+48(SB)/4, $0x7f800000 // +Inf
DATA siluc<>+52(SB)/4, $127
GLOBL siluc<>(SB), RODATA|NOPTR, $56

// func siluMulAVX2(dst, gate, up *float32, n int)
// dst[i] = g[i] / (1 + Expf(-g[i])) · u[i] for n (a multiple of 8)
// elements: Expf's float32 operations one for one, unfused, so the result
// equals the Go code's on amd64.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ silud
	VBROADCASTSS siluc<>+0(SB), Y15
	VBROADCASTSS siluc<>+4(SB), Y14
	VBROADCASTSS siluc<>+8(SB), Y13
	VBROADCASTSS siluc<>+12(SB), Y12
	VBROADCASTSS siluc<>+16(SB), Y11
	VBROADCASTSS siluc<>+20(SB), Y10
	VBROADCASTSS siluc<>+24(SB), Y9
	VBROADCASTSS siluc<>+28(SB), Y8
	VBROADCASTSS siluc<>+32(SB), Y7
	VPBROADCASTD siluc<>+52(SB), Y6

silul:
	VMOVUPS (SI), Y0
	VBROADCASTSS siluc<>+44(SB), Y1
	VXORPS Y1, Y0, Y1 // x = -g
	// n = floor(x·log2e + 0.5)
	VMULPS Y15, Y1, Y2
	VADDPS Y14, Y2, Y2
	VROUNDPS $1, Y2, Y2
	// r = x - n·ln2hi - n·ln2lo
	VMULPS Y13, Y2, Y3
	VSUBPS Y3, Y1, Y3
	VMULPS Y12, Y2, Y4
	VSUBPS Y4, Y3, Y3
	// p = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
	VMULPS Y11, Y3, Y4
	VADDPS Y10, Y4, Y4
	VMULPS Y4, Y3, Y4
	VADDPS Y9, Y4, Y4
	VMULPS Y4, Y3, Y4
	VADDPS Y8, Y4, Y4
	VMULPS Y4, Y3, Y4
	VADDPS Y14, Y4, Y4
	VMULPS Y4, Y3, Y4
	VADDPS Y7, Y4, Y4
	VMULPS Y4, Y3, Y4
	VADDPS Y7, Y4, Y4
	// · 2^n
	VCVTTPS2DQ Y2, Y2
	VPADDD Y6, Y2, Y2
	VPSLLD $23, Y2, Y2
	VMULPS Y2, Y4, Y4
	// x > 88 → +Inf; x < -87.3 → 0 (NaN compares false and stays NaN)
	VBROADCASTSS siluc<>+36(SB), Y5
	VCMPPS $0x1e, Y5, Y1, Y5 // x > 88
	VBROADCASTSS siluc<>+48(SB), Y3
	VBLENDVPS Y5, Y3, Y4, Y4
	VBROADCASTSS siluc<>+40(SB), Y5
	VCMPPS $0x11, Y5, Y1, Y5 // x < -87.3
	VANDNPS Y4, Y5, Y4
	// g / (1 + e) · u
	VADDPS Y7, Y4, Y4
	VDIVPS Y4, Y0, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ silul
	VZEROUPPER

silud:
	RET
