// Command ferry runs large language models locally and moves them between
// the file formats that local runtimes use.
//
// Each subcommand lives in its own file and registers itself with the root
// command from an init function, so that commands can be added without
// touching a central list.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// rootCmd is the top of the command tree; subcommands attach to it in init.
var rootCmd = &cobra.Command{
	Use:   "ferry",
	Short: "Run LLMs locally and move models between GGUF, safetensors and MLX",
	Long: `ferry is a single binary that inspects, converts and quantizes model files
(GGUF, legacy GGML, HF safetensors, MLX, llama2.c, PyTorch), runs the Llama
family of models on the CPU, and serves them over Ollama's and OpenAI's APIs.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
}
