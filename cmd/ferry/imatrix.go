package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/quant/calibrate"
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
		Long: "Runs MODEL over TEXTFILE in chunks of --ctx tokens and records, for every weight matrix of the\n" +
			"blocks, the mean square of the activations that multiply each column (what llama-imatrix does).\n" +
			"Pass the result to `ferry quantize --imatrix FILE`. Supported: llama (incl. Mixtral), mistral, qwen2, qwen3, qwen3moe.",
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
			r, err := calibrate.New(m, threads)
			if err != nil {
				return err
			}
			bos := int32(-1)
			if !noBOS && tok.AddBOS() {
				bos = tok.BOS()
			}
			var bar *progressbar.ProgressBar
			if !asJSON && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions(1, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("chunks"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			d, err := r.Run(ids, bos, calibrate.Options{Context: ctx, Chunks: chunks, Progress: func(done, total int) {
				if bar != nil {
					bar.ChangeMax(total)
					bar.Set(done)
				}
			}})
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
