// Package openai implements runtime.Runtime for an upstream OpenAI-compatible
// server reached by URL: vLLM, llama.cpp's server, SGLang, Ollama and the
// like.
//
// Request bodies are forwarded as the client sent them. For streams the
// runtime sets stream_options.include_usage so the upstream reports its own
// token count, and hides the usage-only chunk again from clients that did not
// ask for it. Every server-sent event becomes one runtime.Event holding the
// event's data exactly as the upstream sent it; the closing [DONE] ends the
// stream. When an upstream reports no usage the runtime counts it: one
// completion token per delivered chunk with content (these servers send one
// token per chunk) or a chars/4 estimate, marked Usage.Estimated.
//
// The upstream request lives in the caller's context: cancelling it, or
// closing the stream, aborts the upstream request. Upstream failures become
// *runtime.Error values: the upstream's own error object and status where it
// sent one, 502 when it is unreachable or breaks a stream, 504 on timeouts.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// Clock is the time source of a Runtime: it times stream deadlines and
// stamps health changes.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer made by a Clock.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Option configures a Runtime.
type Option func(*Runtime)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(r *Runtime) {
		if l != nil {
			r.log = l
		}
	}
}

// WithHTTPClient sets the HTTP client used to reach the upstream. Its own
// Timeout, if any, still applies on top of the Config timeouts;
// ConnectTimeout does not apply to it.
func WithHTTPClient(c *http.Client) Option {
	return func(r *Runtime) {
		if c != nil {
			r.client, r.ownTransport = c, nil
		}
	}
}

// WithTransport sets the transport of the runtime's HTTP client.
func WithTransport(t http.RoundTripper) Option {
	return func(r *Runtime) {
		if t != nil {
			r.client, r.ownTransport = &http.Client{Transport: t}, nil
		}
	}
}

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option {
	return func(r *Runtime) {
		if c != nil {
			r.clock = c
		}
	}
}

// WithMaxEventBytes bounds one server-sent event (default
// DefaultMaxEventBytes, and never more than Config.MaxResponseBytes).
func WithMaxEventBytes(n int) Option {
	return func(r *Runtime) {
		if n > 0 {
			r.maxEvent = n
		}
	}
}

// Runtime is a runtime.Runtime backed by an upstream OpenAI-compatible
// server. It is safe for concurrent use.
type Runtime struct {
	cfg          Config
	base         string // server root, without /v1
	client       *http.Client
	ownTransport *http.Transport
	clock        Clock
	log          *slog.Logger
	maxEvent     int

	mu     sync.Mutex
	models []runtime.Model // last discovered list
	health runtime.Health  // last health report
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime for cfg. Zero durations and sizes in cfg take their
// defaults; the result must pass Config.Validate.
func New(cfg Config, opts ...Option) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := baseURL(cfg.URL)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 64
	// Streams must arrive event by event and byte for byte.
	tr.DisableCompression = true
	r := &Runtime{
		cfg:          cfg,
		base:         base,
		client:       &http.Client{Transport: tr},
		ownTransport: tr,
		clock:        realClock{},
		log:          slog.New(slog.DiscardHandler),
		maxEvent:     DefaultMaxEventBytes,
	}
	for _, o := range opts {
		o(r)
	}
	if int64(r.maxEvent) > cfg.MaxResponseBytes {
		r.maxEvent = int(cfg.MaxResponseBytes)
	}
	r.health = runtime.Health{Status: "unknown", Since: r.clock.Now()}
	r.log = r.log.With("runtime", cfg.Name)
	return r, nil
}

// Name returns the configured name.
func (r *Runtime) Name() string { return r.cfg.Name }

// Config returns the configuration in effect, defaults filled in.
func (r *Runtime) Config() Config { return r.cfg }

// Close closes idle connections to the upstream. Streams in flight are not
// affected. The Runtime stays usable.
func (r *Runtime) Close() error {
	if r.ownTransport != nil {
		r.ownTransport.CloseIdleConnections()
	}
	return nil
}

// Chat forwards a chat completion request to POST /v1/chat/completions.
func (r *Runtime) Chat(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return r.do(ctx, runtime.APIChat, req)
}

// Complete forwards a completion request to POST /v1/completions.
func (r *Runtime) Complete(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return r.do(ctx, runtime.APICompletion, req)
}

// Embed forwards an embeddings request to POST /v1/embeddings.
func (r *Runtime) Embed(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return r.do(ctx, runtime.APIEmbedding, req)
}

// Causes of an aborted upstream request, set on its context.
var (
	errFirstByte      = errors.New("first byte timeout")
	errIdle           = errors.New("idle timeout")
	errRequestTimeout = errors.New("request timeout")
)

func (r *Runtime) who() string { return fmt.Sprintf("%s at %s", r.cfg.Name, r.base) }

func (r *Runtime) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if r.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	}
	return hreq, nil
}

func (r *Runtime) do(ctx context.Context, api runtime.API, req *runtime.Request) (runtime.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, r.ctxError(ctx)
	}
	body, clientUsage := req.Body, true
	if req.Stream {
		var err error
		if body, clientUsage, err = withIncludeUsage(req.Body); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	var timer Timer
	if req.Stream {
		timer = r.clock.AfterFunc(r.cfg.FirstByteTimeout, func() { cancel(errFirstByte) })
	} else {
		timer = r.clock.AfterFunc(r.cfg.RequestTimeout, func() { cancel(errRequestTimeout) })
	}
	fail := func(err error) (runtime.Stream, error) {
		timer.Stop()
		cancel(nil)
		return nil, err
	}
	hreq, err := r.newRequest(rctx, http.MethodPost, "/v1"+api.Path(), body)
	if err != nil {
		return fail(runtime.Errorf(http.StatusInternalServerError, runtime.ErrTypeAPI, "", "upstream %s: %v", r.who(), err))
	}
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := r.client.Do(hreq)
	if err != nil {
		return fail(r.transportError(ctx, rctx, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if rerr != nil && len(b) == 0 && rctx.Err() != nil {
			return fail(r.transportError(ctx, rctx, rerr))
		}
		e := parseUpstreamError(r.who(), resp.StatusCode, b)
		level := slog.LevelDebug
		if resp.StatusCode >= 500 {
			level = slog.LevelWarn
		}
		r.log.Log(ctx, level, "upstream answered an error", "status", resp.StatusCode, "api", string(api),
			"model", req.Model, "err", e.Message)
		return fail(e)
	}
	if req.Stream && isJSON(resp.Header.Get("Content-Type")) {
		resp.Body.Close()
		return fail(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"upstream %s answered a streaming request with a JSON document instead of an event stream", r.who()))
	}
	if !req.Stream {
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxResponseBytes+1))
		if err != nil {
			return fail(r.transportError(ctx, rctx, err))
		}
		if int64(len(b)) > r.cfg.MaxResponseBytes {
			return fail(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
				"upstream %s sent a response larger than %d bytes", r.who(), r.cfg.MaxResponseBytes))
		}
		timer.Stop()
		cancel(nil)
		usage, finish := r.wholeUsage(api, req.Body, b)
		return runtime.SingleEvent(b, usage, finish), nil
	}
	timer.Stop()
	return r.newStream(ctx, rctx, cancel, api, req.Body, clientUsage, resp.Body), nil
}

// isJSON reports whether a Content-Type is application/json.
func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json"
}

// wholeUsage reads usage and finish reason from a non-streaming response,
// estimating the usage when the upstream reported none.
func (r *Runtime) wholeUsage(api runtime.API, reqBody, body []byte) (runtime.Usage, runtime.FinishReason) {
	var w whole
	json.Unmarshal(body, &w)
	finish := runtime.FinishStop
	outChars := 0
	for _, c := range w.Choices {
		if c.FinishReason != nil && *c.FinishReason != "" {
			finish = finishReason(*c.FinishReason)
		}
		outChars += len([]rune(c.Text)) + contentChars(c.Message.Content) +
			len([]rune(c.Message.ReasoningContent)) + len([]rune(c.Message.Reasoning)) + len([]rune(string(c.Message.ToolCalls)))
	}
	if w.Usage != nil {
		return w.Usage.usage(), finish
	}
	u := runtime.Usage{PromptTokens: estimateTokens(promptChars(api, reqBody)), Estimated: true}
	if api != runtime.APIEmbedding {
		u.CompletionTokens = estimateTokens(outChars)
	}
	return u, finish
}

// ctxError is the error for a request whose caller's context ended: the
// context's error when cancelled, a 504 when its deadline passed.
func (r *Runtime) ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "",
			"request deadline passed while waiting for upstream %s", r.who())
	}
	return ctx.Err()
}

// transportError maps an error from sending a request or reading its
// response to what the caller gets.
func (r *Runtime) transportError(ctx, rctx context.Context, err error) error {
	if ctx.Err() != nil {
		return r.ctxError(ctx)
	}
	if rctx.Err() != nil {
		if e := r.timeoutError(context.Cause(rctx)); e != nil {
			return e
		}
	}
	var op *net.OpError
	var dns *net.DNSError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
		r.log.Warn("upstream unreachable", "url", r.base, "err", err)
		return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"upstream %s unreachable: %v", r.who(), unwrapURLError(err))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "",
			"upstream %s timed out: %v", r.who(), unwrapURLError(err))
	}
	r.log.Warn("upstream request failed", "url", r.base, "err", err)
	return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "upstream %s failed: %v", r.who(), unwrapURLError(err))
}

// timeoutError returns the 504 for one of the runtime's own timeouts, or
// nil.
func (r *Runtime) timeoutError(cause error) *runtime.Error {
	var what string
	var d time.Duration
	switch cause {
	case errFirstByte:
		what, d = "did not start answering within", r.cfg.FirstByteTimeout
	case errIdle:
		what, d = "sent nothing for", r.cfg.IdleTimeout
	case errRequestTimeout:
		what, d = "did not answer within", r.cfg.RequestTimeout
	default:
		return nil
	}
	r.log.Warn("upstream timed out", "url", r.base, "reason", cause.Error(), "timeout", d)
	return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "", "upstream %s %s %s", r.who(), what, d)
}

// unwrapURLError drops the "Post "url": " prefix of a *url.Error, as the
// message already names the upstream.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// --- models and health ------------------------------------------------------

// metaTimeout bounds the model listing and health requests.
const metaTimeout = 30 * time.Second

type modelListJSON struct {
	Data []struct {
		ID            string `json:"id"`
		OwnedBy       string `json:"owned_by"`
		Created       int64  `json:"created"`
		MaxModelLen   int    `json:"max_model_len"`
		ContextLength int    `json:"context_length"`
	} `json:"data"`
}

// get performs a GET on the upstream and returns the status and up to limit
// bytes of the body.
func (r *Runtime) get(ctx context.Context, path string, limit int64) (int, []byte, error) {
	hreq, err := r.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := r.client.Do(hreq)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if int64(len(b)) > limit {
		return resp.StatusCode, nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return resp.StatusCode, b, nil
}

// Models returns the configured models or, when none are configured, the
// models the upstream lists on GET /v1/models, fetched on every call. When
// that fetch fails, the error comes with the last list fetched successfully
// (nil if none), for callers that prefer a stale list to none.
func (r *Runtime) Models(ctx context.Context) ([]runtime.Model, error) {
	if len(r.cfg.Models) > 0 {
		out := make([]runtime.Model, len(r.cfg.Models))
		for i, id := range r.cfg.Models {
			out[i] = runtime.Model{ID: id, Runtime: r.cfg.Name}
		}
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	status, body, err := r.get(ctx, "/v1/models", min(r.cfg.MaxResponseBytes, 16<<20))
	if err != nil {
		return r.cachedModels(), r.transportError(context.Background(), ctx, err)
	}
	if status < 200 || status > 299 {
		return r.cachedModels(), parseUpstreamError(r.who(), status, body)
	}
	var list modelListJSON
	if err := json.Unmarshal(body, &list); err != nil {
		return r.cachedModels(), runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"upstream %s sent an invalid model list: %v", r.who(), err)
	}
	out := make([]runtime.Model, 0, len(list.Data))
	seen := map[string]bool{}
	for _, m := range list.Data {
		if m.ID == "" || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		md := runtime.Model{ID: m.ID, OwnedBy: m.OwnedBy, Runtime: r.cfg.Name, ContextLength: m.MaxModelLen}
		if md.ContextLength == 0 {
			md.ContextLength = m.ContextLength
		}
		if m.Created > 0 {
			md.Created = time.Unix(m.Created, 0)
		}
		out = append(out, md)
	}
	r.mu.Lock()
	r.models = out
	r.mu.Unlock()
	return append([]runtime.Model(nil), out...), nil
}

func (r *Runtime) cachedModels() []runtime.Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runtime.Model(nil), r.models...)
}

// Health probes GET /health: 2xx is ready, 503 (llama.cpp while loading its
// model) is "starting". An upstream without a usable /health is probed with
// GET /v1/models instead. An unreachable upstream is "down".
func (r *Runtime) Health(ctx context.Context) runtime.Health {
	ctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	h := r.probe(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.OK != r.health.OK || h.Status != r.health.Status {
		h.Since = r.clock.Now()
		r.log.Info("upstream health changed", "status", h.Status, "detail", h.Detail)
	} else {
		h.Since = r.health.Since
	}
	r.health = h
	return h
}

func (r *Runtime) probe(ctx context.Context) runtime.Health {
	status, body, err := r.get(ctx, "/health", 64<<10)
	if err != nil {
		return runtime.Health{Status: "down", Detail: r.transportError(context.Background(), ctx, err).Error()}
	}
	switch {
	case status >= 200 && status <= 299:
		return runtime.Health{OK: true, Status: "ready"}
	case status == http.StatusServiceUnavailable:
		return runtime.Health{Status: "starting", Detail: parseUpstreamError(r.who(), status, body).Message}
	}
	status, body, err = r.get(ctx, "/v1/models", 16<<20)
	switch {
	case err != nil:
		return runtime.Health{Status: "down", Detail: r.transportError(context.Background(), ctx, err).Error()}
	case status >= 200 && status <= 299:
		return runtime.Health{OK: true, Status: "ready"}
	case status == http.StatusServiceUnavailable:
		return runtime.Health{Status: "starting", Detail: parseUpstreamError(r.who(), status, body).Message}
	}
	return runtime.Health{Status: "down", Detail: parseUpstreamError(r.who(), status, body).Message}
}
