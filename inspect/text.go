package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// TextOptions select the optional parts of the text report.
type TextOptions struct {
	// Tensors lists every tensor; otherwise a few are shown.
	Tensors bool
}

// previewTensors is how many tensors text mode shows without --tensors.
const previewTensors = 8

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer, o TextOptions) error {
	ew := &errWriter{w: w}
	r.writeText(ew, o)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (r *Report) writeText(w io.Writer, o TextOptions) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if r.Format == "folder" {
		p("%s: folder with %d models\n", r.Path, len(r.Parts))
		for _, n := range r.Notes {
			p("  error: %s\n", n)
		}
		for _, s := range r.Parts {
			p("\n")
			s.writeText(w, o)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, a...)) }
	p("%s\n", r.Path)
	format := r.Format
	if r.Version != "" {
		format += " (" + r.Version + ")"
	}
	row("format", "%s", format)
	if r.Architecture != "" || r.SourceArch != "" {
		a := r.Architecture
		if r.SourceArch != "" && r.SourceArch != a {
			if a == "" {
				a = "unsupported"
			}
			a += " (" + r.SourceArch + ")"
		}
		row("architecture", "%s", a)
	}
	if r.Name != "" {
		row("name", "%s", r.Name)
	}
	if len(r.Files) > 1 {
		row("files", "%d: %s", len(r.Files), strings.Join(r.Files, ", "))
	}
	row("file size", "%s", human(uint64(r.FileSize)))
	if r.Parameters > 0 {
		row("parameters", "%s (%d)", humanCount(r.Parameters), r.Parameters)
	}
	if r.TensorCount > 0 {
		row("tensors", "%d", r.TensorCount)
	}
	for _, t := range r.Types {
		bpw := ""
		if t.Elements > 0 {
			bpw = fmt.Sprintf(", %.2f bits/weight", float64(t.Bytes)*8/float64(t.Elements))
		}
		row("  "+t.Type, "%d tensors, %s weights, %s%s", t.Tensors, humanCount(t.Elements), human(t.Bytes), bpw)
	}
	if r.BitsPerWeight > 0 {
		row("bits per weight", "%.2f", r.BitsPerWeight)
	}
	h := r.Hparams
	if h.ContextLength > 0 {
		row("context length", "%d", h.ContextLength)
	}
	if h.EmbeddingLength > 0 {
		row("embedding", "%d", h.EmbeddingLength)
	}
	if h.BlockCount > 0 {
		row("layers", "%d", h.BlockCount)
	}
	if h.HeadCount > 0 {
		s := fmt.Sprintf("%d query, %d key/value", h.HeadCount, h.HeadCountKV)
		if h.KeyLength > 0 {
			s += fmt.Sprintf(", head dim %d", h.KeyLength)
		}
		row("heads", "%s", s)
	}
	if h.FeedForwardLength > 0 {
		row("feed forward", "%d", h.FeedForwardLength)
	}
	if h.ExpertCount > 0 {
		row("experts", "%d, %d used per token", h.ExpertCount, h.ExpertUsedCount)
	}
	if h.RopeFreqBase > 0 {
		s := fmt.Sprintf("base %g", h.RopeFreqBase)
		if h.RopeScaling != "" {
			s += ", scaling " + h.RopeScaling
		}
		row("rope", "%s", s)
	}
	if h.SlidingWindow > 0 {
		row("sliding window", "%d", h.SlidingWindow)
	}
	if v := r.Vocab; v != nil {
		s := fmt.Sprintf("%d tokens", v.Size)
		if v.Tokenizer != "" {
			s += ", " + v.Tokenizer
		}
		if v.Pre != "" {
			s += ", pre-tokenizer " + v.Pre
		}
		if len(v.Files) > 0 {
			s += " [" + strings.Join(v.Files, ", ") + "]"
		}
		row("vocabulary", "%s", s)
	}
	if r.Format != "ggml" {
		row("chat template", "%s", yesNo(r.ChatTemplate))
	}
	if r.Alignment > 0 {
		row("alignment", "%d", r.Alignment)
	}
	if q := r.Quantization; q != nil {
		row("quantization", "%d bits, group size %d, %s", q.Bits, q.GroupSize, q.Mode)
		for _, o := range q.Overrides {
			if o.Quantized {
				row("  "+o.Path, "%d bits, group size %d", o.Bits, o.GroupSize)
			} else {
				row("  "+o.Path, "not quantized")
			}
		}
	}
	if l := r.Legacy; l != nil {
		row("hparams", "n_vocab %d, n_embd %d, n_mult %d, n_head %d, n_layer %d, n_rot %d, ftype %d",
			l.NVocab, l.NEmbd, l.NMult, l.NHead, l.NLayer, l.NRot, l.FType)
	}
	if m := r.Memory; m != nil {
		row("memory", "%s at context %d: weights %s + KV cache %s (F16) + compute %s",
			human(m.Total), m.Context, human(m.Weights), human(m.KVCache), human(m.Compute))
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	tw.Flush()
	if len(r.Metadata) > 0 {
		p("metadata (%d keys):\n", len(r.Metadata))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range r.Metadata {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.Key, e.Type, e.Short)
		}
		tw.Flush()
	}
	if len(r.Tensors) > 0 {
		n := len(r.Tensors)
		if !o.Tensors {
			n = min(n, previewTensors)
		}
		p("tensors:\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range r.Tensors[:n] {
			file := ""
			if t.File != "" && len(r.Files) > 1 {
				file = "\t" + t.File
			}
			fmt.Fprintf(tw, "  %s\t%s\t%v\t@%d\t%s%s\n", t.Name, t.Type, t.Shape, t.Offset, human(t.Bytes), file)
		}
		tw.Flush()
		if n < len(r.Tensors) {
			p("  … %d more (--tensors lists all)\n", len(r.Tensors)-n)
		}
	}
	if r.Next != "" {
		p("%s\n", r.Next)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
