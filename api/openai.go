package api

import (
	"encoding/json"
	"errors"
)

// OpenAIError is OpenAI's error body: {"error": {"message", "type", "param", "code"}}.
type OpenAIError struct {
	Error OpenAIErrorBody `json:"error"`
}

// OpenAIErrorBody is the inner error object.
type OpenAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// StringOrList decodes a JSON string or an array of strings (OpenAI's
// "stop" and completion "prompt" fields).
type StringOrList []string

// UnmarshalJSON accepts null, a string or an array of strings.
func (s *StringOrList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = StringOrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	*s = many
	return nil
}

// OpenAIContent is a message's content: a string or an array of parts
// ({"type":"text","text":...}). Only text parts are supported.
type OpenAIContent struct {
	Text string
	// Parts is set when the content was an array; image parts are
	// recorded so the server can reject them clearly.
	NonText []string
	isNull  bool
}

// UnmarshalJSON accepts a string, null, or an array of content parts.
func (c *OpenAIContent) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		c.isNull = true
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		c.Text = s
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("content must be a string or an array of content parts")
	}
	for _, p := range parts {
		switch p.Type {
		case "text":
			c.Text += p.Text
		default:
			c.NonText = append(c.NonText, p.Type)
		}
	}
	return nil
}

// MarshalJSON writes the text as a string.
func (c OpenAIContent) MarshalJSON() ([]byte, error) { return json.Marshal(c.Text) }

// OpenAIMessage is a chat message in a request.
type OpenAIMessage struct {
	Role       string           `json:"role"`
	Content    OpenAIContent    `json:"content"`
	Name       string           `json:"name,omitempty"`
	ToolCalls  []OpenAIToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

// OpenAIToolCall is a tool call in a message, response or delta.
type OpenAIToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// OpenAIResponseFormat is response_format.
type OpenAIResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict,omitempty"`
	} `json:"json_schema,omitempty"`
}

// OpenAIStreamOptions is stream_options.
type OpenAIStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatCompletionRequest is the body of POST /v1/chat/completions.
type ChatCompletionRequest struct {
	Model               string                `json:"model"`
	Messages            []OpenAIMessage       `json:"messages"`
	Stream              bool                  `json:"stream"`
	StreamOptions       *OpenAIStreamOptions  `json:"stream_options,omitempty"`
	MaxTokens           *int                  `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int                  `json:"max_completion_tokens,omitempty"`
	Temperature         *float64              `json:"temperature,omitempty"`
	TopP                *float64              `json:"top_p,omitempty"`
	N                   *int                  `json:"n,omitempty"`
	Stop                StringOrList          `json:"stop,omitempty"`
	Seed                *int64                `json:"seed,omitempty"`
	PresencePenalty     *float64              `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64              `json:"frequency_penalty,omitempty"`
	Logprobs            bool                  `json:"logprobs,omitempty"`
	TopLogprobs         *int                  `json:"top_logprobs,omitempty"`
	ResponseFormat      *OpenAIResponseFormat `json:"response_format,omitempty"`
	Tools               []Tool                `json:"tools,omitempty"`
	ToolChoice          json.RawMessage       `json:"tool_choice,omitempty"`
	User                string                `json:"user,omitempty"`
}

// ChatCompletion is a non-streamed /v1/chat/completions answer.
type ChatCompletion struct {
	ID                string                 `json:"id"`
	Object            string                 `json:"object"`
	Created           int64                  `json:"created"`
	Model             string                 `json:"model"`
	SystemFingerprint string                 `json:"system_fingerprint"`
	Choices           []ChatCompletionChoice `json:"choices"`
	Usage             *OpenAIUsage           `json:"usage,omitempty"`
}

// ChatCompletionChoice is one choice of a ChatCompletion.
type ChatCompletionChoice struct {
	Index        int                   `json:"index"`
	Message      ChatCompletionMessage `json:"message"`
	Logprobs     *OpenAILogprobs       `json:"logprobs"`
	FinishReason string                `json:"finish_reason"`
}

// ChatCompletionMessage is the assistant message of a choice. Content is
// a pointer because OpenAI sends null when the model only called tools.
type ChatCompletionMessage struct {
	Role      string           `json:"role"`
	Content   *string          `json:"content"`
	Refusal   *string          `json:"refusal"`
	ToolCalls []OpenAIToolCall `json:"tool_calls,omitempty"`
}

// ChatCompletionChunk is one SSE event of a streamed chat completion.
type ChatCompletionChunk struct {
	ID                string                      `json:"id"`
	Object            string                      `json:"object"`
	Created           int64                       `json:"created"`
	Model             string                      `json:"model"`
	SystemFingerprint string                      `json:"system_fingerprint"`
	Choices           []ChatCompletionChunkChoice `json:"choices"`
	Usage             *OpenAIUsage                `json:"usage"`
}

// ChatCompletionChunkChoice is one choice's delta.
type ChatCompletionChunkChoice struct {
	Index        int             `json:"index"`
	Delta        ChatDelta       `json:"delta"`
	Logprobs     *OpenAILogprobs `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// ChatDelta is the incremental message of a chunk.
type ChatDelta struct {
	Role      string           `json:"role,omitempty"`
	Content   *string          `json:"content,omitempty"`
	ToolCalls []OpenAIToolCall `json:"tool_calls,omitempty"`
}

// OpenAILogprobs is a choice's logprobs object.
type OpenAILogprobs struct {
	Content []OpenAITokenLogprob `json:"content"`
}

// OpenAITokenLogprob is one token's log probability with alternatives.
type OpenAITokenLogprob struct {
	Token       string             `json:"token"`
	Logprob     float64            `json:"logprob"`
	Bytes       []int              `json:"bytes"`
	TopLogprobs []OpenAITopLogprob `json:"top_logprobs"`
}

// OpenAITopLogprob is one alternative token.
type OpenAITopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// OpenAIUsage counts tokens.
type OpenAIUsage struct {
	PromptTokens        int                  `json:"prompt_tokens"`
	CompletionTokens    int                  `json:"completion_tokens"`
	TotalTokens         int                  `json:"total_tokens"`
	PromptTokensDetails *OpenAIPromptDetails `json:"prompt_tokens_details,omitempty"`
}

// OpenAIPromptDetails reports prompt tokens served from the prefix cache.
type OpenAIPromptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	Model            string               `json:"model"`
	Prompt           StringOrList         `json:"prompt"`
	Suffix           string               `json:"suffix,omitempty"`
	Stream           bool                 `json:"stream"`
	StreamOptions    *OpenAIStreamOptions `json:"stream_options,omitempty"`
	MaxTokens        *int                 `json:"max_tokens,omitempty"`
	Temperature      *float64             `json:"temperature,omitempty"`
	TopP             *float64             `json:"top_p,omitempty"`
	N                *int                 `json:"n,omitempty"`
	Stop             StringOrList         `json:"stop,omitempty"`
	Seed             *int64               `json:"seed,omitempty"`
	PresencePenalty  *float64             `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64             `json:"frequency_penalty,omitempty"`
	Logprobs         *int                 `json:"logprobs,omitempty"`
	Echo             bool                 `json:"echo,omitempty"`
	User             string               `json:"user,omitempty"`
}

// Completion is a /v1/completions answer (or, with Object
// "text_completion", each streamed event).
type Completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *OpenAIUsage       `json:"usage,omitempty"`
}

// CompletionChoice is one choice of a completion.
type CompletionChoice struct {
	Text         string              `json:"text"`
	Index        int                 `json:"index"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// CompletionLogprobs is the legacy completions logprobs object.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// OpenAIModel is one entry of GET /v1/models.
type OpenAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// OpenAIModelList is the answer of GET /v1/models.
type OpenAIModelList struct {
	Object string        `json:"object"`
	Data   []OpenAIModel `json:"data"`
}

// EmbeddingsRequest is the body of POST /v1/embeddings; Input is a string,
// a list of strings, or token ids.
type EmbeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     int             `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`
}

// EmbeddingsResponse is the answer of /v1/embeddings.
type EmbeddingsResponse struct {
	Object string            `json:"object"`
	Data   []OpenAIEmbedding `json:"data"`
	Model  string            `json:"model"`
	Usage  EmbeddingsUsage   `json:"usage"`
}

// EmbeddingsUsage counts the input tokens of /v1/embeddings (OpenAI sends
// no completion_tokens there).
type EmbeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// OpenAIEmbedding is one vector (float list, or base64 string when
// encoding_format is "base64").
type OpenAIEmbedding struct {
	Object    string `json:"object"`
	Embedding any    `json:"embedding"`
	Index     int    `json:"index"`
}
