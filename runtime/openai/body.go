package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fomonet/fomo/runtime"
)

// withIncludeUsage returns body with stream_options.include_usage set to
// true, and whether the client had asked for it itself. Only that field is
// changed: every other field keeps its value (re-encoded compactly, in key
// order), and a body that already asks for usage is returned unchanged.
func withIncludeUsage(body []byte) (out []byte, clientAsked bool, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, false, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "",
			"request body must be a JSON object")
	}
	opts := map[string]json.RawMessage{}
	if raw, ok := top["stream_options"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &opts); err != nil || opts == nil {
			return nil, false, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest,
				"stream_options", "stream_options must be an object")
		}
	}
	if raw, ok := opts["include_usage"]; ok {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil && !isNull(raw) {
			return nil, false, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest,
				"stream_options.include_usage", "stream_options.include_usage must be a boolean")
		}
		if b {
			return body, true, nil
		}
	}
	opts["include_usage"] = json.RawMessage("true")
	so, err := marshalNoEscape(opts)
	if err != nil {
		return nil, false, err
	}
	top["stream_options"] = so
	out, err = marshalNoEscape(top)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// marshalNoEscape encodes v without HTML escaping, so strings keep their
// bytes.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// --- usage and finish reasons ----------------------------------------------

// usageJSON is the usage object of a response or of a stream's last chunk.
type usageJSON struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

func (u *usageJSON) usage() runtime.Usage {
	return runtime.Usage{PromptTokens: max(0, u.PromptTokens), CompletionTokens: max(0, u.CompletionTokens)}
}

// chunk is the part of a stream event the runtime looks at.
type chunk struct {
	Error   json.RawMessage `json:"error"`
	Usage   *usageJSON      `json:"usage"`
	Choices []struct {
		FinishReason *string `json:"finish_reason"`
		Text         string  `json:"text"`
		Delta        struct {
			Content          string          `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Reasoning        string          `json:"reasoning"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
}

// whole is the part of a non-streaming response the runtime looks at.
type whole struct {
	Usage   *usageJSON `json:"usage"`
	Choices []struct {
		FinishReason *string `json:"finish_reason"`
		Text         string  `json:"text"`
		Message      struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Reasoning        string          `json:"reasoning"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
}

// finishReason maps an OpenAI finish_reason to the metered one: "length"
// stays, everything else (stop, tool_calls, function_call, content_filter,
// an EOS) is a normal stop.
func finishReason(s string) runtime.FinishReason {
	if s == "length" {
		return runtime.FinishLength
	}
	return runtime.FinishStop
}

// estimateTokens is the chars/4 estimate of a text's tokens, rounded up.
func estimateTokens(chars int) int64 {
	return int64(chars+3) / 4
}

// promptChars counts the characters of a request's prompt: chat message
// contents, a completions prompt or embeddings input. Token-id arrays count
// four characters per id, so they estimate to one token each.
func promptChars(api runtime.API, body []byte) int {
	var req struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Prompt json.RawMessage `json:"prompt"`
		Input  json.RawMessage `json:"input"`
	}
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	switch api {
	case runtime.APIChat:
		n := 0
		for _, m := range req.Messages {
			n += contentChars(m.Content)
		}
		return n
	case runtime.APICompletion:
		return contentChars(req.Prompt)
	case runtime.APIEmbedding:
		return contentChars(req.Input)
	}
	return 0
}

// contentChars counts the text characters in a JSON value: strings count
// their runes, numbers (token ids) count 4, objects count their "text"
// fields, arrays their elements.
func contentChars(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	return valueChars(v, 0)
}

func valueChars(v any, depth int) int {
	if depth > 8 {
		return 0
	}
	switch v := v.(type) {
	case string:
		return utf8.RuneCountInString(v)
	case float64:
		return 4
	case []any:
		n := 0
		for _, e := range v {
			n += valueChars(e, depth+1)
		}
		return n
	case map[string]any:
		if t, ok := v["text"].(string); ok {
			return utf8.RuneCountInString(t)
		}
	}
	return 0
}

// --- errors -----------------------------------------------------------------

// upstreamErrorObject is an error object as the various servers send it:
// code and param may be strings, numbers or null.
type upstreamErrorObject struct {
	Message json.RawMessage `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// parseErrorObject turns the value of an "error" field into an *Error with
// the given status. It accepts an OpenAI error object or a bare string.
func parseErrorObject(raw json.RawMessage, status int) (*runtime.Error, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, false
		}
		return &runtime.Error{Status: status, Type: runtime.TypeForStatus(status), Message: s}, true
	}
	var o upstreamErrorObject
	if json.Unmarshal(raw, &o) != nil {
		return nil, false
	}
	msg := scalarText(o.Message)
	if msg == "" && o.Type == "" {
		return nil, false
	}
	e := &runtime.Error{Status: status, Message: msg, Type: o.Type}
	if e.Type == "" {
		e.Type = runtime.TypeForStatus(status)
	}
	if p := scalarText(o.Param); p != "" {
		e.Param = &p
	}
	if c := scalarText(o.Code); c != "" {
		e.Code = &c
	}
	return e, true
}

// scalarText renders a JSON string, number or boolean as text; null, absent
// and composite values give "" (composites give their JSON).
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return string(raw)
}

// parseUpstreamError builds the *Error for a non-2xx upstream answer. It
// keeps the upstream's OpenAI error object when there is one: {"error":
// {...}}, {"error": "text"}, a bare top-level error object (older vLLM) or
// FastAPI's {"detail": ...}. Otherwise the message names the upstream, the
// status and the start of the body.
func parseUpstreamError(who string, status int, body []byte) *runtime.Error {
	var doc struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &doc) == nil {
		if len(doc.Error) > 0 && !isNull(doc.Error) {
			if e, ok := parseErrorObject(doc.Error, status); ok {
				return e
			}
		}
		if e, ok := parseErrorObject(body, status); ok {
			return e
		}
		if d := scalarText(doc.Detail); d != "" {
			return &runtime.Error{Status: status, Type: runtime.TypeForStatus(status), Message: d}
		}
	}
	msg := fmt.Sprintf("upstream %s answered %d %s", who, status, http.StatusText(status))
	if snippet := bodySnippet(body); snippet != "" {
		msg += ": " + snippet
	}
	return &runtime.Error{Status: status, Type: runtime.TypeForStatus(status), Message: msg}
}

// streamError builds the *Error for an error event inside a stream. Its
// status is the event's numeric code when that is an HTTP error status, else
// 500.
func streamError(raw json.RawMessage) *runtime.Error {
	status := http.StatusInternalServerError
	var o upstreamErrorObject
	if json.Unmarshal(raw, &o) == nil {
		if n, err := strconv.Atoi(scalarText(o.Code)); err == nil && n >= 400 && n <= 599 {
			status = n
		}
	}
	if e, ok := parseErrorObject(raw, status); ok {
		return e
	}
	return &runtime.Error{Status: status, Type: runtime.ErrTypeAPI,
		Message: "upstream sent an error event: " + bodySnippet(raw)}
}

// bodySnippet returns the start of a body as printable single-line text.
func bodySnippet(b []byte) string {
	const maxSnippet = 200
	s := strings.ToValidUTF8(string(b[:min(len(b), maxSnippet*4)]), "?")
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxSnippet {
		s = string(r[:maxSnippet]) + "…"
	}
	return s
}
