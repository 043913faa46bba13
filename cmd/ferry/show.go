package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/server"
	"github.com/ferryhq/ferry/store"
)

func init() {
	var showModelfile, showTemplate, showParams, showSystem, showLicense, showJSON, showVerbose bool
	show := &cobra.Command{
		Use:   "show MODEL",
		Short: "Show a model's details, Modelfile, template, parameters or license",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := store.Default().Get(args[0])
			if err != nil {
				return err
			}
			info := server.ShowInfo(m, showVerbose)
			out := cmd.OutOrStdout()
			switch {
			case showJSON:
				return printJSON(out, info)
			case showModelfile:
				fmt.Fprint(out, info.Modelfile)
			case showTemplate:
				fmt.Fprintln(out, info.Template)
			case showParams:
				fmt.Fprintln(out, info.Parameters)
			case showSystem:
				fmt.Fprintln(out, info.System)
			case showLicense:
				fmt.Fprintln(out, info.License)
			default:
				w := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
				fmt.Fprintf(w, "  Model\n")
				fmt.Fprintf(w, "    name\t%s\n    source\t%s\n    path\t%s\n    format\t%s\n", m.Name, m.Source, m.Path, m.Format)
				d := info.Details
				if d.Family != "" {
					fmt.Fprintf(w, "    architecture\t%s\n", d.Family)
				}
				if d.ParameterSize != "" {
					fmt.Fprintf(w, "    parameters\t%s\n", d.ParameterSize)
				}
				if v, ok := info.ModelInfo[d.Family+".context_length"]; ok {
					fmt.Fprintf(w, "    context length\t%v\n", v)
				}
				if v, ok := info.ModelInfo[d.Family+".embedding_length"]; ok {
					fmt.Fprintf(w, "    embedding length\t%v\n", v)
				}
				if d.QuantizationLevel != "" {
					fmt.Fprintf(w, "    quantization\t%s\n", d.QuantizationLevel)
				}
				fmt.Fprintf(w, "    size\t%s\n", humanSize(m.Size))
				if info.Parameters != "" {
					fmt.Fprintf(w, "\n  Parameters\n")
					for _, l := range strings.Split(info.Parameters, "\n") {
						fmt.Fprintf(w, "    %s\n", strings.TrimPrefix(l, "PARAMETER "))
					}
				}
				if info.System != "" {
					fmt.Fprintf(w, "\n  System\n    %s\n", strings.ReplaceAll(info.System, "\n", "\n    "))
				}
				return w.Flush()
			}
			return nil
		},
	}
	sf := show.Flags()
	sf.BoolVar(&showModelfile, "modelfile", false, "print the Modelfile")
	sf.BoolVar(&showTemplate, "template", false, "print the chat template")
	sf.BoolVar(&showParams, "parameters", false, "print the parameters")
	sf.BoolVar(&showSystem, "system", false, "print the system prompt")
	sf.BoolVar(&showLicense, "license", false, "print the license")
	sf.BoolVar(&showJSON, "json", false, "print everything as JSON (the /api/show answer)")
	sf.BoolVar(&showVerbose, "verbose", false, "with --json: include arrays and tensors")
	rootCmd.AddCommand(show)
}
