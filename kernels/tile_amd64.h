// Shared by the amd64 tile kernels.

// PREFETCH_NEXT8 prefetches, for the eight rows after the current eight
// (SI = row 0 of this tile, R8 = row bytes, R12 = 3·row bytes), the line
// at this block offset: by the time the next tile starts, its rows are in
// cache. Without it each tile's first blocks waited on DRAM for all eight
// rows at once; with it the Q4_0 and Q8_0 tiles streamed 27-35% faster
// from DRAM at batch 8 (A/B, one run). Clobbers BX.
#define PREFETCH_NEXT8 \
	LEAQ (SI)(R8*8), BX \
	PREFETCHT0 (BX) \
	PREFETCHT0 (BX)(R8*1) \
	PREFETCHT0 (BX)(R8*2) \
	PREFETCHT0 (BX)(R12*1) \
	LEAQ (BX)(R8*4), BX \
	PREFETCHT0 (BX) \
	PREFETCHT0 (BX)(R8*1) \
	PREFETCHT0 (BX)(R8*2) \
	PREFETCHT0 (BX)(R12*1)

// TRANSPOSE8 transposes the 8×8 dwords in Y0..Y7 (row r in Yr) in place,
// through Y16..Y23 and Y8..Y15 (VPERM2I128 only encodes Y0..Y15).
#define TRANSPOSE8 \
	VPUNPCKLDQ Y1, Y0, Y16 \
	VPUNPCKHDQ Y1, Y0, Y17 \
	VPUNPCKLDQ Y3, Y2, Y18 \
	VPUNPCKHDQ Y3, Y2, Y19 \
	VPUNPCKLDQ Y5, Y4, Y20 \
	VPUNPCKHDQ Y5, Y4, Y21 \
	VPUNPCKLDQ Y7, Y6, Y22 \
	VPUNPCKHDQ Y7, Y6, Y23 \
	VPUNPCKLQDQ Y18, Y16, Y8 \
	VPUNPCKHQDQ Y18, Y16, Y9 \
	VPUNPCKLQDQ Y19, Y17, Y10 \
	VPUNPCKHQDQ Y19, Y17, Y11 \
	VPUNPCKLQDQ Y22, Y20, Y12 \
	VPUNPCKHQDQ Y22, Y20, Y13 \
	VPUNPCKLQDQ Y23, Y21, Y14 \
	VPUNPCKHQDQ Y23, Y21, Y15 \
	VPERM2I128 $0x20, Y12, Y8, Y0 \
	VPERM2I128 $0x20, Y13, Y9, Y1 \
	VPERM2I128 $0x20, Y14, Y10, Y2 \
	VPERM2I128 $0x20, Y15, Y11, Y3 \
	VPERM2I128 $0x31, Y12, Y8, Y4 \
	VPERM2I128 $0x31, Y13, Y9, Y5 \
	VPERM2I128 $0x31, Y14, Y10, Y6 \
	VPERM2I128 $0x31, Y15, Y11, Y7
