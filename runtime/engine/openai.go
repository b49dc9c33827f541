package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// maxStops is the number of stop sequences OpenAI accepts.
const maxStops = 4

// samplingFields are the request fields shared by chat and completions.
type samplingFields struct {
	Model               string          `json:"model"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N         *int            `json:"n"`
	Logprobs  json.RawMessage `json:"logprobs"`
	IgnoreEOS bool            `json:"ignore_eos"`
}

type chatRequest struct {
	samplingFields
	Messages []chatMessage `json:"messages"`
	Tools    []any         `json:"tools"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type completionRequest struct {
	samplingFields
	Prompt json.RawMessage `json:"prompt"`
}

// genParams is a validated request, ready to run.
type genParams struct {
	stream       bool
	includeUsage bool
	maxTokens    int // 0: up to the context length
	sampling     SamplingParams
	stops        []string
	// internalStops end a chat turn (the template's end markers) when the
	// vocabulary does not mark them as end-of-generation tokens.
	internalStops []string
	ignoreEOS     bool
}

func badRequest(param, format string, args ...any) *runtime.Error {
	return runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, param, format, args...)
}

// decodeJSON decodes body into v, reporting malformed JSON as a 400.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("", "request body is empty; expected a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := jsonPath(reflect.TypeOf(v), te.Field)
			return badRequest(field, "invalid type for %q: expected %s, got JSON %s", field, jsonTypeName(te.Type), te.Value)
		}
		return badRequest("", "could not parse the request body as JSON: %v", err)
	}
	return nil
}

// jsonPath turns the Field of a json.UnmarshalTypeError on a value of type
// t into the path the client wrote: encoding/json names an embedded
// struct's fields through the Go name of the struct
// ("samplingFields.max_tokens"), which is not in the JSON.
func jsonPath(t reflect.Type, field string) string {
	var out []string
	for _, part := range strings.Split(field, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(part); ok && f.Anonymous && f.Tag.Get("json") == "" {
				t = f.Type // inlined: its fields are the parent's keys
				continue
			}
			for _, f := range reflect.VisibleFields(t) {
				if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == part || name == "" && strings.EqualFold(f.Name, part) {
					t = f.Type
					break
				}
			}
		}
		out = append(out, part)
	}
	return strings.Join(out, ".")
}

// jsonTypeName names a Go type as the JSON a client should send.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

// params validates the sampling fields.
func (f *samplingFields) params(seed func() uint64) (genParams, error) {
	p := genParams{
		stream:    f.Stream,
		ignoreEOS: f.IgnoreEOS,
		sampling:  SamplingParams{Temperature: 1, TopP: 1},
	}
	if f.StreamOptions != nil {
		if !f.Stream {
			return p, badRequest("stream_options", "stream_options is only allowed when stream is true")
		}
		p.includeUsage = f.StreamOptions.IncludeUsage
	}
	if f.N != nil && *f.N != 1 {
		return p, badRequest("n", "n = %d is not supported; this runtime returns exactly one choice", *f.N)
	}
	if lp := bytes.TrimSpace(f.Logprobs); len(lp) > 0 && !bytes.Equal(lp, []byte("null")) && !bytes.Equal(lp, []byte("false")) {
		return p, badRequest("logprobs", "logprobs are not supported by this runtime")
	}
	mt := f.MaxCompletionTokens
	param := "max_completion_tokens"
	if mt == nil {
		mt, param = f.MaxTokens, "max_tokens"
	}
	if mt != nil {
		if *mt < 1 {
			return p, badRequest(param, "%s must be at least 1, got %d", param, *mt)
		}
		p.maxTokens = *mt
	}
	if t := f.Temperature; t != nil {
		if !(*t >= 0 && *t <= 2) {
			return p, badRequest("temperature", "temperature must be between 0 and 2, got %g", *t)
		}
		p.sampling.Temperature = *t
	}
	if t := f.TopP; t != nil {
		if !(*t > 0 && *t <= 1) {
			return p, badRequest("top_p", "top_p must be greater than 0 and at most 1, got %g", *t)
		}
		p.sampling.TopP = *t
	}
	if k := f.TopK; k != nil {
		if *k < -1 {
			return p, badRequest("top_k", "top_k must be -1, 0 (disabled) or positive, got %d", *k)
		}
		p.sampling.TopK = max(*k, 0)
	}
	if m := f.MinP; m != nil {
		if !(*m >= 0 && *m <= 1) {
			return p, badRequest("min_p", "min_p must be between 0 and 1, got %g", *m)
		}
		p.sampling.MinP = *m
	}
	if f.Seed != nil {
		p.sampling.Seed = uint64(*f.Seed)
	} else {
		p.sampling.Seed = seed()
	}
	stops, err := parseStop(f.Stop)
	if err != nil {
		return p, err
	}
	p.stops = stops
	return p, nil
}

// parseStop accepts null, a string or an array of up to four strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("stop", "stop must be a string or an array of strings")
	}
	if len(many) > maxStops {
		return nil, badRequest("stop", "at most %d stop sequences are allowed, got %d", maxStops, len(many))
	}
	out := many[:0]
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// messageText extracts the text of a message content: a string, null, or an
// array of parts of type "text".
func messageText(i int, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	param := fmt.Sprintf("messages[%d].content", i)
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "%s must be a string or an array of content parts", param)
	}
	var sb strings.Builder
	for j, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", badRequest(param, "%s[%d] has type %q; only text parts are supported", param, j, p.Type)
		}
		sb.WriteString(*p.Text)
	}
	return sb.String(), nil
}

// chatMessages validates and converts the messages.
func chatMessages(msgs []chatMessage) ([]tokenizer.Message, error) {
	if len(msgs) == 0 {
		return nil, badRequest("messages", "messages must be a non-empty array")
	}
	out := make([]tokenizer.Message, len(msgs))
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		case "developer":
			m.Role = "system"
		case "":
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d] has no role", i)
		default:
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d] has unknown role %q", i, m.Role)
		}
		text, err := messageText(i, m.Content)
		if err != nil {
			return nil, err
		}
		out[i] = tokenizer.Message{Role: m.Role, Content: text}
	}
	return out, nil
}

// completionPrompt accepts a string or an array of exactly one string.
func completionPrompt(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		if len(many) != 1 {
			return "", badRequest("prompt", "prompt arrays must hold exactly one string, got %d", len(many))
		}
		return many[0], nil
	}
	if len(raw) == 0 {
		return "", badRequest("prompt", "prompt is required")
	}
	return "", badRequest("prompt", "prompt must be a string or an array of one string")
}

// Response documents.

type usageJSON struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatContent `json:"message,omitempty"`
	Delta        *chatContent `json:"delta,omitempty"`
	Logprobs     any          `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type textChoice struct {
	Index        int     `json:"index"`
	Text         string  `json:"text"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type responseJSON struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices any        `json:"choices"`
	Usage   *usageJSON `json:"usage,omitempty"`
}

// streamUsageJSON is responseJSON for chunks that carry "usage": null.
type streamUsageJSON struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices any        `json:"choices"`
	Usage   *usageJSON `json:"usage"`
}

func finishString(f runtime.FinishReason) *string {
	s := string(f)
	return &s
}

func ptr[T any](v T) *T { return &v }

// parseChat decodes and validates a chat completion request body.
func parseChat(body []byte) ([]tokenizer.Message, genParams, error) {
	var cr chatRequest
	if err := decodeJSON(body, &cr); err != nil {
		return nil, genParams{}, err
	}
	if len(cr.Tools) > 0 {
		return nil, genParams{}, badRequest("tools", "tools are not supported by this runtime")
	}
	msgs, err := chatMessages(cr.Messages)
	if err != nil {
		return nil, genParams{}, err
	}
	p, err := cr.params(rand.Uint64)
	if err != nil {
		return nil, genParams{}, err
	}
	return msgs, p, nil
}

// parseCompletion decodes and validates a completion request body.
func parseCompletion(body []byte) (string, genParams, error) {
	var cr completionRequest
	if err := decodeJSON(body, &cr); err != nil {
		return "", genParams{}, err
	}
	text, err := completionPrompt(cr.Prompt)
	if err != nil {
		return "", genParams{}, err
	}
	p, err := cr.params(rand.Uint64)
	if err != nil {
		return "", genParams{}, err
	}
	return text, p, nil
}
