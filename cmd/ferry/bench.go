package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/bench"
	"github.com/ferryhq/ferry/doctor"
	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/eval"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/kernels"
	"github.com/spf13/cobra"
)

type benchFlags struct {
	prompt, gen, reps, depth, threads, batch, seed int
	kvType                                         string
	ollama, ollamaModel, openai, openaiModel       string
	apiKey                                         string
	concurrency                                    string
	asJSON, asCSV                                  bool
	plot, out                                      string
	noBandwidth                                    bool
	sweep                                          bool
	sweepTypes, text                               string
	evalCtx, evalChunks                            int
}

func init() {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench [MODEL...]",
		Short: "Measure prompt and generation speed of ferry and other runtimes, side by side",
		Long: `bench reports, llama-bench style, prompt processing (ppN) and generation (tgN)
tokens/s as mean ± sd over repetitions, time to first token, per-token latency
percentiles, load time, peak memory, and decode as a share of this machine's
memory bandwidth measured in the same run.

MODEL is a path, a store name, or synthetic:PRESET[:TYPE] (a random-weight model
with the exact shapes of a popular model; nothing is downloaded).

Other runtimes are measured over HTTP on the same prompts and lengths (greedy,
fixed seed): --ollama URL with --ollama-model NAME uses Ollama's native API and
its timing fields; --openai URL with --openai-model NAME uses any
OpenAI-compatible server (llama-server, mlx_lm.server, LM Studio, ferry serve)
and streaming arrival times. --concurrency 1,4,8,16 drives those servers with
that many clients at once.`,
		Example: `  ferry bench synthetic:llama3.2-1b:q4_0
  ferry bench model.gguf -p 256 -n 64 -r 5 --json > run.json
  ferry bench model.gguf --ollama http://127.0.0.1:11434 --ollama-model llama3.2:1b
  ferry bench --openai http://127.0.0.1:8080 --openai-model default --concurrency 1,4,8,16
  ferry bench compare a.json b.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.prompt, "prompt", "p", 512, "prompt length in tokens (ppN)")
	fl.IntVarP(&f.gen, "gen", "n", 128, "tokens to generate (tgN)")
	fl.IntVarP(&f.reps, "reps", "r", 3, "repetitions")
	fl.IntVarP(&f.depth, "depth", "d", 0, "tokens already in the context before measuring (ferry engine)")
	fl.IntVarP(&f.threads, "threads", "t", 0, "worker threads (default: physical cores)")
	fl.IntVarP(&f.batch, "batch-size", "b", 512, "prompt processing batch size")
	fl.IntVar(&f.seed, "seed", 42, "seed for prompts and sampling")
	fl.StringVar(&f.kvType, "kv-cache-type", "f16", "KV cache type: f16, q8_0 or f32")
	fl.StringVar(&f.ollama, "ollama", "", "also measure an Ollama server at this URL")
	fl.StringVar(&f.ollamaModel, "ollama-model", "", "model name on the Ollama server")
	fl.StringVar(&f.openai, "openai", "", "also measure an OpenAI-compatible server at this URL")
	fl.StringVar(&f.openaiModel, "openai-model", "", "model name on the OpenAI-compatible server")
	fl.StringVar(&f.apiKey, "api-key", os.Getenv("OPENAI_API_KEY"), "API key for --openai")
	fl.StringVar(&f.concurrency, "concurrency", "", "load mode: comma-separated client counts, e.g. 1,4,8,16 (HTTP targets)")
	fl.BoolVar(&f.asJSON, "json", false, "print results as JSON")
	fl.BoolVar(&f.asCSV, "csv", false, "print results as CSV")
	fl.StringVar(&f.plot, "plot", "", "write a chart (tokens/s bars, latency CDF) to this .svg or .png file")
	fl.StringVarP(&f.out, "output", "o", "", "also save the JSON results to this file")
	fl.BoolVar(&f.noBandwidth, "no-bandwidth", false, "skip the memory bandwidth measurement")
	fl.BoolVar(&f.sweep, "quant-sweep", false, "quantize MODEL to common types and report size, speed, perplexity and KL divergence per type")
	fl.StringVar(&f.sweepTypes, "types", strings.Join(bench.DefaultSweepTypes, ","), "types for --quant-sweep")
	fl.StringVar(&f.text, "text", "", "evaluation text for --quant-sweep (default: a short built-in English text)")
	fl.IntVar(&f.evalCtx, "eval-ctx", 512, "evaluation chunk length for --quant-sweep")
	fl.IntVar(&f.evalChunks, "eval-chunks", 0, "evaluate at most this many chunks (0 = all)")

	compare := &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Compare two saved bench runs (for example from two machines)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchCompare(cmd.OutOrStdout(), args[0], args[1])
		},
	}
	cmd.AddCommand(compare)
	rootCmd.AddCommand(cmd)
}

func runBench(cmd *cobra.Command, args []string, f *benchFlags) error {
	if len(args) == 0 && f.ollama == "" && f.openai == "" {
		return fmt.Errorf("nothing to measure: give a MODEL (try synthetic:llama3.2-1b:q4_k_m) or --ollama/--openai")
	}
	if f.prompt < 0 || f.gen < 0 || f.reps <= 0 || f.depth < 0 {
		return fmt.Errorf("-p, -n and -d must be non-negative and -r positive")
	}
	var levels []int
	if f.concurrency != "" {
		for _, s := range strings.Split(f.concurrency, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 || n > 1024 {
				return fmt.Errorf("--concurrency: %q is not a client count between 1 and 1024", s)
			}
			levels = append(levels, n)
		}
		if f.ollama == "" && f.openai == "" {
			return fmt.Errorf("--concurrency drives a server: add --openai URL (e.g. a running `ferry serve`) or --ollama URL")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if f.sweep {
		return runSweep(ctx, cmd, args, f)
	}
	host := doctor.ProbeHost(doctor.RealEnv())
	res := &bench.Results{Time: time.Now().UTC(), Machine: host}
	spec := bench.Spec{PromptTokens: f.prompt, GenTokens: f.gen, Reps: f.reps, Seed: f.seed}
	errOut := cmd.ErrOrStderr()

	// Weight bytes per decode step of each local tg row, for the share of
	// memory bandwidth once that is measured.
	perToken := map[int]float64{}
	for _, arg := range args {
		rows, bytes, err := benchLocal(ctx, arg, f, spec, errOut)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if strings.HasPrefix(r.Test, "tg") {
				perToken[len(res.Rows)] = bytes
			}
			res.Rows = append(res.Rows, r)
		}
	}
	// Bandwidth is measured after the models ran so that its 1 GiB buffer
	// does not count in their peak RSS.
	if len(args) > 0 && !f.noBandwidth {
		fmt.Fprintln(errOut, "measuring memory bandwidth...")
		threads := f.threads
		if threads <= 0 {
			threads = host.Physical
		}
		res.BandwidthGBs = measureBandwidth(threads) / 1e9
		for i, b := range perToken {
			res.Rows[i].BandwidthPct = 100 * b * res.Rows[i].TokensPerSec.Mean / (res.BandwidthGBs * 1e9)
		}
	}
	client := &http.Client{}
	var targets []bench.Target
	if f.ollama != "" {
		if f.ollamaModel == "" {
			return fmt.Errorf("--ollama needs --ollama-model NAME")
		}
		targets = append(targets, &bench.Ollama{URL: f.ollama, Name: f.ollamaModel, Client: client})
	}
	if f.openai != "" {
		if f.openaiModel == "" {
			return fmt.Errorf("--openai needs --openai-model NAME")
		}
		targets = append(targets, &bench.OpenAI{URL: f.openai, Name: f.openaiModel, APIKey: f.apiKey, Client: client})
	}
	for _, t := range targets {
		fmt.Fprintf(errOut, "measuring %s %s...\n", t.Runtime(), t.Model())
		var rows []bench.Row
		var err error
		if levels != nil {
			rows, err = bench.RunLoad(ctx, t, spec, levels)
		} else {
			rows, err = bench.Run(ctx, t, spec)
		}
		if err != nil {
			return err
		}
		res.Rows = append(res.Rows, rows...)
	}
	return benchOutput(cmd.OutOrStdout(), res, f)
}

// measureBandwidth is the read bandwidth in bytes/s over a 1 GiB buffer
// that is written first: untouched pages all map the kernel's zero page and
// would read impossibly fast.
func measureBandwidth(threads int) float64 {
	buf := make([]byte, 1<<30)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i>>12) | 1
	}
	return kernels.ReadBandwidth(buf, threads, 3)
}

func benchLocal(ctx context.Context, arg string, f *benchFlags, spec bench.Spec, errOut io.Writer) ([]bench.Row, float64, error) {
	start := time.Now()
	m, err := resolveModel(arg)
	if err != nil {
		return nil, 0, err
	}
	defer m.Close()
	e, err := engine.Load(m, engine.Options{Threads: f.threads, BatchSize: f.batch, KVCacheType: f.kvType, Context: f.depth + f.prompt + f.gen + 16})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", arg, err)
	}
	defer e.Close()
	load := time.Since(start)
	fmt.Fprintf(errOut, "measuring ferry %s (loaded in %v)...\n", arg, load.Round(time.Millisecond))
	rows, err := bench.Run(ctx, &bench.Local{Name: arg, Engine: e, LoadTime: load, Depth: f.depth}, spec)
	if err != nil {
		return nil, 0, err
	}
	cfg := e.Config()
	perToken := bench.WeightBytesPerToken(m, cfg.Experts, cfg.ExpertsUsed)
	rss := bench.PeakRSS()
	for i := range rows {
		rows[i].PeakRSS = rss
		if f.depth > 0 {
			rows[i].Test += fmt.Sprintf(" @ d%d", f.depth)
		}
	}
	return rows, perToken, nil
}

func benchOutput(w io.Writer, res *bench.Results, f *benchFlags) error {
	if f.out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(f.out, append(b, '\n')); err != nil {
			return err
		}
	}
	if f.plot != "" {
		draw := bench.SVG
		switch ext := strings.ToLower(filepath.Ext(f.plot)); ext {
		case ".svg":
		case ".png":
			draw = bench.PNG
		default:
			return fmt.Errorf("--plot writes .svg or .png files (got %q)", f.plot)
		}
		pf, err := atomicfile.Create(f.plot)
		if err != nil {
			return err
		}
		defer pf.Abort()
		if err := draw(pf, res); err != nil {
			return err
		}
		if err := pf.Commit(); err != nil {
			return err
		}
	}
	switch {
	case f.asJSON:
		return printJSON(w, res)
	case f.asCSV:
		return bench.CSV(w, res)
	}
	bench.Table(w, res)
	return nil
}

// benchCompare prints, for every row present in both runs, the two rates and
// their ratio.
func benchCompare(w io.Writer, a, b string) error {
	load := func(p string) (*bench.Results, error) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r bench.Results
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: not a ferry bench JSON file: %w", p, err)
		}
		return &r, nil
	}
	ra, err := load(a)
	if err != nil {
		return err
	}
	rb, err := load(b)
	if err != nil {
		return err
	}
	describe := func(r *bench.Results) string {
		m, _ := r.Machine.(map[string]any)
		if m == nil {
			return "unknown machine"
		}
		return fmt.Sprintf("%v, %v, %v cores", m["cpu_model"], m["os_version"], m["physical_cores"])
	}
	fmt.Fprintf(w, "A: %s (%s)\nB: %s (%s)\n\n", a, describe(ra), b, describe(rb))
	fmt.Fprintln(w, "| runtime | model | test | A t/s | B t/s | B/A |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: |")
	idx := map[string]bench.Row{}
	for _, r := range rb.Rows {
		idx[r.Runtime+"\x00"+r.Model+"\x00"+r.Test] = r
	}
	matched := 0
	for _, r := range ra.Rows {
		o, ok := idx[r.Runtime+"\x00"+r.Model+"\x00"+r.Test]
		if !ok {
			continue
		}
		matched++
		ratio := "-"
		if r.TokensPerSec.Mean > 0 {
			ratio = fmt.Sprintf("%.2f×", o.TokensPerSec.Mean/r.TokensPerSec.Mean)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.2f | %s |\n", r.Runtime, r.Model, r.Test, r.TokensPerSec.Mean, o.TokensPerSec.Mean, ratio)
	}
	if matched == 0 {
		return fmt.Errorf("the two runs share no (runtime, model, test) rows")
	}
	return nil
}

func runSweep(ctx context.Context, cmd *cobra.Command, args []string, f *benchFlags) error {
	if len(args) != 1 {
		return fmt.Errorf("--quant-sweep takes exactly one MODEL (a full-precision one: F32, F16 or BF16)")
	}
	text := eval.SampleText
	if f.text != "" {
		b, err := os.ReadFile(f.text)
		if err != nil {
			return err
		}
		text = string(b)
	}
	m, err := resolveModel(args[0])
	if err != nil {
		return err
	}
	defer m.Close()
	spec := bench.Spec{PromptTokens: f.prompt, GenTokens: f.gen, Reps: f.reps, Seed: f.seed}
	rows, err := bench.Sweep(ctx, m, bench.SweepOptions{
		Types: strings.Split(f.sweepTypes, ","), Text: text, Ctx: f.evalCtx, Chunks: f.evalChunks, Spec: spec,
		Engine: engine.Options{Threads: f.threads, BatchSize: f.batch, KVCacheType: f.kvType},
		Log:    cmd.ErrOrStderr(),
	})
	if err != nil {
		return err
	}
	if f.asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"model": args[0], "machine": doctor.ProbeHost(doctor.RealEnv()), "rows": rows})
	}
	bench.SweepTable(cmd.OutOrStdout(), rows, spec)
	return nil
}
