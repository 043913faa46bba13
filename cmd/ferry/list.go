package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/store"
)

func init() {
	var all, asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the models in the store (--all: also Ollama, Hugging Face and LM Studio models)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := store.Default().List(all)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Name     string    `json:"name"`
					Source   string    `json:"source"`
					Format   string    `json:"format"`
					Path     string    `json:"path"`
					Size     int64     `json:"size"`
					Digest   string    `json:"digest,omitempty"`
					Modified time.Time `json:"modified_at"`
				}
				rows := []row{}
				for _, m := range ms {
					rows = append(rows, row{m.Name, string(m.Source), m.Format, m.Path, m.Size, m.Digest, m.ModifiedAt})
				}
				return printJSON(cmd.OutOrStdout(), rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			if all {
				fmt.Fprintln(w, "NAME\tSOURCE\tFORMAT\tSIZE\tMODIFIED\tPATH")
			} else {
				fmt.Fprintln(w, "NAME\tID\tSIZE\tMODIFIED")
			}
			for _, m := range ms {
				if all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Source, m.Format, humanSize(m.Size), ago(m.ModifiedAt), m.Path)
				} else {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.Name, shortDigest(m.Digest), humanSize(m.Size), ago(m.ModifiedAt))
				}
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVarP(&all, "all", "a", false, "also list models discovered in Ollama's store, the Hugging Face cache and LM Studio")
	list.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(list)
}
