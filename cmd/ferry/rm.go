package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/store"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:     "rm MODEL...",
		Aliases: []string{"remove"},
		Short:   "Remove models from ferry's store (unreferenced blobs are deleted)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := store.Default()
			for _, a := range args {
				if err := s.Delete(a); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted '%s'\n", a)
			}
			return nil
		},
	})
}
