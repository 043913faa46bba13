package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ferryhq/ferry/internal/testdata"
)

// runTokenizeCmd runs a ferry subcommand, resetting its flags afterwards
// (cobra keeps flag values between Execute calls).
func runTokenizeCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetIn(strings.NewReader(stdin))
	rootCmd.SetArgs(args)
	defer func() {
		rootCmd.SetArgs(nil)
		rootCmd.SetIn(nil)
		if c, _, err := rootCmd.Find(args); err == nil {
			c.Flags().VisitAll(func(f *pflag.Flag) { _ = f.Value.Set(f.DefValue); f.Changed = false })
		}
	}()
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("ferry %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

func TestTokenizeCommand(t *testing.T) {
	gg := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	if got := runTokenizeCmd(t, "", "tokenize", "--ids-only", gg, "Once upon a time"); got != "[1, 403, 407, 261, 378]\n" {
		t.Errorf("--ids-only: %q", got)
	}
	out := runTokenizeCmd(t, "", "tokenize", gg, "Once upon a time")
	if !strings.Contains(out, `403 -> " Once"`) || !strings.Contains(out, `1 -> "<s>"`) {
		t.Errorf("default output:\n%s", out)
	}
	// stdin, --no-bos, the llama2.c tokenizer file itself.
	bin := testdata.Path(t, "models", "stories260K", "tok512.bin")
	if got := runTokenizeCmd(t, "Once upon a time", "tokenize", "--ids-only", "--no-bos", bin); got != "[403, 407, 261, 378]\n" {
		t.Errorf("stdin --no-bos: %q", got)
	}
	// --json and --parse-special on a Hugging Face folder.
	q := testdata.Path(t, "oracle", "qwen2")
	var rep struct {
		Count  int
		IDs    []int32
		Tokens []struct {
			ID          int32
			Piece, Type string
		}
	}
	if err := json.Unmarshal([]byte(runTokenizeCmd(t, "", "tokenize", "--json", "--parse-special", q, "<|im_start|>hi<|im_end|>")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Count != 4 || rep.IDs[0] != 401 || rep.IDs[3] != 402 || rep.Tokens[0].Type != "control" || rep.Tokens[0].Piece != "<|im_start|>" {
		t.Errorf("--json: %+v", rep)
	}
	// detokenize takes ids as arguments or as a list.
	if got := runTokenizeCmd(t, "", "detokenize", q, "401", "84, 82, 267", "[198, 71, 72, 402]"); got != "<|im_start|>user\nhi<|im_end|>\n" {
		t.Errorf("detokenize: %q", got)
	}
}

func TestDetokenizeRejectsBadIDs(t *testing.T) {
	gg := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	for _, bad := range []string{"x", "-1", "512"} {
		rootCmd.SetArgs([]string{"detokenize", gg, bad})
		var sink bytes.Buffer
		rootCmd.SetOut(&sink)
		rootCmd.SetErr(&sink)
		if err := rootCmd.Execute(); err == nil {
			t.Errorf("detokenize %s: no error", bad)
		}
		rootCmd.SetArgs(nil)
	}
}
