package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/eval"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/tokenizer"
	"github.com/spf13/cobra"
)

type evalFlags struct {
	ctx, chunks, threads int
	asJSON               bool
	reference, saveRef   string
	maxKLD               float64
}

func init() {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure model quality: perplexity, and KL divergence against a reference",
		Long: `eval measures what quantization cost, the way llama.cpp's perplexity tool does:
the text is cut into chunks of --ctx tokens and the second half of every chunk
is scored, so each scored token has at least half a context behind it.`,
	}
	ppl := &cobra.Command{
		Use:     "perplexity MODEL FILE.txt",
		Short:   "Perplexity of MODEL on a text, with its standard error",
		Example: "  ferry eval perplexity model.gguf wiki.test.raw --ctx 512",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, e, ids, opt, err := evalSetup(cmd, args[0], args[1], &f)
			if err != nil {
				return err
			}
			defer m.Close()
			defer e.Close()
			r, err := eval.Perplexity(eval.EngineScorer{Engine: e}, ids, opt)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "perplexity %.4f ± %.4f over %d tokens (%d chunks of %d)\n", r.PPL, r.PPLErr, r.Tokens, r.Chunks, r.Ctx)
			return nil
		},
	}
	kld := &cobra.Command{
		Use:   "kld MODEL FILE.txt (--reference REF | --save-reference OUT.lpb)",
		Short: "KL divergence and top-1 agreement of MODEL against a reference model or stored log-probs",
		Long: `kld compares MODEL's next-token distributions with a reference's over the
same text: mean/median/p99/max KL divergence, top-1 agreement and the change
in perplexity. REF is a model (same tokenizer) or a log-prob file written
earlier with --save-reference, so the reference need not be loaded again.
--max-kld X exits non-zero when the mean KL divergence exceeds X (a CI gate).`,
		Example: `  ferry eval kld model-f16.gguf text.txt --save-reference f16.lpb
  ferry eval kld model-q4_k_m.gguf text.txt --reference f16.lpb --max-kld 0.05`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (f.reference == "") == (f.saveRef == "") {
				return fmt.Errorf("give exactly one of --reference REF and --save-reference OUT")
			}
			m, e, ids, opt, err := evalSetup(cmd, args[0], args[1], &f)
			if err != nil {
				return err
			}
			defer m.Close()
			defer e.Close()
			if f.saveRef != "" {
				if err := eval.SaveReference(f.saveRef, eval.EngineScorer{Engine: e}, ids, opt); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "saved reference log-probs to %s\n", f.saveRef)
				return nil
			}
			ref, closeRef, err := openReference(f.reference, ids, opt, &f)
			if err != nil {
				return err
			}
			defer closeRef()
			r, err := eval.KLD(eval.EngineScorer{Engine: e}, ref, ids, opt)
			if err != nil {
				return err
			}
			if f.asJSON {
				if err := printJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "KL divergence: mean %.6f ± %.6f, median %.6f, p99 %.6f, max %.6f over %d positions\n", r.Mean, r.MeanErr, r.Median, r.P99, r.Max, r.Positions)
				fmt.Fprintf(w, "top-1 agreement: %.2f%%\n", 100*r.Top1)
				fmt.Fprintf(w, "perplexity: %.4f ± %.4f (reference %.4f, Δ %+.4f)\n", r.PPL.PPL, r.PPL.PPLErr, r.RefPPL.PPL, r.DeltaPPL)
			}
			if f.maxKLD > 0 && r.Mean > f.maxKLD {
				return fmt.Errorf("mean KL divergence %.6f exceeds --max-kld %g", r.Mean, f.maxKLD)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{ppl, kld} {
		c.Flags().IntVarP(&f.ctx, "ctx", "c", 512, "chunk length in tokens")
		c.Flags().IntVar(&f.chunks, "chunks", 0, "score at most this many chunks (0 = all)")
		c.Flags().IntVarP(&f.threads, "threads", "t", 0, "worker threads (default: physical cores)")
		c.Flags().BoolVar(&f.asJSON, "json", false, "print results as JSON")
	}
	kld.Flags().StringVar(&f.reference, "reference", "", "reference model or stored log-prob file")
	kld.Flags().StringVar(&f.saveRef, "save-reference", "", "score MODEL and store its log-probs here, for later --reference")
	kld.Flags().Float64Var(&f.maxKLD, "max-kld", 0, "fail when the mean KL divergence exceeds this")
	cmd.AddCommand(ppl, kld)
	rootCmd.AddCommand(cmd)
}

// evalSetup opens the model and engine and tokenizes the text.
func evalSetup(cmd *cobra.Command, modelArg, textPath string, f *evalFlags) (*model.Model, *engine.Engine, []int32, eval.Options, error) {
	text, err := os.ReadFile(textPath)
	if err != nil {
		return nil, nil, nil, eval.Options{}, err
	}
	m, e, tok, err := openForEval(modelArg, f)
	if err != nil {
		return nil, nil, nil, eval.Options{}, err
	}
	ids, err := tok.Encode(string(text), false, false)
	if err != nil {
		e.Close()
		m.Close()
		return nil, nil, nil, eval.Options{}, fmt.Errorf("tokenizing %s: %w", textPath, err)
	}
	opt := eval.Options{Ctx: f.ctx, BOS: -1, MaxChunks: f.chunks, Progress: progressLine(cmd.ErrOrStderr())}
	if tok.AddBOS() {
		opt.BOS = tok.BOS()
	}
	return m, e, ids, opt, nil
}

func openForEval(arg string, f *evalFlags) (*model.Model, *engine.Engine, *tokenizer.Tokenizer, error) {
	m, err := resolveModel(arg)
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		m.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", arg, err)
	}
	e, err := engine.Load(m, engine.Options{Threads: f.threads, Context: f.ctx})
	if err != nil {
		m.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", arg, err)
	}
	return m, e, tok, nil
}

// openReference opens --reference: a stored log-prob file (checked against
// this run's tokens) or a model scored on demand.
func openReference(arg string, ids []int32, opt eval.Options, f *evalFlags) (eval.RefLogProbs, func(), error) {
	if head, err := readHead(arg, 8); err == nil && bytes.Equal(head, []byte("FERRYLPB")) {
		st, err := eval.OpenReference(arg)
		if err != nil {
			return nil, nil, err
		}
		if err := st.Matches(ids, opt); err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("%s: %w", arg, err)
		}
		return st, func() { st.Close() }, nil
	}
	m, e, _, err := openForEval(arg, f)
	if err != nil {
		return nil, nil, err
	}
	ref := &eval.LiveReference{Model: eval.EngineScorer{Engine: e}, Tokens: ids, Opt: opt}
	return ref, func() { e.Close(); m.Close() }, nil
}

func readHead(path string, n int) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b := make([]byte, n)
	_, err = io.ReadFull(fh, b)
	return b, err
}

// progressLine reports chunk progress on stderr when it is a terminal.
func progressLine(w io.Writer) func(done, total int) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rchunk %d/%d", done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
