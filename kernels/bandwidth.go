package kernels

import (
	"encoding/binary"
	"sync"
	"time"
)

func loadSumGo(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	i := 0
	for ; i+32 <= len(b); i += 32 {
		s0 += binary.LittleEndian.Uint64(b[i:])
		s1 += binary.LittleEndian.Uint64(b[i+8:])
		s2 += binary.LittleEndian.Uint64(b[i+16:])
		s3 += binary.LittleEndian.Uint64(b[i+24:])
	}
	for ; i < len(b); i++ {
		s0 += uint64(b[i])
	}
	return s0 + s1 + s2 + s3
}

// ReadBandwidth measures memory read bandwidth in bytes per second by
// streaming buf (which should be much larger than the last-level cache) with
// threads goroutines, each summing its own slice, passes times; the best pass
// counts. It is the roofline the decode benchmarks are compared against.
func ReadBandwidth(buf []byte, threads, passes int) float64 {
	if threads < 1 {
		threads = 1
	}
	chunk := len(buf) / threads &^ 127
	var best float64
	sink := make([]uint64, threads)
	for p := 0; p < passes; p++ {
		var wg sync.WaitGroup
		start := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				sink[t] += loadSum(buf[t*chunk : (t+1)*chunk])
			}(t)
		}
		wg.Wait()
		if bw := float64(chunk*threads) / time.Since(start).Seconds(); bw > best {
			best = bw
		}
	}
	return best
}
