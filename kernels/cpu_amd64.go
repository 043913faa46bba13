//go:build !purego

package kernels

func cpuid(eax, ecx uint32) (a, b, c, d uint32)
func xgetbv() (eax, edx uint32)

// cpuFeatures are the instruction set extensions the amd64 kernels use.
type cpuFeatures struct {
	AVX2, FMA, F16C, AVX512, VNNI bool
}

// detectCPU reads CPUID and checks that the OS saves the YMM/ZMM state
// (XGETBV) before reporting AVX2/AVX-512 as usable.
func detectCPU() (f cpuFeatures) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return
	}
	_, _, ecx1, _ := cpuid(1, 0)
	osxsave := ecx1&(1<<27) != 0
	if !osxsave {
		return
	}
	xcr0, _ := xgetbv()
	ymm := xcr0&0x6 == 0x6
	zmm := xcr0&0xe6 == 0xe6
	_, ebx7, ecx7, _ := cpuid(7, 0)
	avx := ecx1&(1<<28) != 0
	f.FMA = ymm && ecx1&(1<<12) != 0
	f.F16C = ymm && avx && ecx1&(1<<29) != 0
	f.AVX2 = ymm && avx && ebx7&(1<<5) != 0
	f.AVX512 = zmm && f.AVX2 && ebx7&(1<<16) != 0 && ebx7&(1<<30) != 0 && ebx7&(1<<31) != 0 // F, BW, VL
	f.VNNI = f.AVX512 && ecx7&(1<<11) != 0
	return
}

var cpu = detectCPU()
