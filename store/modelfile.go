package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/quant/quantize"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Modelfile is a parsed Ollama Modelfile.
type Modelfile struct {
	From     string
	Template *string // nil: inherit from the base model
	System   *string
	License  []string
	Params   map[string]any
	Messages []Message
	Dir      string // directory relative FROM paths are resolved against
}

// ParseModelfile parses Ollama's Modelfile syntax: one instruction per
// line (FROM, PARAMETER, TEMPLATE, SYSTEM, MESSAGE, LICENSE, ADAPTER),
// '#' comments, and values in """triple quotes""" spanning lines.
func ParseModelfile(text string) (*Modelfile, error) {
	mf := &Modelfile{Params: map[string]any{}}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		inst, rest, _ := strings.Cut(line, " ")
		if j := strings.IndexAny(line, " \t"); j >= 0 {
			inst, rest = line[:j], strings.TrimSpace(line[j+1:])
		} else {
			rest = ""
		}
		inst = strings.ToUpper(inst)
		// Multi-line values: """...""" possibly over several lines.
		value := func(s string) (string, error) {
			if !strings.HasPrefix(s, `"""`) {
				return unquote(s), nil
			}
			s = s[3:]
			if j := strings.Index(s, `"""`); j >= 0 {
				return s[:j], nil
			}
			var b strings.Builder
			b.WriteString(s)
			for i++; i < len(lines); i++ {
				if j := strings.Index(lines[i], `"""`); j >= 0 {
					b.WriteString("\n" + lines[i][:j])
					return b.String(), nil
				}
				b.WriteString("\n" + lines[i])
			}
			return "", fmt.Errorf("Modelfile line %d: unterminated \"\"\"", lineNo)
		}
		switch inst {
		case "FROM":
			v, err := value(rest)
			if err != nil {
				return nil, err
			}
			mf.From = strings.TrimSpace(v)
		case "TEMPLATE", "SYSTEM", "LICENSE":
			v, err := value(rest)
			if err != nil {
				return nil, err
			}
			switch inst {
			case "TEMPLATE":
				mf.Template = &v
			case "SYSTEM":
				mf.System = &v
			default:
				mf.License = append(mf.License, v)
			}
		case "PARAMETER":
			key, raw, ok := strings.Cut(rest, " ")
			if !ok || key == "" {
				return nil, fmt.Errorf("Modelfile line %d: PARAMETER needs a name and a value", lineNo)
			}
			v, err := value(strings.TrimSpace(raw))
			if err != nil {
				return nil, err
			}
			if err := setParam(mf.Params, strings.ToLower(key), v); err != nil {
				return nil, fmt.Errorf("Modelfile line %d: %v", lineNo, err)
			}
		case "MESSAGE":
			role, raw, ok := strings.Cut(rest, " ")
			role = strings.ToLower(role)
			if !ok || !slices.Contains([]string{"system", "user", "assistant", "tool"}, role) {
				return nil, fmt.Errorf("Modelfile line %d: MESSAGE needs a role (system, user, assistant) and content", lineNo)
			}
			v, err := value(strings.TrimSpace(raw))
			if err != nil {
				return nil, err
			}
			mf.Messages = append(mf.Messages, Message{Role: role, Content: v})
		case "ADAPTER":
			return nil, fmt.Errorf("Modelfile line %d: ADAPTER is not supported yet", lineNo)
		case "REQUIRES":
			// Minimum Ollama version: nothing to check for ferry.
		default:
			return nil, fmt.Errorf("Modelfile line %d: unknown instruction %q", lineNo, inst)
		}
	}
	if mf.From == "" {
		return nil, errors.New("Modelfile: no FROM line")
	}
	return mf, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}

// Parameter kinds, as Ollama's options struct types them.
var (
	intParams   = []string{"num_ctx", "num_batch", "num_keep", "num_predict", "top_k", "repeat_last_n", "seed", "num_thread", "num_gpu", "main_gpu", "mirostat"}
	floatParams = []string{"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty", "mirostat_tau", "mirostat_eta", "tfs_z"}
	boolParams  = []string{"use_mmap", "use_mlock", "numa", "penalize_newline"}
)

func setParam(p map[string]any, key, v string) error {
	switch {
	case key == "stop":
		l, _ := p["stop"].([]string)
		p["stop"] = append(l, v)
	case slices.Contains(intParams, key):
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("PARAMETER %s: %q is not an integer", key, v)
		}
		p[key] = n
	case slices.Contains(floatParams, key):
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("PARAMETER %s: %q is not a number", key, v)
		}
		p[key] = f
	case slices.Contains(boolParams, key):
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("PARAMETER %s: %q is not true/false", key, v)
		}
		p[key] = b
	default:
		return fmt.Errorf("unknown PARAMETER %q", key)
	}
	return nil
}

// String renders a model's Modelfile, as `ferry show --modelfile` prints it.
func (m *Model) Modelfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Modelfile generated by \"ferry show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM %s\n\n", m.Name)
	fmt.Fprintf(&b, "FROM %s\n", m.Path)
	if m.Template != "" {
		fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", m.Template)
	}
	if m.System != "" {
		fmt.Fprintf(&b, "SYSTEM \"\"\"%s\"\"\"\n", m.System)
	}
	b.WriteString(m.ParamsText())
	for _, msg := range m.Messages {
		fmt.Fprintf(&b, "MESSAGE %s \"\"\"%s\"\"\"\n", msg.Role, msg.Content)
	}
	if m.License != "" {
		fmt.Fprintf(&b, "LICENSE \"\"\"%s\"\"\"\n", m.License)
	}
	return b.String()
}

// ParamsText renders the parameters as PARAMETER lines, sorted by name.
func (m *Model) ParamsText() string {
	keys := make([]string, 0, len(m.Params))
	for k := range m.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		switch v := m.Params[k].(type) {
		case []any:
			for _, e := range v {
				fmt.Fprintf(&b, "PARAMETER %s %s\n", k, paramString(e))
			}
		case []string:
			for _, e := range v {
				fmt.Fprintf(&b, "PARAMETER %s %s\n", k, paramString(e))
			}
		default:
			fmt.Fprintf(&b, "PARAMETER %s %s\n", k, paramString(v))
		}
	}
	return b.String()
}

func paramString(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Progress reports create/pull steps.
type Progress func(status string)

// Create builds a model from a Modelfile: the weights of FROM (a GGUF file,
// resolved against mf.Dir, or a model name) become the model layer, linked
// rather than copied; TEMPLATE/SYSTEM/PARAMETER/MESSAGE/LICENSE override
// the base model's layers. A non-empty quantize (a llama-quantize recipe
// such as "q4_k_m") stores a quantized copy of the weights instead.
func (s *Store) Create(name string, mf *Modelfile, quantize string, progress Progress) (*Model, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if _, err := ParseName(name); err != nil {
		return nil, err
	}
	var ftype quant.FileType
	if quantize != "" {
		ft, err := quant.ParseFileType(quantize)
		if err != nil {
			return nil, fmt.Errorf("create --quantize: %w", err)
		}
		ftype = ft
	}
	var base *Model
	var modelLayer Layer
	from := mf.From
	fromPath := from
	if mf.Dir != "" && !filepath.IsAbs(from) && (strings.HasPrefix(from, ".") || strings.ContainsAny(from, `/\`) || strings.HasSuffix(strings.ToLower(from), ".gguf")) {
		fromPath = filepath.Join(mf.Dir, from)
	}
	if st, err := os.Stat(fromPath); err == nil && (strings.ContainsAny(from, `/\`) || strings.HasSuffix(strings.ToLower(from), ".gguf") || strings.HasPrefix(from, ".")) {
		if st.IsDir() {
			return nil, fmt.Errorf("FROM %s: a model folder; convert it to GGUF with `ferry convert` first, or run it in place by path", from)
		}
		if !isGGUFFile(fromPath) {
			return nil, fmt.Errorf("FROM %s: not a GGUF file", from)
		}
		progress("copying model weights")
		l, err := s.AddBlob(fromPath)
		if err != nil {
			return nil, err
		}
		modelLayer = l
	} else {
		b, err := s.Get(from)
		if err != nil {
			return nil, fmt.Errorf("FROM %s: %w", from, err)
		}
		if b.Format != "gguf" {
			return nil, fmt.Errorf("FROM %s: a %s folder; convert it to GGUF with `ferry convert` first", from, b.Format)
		}
		base = b
		if b.Source == SourceFerry {
			for _, l := range b.Manifest.Layers {
				if l.MediaType == MediaModel {
					modelLayer = l
				}
			}
		} else {
			progress("linking model weights from " + string(b.Source))
			l, err := s.AddBlob(b.Path)
			if err != nil {
				return nil, err
			}
			modelLayer = l
		}
	}
	if quantize != "" {
		l, err := s.quantizeLayer(modelLayer, ftype, quantize, progress)
		if err != nil {
			return nil, err
		}
		modelLayer = l
	}
	modelLayer.MediaType = MediaModel
	layers := []Layer{modelLayer}
	text := func(media string, v *string, inherited string) error {
		val := inherited
		if v != nil {
			val = *v
		}
		if val == "" {
			return nil
		}
		l, err := s.AddBlobBytes([]byte(val))
		if err != nil {
			return err
		}
		l.MediaType = media
		layers = append(layers, l)
		return nil
	}
	var inh Model
	if base != nil {
		inh = *base
	}
	if err := text(MediaTemplate, mf.Template, inh.Template); err != nil {
		return nil, err
	}
	if err := text(MediaSystem, mf.System, inh.System); err != nil {
		return nil, err
	}
	params := map[string]any{}
	for k, v := range inh.Params {
		params[k] = v
	}
	for k, v := range mf.Params {
		params[k] = v
	}
	if len(params) > 0 {
		b, _ := json.Marshal(params)
		l, err := s.AddBlobBytes(b)
		if err != nil {
			return nil, err
		}
		l.MediaType = MediaParams
		layers = append(layers, l)
	}
	msgs := inh.Messages
	if len(mf.Messages) > 0 {
		msgs = mf.Messages
	}
	if len(msgs) > 0 {
		b, _ := json.Marshal(msgs)
		l, err := s.AddBlobBytes(b)
		if err != nil {
			return nil, err
		}
		l.MediaType = MediaMessages
		layers = append(layers, l)
	}
	lic := mf.License
	if len(lic) == 0 && inh.License != "" {
		lic = []string{inh.License}
	}
	for _, t := range lic {
		l, err := s.AddBlobBytes([]byte(t))
		if err != nil {
			return nil, err
		}
		l.MediaType = MediaLicense
		layers = append(layers, l)
	}
	cfg, _ := json.Marshal(map[string]any{"model_format": "gguf", "file_type": "", "rootfs": map[string]any{"type": "layers"}})
	cl, err := s.AddBlobBytes(cfg)
	if err != nil {
		return nil, err
	}
	cl.MediaType = MediaConfig
	progress("writing manifest")
	if err := s.WriteManifest(name, &Manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: cl, Layers: layers}); err != nil {
		return nil, err
	}
	progress("success")
	return s.Get(name)
}

func isGGUFFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r := bufio.NewReader(f)
	b := make([]byte, 4)
	_, err = r.Read(b)
	return err == nil && string(b) == "GGUF"
}

// quantizeLayer writes a quantized copy of the GGUF blob behind l (with
// llama-quantize's recipe ft) and stores it as a new blob.
func (s *Store) quantizeLayer(l Layer, ft quant.FileType, name string, progress Progress) (Layer, error) {
	src, err := s.BlobPath(l.Digest)
	if err != nil {
		return Layer{}, err
	}
	tmpDir, err := os.MkdirTemp(s.Dir, ".quantize-")
	if err != nil {
		return Layer{}, err
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, "model.gguf")
	progress("quantizing to " + strings.ToUpper(name))
	if _, err := quantize.File(src, out, quantize.Options{FileType: ft}); err != nil {
		return Layer{}, fmt.Errorf("create --quantize %s: %w", name, err)
	}
	return s.AddBlob(out)
}
