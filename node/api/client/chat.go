package client

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/receipt"
)

// ChatChunk is one event of a streamed chat completion, as far as a
// client of a fomo node reads it.
type ChatChunk struct {
	Choices []ChatChoice `json:"choices"`
	// Usage is set on the final usage chunk (stream_options.include_usage).
	Usage *Usage `json:"usage"`
	// Fomo is the serving node's receipt, on the final usage chunk of a
	// metered request.
	Fomo *api.Fomo `json:"fomo"`
}

// ChatChoice is one choice of a ChatChunk.
type ChatChoice struct {
	Index int `json:"index"`
	Delta struct {
		Role    string `json:"role,omitempty"`
		Content string `json:"content"`
	} `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// Usage is the token count of a response.
type Usage struct {
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	TotalTokens      uint64 `json:"total_tokens"`
}

// ChatRequest is a streamed chat completion to send.
type ChatRequest struct {
	// Body is the OpenAI request, JSON, with "stream": true.
	Body []byte
	// Authorization, when set, is a signed fomo/auth/v1 envelope the
	// client pays with, sent base64 in receipt.AuthorizationHeader.
	Authorization []byte
	// APIKey, when set, is sent as "Authorization: Bearer APIKEY".
	APIKey string
}

// ChatStream posts a streaming chat completion (POST /v1/chat/completions)
// and calls fn with each event until the stream ends, fn returns an error,
// or ctx is done. An error event in the stream is returned as an *Error
// with StatusCode 0. The client's timeout does not apply: a stream lasts
// as long as the model writes.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest, fn func(ChatChunk) error) error {
	h := http.Header{}
	if len(req.Authorization) > 0 {
		h.Set(receipt.AuthorizationHeader, base64.StdEncoding.EncodeToString(req.Authorization))
	}
	if req.APIKey != "" {
		h.Set("Authorization", "Bearer "+req.APIKey)
	}
	h.Set("Accept", "text/event-stream")
	resp, err := c.send(ctx, http.MethodPost, "/v1/chat/completions", "application/json", req.Body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		if obj, ok := errorObject([]byte(line)); ok {
			return &Error{Message: obj.Message, Type: obj.Type, Param: obj.Param, Code: obj.Code}
		}
		var ch struct {
			ChatChunk
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			return fmt.Errorf("bad event from the node: %v", err)
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			return &Error{Message: strings.TrimSpace(line)}
		}
		if err := fn(ch.ChatChunk); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the stream from %s: %w", c.base, err)
	}
	return nil
}
