package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/synthetic"
)

// BenchmarkServeConcurrent drives 1, 4, 8 and 16 concurrent streaming
// clients against a model served over HTTP (the real engine) and reports
// aggregate tokens/s, time to first token and inter-token latency
// percentiles. Every request must succeed.
//
// The model is stories260K unless FERRY_BENCH_MODEL names a GGUF path or a
// synthetic:PRESET[:TYPE] model; FERRY_BENCH_TOKENS sets tokens per request
// (default 64).
func BenchmarkServeConcurrent(b *testing.B) {
	path := os.Getenv("FERRY_BENCH_MODEL")
	if path == "" {
		path = filepath.Join(testdata.Path(b, "models", "stories260K"), "stories260K.gguf")
	} else if synthetic.IsSynthetic(path) {
		p, err := synthetic.Resolve(path)
		if err != nil {
			b.Fatal(err)
		}
		path = p
	}
	tokens := 64
	if v := os.Getenv("FERRY_BENCH_TOKENS"); v != "" {
		fmt.Sscan(v, &tokens)
	}
	for _, clients := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			st := &store.Store{Dir: filepath.Join(b.TempDir(), "models")}
			if _, err := st.Create("bench", &store.Modelfile{From: path}, "", nil); err != nil {
				b.Fatal(err)
			}
			s := New(Config{Store: st, Loader: &EngineLoader{MaxContext: 512}, Parallel: clients, QueueSize: clients})
			ts := httptest.NewServer(s.Handler())
			defer func() { ts.Close(); s.Close() }()
			if resp, err := http.Post(ts.URL+"/api/generate", "application/json", strings.NewReader(`{"model":"bench"}`)); err != nil || resp.StatusCode != 200 {
				b.Fatalf("load: %v %v", err, resp)
			}
			var (
				mu        sync.Mutex
				ttfts     []float64
				gaps      []float64
				generated int
				failures  int
			)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body := fmt.Sprintf(`{"model":"bench","prompt":"Once upon a time, client %d round %d","raw":true,"options":{"num_predict":%d,"temperature":0}}`, c, i, tokens)
						t0 := time.Now()
						resp, err := http.Post(ts.URL+"/api/generate", "application/json", strings.NewReader(body))
						if err != nil || resp.StatusCode != 200 {
							mu.Lock()
							failures++
							mu.Unlock()
							return
						}
						defer resp.Body.Close()
						sc := bufio.NewScanner(resp.Body)
						var last time.Time
						var myGaps []float64
						var ttft float64
						n := 0
						ok := false
						for sc.Scan() {
							now := time.Now()
							var r struct {
								Done      bool   `json:"done"`
								Error     string `json:"error"`
								EvalCount int    `json:"eval_count"`
							}
							if json.Unmarshal(sc.Bytes(), &r) != nil || r.Error != "" {
								break
							}
							if r.Done {
								n = r.EvalCount
								ok = true
								break
							}
							if last.IsZero() {
								ttft = now.Sub(t0).Seconds()
							} else {
								myGaps = append(myGaps, now.Sub(last).Seconds())
							}
							last = now
						}
						mu.Lock()
						defer mu.Unlock()
						if !ok {
							failures++
							return
						}
						generated += n
						ttfts = append(ttfts, ttft)
						gaps = append(gaps, myGaps...)
					}()
				}
				wg.Wait()
			}
			wall := time.Since(start).Seconds()
			b.StopTimer()
			if failures > 0 {
				b.Fatalf("%d failed requests", failures)
			}
			pct := func(v []float64, p float64) float64 {
				if len(v) == 0 {
					return 0
				}
				s := slices.Clone(v)
				slices.Sort(s)
				return s[min(len(s)-1, int(p*float64(len(s))))] * 1000
			}
			b.ReportMetric(float64(generated)/wall, "tok/s")
			b.ReportMetric(pct(ttfts, 0.5), "ttft-p50-ms")
			b.ReportMetric(pct(ttfts, 0.95), "ttft-p95-ms")
			b.ReportMetric(pct(gaps, 0.5), "itl-p50-ms")
			b.ReportMetric(pct(gaps, 0.95), "itl-p95-ms")
			b.ReportMetric(pct(gaps, 0.99), "itl-p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkDecodeStepBatch measures one batched decode step of the engine
// backend with 1, 4, 8 and 16 sequences (one token each, 64 cached tokens
// per sequence): how much the batch amortises the pass over the weights.
// FERRY_BENCH_MODEL picks the model as in BenchmarkServeConcurrent.
func BenchmarkDecodeStepBatch(b *testing.B) {
	path := os.Getenv("FERRY_BENCH_MODEL")
	if path == "" {
		path = filepath.Join(testdata.Path(b, "models", "stories260K"), "stories260K.gguf")
	} else if synthetic.IsSynthetic(path) {
		p, err := synthetic.Resolve(path)
		if err != nil {
			b.Fatal(err)
		}
		path = p
	}
	l, err := (&EngineLoader{MaxContext: 256}).Load(&store.Model{Name: "bench", Path: path}, 256, 16)
	if err != nil {
		b.Fatal(err)
	}
	be := l.Backend
	defer be.Close()
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("seqs=%d", n), func(b *testing.B) {
			items := make([]BatchItem, n)
			for i := range items {
				seq, _ := be.NewSeq()
				defer seq.Free()
				prompt := make([]int32, 64)
				for j := range prompt {
					prompt[j] = int32((i*64 + j) % 200)
				}
				if err := be.Forward([]BatchItem{{Seq: seq, Tokens: prompt}}); err != nil {
					b.Fatal(err)
				}
				items[i] = BatchItem{Seq: seq, Tokens: []int32{1}, Logits: make([]float32, be.VocabSize())}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, it := range items {
					it.Seq.Truncate(64)
				}
				if err := be.Forward(items); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
