package main

import (
	"encoding/json"

	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "stop MODEL",
		Short: "Unload a model from a running `ferry serve`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, _ := json.Marshal(map[string]any{"model": args[0], "keep_alive": 0, "stream": false})
			return apiDo("POST", "/api/generate", string(body), nil)
		},
	})
}
