package main

import (
	"fmt"

	"github.com/ferryhq/ferry/doctor"
	"github.com/spf13/cobra"
)

func init() {
	var asJSON bool
	var ctx int
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Describe this machine, the LLM runtimes and models on it, and what fits",
		Long: `doctor reports the host (OS, CPU and SIMD features, cores, memory, container
limits; on macOS the Apple chip, Rosetta translation, unified memory and the
GPU wired-memory limit), the other local runtimes installed (Ollama,
llama.cpp, LM Studio, mlx-lm) with the architecture of their binaries, the
models found on the machine with a fit verdict at --ctx, and what to do next.`,
		Example: "  ferry doctor\n  ferry doctor --json --ctx 8192",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ctx <= 0 {
				return fmt.Errorf("--ctx must be positive, got %d", ctx)
			}
			r := doctor.Build(doctor.RealEnv(), discoverModels(ctx), ctx)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprint(cmd.OutOrStdout(), r.Text())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&ctx, "ctx", 8192, "context length for the memory fit verdicts")
	rootCmd.AddCommand(cmd)
}

// discoverModels lists the models on this machine for doctor's fit table.
// It is filled from the model store's discovery once that exists.
func discoverModels(ctx int) []doctor.Model { return nil }
