//go:build !purego

#include "textflag.h"
#include "tile_amd64.h"

// Q8_0 × Q8_0 tile for prompt processing and batched decode, activation
// lanes: the eight dword lanes of a YMM hold eight activations. Per block,
// A_k (k = 0..7) holds every activation's quants 4k..4k+3 in lane j, so a
// weight row's dword k, broadcast to all lanes by one load, meets all eight
// activations in one VPDPBUSD. VPDPBUSD multiplies unsigned by signed
// bytes, so the weights are made unsigned (x XOR 0x80 = x+128) and the
// accumulator starts at -128·Σy per activation (prepared with the
// activations). Per row and block that is 21 YMM operations for 256
// multiply-adds; the older 4×4 tile, with two activations per ZMM, needed
// about 28 ZMM operations (each two on Zen 4) for 128.

// func q8_0Prep8T(acts *byte, actBytes, nb int, f16 *float32, dst *byte)
// Lays out eight Q8_0 activations (actBytes apart) for q8_0Tile8x8T, 320
// bytes per block: A_0..A_7, then -128·Σ quants of each activation (int32),
// then the eight activation scales (float32).
TEXT ·q8_0Prep8T(SB), NOSPLIT, $0-40
	MOVQ acts+0(FP), DX
	MOVQ actBytes+8(FP), R9
	MOVQ nb+16(FP), CX
	MOVQ f16+24(FP), R13
	MOVQ dst+32(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	LEAQ (R10)(R10*1), R12
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y31
	VPXORD Y30, Y30, Y30

q80prep8t:
	LEAQ (DX)(R12*1), BX
	VMOVDQU 2(DX), Y0
	VMOVDQU 2(DX)(R9*1), Y1
	VMOVDQU 2(DX)(R9*2), Y2
	VMOVDQU 2(DX)(R10*1), Y3
	VMOVDQU 2(DX)(R9*4), Y4
	VMOVDQU 2(DX)(R11*1), Y5
	VMOVDQU 2(BX), Y6
	VMOVDQU 2(BX)(R9*1), Y7
	TRANSPOSE8
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	VMOVDQU Y4, 128(DI)
	VMOVDQU Y5, 160(DI)
	VMOVDQU Y6, 192(DI)
	VMOVDQU Y7, 224(DI)
	VPXORD Y24, Y24, Y24
	VPDPBUSD Y0, Y31, Y24
	VPDPBUSD Y1, Y31, Y24
	VPDPBUSD Y2, Y31, Y24
	VPDPBUSD Y3, Y31, Y24
	VPDPBUSD Y4, Y31, Y24
	VPDPBUSD Y5, Y31, Y24
	VPDPBUSD Y6, Y31, Y24
	VPDPBUSD Y7, Y31, Y24
	VPSUBD Y24, Y30, Y24
	VMOVDQU32 Y24, 256(DI)
	VPINSRW $0, (DX), X8, X8
	VPINSRW $1, (DX)(R9*1), X8, X8
	VPINSRW $2, (DX)(R9*2), X8, X8
	VPINSRW $3, (DX)(R10*1), X8, X8
	VPINSRW $4, (DX)(R9*4), X8, X8
	VPINSRW $5, (DX)(R11*1), X8, X8
	VPINSRW $6, (BX), X8, X8
	VPINSRW $7, (BX)(R9*1), X8, X8
	VCVTPH2PS X8, Y8
	VMOVUPS Y8, 288(DI)
	ADDQ $34, DX
	ADDQ $320, DI
	DECQ CX
	JNZ q80prep8t
	VZEROUPPER
	RET

// Q80K: weight dword k of the row at base (quants at +2), made unsigned,
// against A_k into the chain acc.
#define Q80K(off, base, ak, t, acc) \
	VPBROADCASTD (off)base, t \
	VPXORD Y26, t, t \
	VPDPBUSD ak, t, acc

// ROWQ80T: one weight row's block against the block's eight prepared
// activations (A_k in Y16..Y23, offsets Y24, scales Y25), accumulated into
// acc (lane j = activation j). Two integer chains halve the dependency
// chain of the eight VPDPBUSD.
#define ROWQ80T(base, acc) \
	VMOVDQA32 Y24, Y10 \
	VPXORD Y14, Y14, Y14 \
	Q80K(2, base, Y16, Y11, Y10) \
	Q80K(6, base, Y17, Y12, Y14) \
	Q80K(10, base, Y18, Y11, Y10) \
	Q80K(14, base, Y19, Y12, Y14) \
	Q80K(18, base, Y20, Y11, Y10) \
	Q80K(22, base, Y21, Y12, Y14) \
	Q80K(26, base, Y22, Y11, Y10) \
	Q80K(30, base, Y23, Y12, Y14) \
	VPADDD Y14, Y10, Y10 \
	MOVWLZX base, AX \
	VCVTDQ2PS Y10, Y10 \
	VMULPS.BCST (R13)(AX*4), Y25, Y13 \
	VFMADD231PS Y10, Y13, acc

// func q8_0Tile8x8T(w *byte, rowBytes, nb int, prep *byte, y *float32, ldy, nAct int, f16 *float32)
// Eight weight rows × up to eight activations prepared by q8_0Prep8T; the
// first nAct activations' results are stored (y[j*ldy + r]).
TEXT ·q8_0Tile8x8T(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ nb+16(FP), CX
	MOVQ prep+24(FP), DX
	MOVQ f16+56(FP), R13
	LEAQ (R8)(R8*2), R12
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y26

q80t88:
	PREFETCH_NEXT8
	VMOVDQU32 (DX), Y16
	VMOVDQU32 32(DX), Y17
	VMOVDQU32 64(DX), Y18
	VMOVDQU32 96(DX), Y19
	VMOVDQU32 128(DX), Y20
	VMOVDQU32 160(DX), Y21
	VMOVDQU32 192(DX), Y22
	VMOVDQU32 224(DX), Y23
	VMOVDQU32 256(DX), Y24
	VMOVUPS 288(DX), Y25
	LEAQ (SI)(R8*4), BX
	ROWQ80T((SI), Y0)
	ROWQ80T((SI)(R8*1), Y1)
	ROWQ80T((SI)(R8*2), Y2)
	ROWQ80T((SI)(R12*1), Y3)
	ROWQ80T((BX), Y4)
	ROWQ80T((BX)(R8*1), Y5)
	ROWQ80T((BX)(R8*2), Y6)
	ROWQ80T((BX)(R12*1), Y7)
	ADDQ $34, SI
	ADDQ $320, DX
	DECQ CX
	JNZ q80t88

	// Rows × activations → activations × rows, then one store per
	// activation.
	TRANSPOSE8
	MOVQ y+32(FP), DI
	MOVQ ldy+40(FP), BX
	SHLQ $2, BX
	MOVQ nAct+48(FP), CX
	VMOVUPS Y0, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y1, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y2, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y3, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y4, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y5, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y6, (DI)
	DECQ CX
	JZ q80t88done
	ADDQ BX, DI
	VMOVUPS Y7, (DI)

q80t88done:
	VZEROUPPER
	RET
