// Package api holds the request and response types of the HTTP APIs ferry
// serves: Ollama's native API (/api/...) and OpenAI's (/v1/...). Field names,
// optionality and encodings follow the upstream APIs exactly so that their
// official clients work against ferry unmodified.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Error is Ollama's error body: {"error": "..."}. It is also sent as the
// last line of an NDJSON stream that fails part-way.
type Error struct {
	Error string `json:"error"`
}

// Duration is a keep_alive value. JSON numbers are seconds, strings are Go
// durations ("5m", "1h"); a negative value means "keep loaded forever" and
// zero means "unload now", as in Ollama.
type Duration struct {
	time.Duration
}

// Forever is the Duration a negative keep_alive stands for.
const Forever = time.Duration(math.MaxInt64)

// MarshalJSON writes the duration as Ollama does: seconds for negative
// ("forever") values, a Go duration string otherwise.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.Duration < 0 || d.Duration == Forever {
		return []byte("-1"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON accepts a number of seconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case float64:
		if t < 0 {
			d.Duration = Forever
		} else if t > float64(Forever/time.Second) {
			d.Duration = Forever
		} else {
			d.Duration = time.Duration(t * float64(time.Second))
		}
	case string:
		p, err := time.ParseDuration(t)
		if err != nil {
			// Ollama also accepts a bare number in a string ("300").
			var secs float64
			if _, serr := fmt.Sscanf(t, "%g", &secs); serr == nil && strings.TrimSpace(t) != "" {
				p = time.Duration(secs * float64(time.Second))
			} else {
				return fmt.Errorf("keep_alive: invalid duration %q", t)
			}
		}
		if p < 0 {
			p = Forever
		}
		d.Duration = p
	default:
		return errors.New("keep_alive: must be a number of seconds or a duration string")
	}
	return nil
}

// ThinkValue is the "think" field: true/false or "high"/"medium"/"low".
type ThinkValue struct {
	Value any
}

// UnmarshalJSON accepts a bool or one of the level strings.
func (t *ThinkValue) UnmarshalJSON(b []byte) error {
	var bv bool
	if err := json.Unmarshal(b, &bv); err == nil {
		t.Value = bv
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "high" && s != "medium" && s != "low" {
			return fmt.Errorf("invalid think value: %q (must be \"high\", \"medium\", \"low\", true, or false)", s)
		}
		t.Value = s
		return nil
	}
	return errors.New("think must be a boolean or string (\"high\", \"medium\", \"low\", true, or false)")
}

// MarshalJSON writes the bool or string back.
func (t ThinkValue) MarshalJSON() ([]byte, error) { return json.Marshal(t.Value) }

// Enabled reports whether thinking was requested.
func (t *ThinkValue) Enabled() bool {
	if t == nil {
		return false
	}
	switch v := t.Value.(type) {
	case bool:
		return v
	case string:
		return v != ""
	}
	return false
}

// ImageData is a base64-encoded image in a request (ferry accepts the field
// but serves text-only models, so requests with images are rejected).
type ImageData []byte

// Metrics are the timing and count fields of a final response, all
// durations in nanoseconds.
type Metrics struct {
	TotalDuration      time.Duration `json:"total_duration,omitempty"`
	LoadDuration       time.Duration `json:"load_duration,omitempty"`
	PromptEvalCount    int           `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration time.Duration `json:"prompt_eval_duration,omitempty"`
	EvalCount          int           `json:"eval_count,omitempty"`
	EvalDuration       time.Duration `json:"eval_duration,omitempty"`
}

// GenerateRequest is the body of POST /api/generate.
type GenerateRequest struct {
	Model       string          `json:"model"`
	Prompt      string          `json:"prompt"`
	Suffix      string          `json:"suffix"`
	System      string          `json:"system"`
	Template    string          `json:"template"`
	Context     []int           `json:"context,omitempty"`
	Stream      *bool           `json:"stream,omitempty"`
	Raw         bool            `json:"raw,omitempty"`
	Format      json.RawMessage `json:"format,omitempty"`
	KeepAlive   *Duration       `json:"keep_alive,omitempty"`
	Images      []ImageData     `json:"images,omitempty"`
	Options     map[string]any  `json:"options"`
	Think       *ThinkValue     `json:"think,omitempty"`
	Truncate    *bool           `json:"truncate,omitempty"`
	Shift       *bool           `json:"shift,omitempty"`
	Logprobs    bool            `json:"logprobs,omitempty"`
	TopLogprobs int             `json:"top_logprobs,omitempty"`
}

// GenerateResponse is one NDJSON line of /api/generate (or the whole
// response with stream:false).
type GenerateResponse struct {
	Model      string     `json:"model"`
	CreatedAt  time.Time  `json:"created_at"`
	Response   string     `json:"response"`
	Thinking   string     `json:"thinking,omitempty"`
	Done       bool       `json:"done"`
	DoneReason string     `json:"done_reason,omitempty"`
	Context    []int      `json:"context,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	Metrics
	Logprobs []Logprob `json:"logprobs,omitempty"`
}

// Message is one chat message.
type Message struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	Thinking   string      `json:"thinking,omitempty"`
	Images     []ImageData `json:"images,omitempty"`
	ToolCalls  []ToolCall  `json:"tool_calls,omitempty"`
	ToolName   string      `json:"tool_name,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

// ToolCall is a function call the model made.
type ToolCall struct {
	ID       string           `json:"id,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction names the function and its arguments (a JSON object).
type ToolCallFunction struct {
	Index     int            `json:"index"`
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

// Tool is a function the model may call.
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction describes a callable function; Parameters is a JSON schema.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ChatRequest is the body of POST /api/chat.
type ChatRequest struct {
	Model       string          `json:"model"`
	Messages    []Message       `json:"messages"`
	Stream      *bool           `json:"stream,omitempty"`
	Format      json.RawMessage `json:"format,omitempty"`
	KeepAlive   *Duration       `json:"keep_alive,omitempty"`
	Tools       []Tool          `json:"tools,omitempty"`
	Options     map[string]any  `json:"options"`
	Think       *ThinkValue     `json:"think,omitempty"`
	Truncate    *bool           `json:"truncate,omitempty"`
	Shift       *bool           `json:"shift,omitempty"`
	Logprobs    bool            `json:"logprobs,omitempty"`
	TopLogprobs int             `json:"top_logprobs,omitempty"`
}

// ChatResponse is one NDJSON line of /api/chat.
type ChatResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Message    Message   `json:"message"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	Metrics
	Logprobs []Logprob `json:"logprobs,omitempty"`
}

// TokenLogprob is one token with its log probability.
type TokenLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes,omitempty"`
}

// Logprob is a generated token's log probability and the top alternatives.
type Logprob struct {
	TokenLogprob
	TopLogprobs []TokenLogprob `json:"top_logprobs,omitempty"`
}

// EmbedRequest is the body of POST /api/embed; Input is a string or a list
// of strings.
type EmbedRequest struct {
	Model      string         `json:"model"`
	Input      any            `json:"input"`
	KeepAlive  *Duration      `json:"keep_alive,omitempty"`
	Truncate   *bool          `json:"truncate,omitempty"`
	Dimensions int            `json:"dimensions,omitempty"`
	Options    map[string]any `json:"options"`
}

// EmbedResponse is the answer of /api/embed.
type EmbedResponse struct {
	Model           string        `json:"model"`
	Embeddings      [][]float32   `json:"embeddings"`
	TotalDuration   time.Duration `json:"total_duration,omitempty"`
	LoadDuration    time.Duration `json:"load_duration,omitempty"`
	PromptEvalCount int           `json:"prompt_eval_count,omitempty"`
}

// EmbeddingRequest is the body of the legacy POST /api/embeddings.
type EmbeddingRequest struct {
	Model     string         `json:"model"`
	Prompt    string         `json:"prompt"`
	KeepAlive *Duration      `json:"keep_alive,omitempty"`
	Options   map[string]any `json:"options"`
}

// EmbeddingResponse is the answer of /api/embeddings.
type EmbeddingResponse struct {
	Embedding []float64 `json:"embedding"`
}

// CreateRequest is the body of POST /api/create. Besides Ollama's current
// fields (From, Files, Template, ...) ferry accepts the older "modelfile"
// text.
type CreateRequest struct {
	Model      string            `json:"model"`
	Name       string            `json:"name,omitempty"` // deprecated alias of Model
	Stream     *bool             `json:"stream,omitempty"`
	Quantize   string            `json:"quantize,omitempty"`
	From       string            `json:"from,omitempty"`
	Files      map[string]string `json:"files,omitempty"`
	Adapters   map[string]string `json:"adapters,omitempty"`
	Template   string            `json:"template,omitempty"`
	License    any               `json:"license,omitempty"`
	System     string            `json:"system,omitempty"`
	Parameters map[string]any    `json:"parameters,omitempty"`
	Messages   []Message         `json:"messages,omitempty"`
	Modelfile  string            `json:"modelfile,omitempty"`
	Path       string            `json:"path,omitempty"`
}

// ShowRequest is the body of POST /api/show.
type ShowRequest struct {
	Model   string         `json:"model"`
	Name    string         `json:"name,omitempty"` // deprecated alias of Model
	System  string         `json:"system"`
	Verbose bool           `json:"verbose"`
	Options map[string]any `json:"options"`
}

// ShowResponse is the answer of /api/show.
type ShowResponse struct {
	License      string         `json:"license,omitempty"`
	Modelfile    string         `json:"modelfile,omitempty"`
	Parameters   string         `json:"parameters,omitempty"`
	Template     string         `json:"template,omitempty"`
	System       string         `json:"system,omitempty"`
	Details      ModelDetails   `json:"details,omitempty"`
	Messages     []Message      `json:"messages,omitempty"`
	ModelInfo    map[string]any `json:"model_info"`
	Tensors      []TensorInfo   `json:"tensors,omitempty"`
	Capabilities []string       `json:"capabilities,omitempty"`
	ModifiedAt   time.Time      `json:"modified_at,omitempty"`
}

// TensorInfo is one tensor in a verbose /api/show answer.
type TensorInfo struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []uint64 `json:"shape"`
}

// CopyRequest is the body of POST /api/copy.
type CopyRequest struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// DeleteRequest is the body of DELETE /api/delete.
type DeleteRequest struct {
	Model string `json:"model"`
	Name  string `json:"name,omitempty"` // deprecated alias of Model
}

// PullRequest is the body of POST /api/pull.
type PullRequest struct {
	Model    string `json:"model"`
	Name     string `json:"name,omitempty"` // deprecated alias of Model
	Insecure bool   `json:"insecure,omitempty"`
	Stream   *bool  `json:"stream,omitempty"`
}

// ProgressResponse is a status line of create/pull/push.
type ProgressResponse struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// ModelDetails summarises a model.
type ModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// ListResponse is the answer of GET /api/tags.
type ListResponse struct {
	Models []ListModelResponse `json:"models"`
}

// ListModelResponse is one model of /api/tags.
type ListModelResponse struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    ModelDetails `json:"details,omitempty"`
}

// ProcessResponse is the answer of GET /api/ps.
type ProcessResponse struct {
	Models []ProcessModelResponse `json:"models"`
}

// ProcessModelResponse is one loaded model.
type ProcessModelResponse struct {
	Name          string       `json:"name"`
	Model         string       `json:"model"`
	Size          int64        `json:"size"`
	Digest        string       `json:"digest"`
	Details       ModelDetails `json:"details,omitempty"`
	ExpiresAt     time.Time    `json:"expires_at"`
	SizeVRAM      int64        `json:"size_vram"`
	ContextLength int          `json:"context_length"`
}

// VersionResponse is the answer of GET /api/version.
type VersionResponse struct {
	Version string `json:"version"`
}
