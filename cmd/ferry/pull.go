package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/registry"
)

func init() {
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a model from the Ollama registry or Hugging Face into the store",
		Long: `Download a model into ferry's store. NAME is an Ollama registry name
(llama3.2, llama3.2:1b, ollama.com/library/llama3.2:1b) or a Hugging Face repo
(hf.co/ORG/REPO[:QUANT] picks a GGUF by quantization, default Q4_K_M then Q4_0;
a repo without GGUF files is downloaded as a safetensors/MLX folder).
Interrupted downloads resume; every file is checked against its sha256.
FERRY_OLLAMA_REGISTRY, HF_ENDPOINT and HF_TOKEN configure the endpoints.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			showBar := !quiet && !asJSON && term.IsTerminal(int(os.Stderr.Fd()))
			var bar *progressbar.ProgressBar
			var barDigest string
			finish := func() {
				if bar != nil {
					bar.Finish()
					bar = nil
				}
			}
			lastStatus := ""
			opts := registry.Options{Progress: func(p registry.Progress) {
				if quiet || asJSON {
					return
				}
				if p.Total > 0 && showBar {
					if bar == nil || p.Status+p.Digest != barDigest {
						finish()
						barDigest = p.Status + p.Digest
						bar = progressbar.NewOptions64(p.Total, progressbar.OptionSetWriter(os.Stderr),
							progressbar.OptionSetDescription(p.Status), progressbar.OptionShowBytes(true),
							progressbar.OptionShowTotalBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
							progressbar.OptionThrottle(100_000_000), progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }))
					}
					bar.Set64(p.Completed)
					return
				}
				if p.Status != lastStatus && (p.Total == 0 || !showBar) {
					finish()
					fmt.Fprintln(cmd.ErrOrStderr(), p.Status)
					lastStatus = p.Status
				}
			}}
			res, err := registry.Pull(ctx, args[0], opts)
			finish()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			files := "files"
			if res.Files == 1 {
				files = "file"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s (%s, %d %s, %.1f MB): %s\n", res.Name, res.Format, res.Files, files, float64(res.Bytes)/1e6, res.Path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print only the result")
	rootCmd.AddCommand(cmd)
}
