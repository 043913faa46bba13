//go:build !purego

#include "textflag.h"
#include "tile_amd64.h"

// Q4_K × Q8_K for prompt processing: one weight row against four
// activations per pass, so the super-block's scales are unpacked and its
// nibbles split once for four dot products (AVX2 arithmetic on the
// AVX-512VL register file: Y16..Y23 hold the accumulators).
//
// GP: SI row, R8 row bytes, R10 blocks per row, R11 activations, R12
// activation bytes, BX weight block, DX activation block (token 0), CX
// blocks left; AX, DI, R9, R13 scratch. Frame: 0(SP) eight int16 scales,
// 16(SP) rows left, 24(SP) output pointer, 32(SP) ldy·4.

// Q4KTOK does one 64-quant chunk (Y0 low nibbles, Y1 high, scales Y2/Y3)
// for the activation block at tok into int accumulator acc.
#define Q4KTOK(tok, j, acc) \
	VPMADDUBSW (4+64*j)tok, Y0, Y4 \
	VPMADDWD Y2, Y4, Y4 \
	VPADDD Y4, acc, acc \
	VPMADDUBSW (36+64*j)tok, Y1, Y5 \
	VPMADDWD Y3, Y5, Y5 \
	VPADDD Y5, acc, acc

#define Q4KCHUNK4(j) \
	VMOVDQU (16+32*j)(BX), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPANDD Y31, Y0, Y0 \
	VPANDD Y31, Y1, Y1 \
	VPBROADCASTW (4*j)(SP), Y2 \
	VPBROADCASTW (2+4*j)(SP), Y3 \
	Q4KTOK((DX), j, Y16) \
	Q4KTOK((DX)(R12*1), j, Y17) \
	Q4KTOK((R13), j, Y18) \
	Q4KTOK((R13)(R12*1), j, Y19)

// Q4KMINS subtracts dmin·dy·Σ min·bsum for the activation at tok.
#define Q4KMINS(tok, facc) \
	VPMADDWD 260tok, Y25, Y0 \
	VCVTDQ2PS Y0, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y27, Y1, Y1 \
	VFNMADD231PS Y0, Y1, facc

// Q4KEND adds d·dy·Σ for the activation at tok.
#define Q4KEND(tok, acc, facc) \
	VCVTDQ2PS acc, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y26, Y1, Y1 \
	VFMADD231PS Y0, Y1, facc

#define HSTORE(facc, xfacc, dst) \
	VEXTRACTF32X4 $1, facc, X0 \
	VADDPS xfacc, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, dst

// Q4KSCALES unpacks the super-block's 6-bit scales and mins (ggml's utmp
// unpacking, from memory): the eight scales as int16 at 0(SP), the mins as
// int16 pairs in Y25 (for VPMADDWD with the activation's bsums). Clobbers
// AX, DI, R9, R13, X0..X3.
#define Q4KSCALES \
	MOVL 12(BX), DI \
	SHRL $4, DI \
	ANDL $0x0f0f0f0f, DI \
	MOVL 8(BX), AX \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	ORL AX, DI \
	MOVL 12(BX), R13 \
	ANDL $0x0f0f0f0f, R13 \
	MOVL 4(BX), AX \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	ORL AX, R13 \
	MOVL 8(BX), R9 \
	ANDL $0x3f3f3f3f, R9 \
	MOVL 4(BX), AX \
	ANDL $0x3f3f3f3f, AX \
	SHLQ $32, R13 \
	ORQ R13, AX \
	SHLQ $32, DI \
	ORQ DI, R9 \
 \
	VMOVQ AX, X0 \
	VPMOVZXBW X0, X0 \
	VMOVDQU X0, 0(SP) \
	VMOVQ R9, X1 \
	VPMOVZXBW X1, X1 \
	VPUNPCKLWD X1, X1, X2 \
	VPUNPCKHWD X1, X1, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VMOVDQA32 Y2, Y25

// func q4_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)
TEXT ·q4_KTile1x4(SB), NOSPLIT, $48-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	MOVQ AX, 16(SP)
	MOVQ nb+24(FP), R10
	MOVQ acts+32(FP), R11
	MOVQ actBytes+40(FP), R12
	MOVQ y+48(FP), AX
	MOVQ AX, 24(SP)
	MOVQ ldy+56(FP), AX
	SHLQ $2, AX
	MOVQ AX, 32(SP)
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y31

q4ktrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q4ktblock:
	VMOVD (BX), X0
	VCVTPH2PS X0, X0
	VBROADCASTSS X0, Y26
	VMOVSHDUP X0, X1
	VBROADCASTSS X1, Y27

	Q4KSCALES

	LEAQ (DX)(R12*2), R13
	Q4KMINS((DX), Y20)
	Q4KMINS((DX)(R12*1), Y21)
	Q4KMINS((R13), Y22)
	Q4KMINS((R13)(R12*1), Y23)

	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	Q4KCHUNK4(0)
	Q4KCHUNK4(1)
	Q4KCHUNK4(2)
	Q4KCHUNK4(3)

	Q4KEND((DX), Y16, Y20)
	Q4KEND((DX)(R12*1), Y17, Y21)
	Q4KEND((R13), Y18, Y22)
	Q4KEND((R13)(R12*1), Y19, Y23)

	ADDQ $144, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q4ktblock

	MOVQ 24(SP), DI
	MOVQ 32(SP), AX
	HSTORE(Y20, X20, (DI))
	HSTORE(Y21, X21, (DI)(AX*1))
	LEAQ (DI)(AX*2), R9
	HSTORE(Y22, X22, (R9))
	HSTORE(Y23, X23, (R9)(AX*1))
	ADDQ $4, DI
	MOVQ DI, 24(SP)
	ADDQ R8, SI
	DECQ 16(SP)
	JNZ q4ktrow
	VZEROUPPER
	RET

// Q6_K × Q8_K prompt tile: one row × four activations, registers as in the
// Q4_K tile; Y11..Y15 hold the bit masks. Frame: 0(SP) sixteen int16
// scales, 32(SP) rows left, 40(SP) output pointer, 48(SP) ldy·4.

#define Q6KTOK(q, addr, acc) \
	VPMADDUBSW addr, q, Y4 \
	VPMADDWD Y3, Y4, Y4 \
	VPADDD Y4, acc, acc

#define Q6KTPART(q, ao, so) \
	VPBROADCASTW (so)(SP), X3 \
	VPBROADCASTW (2+so)(SP), X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	Q6KTOK(q, ao(DX), Y16) \
	Q6KTOK(q, ao(DX)(R12*1), Y17) \
	Q6KTOK(q, ao(R13), Y18) \
	Q6KTOK(q, ao(R13)(R12*1), Y19)

#define Q6KTHALF(h) \
	VMOVDQU (64*h)(BX), Y1 \
	VMOVDQU (64*h+32)(BX), Y2 \
	VMOVDQU (128+32*h)(BX), Y7 \
	VPAND Y15, Y1, Y9 \
	VPAND Y14, Y7, Y10 \
	VPSLLW $4, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (4+128*h), 16*h) \
	VPAND Y15, Y2, Y9 \
	VPAND Y13, Y7, Y10 \
	VPSLLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (36+128*h), 16*h+4) \
	VPSRLW $4, Y1, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y12, Y7, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (68+128*h), 16*h+8) \
	VPSRLW $4, Y2, Y9 \
	VPAND Y15, Y9, Y9 \
	VPAND Y11, Y7, Y10 \
	VPSRLW $2, Y10, Y10 \
	VPOR Y10, Y9, Y9 \
	Q6KTPART(Y9, (100+128*h), 16*h+12)

// Q6KBIAS starts acc at -32·Σ scale·bsum for the activation at tok
// (Y8 = the sixteen int16 scales).
#define Q6KBIAS(tok, acc) \
	VPMADDWD 260tok, Y8, Y4 \
	VPSLLD $5, Y4, Y4 \
	VPXORD acc, acc, acc \
	VPSUBD Y4, acc, acc

#define Q6KEND(tok, acc, facc) \
	VCVTDQ2PS acc, Y0 \
	VBROADCASTSS tok, Y1 \
	VMULPS Y26, Y1, Y1 \
	VFMADD231PS Y0, Y1, facc

// func q6_KTile1x4(w *byte, rowBytes, rows, nb int, acts *byte, actBytes int, y *float32, ldy int)
TEXT ·q6_KTile1x4(SB), NOSPLIT, $64-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	MOVQ AX, 32(SP)
	MOVQ nb+24(FP), R10
	MOVQ acts+32(FP), R11
	MOVQ actBytes+40(FP), R12
	MOVQ y+48(FP), AX
	MOVQ AX, 40(SP)
	MOVQ ldy+56(FP), AX
	SHLQ $2, AX
	MOVQ AX, 48(SP)
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x03030303, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x0C0C0C0C, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x30303030, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0xC0C0C0C0, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11

q6ktrow:
	MOVQ SI, BX
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23

q6ktblock:
	// The next row's lines at this offset (rows are contiguous, so this
	// runs one row ahead of the stream): +6-11% from DRAM at batch 8
	// (A/B in one run; the same gained nothing for Q4_K's tile).
	PREFETCHT0 (BX)(R8*1)
	PREFETCHT0 64(BX)(R8*1)
	PREFETCHT0 128(BX)(R8*1)
	PREFETCHT0 192(BX)(R8*1)
	MOVWLZX 208(BX), AX
	VMOVD AX, X0
	VCVTPH2PS X0, X0
	VBROADCASTSS X0, Y26
	VPMOVSXBW 192(BX), Y8
	VMOVDQU Y8, 0(SP)
	LEAQ (DX)(R12*2), R13
	Q6KBIAS((DX), Y16)
	Q6KBIAS((DX)(R12*1), Y17)
	Q6KBIAS((R13), Y18)
	Q6KBIAS((R13)(R12*1), Y19)

	Q6KTHALF(0)
	Q6KTHALF(1)

	Q6KEND((DX), Y16, Y20)
	Q6KEND((DX)(R12*1), Y17, Y21)
	Q6KEND((R13), Y18, Y22)
	Q6KEND((R13)(R12*1), Y19, Y23)

	ADDQ $210, BX
	ADDQ $292, DX
	DECQ CX
	JNZ q6ktblock

	MOVQ 40(SP), DI
	MOVQ 48(SP), AX
	HSTORE(Y20, X20, (DI))
	HSTORE(Y21, X21, (DI)(AX*1))
	LEAQ (DI)(AX*2), R9
	HSTORE(Y22, X22, (R9))
	HSTORE(Y23, X23, (R9)(AX*1))
	ADDQ $4, DI
	MOVQ DI, 40(SP)
	ADDQ R8, SI
	DECQ 32(SP)
	JNZ q6ktrow
	VZEROUPPER
	RET

// KPREP_SUB transposes sub-block s (quants at 4+32·s of each activation)
// into A_(s,0..7).
#define KPREP_SUB(s) \
	VMOVDQU (4+32*(s))(DX), Y0 \
	VMOVDQU (4+32*(s))(DX)(R9*1), Y1 \
	VMOVDQU (4+32*(s))(DX)(R9*2), Y2 \
	VMOVDQU (4+32*(s))(DX)(R10*1), Y3 \
	VMOVDQU (4+32*(s))(DX)(R9*4), Y4 \
	VMOVDQU (4+32*(s))(DX)(R11*1), Y5 \
	VMOVDQU (4+32*(s))(BX), Y6 \
	VMOVDQU (4+32*(s))(BX)(R9*1), Y7 \
	TRANSPOSE8 \
	VMOVDQU Y0, (256*(s))(DI) \
	VMOVDQU Y1, (256*(s)+32)(DI) \
	VMOVDQU Y2, (256*(s)+64)(DI) \
	VMOVDQU Y3, (256*(s)+96)(DI) \
	VMOVDQU Y4, (256*(s)+128)(DI) \
	VMOVDQU Y5, (256*(s)+160)(DI) \
	VMOVDQU Y6, (256*(s)+192)(DI) \
	VMOVDQU Y7, (256*(s)+224)(DI)

// KPREP_A lays out the eight Q8_K activations' quants (activation j at
// DX + j·R9, with R10 = 3·R9, R11 = 5·R9 and BX = DX + 6·R9) for the
// lane tiles: A_(s,k) at 256·s + 32·k of DI, lane j = activation j's
// quants 32s+4k..32s+4k+3.
#define KPREP_A \
	KPREP_SUB(0) \
	KPREP_SUB(1) \
	KPREP_SUB(2) \
	KPREP_SUB(3) \
	KPREP_SUB(4) \
	KPREP_SUB(5) \
	KPREP_SUB(6) \
	KPREP_SUB(7)

// Q4_K × Q8_K tile, four rows × eight activations, the activations in YMM
// lanes as in the Q8_0 tile (q8tile_amd64.s): per sub-block s of 32 quants,
// A_(s,k) holds every activation's quants 4k..4k+3 in lane j. A row's
// nibble dwords are spilled once to the stack and broadcast by loads, so
// each A_(s,k) loaded from the prepared buffer serves four rows' VPDPBUSD
// (one row per pass was limited by its loads). Each sub-block's sum is
// scaled by its 6-bit scale with one VPMULLD; the mins term is VPDPWSSD of
// the row's min pairs against the activations' sub-block sums.

// func q4_KPrep8T(acts *byte, actBytes, nb int, dst *byte)
// Lays out eight Q8_K activations (actBytes apart) for q4_KTile4x8T, 2208
// bytes per super-block: A_(s,k) at 256·s + 32·k; at 2048 the sub-block
// sums as int16 pairs (dword t of lane j = activation j's sums of
// sub-blocks 2t and 2t+1); at 2176 the eight activation scales (float32).
TEXT ·q4_KPrep8T(SB), NOSPLIT, $0-32
	MOVQ acts+0(FP), DX
	MOVQ actBytes+8(FP), R9
	MOVQ nb+16(FP), CX
	MOVQ dst+24(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	LEAQ (R10)(R10*1), R12
	MOVL $0x00010001, AX
	VPBROADCASTD AX, Y30

q4kprep8t:
	LEAQ (DX)(R12*1), BX
	KPREP_A
	// Sub-block sums: pairs of the 16-quant bsums packed to int16 pairs,
	// then the same transpose (lanes 4-7 of each input unused).
	VPMADDWD 260(DX), Y30, Y0
	VPACKSSDW Y0, Y0, Y0
	VPERMQ $0x08, Y0, Y0
	VPMADDWD 260(DX)(R9*1), Y30, Y1
	VPACKSSDW Y1, Y1, Y1
	VPERMQ $0x08, Y1, Y1
	VPMADDWD 260(DX)(R9*2), Y30, Y2
	VPACKSSDW Y2, Y2, Y2
	VPERMQ $0x08, Y2, Y2
	VPMADDWD 260(DX)(R10*1), Y30, Y3
	VPACKSSDW Y3, Y3, Y3
	VPERMQ $0x08, Y3, Y3
	VPMADDWD 260(DX)(R9*4), Y30, Y4
	VPACKSSDW Y4, Y4, Y4
	VPERMQ $0x08, Y4, Y4
	VPMADDWD 260(DX)(R11*1), Y30, Y5
	VPACKSSDW Y5, Y5, Y5
	VPERMQ $0x08, Y5, Y5
	VPMADDWD 260(BX), Y30, Y6
	VPACKSSDW Y6, Y6, Y6
	VPERMQ $0x08, Y6, Y6
	VPMADDWD 260(BX)(R9*1), Y30, Y7
	VPACKSSDW Y7, Y7, Y7
	VPERMQ $0x08, Y7, Y7
	TRANSPOSE8
	VMOVDQU Y0, 2048(DI)
	VMOVDQU Y1, 2080(DI)
	VMOVDQU Y2, 2112(DI)
	VMOVDQU Y3, 2144(DI)
	MOVL (DX), AX
	MOVL AX, 2176(DI)
	MOVL (DX)(R9*1), AX
	MOVL AX, 2180(DI)
	MOVL (DX)(R9*2), AX
	MOVL AX, 2184(DI)
	MOVL (DX)(R10*1), AX
	MOVL AX, 2188(DI)
	MOVL (DX)(R9*4), AX
	MOVL AX, 2192(DI)
	MOVL (DX)(R11*1), AX
	MOVL AX, 2196(DI)
	MOVL (BX), AX
	MOVL AX, 2200(DI)
	MOVL (BX)(R9*1), AX
	MOVL AX, 2204(DI)
	ADDQ $292, DX
	ADDQ $2208, DI
	DECQ CX
	JNZ q4kprep8t
	VZEROUPPER
	RET

// Frame of q4_KTile4x8T: 0 Q4KSCALES's int16 scales; 16 each row's d and
// dmin (float32 pairs); 48 each row's eight scales (int32, 32 bytes a row);
// 176 each row's mins as int16 pairs (16 bytes a row); 240 each row's low
// and high nibbles of a chunk (64 bytes a row); 496 the four rows' results
// (32 bytes a row); 624 rows left, 632 output pointer, 640 ldy·4, 648 nAct.

// Q4LT_ROW reads row r's super-block header (at addr): d and dmin, the
// scales as int32, the mins as int16 pairs; and prefetches the same
// offset of the next four rows.
#define Q4LT_ROW(addr, r) \
	LEAQ addr, BX \
	PREFETCHT0 (BX)(R8*4) \
	PREFETCHT0 64(BX)(R8*4) \
	PREFETCHT0 128(BX)(R8*4) \
	VMOVD (BX), X0 \
	VCVTPH2PS X0, X0 \
	VMOVQ X0, (16+8*r)(SP) \
	Q4KSCALES \
	VMOVQ AX, X2 \
	VPMOVZXBD X2, Y2 \
	VMOVDQU Y2, (48+32*r)(SP) \
	VMOVQ R9, X3 \
	VPMOVZXBW X3, X3 \
	VMOVDQU X3, (176+16*r)(SP)

// Q4LT_MINS adds pair t of every row's mins times the activations'
// sub-block sums 2t, 2t+1 into Y20..Y23.
#define Q4LT_MINS(t) \
	VMOVDQU32 (2048+32*t)(DX), Y4 \
	VPDPWSSD.BCST (176+4*t)(SP), Y4, Y20 \
	VPDPWSSD.BCST (192+4*t)(SP), Y4, Y21 \
	VPDPWSSD.BCST (208+4*t)(SP), Y4, Y22 \
	VPDPWSSD.BCST (224+4*t)(SP), Y4, Y23

// Q4LT_UNPACK spills chunk j of row r (at addr): 32 low nibbles (sub-block
// 2j) and 32 high nibbles (sub-block 2j+1).
#define Q4LT_UNPACK(j, addr, r) \
	VMOVDQU (16+32*j)addr, Y0 \
	VPSRLW $4, Y0, Y1 \
	VPANDD Y31, Y0, Y0 \
	VPANDD Y31, Y1, Y1 \
	VMOVDQU Y0, (240+64*r)(SP) \
	VMOVDQU Y1, (272+64*r)(SP)

// Q4LT_STEP: dword k of sub-blocks 2j and 2j+1, every row, against the
// prepared A vectors (loaded once for the four rows).
#define Q4LT_STEP(j, k) \
	VMOVDQU32 (512*j+32*k)(DX), Y28 \
	VMOVDQU32 (512*j+256+32*k)(DX), Y29 \
	VPBROADCASTD (240+4*k)(SP), Y2 \
	VPDPBUSD Y28, Y2, Y16 \
	VPBROADCASTD (272+4*k)(SP), Y3 \
	VPDPBUSD Y29, Y3, Y24 \
	VPBROADCASTD (304+4*k)(SP), Y2 \
	VPDPBUSD Y28, Y2, Y17 \
	VPBROADCASTD (336+4*k)(SP), Y3 \
	VPDPBUSD Y29, Y3, Y25 \
	VPBROADCASTD (368+4*k)(SP), Y2 \
	VPDPBUSD Y28, Y2, Y18 \
	VPBROADCASTD (400+4*k)(SP), Y3 \
	VPDPBUSD Y29, Y3, Y26 \
	VPBROADCASTD (432+4*k)(SP), Y2 \
	VPDPBUSD Y28, Y2, Y19 \
	VPBROADCASTD (464+4*k)(SP), Y3 \
	VPDPBUSD Y29, Y3, Y27

// LT_ZERO clears the per-row sub-block sums Y16..Y19 and Y24..Y27.
#define LT_ZERO \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y24, Y24, Y24 \
	VPXORD Y25, Y25, Y25 \
	VPXORD Y26, Y26, Y26 \
	VPXORD Y27, Y27, Y27

// LT_SCALE multiplies a row's two sub-block sums lo, hi by their scales
// (int32 at so and so+4) and adds them to acc.
#define LT_SCALE(so, lo, hi, acc) \
	VPMULLD.BCST (so)(SP), lo, lo \
	VPADDD lo, acc, acc \
	VPMULLD.BCST (so+4)(SP), hi, hi \
	VPADDD hi, acc, acc

#define Q4LT_CHUNK(j) \
	Q4LT_UNPACK(j, (R14), 0) \
	Q4LT_UNPACK(j, (R14)(R8*1), 1) \
	Q4LT_UNPACK(j, (R14)(R8*2), 2) \
	Q4LT_UNPACK(j, (R14)(R12*1), 3) \
	LT_ZERO \
	Q4LT_STEP(j, 0) \
	Q4LT_STEP(j, 1) \
	Q4LT_STEP(j, 2) \
	Q4LT_STEP(j, 3) \
	Q4LT_STEP(j, 4) \
	Q4LT_STEP(j, 5) \
	Q4LT_STEP(j, 6) \
	Q4LT_STEP(j, 7) \
	LT_SCALE(48+8*j, Y16, Y24, Y12) \
	LT_SCALE(80+8*j, Y17, Y25, Y13) \
	LT_SCALE(112+8*j, Y18, Y26, Y14) \
	LT_SCALE(144+8*j, Y19, Y27, Y15)

// Q4LT_FLOAT: out += d·dy·acc − dmin·dy·mins for row r (Y30 = the
// activation scales).
#define Q4LT_FLOAT(r, acc, mins, out) \
	VCVTDQ2PS acc, acc \
	VMULPS.BCST (16+8*r)(SP), Y30, Y4 \
	VFMADD231PS acc, Y4, out \
	VCVTDQ2PS mins, mins \
	VMULPS.BCST (20+8*r)(SP), Y30, Y5 \
	VFNMADD231PS mins, Y5, out

// LT_STORE writes the four rows' results (Y8..Y11) for the first nAct
// activations: y[j*ldy + r], from the frame at res; out, ldy and nact
// are the frame offsets of the output pointer, ldy·4 and nAct.
#define LT_STORE(res, out, ldy, nact, label) \
	VMOVUPS Y8, res(SP) \
	VMOVUPS Y9, (res+32)(SP) \
	VMOVUPS Y10, (res+64)(SP) \
	VMOVUPS Y11, (res+96)(SP) \
	MOVQ out(SP), DI \
	MOVQ ldy(SP), AX \
	MOVQ nact(SP), CX \
	XORQ R9, R9 \
label: \
	MOVL res(SP)(R9*4), R13 \
	MOVL R13, (DI) \
	MOVL (res+32)(SP)(R9*4), R13 \
	MOVL R13, 4(DI) \
	MOVL (res+64)(SP)(R9*4), R13 \
	MOVL R13, 8(DI) \
	MOVL (res+96)(SP)(R9*4), R13 \
	MOVL R13, 12(DI) \
	ADDQ AX, DI \
	INCQ R9 \
	CMPQ R9, CX \
	JLT label

// Q4LT_HEAD reads the four rows' super-block headers and adds their mins
// terms (Q4_K and Q5_K share the header layout).
#define Q4LT_HEAD \
	Q4LT_ROW((R14), 0) \
	Q4LT_ROW((R14)(R8*1), 1) \
	Q4LT_ROW((R14)(R8*2), 2) \
	Q4LT_ROW((R14)(R12*1), 3) \
	VPXORD Y12, Y12, Y12 \
	VPXORD Y13, Y13, Y13 \
	VPXORD Y14, Y14, Y14 \
	VPXORD Y15, Y15, Y15 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
	Q4LT_MINS(0) \
	Q4LT_MINS(1) \
	Q4LT_MINS(2) \
	Q4LT_MINS(3)

// Q4LT_TAIL turns the four rows' integer sums into float results.
#define Q4LT_TAIL \
	VMOVUPS 2176(DX), Y30 \
	Q4LT_FLOAT(0, Y12, Y20, Y8) \
	Q4LT_FLOAT(1, Y13, Y21, Y9) \
	Q4LT_FLOAT(2, Y14, Y22, Y10) \
	Q4LT_FLOAT(3, Y15, Y23, Y11)

// func q4_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)
// Four weight rows at a time (rows must be a multiple of 4) against eight
// activations prepared by q4_KPrep8T; the first nAct activations' results
// are stored (y[j*ldy + r]). R14 walks row 0's super-blocks. Registers:
// Y8..Y11 float results, Y12..Y15 scaled sums, Y20..Y23 min sums, Y16..Y19
// and Y24..Y27 a chunk's low and high sub-block sums, per row.
TEXT ·q4_KTile4x8T(SB), NOSPLIT, $656-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	SHRQ $2, AX
	MOVQ AX, 624(SP)
	MOVQ nb+24(FP), R10
	MOVQ prep+32(FP), R11
	MOVQ y+40(FP), AX
	MOVQ AX, 632(SP)
	MOVQ ldy+48(FP), AX
	SHLQ $2, AX
	MOVQ AX, 640(SP)
	MOVQ nAct+56(FP), AX
	MOVQ AX, 648(SP)
	LEAQ (R8)(R8*2), R12
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y31

q4kt48row:
	MOVQ SI, R14
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y8, Y8, Y8
	VPXORD Y9, Y9, Y9
	VPXORD Y10, Y10, Y10
	VPXORD Y11, Y11, Y11

q4kt48block:
	Q4LT_HEAD
	Q4LT_CHUNK(0)
	Q4LT_CHUNK(1)
	Q4LT_CHUNK(2)
	Q4LT_CHUNK(3)
	Q4LT_TAIL
	ADDQ $144, R14
	ADDQ $2208, DX
	DECQ CX
	JNZ q4kt48block

	LT_STORE(496, 632, 640, 648, q4kt48st)
	ADDQ $16, 632(SP)
	LEAQ (SI)(R8*4), SI
	DECQ 624(SP)
	JNZ q4kt48row
	VZEROUPPER
	RET

DATA q5kone<>+0(SB)/4, $0x01010101
GLOBL q5kone<>(SB), RODATA|NOPTR, $4

// Q5LT_UNPACK is Q4LT_UNPACK for Q5_K (quants at 48, high bits at 16): bit
// 2j of qh is the fifth bit of the low nibbles of chunk j, bit 2j+1 of
// the high nibbles (as in Q5KCHUNK).
#define Q5LT_UNPACK(j, addr, r) \
	VMOVDQU (48+32*(j))addr, Y0 \
	VMOVDQU (16)addr, Y5 \
	VPSRLW $4, Y0, Y1 \
	VPANDD Y31, Y0, Y0 \
	VPANDD Y31, Y1, Y1 \
	VPSRLW $(2*(j)), Y5, Y6 \
	VPANDD.BCST q5kone<>(SB), Y6, Y6 \
	VPSLLW $4, Y6, Y6 \
	VPORD Y6, Y0, Y0 \
	VPSRLW $(2*(j)+1), Y5, Y7 \
	VPANDD.BCST q5kone<>(SB), Y7, Y7 \
	VPSLLW $4, Y7, Y7 \
	VPORD Y7, Y1, Y1 \
	VMOVDQU Y0, (240+64*(r))(SP) \
	VMOVDQU Y1, (272+64*(r))(SP)

#define Q5LT_CHUNK(j) \
	Q5LT_UNPACK(j, (R14), 0) \
	Q5LT_UNPACK(j, (R14)(R8*1), 1) \
	Q5LT_UNPACK(j, (R14)(R8*2), 2) \
	Q5LT_UNPACK(j, (R14)(R12*1), 3) \
	LT_ZERO \
	Q4LT_STEP(j, 0) \
	Q4LT_STEP(j, 1) \
	Q4LT_STEP(j, 2) \
	Q4LT_STEP(j, 3) \
	Q4LT_STEP(j, 4) \
	Q4LT_STEP(j, 5) \
	Q4LT_STEP(j, 6) \
	Q4LT_STEP(j, 7) \
	LT_SCALE(48+8*(j), Y16, Y24, Y12) \
	LT_SCALE(80+8*(j), Y17, Y25, Y13) \
	LT_SCALE(112+8*(j), Y18, Y26, Y14) \
	LT_SCALE(144+8*(j), Y19, Y27, Y15)

// func q5_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)
// Four weight rows at a time (rows must be a multiple of 4) against eight
// activations prepared by q4_KPrep8T (Q5_K's Q8_K activations are laid out alike); the first nAct activations' results
// are stored (y[j*ldy + r]). R14 walks row 0's super-blocks. Registers:
// Y8..Y11 float results, Y12..Y15 scaled sums, Y20..Y23 min sums, Y16..Y19
// and Y24..Y27 a chunk's low and high sub-block sums, per row.
TEXT ·q5_KTile4x8T(SB), NOSPLIT, $656-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	SHRQ $2, AX
	MOVQ AX, 624(SP)
	MOVQ nb+24(FP), R10
	MOVQ prep+32(FP), R11
	MOVQ y+40(FP), AX
	MOVQ AX, 632(SP)
	MOVQ ldy+48(FP), AX
	SHLQ $2, AX
	MOVQ AX, 640(SP)
	MOVQ nAct+56(FP), AX
	MOVQ AX, 648(SP)
	LEAQ (R8)(R8*2), R12
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y31

q5kt48row:
	MOVQ SI, R14
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y8, Y8, Y8
	VPXORD Y9, Y9, Y9
	VPXORD Y10, Y10, Y10
	VPXORD Y11, Y11, Y11

q5kt48block:
	Q4LT_HEAD
	Q5LT_CHUNK(0)
	Q5LT_CHUNK(1)
	Q5LT_CHUNK(2)
	Q5LT_CHUNK(3)
	Q4LT_TAIL
	ADDQ $176, R14
	ADDQ $2208, DX
	DECQ CX
	JNZ q5kt48block

	LT_STORE(496, 632, 640, 648, q5kt48st)
	ADDQ $16, 632(SP)
	LEAQ (SI)(R8*4), SI
	DECQ 624(SP)
	JNZ q5kt48row
	VZEROUPPER
	RET

DATA q6km0f<>+0(SB)/4, $0x0f0f0f0f
GLOBL q6km0f<>(SB), RODATA|NOPTR, $4
DATA q6km03<>+0(SB)/4, $0x03030303
GLOBL q6km03<>(SB), RODATA|NOPTR, $4
DATA q6km0c<>+0(SB)/4, $0x0c0c0c0c
GLOBL q6km0c<>(SB), RODATA|NOPTR, $4
DATA q6km30<>+0(SB)/4, $0x30303030
GLOBL q6km30<>(SB), RODATA|NOPTR, $4
DATA q6kmc0<>+0(SB)/4, $0xc0c0c0c0
GLOBL q6kmc0<>(SB), RODATA|NOPTR, $4

// Q6_K × Q8_K tile, four rows × eight activations in YMM lanes, built like
// q4_KTile4x8T: each part of 32 quants is rebuilt from its low nibbles and
// two high bits (unsigned, 0..63) and spilled once per row; the 16-quant
// scales multiply their halves of a part's sums (VPMULLD), and the -32
// offset is -32·Σ scale·bsum, with VPDPWSSD of the row's scale pairs
// against the activations' 16-quant sums.

// func q6_KPrep8T(acts *byte, actBytes, nb int, dst *byte)
// Lays out eight Q8_K activations for q6_KTile4x8T, 2336 bytes per
// super-block: A_(p,k) at 256·p + 32·k (as q4_KPrep8T); at 2048 the
// 16-quant sums as int16 pairs (dword t of lane j = activation j's sums 2t
// and 2t+1); at 2304 the eight activation scales (float32).
TEXT ·q6_KPrep8T(SB), NOSPLIT, $0-32
	MOVQ acts+0(FP), DX
	MOVQ actBytes+8(FP), R9
	MOVQ nb+16(FP), CX
	MOVQ dst+24(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	LEAQ (R10)(R10*1), R12

q6kprep8t:
	LEAQ (DX)(R12*1), BX
	KPREP_A
	VMOVDQU 260(DX), Y0
	VMOVDQU 260(DX)(R9*1), Y1
	VMOVDQU 260(DX)(R9*2), Y2
	VMOVDQU 260(DX)(R10*1), Y3
	VMOVDQU 260(DX)(R9*4), Y4
	VMOVDQU 260(DX)(R11*1), Y5
	VMOVDQU 260(BX), Y6
	VMOVDQU 260(BX)(R9*1), Y7
	TRANSPOSE8
	VMOVDQU Y0, 2048(DI)
	VMOVDQU Y1, 2080(DI)
	VMOVDQU Y2, 2112(DI)
	VMOVDQU Y3, 2144(DI)
	VMOVDQU Y4, 2176(DI)
	VMOVDQU Y5, 2208(DI)
	VMOVDQU Y6, 2240(DI)
	VMOVDQU Y7, 2272(DI)
	MOVL (DX), AX
	MOVL AX, 2304(DI)
	MOVL (DX)(R9*1), AX
	MOVL AX, 2308(DI)
	MOVL (DX)(R9*2), AX
	MOVL AX, 2312(DI)
	MOVL (DX)(R10*1), AX
	MOVL AX, 2316(DI)
	MOVL (DX)(R9*4), AX
	MOVL AX, 2320(DI)
	MOVL (DX)(R11*1), AX
	MOVL AX, 2324(DI)
	MOVL (BX), AX
	MOVL AX, 2328(DI)
	MOVL (BX)(R9*1), AX
	MOVL AX, 2332(DI)
	ADDQ $292, DX
	ADDQ $2336, DI
	DECQ CX
	JNZ q6kprep8t
	VZEROUPPER
	RET

// Frame of q6_KTile4x8T: 16 each row's d (float32); 32 each row's sixteen
// scales (int32, 64 bytes a row); 288 each row's scales as int16 pairs (32
// bytes a row); 416 each row's four rebuilt parts of a half (128 bytes a
// row); 928 the four rows' results; 1056 rows left, 1064 output pointer,
// 1072 ldy·4, 1080 nAct.

// Q6LT_ROW reads row r's super-block header (at addr): d, the sixteen
// scales as int32 and as int16 pairs; and prefetches the next four rows.
#define Q6LT_ROW(addr, r) \
	LEAQ addr, BX \
	PREFETCHT0 (BX)(R8*4) \
	PREFETCHT0 64(BX)(R8*4) \
	PREFETCHT0 128(BX)(R8*4) \
	PREFETCHT0 192(BX)(R8*4) \
	MOVWLZX 208(BX), AX \
	VMOVD AX, X0 \
	VCVTPH2PS X0, X0 \
	VMOVSS X0, (16+4*r)(SP) \
	VPMOVSXBD 192(BX), Y2 \
	VMOVDQU Y2, (32+64*r)(SP) \
	VPMOVSXBD 200(BX), Y3 \
	VMOVDQU Y3, (64+64*r)(SP) \
	VPMOVSXBW 192(BX), Y2 \
	VMOVDQU Y2, (288+32*r)(SP)

// Q6LT_BIAS adds scale pair t of every row times the activations' 16-quant
// sums 2t, 2t+1 into Y20..Y23.
#define Q6LT_BIAS(t) \
	VMOVDQU32 (2048+32*t)(DX), Y4 \
	VPDPWSSD.BCST (288+4*t)(SP), Y4, Y20 \
	VPDPWSSD.BCST (320+4*t)(SP), Y4, Y21 \
	VPDPWSSD.BCST (352+4*t)(SP), Y4, Y22 \
	VPDPWSSD.BCST (384+4*t)(SP), Y4, Y23

// Q6LT_PARTS rebuilds the four 32-quant parts of half h of row r (at
// addr), unsigned 0..63, and spills them (as Q6KHALF does).
#define Q6LT_PARTS(h, addr, r) \
	VMOVDQU (64*h)addr, Y0 \
	VMOVDQU (64*h+32)addr, Y1 \
	VMOVDQU (128+32*h)addr, Y2 \
	VPANDD.BCST q6km0f<>(SB), Y0, Y4 \
	VPANDD.BCST q6km03<>(SB), Y2, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPORD Y5, Y4, Y4 \
	VMOVDQU Y4, (416+128*r)(SP) \
	VPANDD.BCST q6km0f<>(SB), Y1, Y4 \
	VPANDD.BCST q6km0c<>(SB), Y2, Y5 \
	VPSLLW $2, Y5, Y5 \
	VPORD Y5, Y4, Y4 \
	VMOVDQU Y4, (448+128*r)(SP) \
	VPSRLW $4, Y0, Y4 \
	VPANDD.BCST q6km0f<>(SB), Y4, Y4 \
	VPANDD.BCST q6km30<>(SB), Y2, Y5 \
	VPORD Y5, Y4, Y4 \
	VMOVDQU Y4, (480+128*r)(SP) \
	VPSRLW $4, Y1, Y4 \
	VPANDD.BCST q6km0f<>(SB), Y4, Y4 \
	VPANDD.BCST q6kmc0<>(SB), Y2, Y5 \
	VPSRLW $2, Y5, Y5 \
	VPORD Y5, Y4, Y4 \
	VMOVDQU Y4, (512+128*r)(SP)

// Q6LT_STEP: dword k of part i (sub-block p of the super-block), every
// row, into the rows' sums a0..a3 (the part's first or second 16 quants).
#define Q6LT_STEP(p, i, k, a0, a1, a2, a3) \
	VMOVDQU32 (256*(p)+32*(k))(DX), Y28 \
	VPBROADCASTD (416+32*(i)+4*(k))(SP), Y2 \
	VPDPBUSD Y28, Y2, a0 \
	VPBROADCASTD (544+32*(i)+4*(k))(SP), Y2 \
	VPDPBUSD Y28, Y2, a1 \
	VPBROADCASTD (672+32*(i)+4*(k))(SP), Y2 \
	VPDPBUSD Y28, Y2, a2 \
	VPBROADCASTD (800+32*(i)+4*(k))(SP), Y2 \
	VPDPBUSD Y28, Y2, a3

#define Q6LT_PART(p, i) \
	LT_ZERO \
	Q6LT_STEP(p, i, 0, Y16, Y17, Y18, Y19) \
	Q6LT_STEP(p, i, 1, Y16, Y17, Y18, Y19) \
	Q6LT_STEP(p, i, 2, Y16, Y17, Y18, Y19) \
	Q6LT_STEP(p, i, 3, Y16, Y17, Y18, Y19) \
	Q6LT_STEP(p, i, 4, Y24, Y25, Y26, Y27) \
	Q6LT_STEP(p, i, 5, Y24, Y25, Y26, Y27) \
	Q6LT_STEP(p, i, 6, Y24, Y25, Y26, Y27) \
	Q6LT_STEP(p, i, 7, Y24, Y25, Y26, Y27) \
	LT_SCALE(32+8*(p), Y16, Y24, Y12) \
	LT_SCALE(96+8*(p), Y17, Y25, Y13) \
	LT_SCALE(160+8*(p), Y18, Y26, Y14) \
	LT_SCALE(224+8*(p), Y19, Y27, Y15)

#define Q6LT_HALF(h) \
	Q6LT_PARTS(h, (R14), 0) \
	Q6LT_PARTS(h, (R14)(R8*1), 1) \
	Q6LT_PARTS(h, (R14)(R8*2), 2) \
	Q6LT_PARTS(h, (R14)(R12*1), 3) \
	Q6LT_PART(4*h, 0) \
	Q6LT_PART(4*h+1, 1) \
	Q6LT_PART(4*h+2, 2) \
	Q6LT_PART(4*h+3, 3)

// Q6LT_FLOAT: out += d·dy·(acc − 32·bias) for row r (Y30 = the activation
// scales).
#define Q6LT_FLOAT(r, acc, bias, out) \
	VPSLLD $5, bias, bias \
	VPSUBD bias, acc, acc \
	VCVTDQ2PS acc, acc \
	VMULPS.BCST (16+4*r)(SP), Y30, Y4 \
	VFMADD231PS acc, Y4, out

// func q6_KTile4x8T(w *byte, rowBytes, rows, nb int, prep *byte, y *float32, ldy, nAct int)
// Four weight rows at a time (rows a multiple of 4) against eight
// activations prepared by q6_KPrep8T; the first nAct results of each row
// are stored (y[j*ldy + r]). Registers as in q4_KTile4x8T, with Y20..Y23
// the offset sums. The frame is over the no-split limit, so this one has
// a stack check.
TEXT ·q6_KTile4x8T(SB), 0, $1088-64
	MOVQ w+0(FP), SI
	MOVQ rowBytes+8(FP), R8
	MOVQ rows+16(FP), AX
	SHRQ $2, AX
	MOVQ AX, 1056(SP)
	MOVQ nb+24(FP), R10
	MOVQ prep+32(FP), R11
	MOVQ y+40(FP), AX
	MOVQ AX, 1064(SP)
	MOVQ ldy+48(FP), AX
	SHLQ $2, AX
	MOVQ AX, 1072(SP)
	MOVQ nAct+56(FP), AX
	MOVQ AX, 1080(SP)
	LEAQ (R8)(R8*2), R12

q6kt48row:
	MOVQ SI, R14
	MOVQ R11, DX
	MOVQ R10, CX
	VPXORD Y8, Y8, Y8
	VPXORD Y9, Y9, Y9
	VPXORD Y10, Y10, Y10
	VPXORD Y11, Y11, Y11

q6kt48block:
	Q6LT_ROW((R14), 0)
	Q6LT_ROW((R14)(R8*1), 1)
	Q6LT_ROW((R14)(R8*2), 2)
	Q6LT_ROW((R14)(R12*1), 3)
	VPXORD Y12, Y12, Y12
	VPXORD Y13, Y13, Y13
	VPXORD Y14, Y14, Y14
	VPXORD Y15, Y15, Y15
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	Q6LT_BIAS(0)
	Q6LT_BIAS(1)
	Q6LT_BIAS(2)
	Q6LT_BIAS(3)
	Q6LT_BIAS(4)
	Q6LT_BIAS(5)
	Q6LT_BIAS(6)
	Q6LT_BIAS(7)
	Q6LT_HALF(0)
	Q6LT_HALF(1)
	VMOVUPS 2304(DX), Y30
	Q6LT_FLOAT(0, Y12, Y20, Y8)
	Q6LT_FLOAT(1, Y13, Y21, Y9)
	Q6LT_FLOAT(2, Y14, Y22, Y10)
	Q6LT_FLOAT(3, Y15, Y23, Y11)
	ADDQ $210, R14
	ADDQ $2336, DX
	DECQ CX
	JNZ q6kt48block

	LT_STORE(928, 1064, 1072, 1080, q6kt48st)
	ADDQ $16, 1064(SP)
	LEAQ (SI)(R8*4), SI
	DECQ 1056(SP)
	JNZ q6kt48row
	VZEROUPPER
	RET
