package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/store"
)

func init() {
	var file, quantize string
	create := &cobra.Command{
		Use:   "create NAME [-f Modelfile]",
		Short: "Create a model from a Modelfile (FROM a GGUF file or a model name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				file = "Modelfile"
			}
			text, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			mf, err := store.ParseModelfile(string(text))
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			mf.Dir, _ = filepath.Abs(filepath.Dir(file))
			out := cmd.OutOrStdout()
			m, err := store.Default().Create(args[0], mf, quantize, func(s string) { fmt.Fprintln(out, s) })
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "created %s (%s)\n", m.Name, humanSize(m.Size))
			return nil
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "Modelfile path (default ./Modelfile)")
	create.Flags().StringVarP(&quantize, "quantize", "q", "", "store a quantized copy of the weights with this llama-quantize recipe (q4_k_m, q8_0, ...)")
	rootCmd.AddCommand(create)
}
