package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/api"
)

func init() {
	var psJSON bool
	ps := &cobra.Command{
		Use:   "ps",
		Short: "List the models a running `ferry serve` has loaded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.ProcessResponse
			if err := apiDo("GET", "/api/ps", "", &resp); err != nil {
				return err
			}
			if psJSON {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tSIZE\tCONTEXT\tUNTIL")
			for _, m := range resp.Models {
				until := "forever"
				if d := time.Until(m.ExpiresAt); d < 50*365*24*time.Hour {
					until = d.Round(time.Second).String() + " from now"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", m.Name, shortDigest(m.Digest), humanSize(m.Size), m.ContextLength, until)
			}
			return w.Flush()
		},
	}
	ps.Flags().BoolVar(&psJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(ps)
}
