package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferryhq/ferry/convert"
	"github.com/ferryhq/ferry/model"
)

func init() {
	var (
		to, out, typ string
		groupSize    int
		asJSON       bool
		quiet        bool
	)
	cmd := &cobra.Command{
		Use:   "convert SRC --to gguf|mlx [-o OUT] [--type TYPE]",
		Short: "Convert a model between GGUF, Hugging Face, MLX and llama2.c formats",
		Long: `Convert a model to GGUF or to an MLX folder.

SRC is a GGUF file, a Hugging Face folder (config.json + safetensors or
pytorch_model.bin), an MLX folder, or a llama2.c checkpoint. --to gguf writes what llama.cpp's own
converter writes (metadata keys, tensor names, q/k layout); --to mlx writes a
folder mlx-lm can load.

--type (gguf): auto (default: keep each tensor's type, 1-D tensors F32),
f32, f16, bf16, or a quantization recipe (q8_0, q4_k_m, ...).
--type (mlx): f16 (default), bf16, f32, or mlx-q2 ... mlx-q8 (affine, --group-size).

Output goes to a temporary file renamed into place at the end: an error or
Ctrl-C leaves nothing behind. Without -o the output is SRC's name with the
type appended, next to SRC (or in the current directory if that is read-only).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := args[0]
			to = strings.ToLower(to)
			if to != "gguf" && to != "mlx" {
				return fmt.Errorf("--to must be gguf or mlx, not %q", to)
			}
			m, err := model.OpenLazy(src)
			if err != nil {
				return err
			}
			defer m.Close()
			// Ctrl-C cancels between tensors; the writers then abort and
			// remove their temporary files before ferry exits.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()

			stderr := cmd.ErrOrStderr()
			var bar *progressbar.ProgressBar
			showBar := !quiet && !asJSON && term.IsTerminal(int(os.Stderr.Fd()))
			progress := func(done, total int64) {
				if !showBar {
					return
				}
				if bar == nil {
					bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
						progressbar.OptionSetDescription("converting"), progressbar.OptionShowBytes(true),
						progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
				}
				bar.Set64(done)
			}
			warn := func(msg string) { fmt.Fprintln(stderr, "ferry: note:", msg) }
			start := time.Now()
			var outPath, label string
			switch to {
			case "gguf":
				opt := convert.Options{Type: typ, Progress: progress, Warn: warn, Context: ctx}
				plan, err := convert.MakePlan(m, opt)
				if err != nil {
					return err
				}
				label = convert.TypeLabel(plan.FileType)
				outPath = out
				if outPath == "" {
					outPath = defaultOutput(src, label, ".gguf")
				}
				err = convert.GGUFFileFromPlan(plan, outPath, opt)
			case "mlx":
				opt := convert.MLXOptions{Type: typ, GroupSize: groupSize, Progress: progress, Context: ctx}
				label = strings.ToLower(typ)
				if label == "" {
					label = "f16"
				}
				outPath = out
				if outPath == "" {
					outPath = defaultOutput(src, "mlx-"+strings.TrimPrefix(label, "mlx-"), "")
				}
				err = convert.MLXFolder(m, outPath, opt)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: no output written")
			}
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			size := pathSize(outPath)
			secs := time.Since(start).Seconds()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"source": src, "source_format": m.Format, "output": outPath, "format": to,
					"type": label, "tensors": len(m.Tensors), "bytes": size, "seconds": secs,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %s, %d tensors, %.1f MB) in %.2fs\n",
				outPath, to, label, len(m.Tensors), float64(size)/1e6, secs)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "gguf", "output format: gguf or mlx")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (gguf) or folder (mlx)")
	cmd.Flags().StringVar(&typ, "type", "", "output type (see above)")
	cmd.Flags().IntVar(&groupSize, "group-size", 64, "MLX quantization group size")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	rootCmd.AddCommand(cmd)
}

// defaultOutput is SRC's base name (extension dropped) plus "-label" and
// ext, next to SRC when that directory is writable, else in the current
// directory.
func defaultOutput(src, label, ext string) string {
	clean := filepath.Clean(src)
	base := filepath.Base(clean)
	if st, err := os.Stat(clean); err == nil && !st.IsDir() {
		base = strings.TrimSuffix(base, filepath.Ext(base))
	}
	name := base + "-" + label + ext
	dir := filepath.Dir(clean)
	if f, err := os.CreateTemp(dir, ".ferry-probe-*"); err == nil {
		f.Close()
		os.Remove(f.Name())
		return filepath.Join(dir, name)
	}
	return name
}

func pathSize(p string) int64 {
	var n int64
	filepath.Walk(p, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
