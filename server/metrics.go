package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series of one server, in their own registry
// so that several servers (tests) never collide. client_golang is used
// rather than hand-written exposition because it gets histogram and text
// format details right and is what scrapers are tested against.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	promptTok prometheus.Counter
	cachedTok prometheus.Counter
	genTok    prometheus.Counter
	ttft      prometheus.Histogram
	tps       prometheus.Histogram
	batch     prometheus.Histogram
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_request_duration_seconds", Help: "HTTP request duration by route.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"route"})
	m.promptTok = prometheus.NewCounter(prometheus.CounterOpts{Name: "ferry_prompt_tokens_total", Help: "Prompt tokens evaluated (excluding prefix-cache hits)."})
	m.cachedTok = prometheus.NewCounter(prometheus.CounterOpts{Name: "ferry_prompt_cached_tokens_total", Help: "Prompt tokens served from the prefix cache."})
	m.genTok = prometheus.NewCounter(prometheus.CounterOpts{Name: "ferry_generated_tokens_total", Help: "Tokens generated."})
	m.ttft = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ferry_time_to_first_token_seconds", Help: "Time from a request reaching the scheduler to its first output.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)})
	m.tps = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ferry_request_tokens_per_second", Help: "Decode speed seen by each request.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ferry_batch_sequences", Help: "Sequences served by each batched decode step.", Buckets: prometheus.LinearBuckets(1, 1, 16)})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_queue_depth", Help: "Requests waiting for a slot, all models."}, func() float64 {
		n := 0
		for _, r := range s.models.snapshot() {
			_, q := r.sched.Busy()
			n += q
		}
		return float64(n)
	})
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_running_requests", Help: "Requests holding a slot, all models."}, func() float64 {
		n := 0
		for _, r := range s.models.snapshot() {
			a, _ := r.sched.Busy()
			n += a
		}
		return float64(n)
	})
	loaded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_loaded_models", Help: "Models loaded."}, func() float64 { return float64(len(s.models.snapshot())) })
	mem := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_model_memory_bytes", Help: "Estimated memory of loaded models (weights + KV)."}, func() float64 {
		var n int64
		for _, r := range s.models.snapshot() {
			n += r.size
		}
		return float64(n)
	})
	budget := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_memory_budget_bytes", Help: "The --max-memory budget (0: unlimited)."}, func() float64 { return float64(s.cfg.MaxMemory) })
	m.reg.MustRegister(m.requests, m.latency, m.promptTok, m.cachedTok, m.genTok, m.ttft, m.tps, m.batch, queue, running, loaded, mem, budget,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// route keeps label cardinality bounded: only known paths are labels.
func route(path string) string {
	switch path {
	case "/", "/health", "/metrics", "/api/version", "/api/generate", "/api/chat", "/api/tags", "/api/show", "/api/ps",
		"/api/copy", "/api/delete", "/api/create", "/api/embed", "/api/embeddings", "/api/pull",
		"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/embeddings":
		return path
	}
	switch {
	case len(path) > 11 && path[:11] == "/v1/models/":
		return "/v1/models/{id}"
	case len(path) > 11 && path[:11] == "/api/blobs/":
		return "/api/blobs/{digest}"
	}
	return "other"
}

func (m *metrics) request(r *http.Request, code int, d time.Duration) {
	if code == 0 {
		code = http.StatusOK
	}
	rt := route(r.URL.Path)
	m.requests.WithLabelValues(rt, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(rt).Observe(d.Seconds())
}

func (m *metrics) tokens(res *Result) {
	m.promptTok.Add(float64(res.PromptEvalCount))
	m.cachedTok.Add(float64(res.PromptTokens - res.PromptEvalCount))
	m.genTok.Add(float64(res.EvalCount))
	if res.EvalDuration > 0 && res.EvalCount > 1 {
		m.tps.Observe(float64(res.EvalCount) / res.EvalDuration.Seconds())
	}
}

func (m *metrics) onStep(seqs, tokens int, d time.Duration) { m.batch.Observe(float64(seqs)) }
