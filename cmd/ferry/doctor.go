package main

import (
	"fmt"

	"github.com/ferryhq/ferry/doctor"
	"github.com/ferryhq/ferry/inspect"
	"github.com/ferryhq/ferry/store"
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

// discoverModels lists the models on this machine (ferry's store, Ollama's,
// the HF cache, LM Studio, MLX folders) with the memory each needs at ctx,
// read from its headers.
func discoverModels(ctx int) []doctor.Model {
	found, err := store.Default().List(true)
	if err != nil {
		return nil
	}
	var out []doctor.Model
	for _, sm := range found {
		m := doctor.Model{Name: sm.Name, Source: string(sm.Source), Path: sm.Path, Format: sm.Format, Bytes: uint64(max(sm.Size, 0))}
		if r, err := inspect.Path(sm.Path, inspect.Options{Ctx: ctx}); err == nil {
			m.Params = r.Parameters
			if r.Memory != nil {
				m.NeedBytes = r.Memory.Total
			}
			m.Quant = dominantType(r)
		}
		out = append(out, m)
	}
	return out
}

// dominantType names the tensor type holding most of a model's bytes.
func dominantType(r *inspect.Report) string {
	best, bytes := "", uint64(0)
	for _, t := range r.Types {
		if t.Bytes > bytes {
			best, bytes = t.Type, t.Bytes
		}
	}
	return best
}
