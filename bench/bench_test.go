package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOllama streams the requested tokens (n, or 1) gap apart and reports
// fixed server timings.
func fakeOllama(t *testing.T, n int, gap time.Duration, fail *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/generate" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model   string         `json:"model"`
			Prompt  string         `json:"prompt"`
			Stream  bool           `json:"stream"`
			Options map[string]any `json:"options"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "m" || !req.Stream {
			http.Error(w, `{"error":"bad request"}`, 400)
			return
		}
		// Run asks for one token (the pp test) or n (the tg test).
		np := int(req.Options["num_predict"].(float64))
		if req.Options["temperature"].(float64) != 0 || np != n && np != 1 {
			http.Error(w, `{"error":"not greedy or wrong length"}`, 400)
			return
		}
		n := np
		if fail != nil && fail.Add(1)%4 == 0 {
			http.Error(w, `{"error":"overloaded"}`, 503)
			return
		}
		fl := w.(http.Flusher)
		for i := 0; i < n; i++ {
			time.Sleep(gap)
			fmt.Fprintf(w, `{"model":"m","response":"tok%d","done":false}`+"\n", i)
			fl.Flush()
		}
		fmt.Fprintf(w, `{"model":"m","response":"","done":true,"done_reason":"length","prompt_eval_count":512,"prompt_eval_duration":1000000000,"eval_count":%d,"eval_duration":2000000000,"load_duration":3000000}`+"\n", n)
	}))
}

func TestOllamaFigures(t *testing.T) {
	srv := fakeOllama(t, 8, 2*time.Millisecond, nil)
	defer srv.Close()
	rows, err := Run(context.Background(), &Ollama{URL: srv.URL, Name: "m", Client: srv.Client()}, Spec{PromptTokens: 512, GenTokens: 8, Reps: 3})
	if err != nil {
		t.Fatal(err)
	}
	pp, tg := rows[0], rows[1]
	if pp.Test != "pp512" || tg.Test != "tg8" {
		t.Fatalf("tests: %s %s", pp.Test, tg.Test)
	}
	// 512 tokens in 1 s; 8 tokens in 2 s, from the server's own fields.
	if pp.TokensPerSec.Mean != 512 || pp.TokensPerSec.SD != 0 || pp.TokensPerSec.N != 3 {
		t.Errorf("pp = %+v, want 512 ± 0 over 3", pp.TokensPerSec)
	}
	if tg.TokensPerSec.Mean != 4 {
		t.Errorf("tg = %+v, want 4", tg.TokensPerSec)
	}
	if tg.LoadMs != 3 {
		t.Errorf("load = %v ms, want 3", tg.LoadMs)
	}
	// 7 gaps per request, 3 requests; each gap at least the server's sleep.
	if tg.TokenLatency.N != 21 || tg.TokenLatency.P50 < 1.9 {
		t.Errorf("token latency = %+v", tg.TokenLatency)
	}
	if tg.TTFTms.Mean < 1.9 {
		t.Errorf("ttft = %v ms, the first token is sent after 2 ms", tg.TTFTms.Mean)
	}
}

func TestOpenAIFigures(t *testing.T) {
	const first, gap, n = 30 * time.Millisecond, 5 * time.Millisecond, 6
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/completions" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", 401)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		time.Sleep(first)
		for i := 0; i < n; i++ {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"text\":\"t%d\"}]}\n\n", i)
			fl.Flush()
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
	}))
	defer srv.Close()
	tgt := &OpenAI{URL: srv.URL + "/v1", Name: "m", APIKey: "k", Client: srv.Client()}
	tm, err := tgt.Generate(context.Background(), Request{Prompt: "x", NumPredict: n})
	if err != nil {
		t.Fatal(err)
	}
	if tm.TTFT < first || tm.PromptTokens != 100 || tm.GenTokens != n-1 || len(tm.Gaps) != n-1 {
		t.Fatalf("timing: %+v", tm)
	}
	if tm.GenDur < time.Duration(n-1)*gap {
		t.Fatalf("generation took %v, less than the server's sleeps", tm.GenDur)
	}
	// Prompt rate is prompt tokens over TTFT; generation rate excludes the
	// first token. Both are bounded above by the server's sleeps.
	if r := tm.PromptRate(); r > 100/first.Seconds() || r <= 0 {
		t.Errorf("prompt rate %v", r)
	}
	if r := tm.GenRate(); r > float64(n-1)/(time.Duration(n-1)*gap).Seconds()+1e-9 || r <= 0 {
		t.Errorf("gen rate %v", r)
	}
}

func TestLoadCountsErrors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeOllama(t, 4, time.Millisecond, &calls)
	defer srv.Close()
	rows, err := RunLoad(context.Background(), &Ollama{URL: srv.URL, Name: "m", Client: srv.Client()}, Spec{PromptTokens: 16, GenTokens: 4, Reps: 2}, []int{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Test != "c1" || rows[1].Test != "c4" {
		t.Fatalf("rows: %+v", rows)
	}
	// Every 4th request fails: 10 requests in all, so 2 or 3 failures.
	total := rows[0].Errors + rows[1].Errors
	if rows[0].Requests+rows[1].Requests != 10 || total < 2 || total > 3 {
		t.Fatalf("errors %d of %d", total, rows[0].Requests+rows[1].Requests)
	}
	for _, r := range rows {
		if r.TokensPerSec.Mean <= 0 || r.TTFTLatency.N != r.Requests-r.Errors {
			t.Errorf("row %+v", r)
		}
	}
}

func TestStats(t *testing.T) {
	s := NewStat([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if s.Mean != 5 || math.Abs(s.SD-2.138089935) > 1e-6 {
		t.Errorf("stat %+v", s)
	}
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := NewPercentiles(ds)
	if p.P50 != 50 || p.P95 != 95 || p.P99 != 99 || p.Max != 100 {
		t.Errorf("percentiles %+v", p)
	}
}

func TestOutputs(t *testing.T) {
	res := &Results{Rows: []Row{{Runtime: "ferry", Model: "a<b", Test: "tg128", TokensPerSec: Stat{Mean: 40, SD: 1, N: 3}, Requests: 3}}}
	var tb, cb, sb bytes.Buffer
	Table(&tb, res)
	if !strings.Contains(tb.String(), "| ferry | a<b | tg128 | 40.00 ± 1.00 |") {
		t.Errorf("table:\n%s", tb.String())
	}
	if err := CSV(&cb, res); err != nil || !strings.Contains(cb.String(), "ferry,a<b,tg128,40.000,1.000") {
		t.Errorf("csv: %v\n%s", err, cb.String())
	}
	res.Rows[0].LatencyMs = []float64{1, 2, 3, 4, 5, 6, 7, 8}
	if err := SVG(&sb, res); err != nil || !strings.Contains(sb.String(), "a&lt;b") || !strings.HasPrefix(sb.String(), "<svg") || !strings.Contains(sb.String(), "<polyline") {
		t.Errorf("svg: %v\n%s", err, sb.String())
	}
	var pb bytes.Buffer
	if err := PNG(&pb, res); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&pb)
	if err != nil || img.Bounds().Dx() < 400 || img.Bounds().Dy() < 200 {
		t.Fatalf("png: %v %v", err, img.Bounds())
	}
}
