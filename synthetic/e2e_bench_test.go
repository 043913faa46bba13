//go:build unix

package synthetic_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/kernels"
	"github.com/ferryhq/ferry/model"
)

// BenchmarkEndToEnd is llama-bench's pp512 / tg128 on a synthetic model
// (FERRY_E2E_MODELS, default the three llama3.2-1b types of issue 5):
// prompt processing of 512 tokens in one step, and 128 decode steps, on
// FERRY_BENCH_THREADS workers (default 2). Decode also reports the weight
// bytes streamed per second and that as a share of the read bandwidth
// measured in the same run (kernels.ReadBandwidth, 512 MiB, same threads).
func BenchmarkEndToEnd(b *testing.B) {
	threads := 2
	if n, err := strconv.Atoi(os.Getenv("FERRY_BENCH_THREADS")); err == nil && n > 0 {
		threads = n
	}
	threads = min(threads, runtime.NumCPU())
	names := []string{"synthetic:llama3.2-1b:q4_0", "synthetic:llama3.2-1b:q4_k_m", "synthetic:llama3.2-1b:q8_0"}
	if s := os.Getenv("FERRY_E2E_MODELS"); s != "" {
		names = strings.Split(s, ",")
	}
	// The machine may be shared: bandwidth is probed between decode steps
	// (256 MiB every 16 tokens, timed apart from them) so the ratio compares
	// figures taken under the same conditions.
	buf := make([]byte, 256<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	var probeBytes, probeSecs float64
	probe := func() {
		start := time.Now()
		kernels.ReadBandwidth(buf, threads, 1)
		probeSecs += time.Since(start).Seconds()
		probeBytes += float64(len(buf) / threads * threads)
	}
	for _, name := range names {
		m, err := model.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		var weightBytes int64
		for _, t := range m.Tensors {
			if t.Name != "token_embd.weight" || m.Tensor("output.weight") == nil {
				weightBytes += int64(len(t.Data)) // tied embeddings are the output matrix: read every token
			}
		}
		e, err := engine.Load(m, engine.Options{Threads: threads, Context: 1024})
		if err != nil {
			b.Fatal(err)
		}
		vocab := e.Vocab()
		pp := 512
		if n, err := strconv.Atoi(os.Getenv("FERRY_E2E_PP")); err == nil && n > 0 {
			pp = n
		}
		prompt := make([]int32, pp)
		for i := range prompt {
			prompt[i] = int32((i*7919 + 13) % vocab)
		}
		short := strings.TrimPrefix(name, "synthetic:")
		b.Run(fmt.Sprintf("%s/pp%d", short, pp), func(b *testing.B) {
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				s := e.NewSeq()
				if _, err := e.Step([]engine.SeqTokens{{Seq: s, Tokens: prompt}}); err != nil {
					b.Fatal(err)
				}
				e.Free(s)
			}
			b.ReportMetric(float64(pp*b.N)/b.Elapsed().Seconds(), "tok/s")
			// On a shared machine the process gets less than `threads`
			// cores; tokens per CPU-second × threads is the rate with the
			// cores to itself (conservative: spinning workers count as busy).
			b.ReportMetric(float64(pp*b.N)*float64(threads)/(cpuSeconds()-cpu0), "cpu-tok/s")
		})
		b.Run(short+"/tg128", func(b *testing.B) {
			var total time.Duration
			var cpuUsed float64
			probeBytes, probeSecs = 0, 0
			for i := 0; i < b.N; i++ {
				s := e.NewSeq()
				tok := []int32{1}
				for j := 0; j < 128; j++ {
					if j%16 == 0 {
						probe()
					}
					t0, c0 := time.Now(), cpuSeconds()
					if _, err := e.Step([]engine.SeqTokens{{Seq: s, Tokens: tok}}); err != nil {
						b.Fatal(err)
					}
					total += time.Since(t0)
					cpuUsed += cpuSeconds() - c0
					tok[0] = int32((j*31 + 7) % vocab)
				}
				e.Free(s)
			}
			tps := float64(128*b.N) / total.Seconds()
			b.ReportMetric(tps, "tok/s")
			b.ReportMetric(tps*float64(weightBytes)/1e9, "GB/s")
			b.ReportMetric(100*tps*float64(weightBytes)/(probeBytes/probeSecs), "%bw")
			b.ReportMetric(probeBytes/probeSecs/1e9, "bwGB/s")
			b.ReportMetric(float64(128*b.N)*float64(threads)/cpuUsed, "cpu-tok/s")
		})
		e.Close()
		m.Close()
		fmt.Fprintf(os.Stderr, "%s: %.0f MB of weights\n", name, float64(weightBytes)/1e6)
	}
}

// cpuSeconds is the user+system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
