// Package runtime defines how the node talks to model runtimes: the Runtime
// interface every backend implements (an OpenAI-compatible upstream, a
// supervised child process, the built-in engine), the request, stream and
// usage types they exchange with the HTTP API and the inference protocol, the
// OpenAI error object, and the Registry that maps served model names to the
// runtime that serves them.
//
// Requests and responses travel as raw OpenAI JSON: the API layer checks the
// envelope (model, stream flag, size) and hands the body on untouched, so a
// runtime can pass it through to an upstream byte for byte, and the inference
// protocol can carry it between peers without re-encoding.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// API names the OpenAI endpoint a request was made to.
type API string

// The endpoints a runtime may serve.
const (
	APIChat       API = "chat"       // POST /v1/chat/completions
	APICompletion API = "completion" // POST /v1/completions
	APIEmbedding  API = "embedding"  // POST /v1/embeddings
)

// Path returns the OpenAI URL path of the endpoint, relative to /v1.
func (a API) Path() string {
	switch a {
	case APIChat:
		return "/chat/completions"
	case APICompletion:
		return "/completions"
	case APIEmbedding:
		return "/embeddings"
	}
	return ""
}

// Request is one inference request as it reaches a runtime.
type Request struct {
	// API is the endpoint the client called.
	API API
	// Model is the served model name (the "model" field of Body).
	Model string
	// Stream is true when the client asked for server-sent events.
	Stream bool
	// Body is the client's OpenAI JSON request body, unmodified.
	Body []byte
	// Payee, when set, is the peer ID of the only node that may serve the
	// request: the payee its authorization names. Empty: any node.
	Payee string
	// Payment pays for the request: its authorization for the node that
	// serves it, and the receipt that node signs. Nil: nobody pays (a
	// node without metering).
	Payment Payment
}

// Payment is what pays for one request as it travels from the node that
// took it to the node that serves it. The entry node's metering sets it
// (an authorization it signs once the serving node is known, or the one
// the client signed), as does the inference protocol's server (the
// authorization that came with the request); the router asks it for the
// provider's authorization, and the serving node's metering hands it the
// receipt.
type Payment interface {
	// For returns the authorization envelope that pays node (a peer ID)
	// for the request.
	For(node string) ([]byte, error)
	// Paid records the receipt envelope the serving node signed at the
	// end of the request.
	Paid(receipt []byte)
}

// Backend serves inference requests: a runtime registry, a node's local
// and network backends, and the metering and routing layers around them.
// It is declared once, here, for every package that takes or wraps one.
type Backend interface {
	Do(ctx context.Context, req *Request) (Stream, error)
}

// Load is what a runtime knows exactly of its own work: the requests
// waiting and running, and its decode speed (0 until measured).
type Load struct {
	Queued                int
	Running               bool
	DecodeTokensPerSecond float64
}

// LoadReporter is implemented by runtimes that know their Load (the
// built-in engine); a node's capacity advert prefers it to what it
// measures from outside.
type LoadReporter interface {
	Load() Load
}

// Event is one unit of a response. For a streaming request it is the JSON
// payload of one server-sent event (without the "data: " prefix); for a
// non-streaming request the stream carries exactly one Event holding the whole
// JSON response body.
type Event struct {
	Data []byte
}

// Usage counts the tokens of one request, in the runtime's own tokenizer.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	// Estimated is true when the runtime did not report a count and the
	// numbers were derived from the delivered text instead.
	Estimated bool `json:"estimated,omitempty"`
}

// Total returns prompt plus completion tokens.
func (u Usage) Total() int64 { return u.PromptTokens + u.CompletionTokens }

// FinishReason says how a response ended.
type FinishReason string

// Finish reasons recorded for metering.
const (
	FinishStop      FinishReason = "stop"
	FinishLength    FinishReason = "length"
	FinishCancelled FinishReason = "cancelled"
	FinishError     FinishReason = "error"
)

// Stream is a response being produced. Recv returns events in order and
// io.EOF after the last one. Usage and Finish are valid after Recv has
// returned a non-nil error (io.EOF included) or after Close, and count only
// what was delivered through Recv. Close releases the stream and cancels the
// work behind it if it has not finished; it is safe to call more than once.
type Stream interface {
	Recv() (Event, error)
	Usage() Usage
	Finish() FinishReason
	Close() error
}

// Model describes one model a runtime serves.
type Model struct {
	// ID is the name clients use in the "model" field.
	ID string `json:"id"`
	// OwnedBy is the owner reported on /v1/models.
	OwnedBy string `json:"owned_by"`
	// Created is when the model became available here.
	Created time.Time `json:"-"`
	// Runtime names the runtime serving it.
	Runtime string `json:"runtime"`
	// ContextLength is the model's context window in tokens, 0 if unknown.
	ContextLength int `json:"context_length,omitempty"`
}

// Health reports whether a runtime can take requests.
type Health struct {
	OK     bool      `json:"ok"`
	Status string    `json:"status"` // "ready", "starting", "restarting", "down", …
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
}

// Runtime is a model backend. Implementations must be safe for concurrent use.
type Runtime interface {
	// Name is the configured name of this runtime.
	Name() string
	// Models lists the models this runtime serves now.
	Models(ctx context.Context) ([]Model, error)
	// Chat serves POST /v1/chat/completions.
	Chat(ctx context.Context, req *Request) (Stream, error)
	// Complete serves POST /v1/completions.
	Complete(ctx context.Context, req *Request) (Stream, error)
	// Embed serves POST /v1/embeddings. Runtimes without embeddings return an
	// *Error with status 400 and type invalid_request_error.
	Embed(ctx context.Context, req *Request) (Stream, error)
	// Health reports readiness.
	Health(ctx context.Context) Health
}

// Starter is implemented by runtimes that own resources (child processes,
// loaded weights): the node starts them before serving and closes them on
// shutdown.
type Starter interface {
	Start(ctx context.Context) error
	Close() error
}

// Do dispatches req to the method of rt that serves req.API.
func Do(ctx context.Context, rt Runtime, req *Request) (Stream, error) {
	switch req.API {
	case APIChat:
		return rt.Chat(ctx, req)
	case APICompletion:
		return rt.Complete(ctx, req)
	case APIEmbedding:
		return rt.Embed(ctx, req)
	}
	return nil, Errorf(400, ErrTypeInvalidRequest, "", "unsupported API %q", req.API)
}

// SingleEvent returns a Stream that yields one event and then io.EOF; it is
// how runtimes return non-streaming responses.
func SingleEvent(data []byte, usage Usage, finish FinishReason) Stream {
	return &single{data: data, usage: usage, finish: finish}
}

type single struct {
	data   []byte
	sent   bool
	usage  Usage
	finish FinishReason
}

func (s *single) Recv() (Event, error) {
	if s.sent {
		return Event{}, io.EOF
	}
	s.sent = true
	return Event{Data: s.data}, nil
}
func (s *single) Usage() Usage         { return s.usage }
func (s *single) Finish() FinishReason { return s.finish }
func (s *single) Close() error         { return nil }

// ErrClosed is returned by runtimes used after Close.
var ErrClosed = errors.New("runtime: closed")
