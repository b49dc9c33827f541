// Package client is a typed Go client of a fomo node's HTTP API: the
// admin API under /api/v1 (status, GPUs, peers, receipts, prices, model
// manifests, the settlement chain) and the OpenAI-compatible chat
// endpoint. Answers decode into node/api's JSON types; an error answer
// becomes an *Error with the status and the node's message, and a node
// that cannot be reached an *UnreachableError naming its address.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one node's HTTP API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	timeout time.Duration
}

// Option configures a Client built by New.
type Option func(*Client)

// WithHTTPClient sets the HTTP client requests go through (default
// http.DefaultClient); nil keeps the default.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.http = h
		}
	}
}

// WithTimeout bounds each request but streamed chat completions (default
// 2 minutes; 0 or less means no bound beyond the caller's context).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// DefaultTimeout bounds a request unless WithTimeout says otherwise.
const DefaultTimeout = 2 * time.Minute

// New returns a client of the node whose API is at base, such as
// http://127.0.0.1:8080. A base without a scheme is taken as http.
func New(base string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(base)
	if raw == "" {
		return nil, errors.New("no node address given")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("node address %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("node address %q: the scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("node address %q names no host", base)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{base: u, http: http.DefaultClient, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Base returns the node's address as the client uses it.
func (c *Client) Base() string { return c.base.String() }

// Error is an error answer of the node: its HTTP status and the OpenAI
// error object it sent. An error sent inside a stream has no status.
type Error struct {
	// StatusCode is the HTTP status (0 for an error event in a stream).
	StatusCode int
	// Status is the status line, such as "404 Not Found".
	Status string
	// Message, Type, Param and Code are the OpenAI error object's fields;
	// Message is the whole body when the node sent no error object.
	Message string
	Type    string
	Param   string
	Code    string
}

func (e *Error) Error() string {
	if e.StatusCode == 0 {
		return "the stream failed: " + e.Message
	}
	return e.Status + ": " + e.Message
}

// UnreachableError is a node the client could not connect to.
type UnreachableError struct {
	// Base is the node's address.
	Base string
	// Err is the connection's error.
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the node at %s: is it running? (%v); set the node's address with --api URL or FOMO_API", e.Base, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.StatusCode == http.StatusNotFound
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 16 << 20

// Do sends one request to the node: path (with its query) is relative to
// the node's address, body (if not nil) is sent as contentType, and a 200
// answer's JSON is decoded into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, contentType, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the node's answer is not what was expected: %w", method, path, err)
	}
	return nil
}

// send makes the request and returns a 200 answer; any other answer is
// read and returned as an *Error.
func (c *Client) send(ctx context.Context, method, path, contentType string, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, decodeError(resp, b)
	}
	return resp, nil
}

func (c *Client) url(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return c.base.String() + path
}

// transportError names the node when it could not be reached; a
// cancelled or timed-out request keeps its context error.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("asking the node at %s: %w", c.base, ctx.Err())
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return &UnreachableError{Base: c.base.String(), Err: op}
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return &UnreachableError{Base: c.base.String(), Err: err}
	}
	return fmt.Errorf("asking the node at %s: %w", c.base, err)
}

// decodeError turns an error answer into an *Error.
func decodeError(resp *http.Response, b []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, Status: resp.Status}
	if obj, ok := errorObject(b); ok {
		e.Message, e.Type, e.Param, e.Code = obj.Message, obj.Type, obj.Param, obj.Code
		return e
	}
	e.Message = strings.TrimSpace(string(b))
	return e
}

type openAIError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param"`
	Code    string `json:"code"`
}

// errorObject reads an OpenAI error object ({"error": {...}}) with a
// message.
func errorObject(b []byte) (openAIError, bool) {
	var e struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   json.RawMessage `json:"param"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Message == "" {
		return openAIError{}, false
	}
	return openAIError{Message: e.Error.Message, Type: e.Error.Type, Param: jsonString(e.Error.Param), Code: jsonString(e.Error.Code)}, true
}

// jsonString reads a JSON string, null or absent as "", any other value
// as its JSON text.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
