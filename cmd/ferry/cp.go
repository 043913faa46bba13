package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/store"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "cp SOURCE DESTINATION",
		Short: "Copy a model under a new name (a discovered model is imported, its weights linked)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.Default().Copy(args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied '%s' to '%s'\n", args[0], args[1])
			return nil
		},
	})
}
