package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
)

// decodeJSON reads a bounded request body into v. Syntax errors, wrong
// types, too-deep nesting and oversized bodies are 400/413 errors with a
// message naming the problem.
func (s *Server) decodeJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "request body too large (limit %d bytes)", mbe.Limit)
		}
		return errf(http.StatusBadRequest, "reading request body: %v", err)
	}
	return decodeBytes(data, v, s.cfg.MaxJSONDepth)
}

func decodeBytes(data []byte, v any, maxDepth int) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errf(http.StatusBadRequest, "missing request body")
	}
	if d := jsonDepth(data); d > maxDepth {
		return errf(http.StatusBadRequest, "request JSON nested too deeply (%d levels, limit %d)", d, maxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			field := ute.Field
			if field == "" {
				field = "request"
			}
			return errf(http.StatusBadRequest, "invalid type for %q: got JSON %s, expected %s", field, ute.Value, goTypeName(ute.Type.String()))
		case errors.As(err, &se):
			return errf(http.StatusBadRequest, "invalid JSON at byte %d: %v", se.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errf(http.StatusBadRequest, "invalid JSON: unexpected end of input")
		}
		return errf(http.StatusBadRequest, "invalid request: %v", err)
	}
	if dec.More() {
		return errf(http.StatusBadRequest, "invalid JSON: extra data after the request object")
	}
	return nil
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "api."), strings.HasPrefix(t, "struct"):
		return "an object"
	case strings.Contains(t, "int"), strings.Contains(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	}
	return t
}

// jsonDepth is the maximum nesting of arrays/objects, found by a scan
// that skips strings; it runs before decoding so a deeply nested body
// cannot make the decoder recurse.
func jsonDepth(b []byte) int {
	depth, maxd := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > maxd {
				maxd = depth
			}
		case '}', ']':
			depth--
		}
	}
	return maxd
}

// genOptions are the resolved options of one request.
type genOptions struct {
	Sample     SampleOptions
	NumPredict int
	NumCtx     int
	NumKeep    int
	Stop       []string
}

// parseOptions merges Ollama options: server defaults, then the model's
// PARAMETERs, then the request's "options". Unknown keys are ignored (as
// Ollama does for runner options it does not use); known keys with the
// wrong type or out of range are 400 errors.
func (s *Server) parseOptions(modelParams, req map[string]any) (genOptions, error) {
	o := genOptions{Sample: DefaultSampleOptions(), NumPredict: -1, NumCtx: s.cfg.NumCtx}
	for _, src := range []map[string]any{modelParams, req} {
		for k, v := range src {
			if err := o.set(k, v, s); err != nil {
				return o, errf(http.StatusBadRequest, "option %q: %v", k, err)
			}
		}
	}
	return o, nil
}

func num(v any) (float64, error) {
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return 0, errors.New("not a finite number")
		}
		return t, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case json.Number:
		return t.Float64()
	}
	return 0, fmt.Errorf("expected a number, got %T", v)
}

func integer(v any) (int, error) {
	f, err := num(v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, fmt.Errorf("expected an integer, got %v", f)
	}
	return int(f), nil
}

func (o *genOptions) set(k string, v any, s *Server) error {
	if v == nil {
		return nil
	}
	var err error
	f := func(lo, hi float64) float64 {
		var x float64
		x, err = num(v)
		if err == nil && (x < lo || x > hi) {
			err = fmt.Errorf("%v is out of range [%v, %v]", x, lo, hi)
		}
		return x
	}
	i := func(lo, hi int) int {
		var x int
		x, err = integer(v)
		if err == nil && (x < lo || x > hi) {
			err = fmt.Errorf("%d is out of range [%d, %d]", x, lo, hi)
		}
		return x
	}
	switch k {
	case "temperature":
		o.Sample.Temperature = f(0, 100)
	case "top_k":
		o.Sample.TopK = i(-1, 1<<20)
	case "top_p":
		o.Sample.TopP = f(0, 1)
	case "min_p":
		o.Sample.MinP = f(0, 1)
	case "typical_p":
		o.Sample.TypicalP = f(0, 1)
	case "repeat_penalty":
		o.Sample.RepeatPenalty = f(0, 100)
	case "repeat_last_n":
		o.Sample.RepeatLastN = i(-1, 1<<20)
	case "presence_penalty":
		o.Sample.PresencePenalty = f(-100, 100)
	case "frequency_penalty":
		o.Sample.FrequencyPenalty = f(-100, 100)
	case "seed":
		var x float64
		x, err = num(v)
		o.Sample.Seed = int64(x)
	case "num_predict":
		o.NumPredict = i(-2, s.cfg.MaxNumPredict)
	case "num_ctx":
		o.NumCtx = i(1, s.cfg.MaxNumCtx)
	case "num_keep":
		o.NumKeep = i(-1, s.cfg.MaxNumCtx)
	case "stop":
		switch t := v.(type) {
		case string:
			o.Stop = []string{t}
		case []string:
			o.Stop = t
		case []any:
			o.Stop = nil
			for _, e := range t {
				str, ok := e.(string)
				if !ok {
					return errors.New("expected an array of strings")
				}
				o.Stop = append(o.Stop, str)
			}
		default:
			return errors.New("expected a string or an array of strings")
		}
		if len(o.Stop) > 16 {
			return errors.New("at most 16 stop sequences")
		}
	}
	return err
}
