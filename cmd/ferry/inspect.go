package main

import (
	"github.com/ferryhq/ferry/inspect"
	"github.com/spf13/cobra"
)

func init() {
	var (
		asJSON  bool
		tensors bool
		ctx     int
	)
	cmd := &cobra.Command{
		Use:   "inspect PATH|MODEL",
		Short: "Identify a model file or folder and describe it (reads headers only)",
		Long: `inspect identifies GGUF files, legacy GGML/GGMF/GGJT files, Hugging Face
safetensors folders (single or sharded), MLX folders, llama2.c checkpoints,
PyTorch checkpoints and tokenizer files, and reports the architecture,
parameter count, tensor types and bits per weight, context length,
vocabulary, chat template, file size and the memory needed to run it at
--ctx tokens (weights + F16 KV cache + a compute allowance).

Only headers are read: the tensor data is never touched.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A store name or synthetic:PRESET is inspected at the file it
			// resolves to; a path is taken as it is.
			path, err := resolveModelPath(args[0])
			if err != nil {
				return err
			}
			r, err := inspect.Path(path, inspect.Options{Ctx: ctx})
			if err != nil {
				return err
			}
			if asJSON {
				if !tensors {
					r.DropTensors()
				}
				return printJSON(cmd.OutOrStdout(), r)
			}
			return r.WriteText(cmd.OutOrStdout(), inspect.TextOptions{Tensors: tensors})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor (JSON: include the tensor table)")
	cmd.Flags().IntVar(&ctx, "ctx", 0, "context length for the memory estimate (default: the model's, at most 4096)")
	rootCmd.AddCommand(cmd)
}
