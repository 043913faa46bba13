package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/convert"
	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/eval"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/tokenizer"
)

// DefaultSweepTypes are the quantizations people choose between most.
var DefaultSweepTypes = []string{"q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"}

// SweepOptions configure a quantization sweep.
type SweepOptions struct {
	Types   []string // recipe names, as ferry quantize takes them
	Text    string   // evaluation text
	Ctx     int      // evaluation chunk length
	Chunks  int      // at most this many chunks (0 = all)
	Spec    Spec     // speed measurement
	Engine  engine.Options
	TempDir string    // where the quantized files go (removed after use)
	Log     io.Writer // progress lines (may be nil)
}

// SweepRow is one quantization's size, speed and quality against the
// source model.
type SweepRow struct {
	Type      string  `json:"type"`
	Bytes     int64   `json:"size_bytes"`
	BPW       float64 `json:"bits_per_weight"`
	PP        Stat    `json:"pp_tokens_per_second"`
	TG        Stat    `json:"tg_tokens_per_second"`
	PPL       float64 `json:"ppl"`
	PPLErr    float64 `json:"ppl_error"`
	DeltaPPL  float64 `json:"delta_ppl"`
	KLD       float64 `json:"kld_mean"`
	KLDMedian float64 `json:"kld_median"`
	KLDMax    float64 `json:"kld_max"`
	Top1      float64 `json:"top1_agreement"`
}

// Sweep quantizes src to each type, then measures size, speed, perplexity
// and KL divergence against src itself: the trade-off in one table.
func Sweep(ctx context.Context, src *model.Model, opt SweepOptions) ([]SweepRow, error) {
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}
	tok, err := tokenizer.FromMetadata(&src.Metadata)
	if err != nil {
		return nil, fmt.Errorf("the sweep needs the model's tokenizer: %w", err)
	}
	ids, err := tok.Encode(opt.Text, false, false)
	if err != nil {
		return nil, err
	}
	evalOpt := eval.Options{Ctx: opt.Ctx, BOS: -1, MaxChunks: opt.Chunks}
	if tok.AddBOS() {
		evalOpt.BOS = tok.BOS()
	}
	dir, err := os.MkdirTemp(opt.TempDir, "ferry-sweep-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	eopt := opt.Engine
	if eopt.Context < opt.Ctx {
		eopt.Context = max(opt.Ctx, opt.Spec.PromptTokens+opt.Spec.GenTokens+16)
	}

	// The source model: its speed, perplexity and stored log-probs.
	refPath := filepath.Join(dir, "reference.lpb")
	row, err := sweepOne(ctx, "source", src, 0, eopt, opt, ids, evalOpt, func(s eval.Scorer) (eval.KLDResult, error) {
		if err := eval.SaveReference(refPath, s, ids, evalOpt); err != nil {
			return eval.KLDResult{}, err
		}
		p, err := eval.Perplexity(s, ids, evalOpt)
		return eval.KLDResult{PPL: p, RefPPL: p, Top1: 1}, err
	})
	if err != nil {
		return nil, err
	}
	rows := []SweepRow{row}
	logf("source: %.1f MiB, ppl %.4f", float64(row.Bytes)/(1<<20), row.PPL)
	ref, err := eval.OpenReference(refPath)
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	for _, typ := range opt.Types {
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
		out := filepath.Join(dir, strings.ToLower(typ)+".gguf")
		logf("quantizing to %s...", typ)
		if err := convert.GGUFFile(src, out, convert.Options{Type: strings.ToLower(typ), Context: ctx}); err != nil {
			return rows, fmt.Errorf("quantizing to %s: %w", typ, err)
		}
		qm, err := model.Open(out)
		if err != nil {
			return rows, err
		}
		st, _ := os.Stat(out)
		r, err := sweepOne(ctx, strings.ToUpper(typ), qm, st.Size(), eopt, opt, ids, evalOpt, func(s eval.Scorer) (eval.KLDResult, error) {
			return eval.KLD(s, ref, ids, evalOpt)
		})
		qm.Close()
		os.Remove(out)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", typ, err)
		}
		logf("%s: %.1f MiB, %.2f bpw, tg %.1f t/s, KLD %.5f", r.Type, float64(r.Bytes)/(1<<20), r.BPW, r.TG.Mean, r.KLD)
		rows = append(rows, r)
	}
	return rows, nil
}

func sweepOne(ctx context.Context, name string, m *model.Model, fileSize int64, eopt engine.Options, opt SweepOptions, ids []int32, evalOpt eval.Options, quality func(eval.Scorer) (eval.KLDResult, error)) (SweepRow, error) {
	start := time.Now()
	e, err := engine.Load(m, eopt)
	if err != nil {
		return SweepRow{}, err
	}
	defer e.Close()
	row := SweepRow{Type: name, Bytes: fileSize}
	var bytes, elems float64
	for _, t := range m.Tensors {
		bytes += float64(len(t.Data))
		elems += float64(t.Elements())
	}
	if row.Bytes == 0 {
		row.Bytes = int64(bytes)
	}
	if elems > 0 {
		row.BPW = 8 * bytes / elems
	}
	rows, err := Run(ctx, &Local{Name: name, Engine: e, LoadTime: time.Since(start)}, opt.Spec)
	if err != nil {
		return row, err
	}
	row.PP, row.TG = rows[0].TokensPerSec, rows[1].TokensPerSec
	k, err := quality(eval.EngineScorer{Engine: e})
	if err != nil {
		return row, err
	}
	row.PPL, row.PPLErr, row.DeltaPPL = k.PPL.PPL, k.PPL.PPLErr, k.DeltaPPL
	row.KLD, row.KLDMedian, row.KLDMax, row.Top1 = k.Mean, k.Median, k.Max, k.Top1
	return row, nil
}

// SweepTable renders a sweep.
func SweepTable(w io.Writer, rows []SweepRow, spec Spec) {
	fmt.Fprintf(w, "| type | size MiB | bpw | pp%d t/s | tg%d t/s | ppl | Δppl | KLD mean | KLD median | KLD max | top-1 |\n", spec.PromptTokens, spec.GenTokens)
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.1f ± %.1f | %.1f ± %.1f | %.4f ± %.4f | %+.4f | %.6f | %.6f | %.4f | %.2f%% |\n",
			r.Type, float64(r.Bytes)/(1<<20), r.BPW, r.PP.Mean, r.PP.SD, r.TG.Mean, r.TG.SD, r.PPL, r.PPLErr, r.DeltaPPL, r.KLD, r.KLDMedian, r.KLDMax, 100*r.Top1)
	}
}
