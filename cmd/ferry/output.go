package main

import (
	"encoding/json"
	"io"
)

// printJSON writes v as indented JSON followed by a newline; every command's
// --json output goes through here so the formatting is uniform.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
