package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Request is one generation to measure. Every target gets the same one:
// greedy (temperature 0), fixed seed, exact generation length.
type Request struct {
	Prompt string
	// PromptLen is the intended prompt length in tokens; HTTP targets send
	// Prompt (built to be about that long) and report the server's count.
	PromptLen  int
	NumPredict int
	Seed       int
	NumCtx     int
}

// Target is something that generates text and reports timings.
type Target interface {
	// Runtime names the runtime ("ferry", "ollama", "openai").
	Runtime() string
	// Model names the model as the user gave it.
	Model() string
	// Generate runs one request and measures it.
	Generate(ctx context.Context, req Request) (Timing, error)
}

// Ollama measures a server speaking Ollama's native API. It uses the
// server's own timing fields for prompt and generation rates (they exclude
// HTTP overhead), and arrival times for TTFT and inter-token latency.
type Ollama struct {
	URL    string // e.g. http://127.0.0.1:11434
	Name   string // model name
	Client *http.Client
}

// Runtime implements Target.
func (o *Ollama) Runtime() string { return "ollama" }

// Model implements Target.
func (o *Ollama) Model() string { return o.Name }

// Generate implements Target.
func (o *Ollama) Generate(ctx context.Context, req Request) (Timing, error) {
	body := map[string]any{
		"model": o.Name, "prompt": req.Prompt, "raw": true, "stream": true,
		"options": map[string]any{"num_predict": req.NumPredict, "temperature": 0, "seed": req.Seed, "num_ctx": req.NumCtx},
	}
	start := time.Now()
	resp, err := post(ctx, o.Client, strings.TrimRight(o.URL, "/")+"/api/generate", body)
	if err != nil {
		return Timing{}, err
	}
	defer resp.Body.Close()
	var t Timing
	var arrivals []time.Time
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	done := false
	for sc.Scan() {
		now := time.Now()
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var chunk struct {
			Response           string `json:"response"`
			Done               bool   `json:"done"`
			Error              string `json:"error"`
			PromptEvalCount    int    `json:"prompt_eval_count"`
			PromptEvalDuration int64  `json:"prompt_eval_duration"`
			EvalCount          int    `json:"eval_count"`
			EvalDuration       int64  `json:"eval_duration"`
			LoadDuration       int64  `json:"load_duration"`
		}
		if err := json.Unmarshal(line, &chunk); err != nil {
			return t, fmt.Errorf("ollama: bad stream line %q: %w", truncate(line), err)
		}
		if chunk.Error != "" {
			return t, fmt.Errorf("ollama: %s", chunk.Error)
		}
		if chunk.Response != "" {
			arrivals = append(arrivals, now)
		}
		if chunk.Done {
			t.PromptTokens = chunk.PromptEvalCount
			t.PromptDur = time.Duration(chunk.PromptEvalDuration)
			t.GenTokens = chunk.EvalCount
			t.GenDur = time.Duration(chunk.EvalDuration)
			t.Load = time.Duration(chunk.LoadDuration)
			done = true
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("ollama: reading stream: %w", err)
	}
	if !done {
		return t, fmt.Errorf("ollama: stream ended without a final message")
	}
	fillArrivals(&t, start, arrivals)
	return t, nil
}

// OpenAI measures any OpenAI-compatible server (llama-server, mlx_lm.server,
// LM Studio, ferry serve) through streaming /v1/completions. Prompt rate is
// prompt tokens over the time to the first token; generation rate counts the
// tokens after the first over the time after the first.
type OpenAI struct {
	URL    string // base URL, with or without /v1
	Name   string
	APIKey string
	Client *http.Client
}

// Runtime implements Target.
func (o *OpenAI) Runtime() string { return "openai" }

// Model implements Target.
func (o *OpenAI) Model() string { return o.Name }

// Generate implements Target.
func (o *OpenAI) Generate(ctx context.Context, req Request) (Timing, error) {
	base := strings.TrimSuffix(strings.TrimRight(o.URL, "/"), "/v1")
	body := map[string]any{
		"model": o.Name, "prompt": req.Prompt, "max_tokens": req.NumPredict,
		"temperature": 0, "seed": req.Seed, "stream": true,
		"stream_options": map[string]any{"include_usage": true},
	}
	start := time.Now()
	resp, err := postAuth(ctx, o.Client, base+"/v1/completions", body, o.APIKey)
	if err != nil {
		return Timing{}, err
	}
	defer resp.Body.Close()
	var t Timing
	var arrivals []time.Time
	var usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sawDone := false
	for sc.Scan() {
		now := time.Now()
		line := strings.TrimSpace(sc.Text())
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			sawDone = true
			break
		}
		var chunk struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return t, fmt.Errorf("openai: bad event %q: %w", truncate([]byte(data)), err)
		}
		if chunk.Error != nil {
			return t, fmt.Errorf("openai: %s", chunk.Error.Message)
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Text != "" {
			arrivals = append(arrivals, now)
		}
		if chunk.Usage != nil {
			usage.PromptTokens = chunk.Usage.PromptTokens
			usage.CompletionTokens = chunk.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("openai: reading stream: %w", err)
	}
	if !sawDone {
		return t, fmt.Errorf("openai: stream ended without [DONE]")
	}
	fillArrivals(&t, start, arrivals)
	t.PromptTokens = usage.PromptTokens
	t.PromptDur = t.TTFT
	n := usage.CompletionTokens
	if n == 0 {
		n = len(arrivals)
	}
	if len(arrivals) >= 2 && n >= 2 {
		t.GenTokens = n - 1
		t.GenDur = arrivals[len(arrivals)-1].Sub(arrivals[0])
	}
	return t, nil
}

// fillArrivals sets TTFT and inter-token gaps from token arrival times.
func fillArrivals(t *Timing, start time.Time, arrivals []time.Time) {
	if len(arrivals) == 0 {
		return
	}
	t.TTFT = arrivals[0].Sub(start)
	for i := 1; i < len(arrivals); i++ {
		t.Gaps = append(t.Gaps, arrivals[i].Sub(arrivals[i-1]))
	}
}

func post(ctx context.Context, c *http.Client, url string, body any) (*http.Response, error) {
	return postAuth(ctx, c, url, body, "")
}

func postAuth(ctx context.Context, c *http.Client, url string, body any, key string) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
