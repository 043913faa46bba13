package bench

import "time"

// Timing is what one generation request measured.
type Timing struct {
	PromptTokens int           `json:"prompt_tokens"`
	PromptDur    time.Duration `json:"prompt_duration_ns"`
	GenTokens    int           `json:"generated_tokens"`
	GenDur       time.Duration `json:"generation_duration_ns"`
	// TTFT is the time from sending the request to the first generated token.
	TTFT time.Duration `json:"ttft_ns"`
	// Gaps are the intervals between consecutive generated tokens.
	Gaps []time.Duration `json:"-"`
	// Load is the model load time the runtime reported, if any.
	Load time.Duration `json:"load_duration_ns"`
}

// PromptRate is prompt tokens per second (0 when unknown).
func (t Timing) PromptRate() float64 {
	if t.PromptDur <= 0 || t.PromptTokens == 0 {
		return 0
	}
	return float64(t.PromptTokens) / t.PromptDur.Seconds()
}

// GenRate is generated tokens per second (0 when unknown).
func (t Timing) GenRate() float64 {
	if t.GenDur <= 0 || t.GenTokens == 0 {
		return 0
	}
	return float64(t.GenTokens) / t.GenDur.Seconds()
}

// Row is one line of the results table: one runtime, one model, one test
// ("pp512", "tg128", or "c8" for a concurrency level).
type Row struct {
	Runtime string `json:"runtime"`
	Model   string `json:"model"`
	Test    string `json:"test"`
	// TokensPerSec is the test's rate: prompt tokens/s for ppN, generated
	// tokens/s for tgN, aggregate generated tokens/s for concurrency rows.
	TokensPerSec Stat        `json:"tokens_per_second"`
	TTFTms       Stat        `json:"ttft_ms"`
	TokenLatency Percentiles `json:"token_latency"`
	TTFTLatency  Percentiles `json:"ttft_latency,omitempty"`
	LoadMs       float64     `json:"load_ms,omitempty"`
	PeakRSS      uint64      `json:"peak_rss_bytes,omitempty"`
	// BandwidthPct is decode's weight traffic as a share of the memory
	// bandwidth measured in the same run (ferry's engine only).
	BandwidthPct float64 `json:"bandwidth_pct,omitempty"`
	// LatencyMs holds the inter-token latencies behind TokenLatency, for
	// the plot's CDF; not saved in JSON.
	LatencyMs []float64 `json:"-"`
	Errors    int       `json:"errors"`
	Requests  int       `json:"requests"`
	Note      string    `json:"note,omitempty"`
}

// Results is a whole benchmark run, with the machine it ran on so two runs
// from two machines can be compared.
type Results struct {
	Time    time.Time `json:"time"`
	Machine any       `json:"machine,omitempty"`
	// BandwidthGBs is the memory read bandwidth measured in this run.
	BandwidthGBs float64 `json:"bandwidth_gb_s,omitempty"`
	Rows         []Row   `json:"rows"`
}
