package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant/imatrix"
	"github.com/ferryhq/ferry/tokenizer"
)

func init() {
	var (
		out                   string
		ctx, chunks, threads  int
		legacy, asJSON, noBOS bool
	)
	cmd := &cobra.Command{
		Use:   "imatrix MODEL TEXTFILE",
		Short: "Compute an importance matrix (llama.cpp imatrix format) for low-bit quantization",
		Long: "Runs MODEL over TEXTFILE in chunks of --ctx tokens (each from a fresh sequence) and records, for every\n" +
			"weight matrix of the blocks, the sum of squares of the activations that multiply each column and how many\n" +
			"rows it saw (per expert for MoE tensors), as llama-imatrix does. Pass the result to\n" +
			"`ferry quantize --imatrix FILE`. Runs every architecture `ferry run` runs.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := resolveModel(args[0])
			if err != nil {
				return err
			}
			defer m.Close()
			text, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			tok, err := tokenizer.FromMetadata(&m.Metadata)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ids, err := tok.Encode(string(text), !noBOS, false)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			opt := imatrix.RunOptions{Context: ctx, Chunks: chunks, AddBOS: !noBOS && tok.AddBOS(), BOS: tok.BOS()}
			var bar *progressbar.ProgressBar
			if !asJSON && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions(1, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("chunks"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
				opt.Progress = func(done, total int) {
					bar.ChangeMax(total)
					bar.Set(done)
				}
			}
			d, err := computeImatrix(m, ids, threads, opt)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			d.Datasets = []string{filepath.Base(args[1])}
			if out == "" {
				out = "imatrix.gguf"
				if legacy {
					out = "imatrix.dat"
				}
			}
			if legacy || strings.HasSuffix(out, ".dat") {
				err = d.WriteLegacy(out)
			} else {
				err = d.WriteGGUF(out)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"output": out, "entries": len(d.Entries),
					"chunks": d.ChunkCount, "chunk_size": d.ChunkSize, "tokens": len(ids)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d weight tensors, %d chunks of %d tokens (%d tokens in %s)\n",
				out, len(d.Entries), d.ChunkCount, d.ChunkSize, len(ids), args[1])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output file (default imatrix.gguf; a .dat name or --legacy writes the legacy format)")
	f.IntVar(&ctx, "ctx", 512, "tokens per chunk")
	f.IntVar(&chunks, "chunks", 0, "stop after this many chunks (0: all)")
	f.IntVar(&threads, "threads", 0, "worker threads (default: all cores)")
	f.BoolVar(&legacy, "legacy", false, "write llama.cpp's legacy .dat format")
	f.BoolVar(&noBOS, "no-bos", false, "do not start chunks with the BOS token")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	rootCmd.AddCommand(cmd)
}

// computeImatrix runs the engine over ids chunk by chunk with an imatrix
// collector observing every matrix product. The KV cache is F32 so the
// statistics are those of a full-precision pass; a chunk is one batch up to
// llama-imatrix's 2048 tokens.
func computeImatrix(m *model.Model, ids []int32, threads int, opt imatrix.RunOptions) (*imatrix.Data, error) {
	if opt.Context <= 0 {
		opt.Context = 512
	}
	col := imatrix.NewCollector()
	e, err := engine.Load(m, engine.Options{Threads: threads, Context: opt.Context, BatchSize: min(opt.Context, 2048),
		KVCacheType: "f32", Observe: col.Observe})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return col.Run(ids, opt, func(chunk []int32) error {
		s := e.NewSeq()
		defer e.Free(s)
		_, err := e.Step([]engine.SeqTokens{{Seq: s, Tokens: chunk}})
		return err
	})
}
