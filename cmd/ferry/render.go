package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/chat"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
)

// readInput reads a file, or standard input for "-".
func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<30))
	}
	return os.ReadFile(path)
}

// modelChatInfo finds MODEL's chat template and special-token texts: an HF
// folder's files are read directly (exactly as transformers does), any
// other model through its GGUF-style metadata. A store model (ferry's or
// Ollama's) brings its own TEMPLATE and SYSTEM, which take precedence, as
// in Ollama.
func modelChatInfo(arg string) (chat.ModelInfo, *store.Model, error) {
	var sm *store.Model
	if _, err := os.Stat(arg); err != nil {
		if _, m, err := store.Resolve(arg); err == nil {
			sm = m
		}
	}
	mi, err := metadataChatInfo(arg)
	if err != nil {
		return mi, nil, err
	}
	if sm != nil && sm.Template != "" {
		mi.Template = sm.Template
	}
	return mi, sm, nil
}

func metadataChatInfo(arg string) (chat.ModelInfo, error) {
	path, err := resolveModelPath(arg)
	if err != nil {
		return chat.ModelInfo{}, err
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		mi, err := chat.InfoFromHFDir(path)
		if err == nil && mi.Template != "" {
			return mi, nil
		}
	}
	m, err := model.Open(path)
	if err != nil {
		return chat.ModelInfo{}, err
	}
	defer m.Close()
	return chat.InfoFromMetadata(&m.Metadata), nil
}

// prependRaw puts messages in front of a raw JSON message array, keeping
// the raw messages byte for byte.
func prependRaw(pre []chat.Message, raw []byte) (json.RawMessage, error) {
	var rest []json.RawMessage
	if err := json.Unmarshal(raw, &rest); err != nil {
		return nil, err
	}
	all := make([]json.RawMessage, 0, len(pre)+len(rest))
	for _, m := range pre {
		b, err := json.Marshal(struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}{m.Role, m.Content})
		if err != nil {
			return nil, err
		}
		all = append(all, b)
	}
	return json.Marshal(append(all, rest...))
}

func init() {
	var messagesPath, toolsPath, templatePath string
	var noGen, asJSON bool
	var sets []string
	cmd := &cobra.Command{
		Use:   "render MODEL --messages FILE.json",
		Short: "Print the exact prompt text a model sees for a conversation (its chat template rendered)",
		Long: `Render MODEL's chat template for a conversation and print the prompt text
exactly as the model will see it. The template comes from GGUF metadata
(tokenizer.chat_template) or, for a Hugging Face folder, from
chat_template.jinja / tokenizer_config.json; --template FILE overrides it and
may be a Jinja template or an Ollama Go template (a Modelfile TEMPLATE).

--messages takes a JSON array of {"role", "content", ...} objects (OpenAI or
Ollama shape; "-" reads standard input); --tools a JSON array of tool
definitions. Jinja templates get bos_token/eos_token from the model's
vocabulary, add_generation_prompt (on unless --no-generation-prompt) and any
--set NAME=JSON variables (e.g. --set enable_thinking=false).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if messagesPath == "" {
				return fmt.Errorf("--messages FILE.json is required")
			}
			raw, err := readInput(cmd, messagesPath)
			if err != nil {
				return err
			}
			msgs, err := chat.ParseMessages(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", messagesPath, err)
			}
			opts := chat.RenderOptions{Messages: msgs, RawMessages: raw, AddGenerationPrompt: !noGen, Extra: map[string]any{}}
			if toolsPath != "" {
				tools, err := readInput(cmd, toolsPath)
				if err != nil {
					return err
				}
				if !json.Valid(tools) {
					return fmt.Errorf("%s: not valid JSON", toolsPath)
				}
				opts.Tools = tools
			}
			for _, s := range sets {
				name, val, ok := strings.Cut(s, "=")
				if !ok || name == "" {
					return fmt.Errorf("--set %q: want NAME=JSON", s)
				}
				if !json.Valid([]byte(val)) {
					// Bare words are taken as strings: --set reasoning_effort=high.
					b, _ := json.Marshal(val)
					val = string(b)
				}
				opts.Extra[name] = json.RawMessage(val)
			}
			mi, sm, err := modelChatInfo(args[0])
			if err != nil {
				return err
			}
			if sm != nil {
				// As Ollama does: the Modelfile's MESSAGEs come first, and its
				// SYSTEM when the conversation brings none.
				var pre []chat.Message
				if sm.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
					pre = append(pre, chat.Message{Role: "system", Content: sm.System})
				}
				for _, m := range sm.Messages {
					pre = append(pre, chat.Message{Role: m.Role, Content: m.Content})
				}
				if len(pre) > 0 {
					if opts.RawMessages, err = prependRaw(pre, raw); err != nil {
						return fmt.Errorf("%s: %w", messagesPath, err)
					}
					opts.Messages = append(pre, msgs...)
				}
			}
			tmpl := mi.TemplateFor(len(opts.Tools) > 0)
			if templatePath != "" {
				b, err := os.ReadFile(templatePath)
				if err != nil {
					return err
				}
				tmpl = string(b)
			}
			if tmpl == "" {
				return fmt.Errorf("%s has no chat template (tokenizer.chat_template); give one with --template FILE", args[0])
			}
			opts.BOS, opts.EOS = mi.BOS, mi.EOS
			prompt, err := chat.Render(tmpl, opts)
			if err != nil {
				return fmt.Errorf("rendering the chat template: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{
					"prompt":        prompt,
					"template_kind": chat.Detect(tmpl).String(),
					"bos_token":     mi.BOS,
					"eos_token":     mi.EOS,
					"stop":          chat.StopSequences(tmpl, mi.EOG),
				})
			}
			_, err = io.WriteString(out, prompt)
			return err
		},
	}
	cmd.Flags().StringVar(&messagesPath, "messages", "", "JSON file with the conversation (\"-\" for stdin)")
	cmd.Flags().StringVar(&toolsPath, "tools", "", "JSON file with tool definitions")
	cmd.Flags().StringVar(&templatePath, "template", "", "use this template file (Jinja or Ollama Go template) instead of the model's")
	cmd.Flags().BoolVar(&noGen, "no-generation-prompt", false, "do not open an assistant turn at the end")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: prompt, template kind, bos/eos tokens and stop sequences")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "extra template variable NAME=JSON (repeatable)")
	rootCmd.AddCommand(cmd)
}
