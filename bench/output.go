package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// SVG draws a bar chart of tokens/s per row, the comparison people look at.
func SVG(w io.Writer, res *Results) error {
	const barH, gap, left, width = 22, 8, 330, 420
	h := len(res.Rows)*(barH+gap) + 60
	max := 0.0
	for _, r := range res.Rows {
		if r.TokensPerSec.Mean > max {
			max = r.TokensPerSec.Mean
		}
	}
	if max == 0 {
		max = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+120, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">tokens per second (mean ± sd)</text>`+"\n")
	colors := map[string]string{"ferry": "#2b7bb9", "ollama": "#e07b39", "openai": "#5a9e4b"}
	for i, r := range res.Rows {
		y := 40 + i*(barH+gap)
		bw := r.TokensPerSec.Mean / max * width
		c := colors[r.Runtime]
		if c == "" {
			c = "#888"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, xmlEscape(r.Runtime+" "+r.Model+" "+r.Test))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, bw, barH, c)
		sd := r.TokensPerSec.SD / max * width
		if sd > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>`+"\n", float64(left)+bw-sd, float64(left)+bw+sd, y+barH/2, y+barH/2)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.1f</text>`+"\n", float64(left)+bw+sd+6, y+15, r.TokensPerSec.Mean)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
