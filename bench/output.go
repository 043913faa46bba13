package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Table renders rows as a Markdown-style table, one layout for every
// runtime so local and HTTP results sit side by side.
func Table(w io.Writer, res *Results) {
	fmt.Fprintln(w, "| runtime | model | test | t/s | TTFT ms | tok p50 ms | p95 | p99 | load ms | peak RSS | % bw | err |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range res.Rows {
		ts := fmt.Sprintf("%.2f ± %.2f", r.TokensPerSec.Mean, r.TokensPerSec.SD)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %d/%d |\n",
			r.Runtime, r.Model, r.Test, ts, r.TTFTms.Mean,
			ms(r.TokenLatency.P50, r.TokenLatency.N), ms(r.TokenLatency.P95, r.TokenLatency.N), ms(r.TokenLatency.P99, r.TokenLatency.N),
			optFloat(r.LoadMs, "%.1f"), optBytes(r.PeakRSS), optFloat(r.BandwidthPct, "%.0f%%"), r.Errors, r.Requests)
	}
	if res.BandwidthGBs > 0 {
		fmt.Fprintf(w, "\nmemory read bandwidth measured in this run: %.1f GB/s\n", res.BandwidthGBs)
	}
}

func ms(v float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func optFloat(v float64, f string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(f, v)
}

func optBytes(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// CSV writes one line per row with a header.
func CSV(w io.Writer, res *Results) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"runtime", "model", "test", "tps_mean", "tps_sd", "ttft_ms", "tok_p50_ms", "tok_p95_ms", "tok_p99_ms", "load_ms", "peak_rss_bytes", "bandwidth_pct", "errors", "requests"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, r := range res.Rows {
		cw.Write([]string{r.Runtime, r.Model, r.Test, f(r.TokensPerSec.Mean), f(r.TokensPerSec.SD), f(r.TTFTms.Mean),
			f(r.TokenLatency.P50), f(r.TokenLatency.P95), f(r.TokenLatency.P99), f(r.LoadMs),
			strconv.FormatUint(r.PeakRSS, 10), f(r.BandwidthPct), strconv.Itoa(r.Errors), strconv.Itoa(r.Requests)})
	}
	cw.Flush()
	return cw.Error()
}
