package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/synthetic"
)

// benchThreads is how many goroutines split the rows, like the engine's
// worker pool (FERRY_BENCH_THREADS, default 2 = this machine's cores).
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("FERRY_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return min(2, runtime.NumCPU())
}

var (
	bwOnce sync.Once
	bwBuf  []byte
)

// bandwidthBuffer is a 256 MiB buffer (well past the last-level cache),
// faulted in once.
func bandwidthBuffer() []byte {
	bwOnce.Do(func() {
		bwBuf = make([]byte, 256<<20)
		for i := 0; i < len(bwBuf); i += 4096 {
			bwBuf[i] = byte(i)
		}
	})
	return bwBuf
}

// bwMeter interleaves bandwidth probes with the measured work: the machine
// is shared, so a bandwidth figure taken minutes earlier says little. Each
// probe streams the 256 MiB buffer once with benchThreads goroutines.
type bwMeter struct {
	bytes float64
	secs  float64
}

func (m *bwMeter) probe() {
	buf := bandwidthBuffer()
	start := time.Now()
	ReadBandwidth(buf, benchThreads(), 1)
	m.secs += time.Since(start).Seconds()
	m.bytes += float64(len(buf) / benchThreads() * benchThreads())
}

func (m *bwMeter) rate() float64 { return m.bytes / m.secs }

// BenchmarkBandwidth is the probe on its own: read bandwidth of a 256 MiB
// buffer with benchThreads goroutines.
func BenchmarkBandwidth(b *testing.B) {
	buf := bandwidthBuffer()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ReadBandwidth(buf, benchThreads(), 1)
	}
}

// BenchmarkMatVec streams a weight matrix larger than the caches (decode's
// access pattern: every weight read once per token) split over benchThreads
// goroutines, and reports GB/s of weights and % of the read bandwidth
// measured by probes interleaved with the iterations.
func BenchmarkMatVec(b *testing.B) {
	for _, typ := range []quant.Type{quant.Q4_0, quant.Q8_0, quant.Q4_K, quant.Q6_K, quant.Q5_K, quant.Q3_K, quant.Q2_K,
		quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.IQ4_NL, quant.IQ4_XS, quant.F16, quant.BF16, quant.F32} {
		b.Run(fmt.Sprintf("%v/%s", typ, fastPaths[typ]), func(b *testing.B) {
			const cols = 4096
			rb := RowBytes(typ, cols)
			rows := (96 << 20) / rb
			w := make([]byte, rows*rb)
			rng := rand.New(rand.NewPCG(1, 1))
			if err := synthetic.FillBlocks(typ, w, rng, 0.05); err != nil {
				b.Fatal(err)
			}
			vt := ActivationType(typ)
			x := make([]float32, cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			act := make([]byte, ActivationSize(vt, cols))
			QuantizeActivations(vt, x, act)
			y := make([]float32, rows)
			th := benchThreads()
			MatVec(typ, w, rows, cols, act, y) // warm up: page faults, caches
			runtime.GC()
			b.SetBytes(int64(len(w)))
			var meter bwMeter
			var work time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				meter.probe()
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				per := (rows + th - 1) / th
				for t := 0; t < th; t++ {
					r0, r1 := t*per, min(rows, (t+1)*per)
					wg.Add(1)
					go func() {
						defer wg.Done()
						MatVec(typ, w[r0*rb:r1*rb], r1-r0, cols, act, y[r0:r1])
					}()
				}
				wg.Wait()
				work += time.Since(start)
			}
			gbs := float64(len(w)) * float64(b.N) / work.Seconds()
			b.ReportMetric(gbs/1e9, "GB/s")
			b.ReportMetric(100*gbs/meter.rate(), "%bw")
		})
	}
}

// BenchmarkMatMul is prompt processing's shape: a 2048×2048 weight matrix
// times a batch of 64 activations, one thread; reports GOP/s (2 ops per
// multiply-add).
func BenchmarkMatMul(b *testing.B) {
	for _, typ := range []quant.Type{quant.Q4_0, quant.Q8_0, quant.Q4_K, quant.Q6_K, quant.F16, quant.F32} {
		b.Run(fmt.Sprintf("%v/%s", typ, fastPaths[typ]), func(b *testing.B) {
			const rows, cols, batch = 2048, 2048, 64
			rb := RowBytes(typ, cols)
			w := make([]byte, rows*rb)
			rng := rand.New(rand.NewPCG(1, 1))
			if err := synthetic.FillBlocks(typ, w, rng, 0.05); err != nil {
				b.Fatal(err)
			}
			vt := ActivationType(typ)
			ab := ActivationSize(vt, cols)
			acts := make([]byte, batch*ab)
			x := make([]float32, cols)
			for j := 0; j < batch; j++ {
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				QuantizeActivations(vt, x, acts[j*ab:])
			}
			y := make([]float32, batch*rows)
			MatMul(typ, w, rows, cols, acts, batch, y) // warm up
			runtime.GC()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				MatMul(typ, w, rows, cols, acts, batch, y)
			}
			ops := 2 * float64(rows) * cols * batch * float64(b.N)
			b.ReportMetric(ops/b.Elapsed().Seconds()/1e9, "GOP/s")
		})
	}
}

func BenchmarkQuantizeActivations(b *testing.B) {
	for _, vt := range []quant.Type{quant.Q8_0, quant.Q8_1, quant.Q8_K} {
		b.Run(vt.String(), func(b *testing.B) {
			x := make([]float32, 8192)
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			dst := make([]byte, ActivationSize(vt, len(x)))
			b.SetBytes(int64(4 * len(x)))
			for i := 0; i < b.N; i++ {
				QuantizeActivations(vt, x, dst)
			}
		})
	}
}
