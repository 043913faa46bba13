package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/tokenizer"
)

// openTokenizer builds the tokenizer of MODEL: any model ferry opens, or a
// stand-alone tokenizer file/folder.
func openTokenizer(arg string) (*tokenizer.Tokenizer, error) {
	m, err := resolveModel(arg)
	if err == nil {
		defer m.Close()
		if _, ok := m.Get("tokenizer.ggml.model"); ok {
			return tokenizer.FromMetadata(&m.Metadata)
		}
		err = fmt.Errorf("%s: the model has no tokenizer metadata", arg)
	}
	if kvs, err2 := tokenizer.MetadataFromPath(arg); err2 == nil {
		return tokenizer.FromKVs(kvs)
	}
	return nil, err
}

type tokenJSON struct {
	ID    int32  `json:"id"`
	Piece string `json:"piece"`
	Token string `json:"token"`
	Type  string `json:"type,omitempty"`
}

var tokenTypeNames = map[tokenizer.TokenType]string{
	tokenizer.TypeNormal: "", tokenizer.TypeUnknown: "unknown", tokenizer.TypeControl: "control",
	tokenizer.TypeUserDefined: "user-defined", tokenizer.TypeUnused: "unused", tokenizer.TypeByte: "byte",
}

func init() {
	var idsOnly, asJSON, noBOS, parseSpecial bool
	cmd := &cobra.Command{
		Use:   "tokenize MODEL [TEXT]",
		Short: "Show the token ids a model's tokenizer gives for a text (stdin when no TEXT)",
		Long: `Tokenize TEXT (or standard input) with MODEL's tokenizer, exactly as the
engine does: BOS/EOS are added as the vocabulary asks unless --no-bos, and
special tokens written in the text (<|eot_id|>, <start_of_turn>, ...) are
recognised only with --parse-special. MODEL is any model ferry opens (GGUF,
also vocabulary-only GGUF; HF folder; llama2.c checkpoint ...) or a
tokenizer.json / tokenizer.model / llama2.c tokenizer .bin.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := openTokenizer(args[0])
			if err != nil {
				return err
			}
			var text string
			if len(args) == 2 {
				text = args[1]
			} else {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<30))
				if err != nil {
					return err
				}
				text = string(b)
			}
			ids, err := tok.Encode(text, !noBOS, parseSpecial)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				list := make([]tokenJSON, len(ids))
				for i, id := range ids {
					list[i] = tokenJSON{ID: id, Piece: tok.Piece(id, true), Token: tok.Token(id), Type: tokenTypeNames[tok.Type(id)]}
				}
				return printJSON(out, map[string]any{
					"tokenizer": map[string]any{
						"model": tok.Kind().String(), "pre": tok.Pre(), "vocab_size": tok.VocabSize(),
						"add_bos": tok.AddBOS(), "add_eos": tok.AddEOS(), "bos": tok.BOS(), "eos": tok.EOS(),
					},
					"count": len(ids), "ids": ids, "tokens": list,
				})
			case idsOnly:
				parts := make([]string, len(ids))
				for i, id := range ids {
					parts[i] = strconv.Itoa(int(id))
				}
				_, err := fmt.Fprintf(out, "[%s]\n", strings.Join(parts, ", "))
				return err
			}
			for _, id := range ids {
				if _, err := fmt.Fprintf(out, "%6d -> %s\n", id, strconv.Quote(tok.Piece(id, true))); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d tokens\n", len(ids))
			return nil
		},
	}
	cmd.Flags().BoolVar(&idsOnly, "ids-only", false, "print only the ids, as a list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print ids, pieces and token types as JSON")
	cmd.Flags().BoolVar(&noBOS, "no-bos", false, "do not add BOS/EOS")
	cmd.Flags().BoolVar(&parseSpecial, "parse-special", false, "recognise special tokens written in the text")
	rootCmd.AddCommand(cmd)

	var detokJSON bool
	dcmd := &cobra.Command{
		Use:   "detokenize MODEL IDS...",
		Short: "Turn token ids back into text",
		Long: `Decode token ids with MODEL's tokenizer. IDS may be separate arguments or a
list such as "[1, 15043, 3186]". Control tokens other than BOS/EOS are shown
as their text.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := openTokenizer(args[0])
			if err != nil {
				return err
			}
			var ids []int32
			for _, a := range args[1:] {
				for _, f := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' || r == '\n' || r == '\t' }) {
					v, err := strconv.ParseInt(f, 10, 32)
					if err != nil {
						return fmt.Errorf("token id %q: not an integer", f)
					}
					if v < 0 || v >= int64(tok.VocabSize()) {
						return fmt.Errorf("token id %d is outside the vocabulary (0..%d)", v, tok.VocabSize()-1)
					}
					ids = append(ids, int32(v))
				}
			}
			text := tok.Decode(ids)
			if detokJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"text": text, "ids": ids})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), text)
			return err
		},
	}
	dcmd.Flags().BoolVar(&detokJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(dcmd)
}
