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
