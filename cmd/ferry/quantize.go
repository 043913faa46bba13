package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/imatrix"
	"github.com/ferryhq/ferry/quant/quantize"
)

func init() {
	var (
		pure, leaveOutput, allowRequant, asJSON, quiet, dryRun bool
		outType, embType, imatrixPath                          string
		threads                                                int
		tensorTypes                                            []string
	)
	cmd := &cobra.Command{
		Use:   "quantize IN.gguf OUT.gguf TYPE",
		Short: "Quantize a GGUF model with llama.cpp's recipes (Q4_K_M, Q8_0, IQ4_XS, ...)",
		Long: "Quantize a GGUF model with llama.cpp's file-type recipes. TYPE is one of\n" +
			quantRecipeNames() + ".\nThe recipe gives some tensors more bits (attention V, FFN down, output, first and last layers);\n" +
			"see docs/quantization.md. Tensor data is bit-identical to ggml's quantization.",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ft, err := quant.ParseFileType(args[2])
			if err != nil {
				return err
			}
			opts := quantize.Options{FileType: ft, AllowRequantize: allowRequant, Threads: threads}
			opts.Pure = pure
			opts.LeaveOutput = leaveOutput
			if outType != "" {
				t, err := quant.ParseType(outType)
				if err != nil {
					return fmt.Errorf("--output-tensor-type: %w", err)
				}
				opts.OutputType, opts.HasOutputType = t, true
			}
			if embType != "" {
				t, err := quant.ParseType(embType)
				if err != nil {
					return fmt.Errorf("--token-embedding-type: %w", err)
				}
				opts.TokenEmbdType, opts.HasTokenEmbdType = t, true
			}
			for _, tt := range tensorTypes {
				o, err := quant.ParseTensorTypeOverride(tt)
				if err != nil {
					return fmt.Errorf("--tensor-type: %w", err)
				}
				opts.TensorTypes = append(opts.TensorTypes, o)
			}
			if imatrixPath != "" {
				d, err := imatrix.Read(imatrixPath)
				if err != nil {
					return err
				}
				opts.Imatrix = d.Values()
				fmt.Fprintf(cmd.ErrOrStderr(), "loaded %d importance matrix entries from %s (%d chunks)\n", len(opts.Imatrix), imatrixPath, d.ChunkCount)
			}
			if dryRun {
				rep, err := quantize.DryRun(args[0], opts)
				if err != nil {
					return err
				}
				return printQuantReport(cmd, rep, ft, asJSON, quiet, "would write")
			}
			var bar *progressbar.ProgressBar
			if !quiet && !asJSON && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions(1, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("quantizing"), progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
			}
			opts.Progress = func(done, total int, p quantize.TensorPlan) {
				if bar != nil {
					bar.ChangeMax(total)
					bar.Describe(fmt.Sprintf("%-32s %s", p.Name, p.To))
					bar.Set(done)
				}
			}
			rep, err := quantize.File(args[0], args[1], opts)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			return printQuantReport(cmd, rep, ft, asJSON, quiet, "wrote "+args[1])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&pure, "pure", false, "disable the recipe's mixture: every quantized tensor gets the default type")
	f.BoolVar(&leaveOutput, "leave-output-tensor", false, "leave output.weight un(re)quantized")
	f.StringVar(&outType, "output-tensor-type", "", "ggml type for output.weight (e.g. q8_0)")
	f.StringVar(&embType, "token-embedding-type", "", "ggml type for token_embd.weight")
	f.StringArrayVar(&tensorTypes, "tensor-type", nil, "PATTERN=TYPE: tensors whose name matches get TYPE (repeatable), e.g. attn_v=q8_0")
	f.StringVar(&imatrixPath, "imatrix", "", "importance matrix (llama.cpp GGUF or legacy .dat)")
	f.BoolVar(&allowRequant, "allow-requantize", false, "allow quantized input tensors (quality loss)")
	f.IntVar(&threads, "threads", 0, "worker threads (default: all cores)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&quiet, "quiet", false, "print only the summary")
	f.BoolVar(&dryRun, "dry-run", false, "show the types and sizes without writing anything")
	rootCmd.AddCommand(cmd)
}

func quantRecipeNames() string {
	var s []string
	for _, ft := range quant.FileTypes() {
		s = append(s, ft.String())
	}
	return strings.Join(s, ", ")
}

func quantShapeString(shape []uint64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func printQuantReport(cmd *cobra.Command, rep *quantize.Report, ft quant.FileType, asJSON, quiet bool, what string) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	out := cmd.OutOrStdout()
	if !quiet {
		for _, p := range rep.Tensors {
			note := ""
			if p.Fallback {
				note = "  (fallback: row length not a multiple of the block size)"
			}
			fmt.Fprintf(out, "%-40s %-22s %6s -> %-6s %10.3f MiB -> %10.3f MiB%s\n", p.Name, quantShapeString(p.Shape),
				p.From, p.To, float64(p.InBytes)/(1<<20), float64(p.OutBytes)/(1<<20), note)
		}
		fmt.Fprintln(out, what)
	}
	fmt.Fprintf(out, "model size: %.2f MiB (%.2f bits per weight)\n", float64(rep.InBytes)/(1<<20), rep.BitsPerWeightIn())
	fmt.Fprintf(out, "quant size: %.2f MiB (%.2f bits per weight), file type %s (%d)\n", float64(rep.OutBytes)/(1<<20), rep.BitsPerWeightOut(), ft, uint32(ft))
	if rep.Fallbacks > 0 {
		fmt.Fprintf(out, "warning: %d of %d tensors required fallback quantization\n", rep.Fallbacks, len(rep.Tensors))
	}
	return nil
}
