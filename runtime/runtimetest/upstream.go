// Package runtimetest provides a deterministic OpenAI-compatible upstream
// server for tests, development networks and benchmarks.
//
// Upstream is a plain http.Handler that answers the way vLLM and llama.cpp's
// server do: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions,
// POST /v1/completions, POST /v1/embeddings and GET /health. Generated text is
// a pure function of the prompt, the request's seed and the token index, so
// two identical requests get identical answers. Options make it misbehave in
// the ways real upstreams do: failing with an HTTP error, dying in the middle
// of a stream, sending an error event, stalling, reporting no usage, or still
// loading its model. It records every request it received and every request
// whose client went away, so tests can check that cancellation reaches the
// upstream.
//
// Serve it with httptest.NewServer(u) in a test, or with ListenAndServe from a
// small command.
package runtimetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// Defaults of an Upstream built without options.
const (
	DefaultModel         = "test-model"
	DefaultTokens        = 16
	DefaultEmbeddingDims = 8
	// maxRequestBytes bounds the request bodies the upstream reads.
	maxRequestBytes = 16 << 20
)

// LoadingBody is the body llama.cpp's server answers with, status 503, while
// its model is loading; Upstream sends it until it is ready.
const LoadingBody = `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`

// Option configures an Upstream.
type Option func(*Upstream)

// WithModels sets the model names served (default DefaultModel).
func WithModels(ids ...string) Option {
	return func(u *Upstream) { u.models = slices.Clone(ids) }
}

// WithTokens sets how many tokens a response has when the request does not
// cap it with max_tokens (default DefaultTokens). Such a response ends with
// finish_reason "stop".
func WithTokens(n int) Option {
	return func(u *Upstream) { u.tokens = n }
}

// WithTokenDelay makes the upstream wait d before producing each token.
func WithTokenDelay(d time.Duration) Option {
	return func(u *Upstream) { u.delay = d }
}

// WithSleep replaces the function used to wait between tokens. It must
// return early with ctx's error when ctx ends.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(u *Upstream) { u.sleep = sleep }
}

// WithNow replaces the clock used for the "created" field.
func WithNow(now func() time.Time) Option {
	return func(u *Upstream) { u.now = now }
}

// WithoutUsage makes the upstream report no usage at all, neither in JSON
// responses nor in streams, whatever stream_options asks for.
func WithoutUsage() Option {
	return func(u *Upstream) { u.noUsage = true }
}

// WithFailure makes every /v1 request fail with status and body (see
// SetFailure).
func WithFailure(status int, body []byte) Option {
	return func(u *Upstream) { u.failStatus, u.failBody = status, body }
}

// WithDieAfter makes the upstream drop the TCP connection abruptly after n
// events of a stream, or before answering a non-streaming request.
func WithDieAfter(n int) Option {
	return func(u *Upstream) { u.dieAfter = n }
}

// WithErrorEventAfter makes a stream send e as an error event
// (data: {"error":{...}}) after n events, followed by data: [DONE].
func WithErrorEventAfter(n int, e *runtime.Error) Option {
	return func(u *Upstream) { u.errAfter, u.errEvent = n, e }
}

// WithStallAfter makes a stream stop after n events (n = 0: after the
// response headers) and a non-streaming request stop before its response,
// until the client goes away or the Upstream is closed.
func WithStallAfter(n int) Option {
	return func(u *Upstream) { u.stallAfter = n }
}

// WithStallBeforeHeaders makes every inference request stop before the
// response headers are sent, until the client goes away or the Upstream is
// closed.
func WithStallBeforeHeaders() Option {
	return func(u *Upstream) { u.stallHeaders = true }
}

// WithLoading starts the upstream as still loading its model: every request
// is answered 503 with LoadingBody until SetReady(true).
func WithLoading() Option {
	return func(u *Upstream) { u.ready = false }
}

// WithoutHealth removes the /health endpoint (it answers 404), as on
// upstreams that only speak the OpenAI API.
func WithoutHealth() Option {
	return func(u *Upstream) { u.noHealth = true }
}

// WithEmbeddingDims sets the length of embedding vectors when the request
// does not ask for "dimensions" (default DefaultEmbeddingDims).
func WithEmbeddingDims(n int) Option {
	return func(u *Upstream) { u.dims = n }
}

// WithContextLength sets the max_model_len reported on /v1/models.
func WithContextLength(n int) Option {
	return func(u *Upstream) { u.contextLen = n }
}

// RecordedRequest is one request the upstream received.
type RecordedRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Upstream is a deterministic OpenAI-compatible server. It is safe for
// concurrent use.
type Upstream struct {
	// Settings, fixed by options except where a setter exists.
	tokens       int
	delay        time.Duration
	sleep        func(context.Context, time.Duration) error
	now          func() time.Time
	noUsage      bool
	dieAfter     int
	errAfter     int
	errEvent     *runtime.Error
	stallAfter   int
	stallHeaders bool
	noHealth     bool
	dims         int
	contextLen   int

	mu         sync.Mutex
	models     []string
	ready      bool
	failStatus int
	failBody   []byte
	requests   []RecordedRequest
	cancelled  int
	changed    chan struct{} // closed and replaced when requests or cancelled grow

	done      chan struct{}
	closeOnce sync.Once
}

// NewUpstream returns an Upstream configured by opts.
func NewUpstream(opts ...Option) *Upstream {
	u := &Upstream{
		models:     []string{DefaultModel},
		tokens:     DefaultTokens,
		sleep:      runtime.Sleep,
		now:        time.Now,
		dieAfter:   -1,
		errAfter:   -1,
		stallAfter: -1,
		ready:      true,
		dims:       DefaultEmbeddingDims,
		changed:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(u)
	}
	return u
}

// SetReady switches the upstream between loading (503 on every request) and
// ready.
func (u *Upstream) SetReady(ready bool) {
	u.mu.Lock()
	u.ready = ready
	u.mu.Unlock()
}

// SetModels replaces the served model names.
func (u *Upstream) SetModels(ids ...string) {
	u.mu.Lock()
	u.models = slices.Clone(ids)
	u.mu.Unlock()
}

// SetFailure makes every /v1 request fail with status and body; status 0
// turns failing off. The body is sent as is with Content-Type
// application/json; runtime.Error.JSON builds an OpenAI error body.
func (u *Upstream) SetFailure(status int, body []byte) {
	u.mu.Lock()
	u.failStatus, u.failBody = status, body
	u.mu.Unlock()
}

// Requests returns the requests received so far, oldest first.
func (u *Upstream) Requests() []RecordedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.requests)
}

// LastRequest returns the most recent request, and false if there was none.
func (u *Upstream) LastRequest() (RecordedRequest, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return RecordedRequest{}, false
	}
	return u.requests[len(u.requests)-1], true
}

// Cancelled returns how many requests were abandoned because their client
// went away (the request context was cancelled or a write failed) before the
// response was complete.
func (u *Upstream) Cancelled() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cancelled
}

// WaitCancelled blocks until at least n requests have been cancelled, or ctx
// ends.
func (u *Upstream) WaitCancelled(ctx context.Context, n int) error {
	return u.waitFor(ctx, n, "cancellations", func() int { return u.cancelled })
}

// Close releases requests held by WithStallAfter or WithStallBeforeHeaders;
// later stalls return at once. It is safe to call more than once.
func (u *Upstream) Close() {
	u.closeOnce.Do(func() { close(u.done) })
}

// WaitRequests blocks until at least n requests have been received, or ctx
// ends.
func (u *Upstream) WaitRequests(ctx context.Context, n int) error {
	return u.waitFor(ctx, n, "requests", func() int { return len(u.requests) })
}

// waitFor blocks until count, read under u.mu, is at least n, or ctx ends;
// what names the things counted in the error.
func (u *Upstream) waitFor(ctx context.Context, n int, what string, count func() int) error {
	for {
		u.mu.Lock()
		got, ch := count(), u.changed
		u.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("runtimetest: %d of %d %s seen: %w", got, n, what, ctx.Err())
		}
	}
}

func (u *Upstream) recordCancel() {
	u.mu.Lock()
	u.cancelled++
	u.notifyLocked()
	u.mu.Unlock()
}

// notifyLocked wakes the waiters of WaitCancelled and WaitRequests.
func (u *Upstream) notifyLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// ServeHTTP implements http.Handler.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", "", "reading request body: "+err.Error())
		return
	}
	u.mu.Lock()
	u.requests = append(u.requests, RecordedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	u.notifyLocked()
	ready, failStatus, failBody := u.ready, u.failStatus, u.failBody
	models := slices.Clone(u.models)
	u.mu.Unlock()
	if len(body) > maxRequestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "BadRequestError", "", "request body too large")
		return
	}

	path := r.URL.Path
	if path == "/health" {
		switch {
		case u.noHealth:
			http.NotFound(w, r)
		case !ready:
			writeRaw(w, http.StatusServiceUnavailable, []byte(LoadingBody))
		default:
			w.WriteHeader(http.StatusOK)
		}
		return
	}
	if !strings.HasPrefix(path, "/v1/") {
		http.NotFound(w, r)
		return
	}
	if !ready {
		writeRaw(w, http.StatusServiceUnavailable, []byte(LoadingBody))
		return
	}
	if failStatus != 0 {
		writeRaw(w, failStatus, failBody)
		return
	}

	switch {
	case path == "/v1/models":
		if !allow(w, r, http.MethodGet) {
			return
		}
		list := modelList{Object: "list", Data: []modelEntry{}}
		for _, m := range models {
			list.Data = append(list.Data, u.modelEntry(m))
		}
		writeJSON(w, http.StatusOK, list)
	case strings.HasPrefix(path, "/v1/models/"):
		if !allow(w, r, http.MethodGet) {
			return
		}
		id := strings.TrimPrefix(path, "/v1/models/")
		if !slices.Contains(models, id) {
			writeModelNotFound(w, id)
			return
		}
		writeJSON(w, http.StatusOK, u.modelEntry(id))
	case path == "/v1/chat/completions":
		if allow(w, r, http.MethodPost) {
			u.generate(w, r, body, models, true)
		}
	case path == "/v1/completions":
		if allow(w, r, http.MethodPost) {
			u.generate(w, r, body, models, false)
		}
	case path == "/v1/embeddings":
		if allow(w, r, http.MethodPost) {
			u.embed(w, r, body, models)
		}
	default:
		http.NotFound(w, r)
	}
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "BadRequestError", "", "method not allowed")
	return false
}

// --- wire types -------------------------------------------------------------

type modelList struct {
	Object string       `json:"object"`
	Data   []modelEntry `json:"data"`
}

type modelEntry struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	MaxModelLen int    `json:"max_model_len,omitempty"`
}

func (u *Upstream) modelEntry(id string) modelEntry {
	return modelEntry{ID: id, Object: "model", Created: u.now().Unix(), OwnedBy: "runtimetest", MaxModelLen: u.contextLen}
}

type usageJSON struct {
	PromptTokens     int  `json:"prompt_tokens"`
	TotalTokens      int  `json:"total_tokens"`
	CompletionTokens *int `json:"completion_tokens,omitempty"`
}

type genRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Seed                *int64          `json:"seed"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message,omitempty"`
	Delta        *delta       `json:"delta,omitempty"`
	Text         *string      `json:"text,omitempty"`
	Logprobs     any          `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type response struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []choice        `json:"choices"`
	Usage   json.RawMessage `json:"usage,omitempty"`
}

// --- generation -------------------------------------------------------------

var words = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt
cobalt dune ember fjord granite harbor iris jade kelp lagoon marble nectar opal prairie quartz river
saffron timber umber velvet willow xenon yarrow zephyr anchor beacon canyon drift`)

// TokenText returns token i of the response to prompt with seed: the word
// without a leading space for i = 0, with one after that.
func TokenText(prompt string, seed int64, i int) string {
	h := mix(promptHash(prompt) ^ uint64(seed)*0x9e3779b97f4a7c15 ^ uint64(i)*0xbf58476d1ce4e5b9)
	w := words[h%uint64(len(words))]
	if i == 0 {
		return w
	}
	return " " + w
}

// Text returns the first n tokens of the response to prompt with seed,
// concatenated.
func Text(prompt string, seed int64, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(TokenText(prompt, seed, i))
	}
	return b.String()
}

// PromptTokens is the prompt token count the upstream reports for prompt:
// its number of whitespace-separated words, at least 1.
func PromptTokens(prompt string) int {
	return max(1, len(strings.Fields(prompt)))
}

func promptHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// chatPrompt returns the prompt text the upstream derives from chat
// messages: their text contents joined by newlines.
func chatPrompt(msgs []message) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, contentText(m.Content))
	}
	return strings.Join(parts, "\n")
}

// contentText returns the text of a message content: a string, or an array
// of parts whose text parts are joined by newlines.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var texts []string
		for _, p := range parts {
			if p.Type == "text" {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, "\n")
	}
	return string(raw)
}

// inputTexts returns the texts of a completions prompt or embeddings input: a
// string, an array of strings (one text each), or token arrays (their JSON).
func inputTexts(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		return ss, true
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		return []string{string(raw)}, true
	}
	var batches [][]int
	if json.Unmarshal(raw, &batches) == nil && len(batches) > 0 {
		out := make([]string, len(batches))
		for i, b := range batches {
			j, _ := json.Marshal(b)
			out[i] = string(j)
		}
		return out, true
	}
	return nil, false
}

// decodeRequest decodes body into req and checks that its model, which
// model points to, is one of models. Otherwise it writes the error answer
// and returns false.
func decodeRequest(w http.ResponseWriter, body []byte, req any, model *string, models []string) bool {
	if err := json.Unmarshal(body, req); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", "", "invalid JSON body: "+err.Error())
		return false
	}
	if !slices.Contains(models, *model) {
		writeModelNotFound(w, *model)
		return false
	}
	return true
}

func (u *Upstream) generate(w http.ResponseWriter, r *http.Request, body []byte, models []string, chat bool) {
	var req genRequest
	if !decodeRequest(w, body, &req, &req.Model, models) {
		return
	}
	var prompt string
	if chat {
		if len(req.Messages) == 0 {
			writeError(w, http.StatusBadRequest, "BadRequestError", "messages", "messages must not be empty")
			return
		}
		prompt = chatPrompt(req.Messages)
	} else {
		texts, ok := inputTexts(req.Prompt)
		if !ok {
			writeError(w, http.StatusBadRequest, "BadRequestError", "prompt", "prompt must be a string, an array of strings or token arrays")
			return
		}
		prompt = strings.Join(texts, "\n")
	}
	limit := req.MaxTokens
	if req.MaxCompletionTokens != nil {
		limit = req.MaxCompletionTokens
	}
	n, finish := u.tokens, "stop"
	if limit != nil {
		if *limit < 1 {
			writeError(w, http.StatusBadRequest, "BadRequestError", "max_tokens", "max_tokens must be at least 1")
			return
		}
		if *limit < n {
			n, finish = *limit, "length"
		}
	}
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	}
	g := &gen{
		u: u, w: w, r: r, chat: chat, model: req.Model, prompt: prompt, seed: seed, n: n, finish: finish,
		id:      idFor(chat, prompt, seed),
		created: u.now().Unix(),
	}
	if u.stallHeaders {
		u.stall(r)
		return
	}
	if req.Stream {
		g.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !u.noUsage
		g.stream()
		return
	}
	g.whole()
}

func idFor(chat bool, prompt string, seed int64) string {
	prefix := "cmpl-"
	if chat {
		prefix = "chatcmpl-"
	}
	return fmt.Sprintf("%s%016x", prefix, mix(promptHash(prompt)^uint64(seed)))
}

// stall blocks until the client goes away (recorded as a cancellation) or
// the Upstream is closed.
func (u *Upstream) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
		u.recordCancel()
	case <-u.done:
	}
}

// die drops the connection without finishing the response.
func die(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

type gen struct {
	u            *Upstream
	w            http.ResponseWriter
	r            *http.Request
	chat         bool
	model        string
	prompt       string
	seed         int64
	n            int
	finish       string
	id           string
	created      int64
	includeUsage bool
}

func (g *gen) usage() json.RawMessage {
	c := g.n
	b, _ := json.Marshal(usageJSON{PromptTokens: PromptTokens(g.prompt), CompletionTokens: &c, TotalTokens: PromptTokens(g.prompt) + c})
	return b
}

func (g *gen) object(chunk bool) string {
	switch {
	case g.chat && chunk:
		return "chat.completion.chunk"
	case g.chat:
		return "chat.completion"
	}
	return "text_completion"
}

// whole answers a non-streaming request.
func (g *gen) whole() {
	u := g.u
	if u.stallAfter >= 0 {
		u.stall(g.r)
		return
	}
	for range g.n {
		if err := u.sleep(g.r.Context(), u.delay); err != nil {
			u.recordCancel()
			return
		}
	}
	if u.dieAfter >= 0 {
		die(g.w)
		return
	}
	text := Text(g.prompt, g.seed, g.n)
	finish := g.finish
	c := choice{Index: 0, FinishReason: &finish}
	if g.chat {
		c.Message = &chatMessage{Role: "assistant", Content: text}
	} else {
		c.Text = &text
	}
	resp := response{ID: g.id, Object: g.object(false), Created: g.created, Model: g.model, Choices: []choice{c}}
	if !u.noUsage {
		resp.Usage = g.usage()
	}
	writeJSON(g.w, http.StatusOK, resp)
}

// stream answers a streaming request, one token per event.
func (g *gen) stream() {
	u, w, ctx := g.u, g.w, g.r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		u.recordCancel()
		return
	}
	var nullUsage json.RawMessage
	if g.includeUsage {
		nullUsage = json.RawMessage("null")
	}
	var events [][]byte
	if g.chat {
		empty := ""
		events = append(events, g.chunk([]choice{{Delta: &delta{Role: "assistant", Content: &empty}}}, nullUsage))
	}
	sent := 0
	// send writes one event; false means the handler must stop.
	send := func(data []byte) bool {
		if sent == u.dieAfter {
			die(w)
			return false
		}
		if sent == u.stallAfter {
			u.stall(g.r)
			return false
		}
		if sent == u.errAfter {
			writeEvent(w, runtime.ErrorBody{Error: u.errEvent})
			io.WriteString(w, "data: [DONE]\n\n")
			rc.Flush()
			return false
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			u.recordCancel()
			return false
		}
		if err := rc.Flush(); err != nil {
			u.recordCancel()
			return false
		}
		sent++
		return true
	}
	for _, e := range events {
		if !send(e) {
			return
		}
	}
	for i := range g.n {
		if err := u.sleep(ctx, u.delay); err != nil {
			u.recordCancel()
			return
		}
		tok := TokenText(g.prompt, g.seed, i)
		c := choice{Index: 0}
		if i == g.n-1 {
			finish := g.finish
			c.FinishReason = &finish
		}
		if g.chat {
			c.Delta = &delta{Content: &tok}
		} else {
			c.Text = &tok
		}
		if !send(g.chunk([]choice{c}, nullUsage)) {
			return
		}
	}
	if g.includeUsage {
		if !send(g.chunk([]choice{}, g.usage())) {
			return
		}
	}
	if !send([]byte("[DONE]")) {
		return
	}
}

func (g *gen) chunk(choices []choice, usage json.RawMessage) []byte {
	b, _ := json.Marshal(response{ID: g.id, Object: g.object(true), Created: g.created, Model: g.model, Choices: choices, Usage: usage})
	return b
}

// --- embeddings -------------------------------------------------------------

type embedRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embedResponse struct {
	Object string          `json:"object"`
	Data   []embedding     `json:"data"`
	Model  string          `json:"model"`
	Usage  json.RawMessage `json:"usage,omitempty"`
}

// Embedding returns the unit vector the upstream answers for text.
func Embedding(text string, dims int) []float32 {
	v := make([]float32, dims)
	var norm float64
	h := promptHash(text)
	for i := range v {
		x := float64(mix(h+uint64(i))>>11)/float64(1<<53)*2 - 1
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for i := range v {
		if norm > 0 {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

func (u *Upstream) embed(w http.ResponseWriter, r *http.Request, body []byte, models []string) {
	var req embedRequest
	if !decodeRequest(w, body, &req, &req.Model, models) {
		return
	}
	texts, ok := inputTexts(req.Input)
	if !ok {
		writeError(w, http.StatusBadRequest, "BadRequestError", "input", "input must be a string, an array of strings or token arrays")
		return
	}
	dims := u.dims
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > 65536 {
			writeError(w, http.StatusBadRequest, "BadRequestError", "dimensions", "dimensions must be between 1 and 65536")
			return
		}
		dims = *req.Dimensions
	}
	if u.stallHeaders || u.stallAfter >= 0 {
		u.stall(r)
		return
	}
	if u.dieAfter >= 0 {
		die(w)
		return
	}
	resp := embedResponse{Object: "list", Model: req.Model, Data: []embedding{}}
	tokens := 0
	for i, t := range texts {
		v := Embedding(t, dims)
		var e any = v
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			e = base64.StdEncoding.EncodeToString(buf)
		}
		resp.Data = append(resp.Data, embedding{Object: "embedding", Index: i, Embedding: e})
		tokens += PromptTokens(t)
	}
	if !u.noUsage {
		resp.Usage, _ = json.Marshal(usageJSON{PromptTokens: tokens, TotalTokens: tokens})
	}
	writeJSON(w, http.StatusOK, resp)
}

// --- writing ----------------------------------------------------------------

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, runtime.Errorf(500, runtime.ErrTypeAPI, "", "%v", err).JSON()
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeEvent(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "data: %s\n\n", b)
}

// vllmError is the error document vLLM sends: like OpenAI's, but with the
// HTTP status as a numeric code.
type vllmError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    int     `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, typ, param, msg string) {
	var e vllmError
	e.Error.Message, e.Error.Type, e.Error.Code = msg, typ, status
	if param != "" {
		e.Error.Param = &param
	}
	writeJSON(w, status, e)
}

func writeModelNotFound(w http.ResponseWriter, model string) {
	writeError(w, http.StatusNotFound, "NotFoundError", "model", fmt.Sprintf("The model `%s` does not exist.", model))
}

// ListenAndServe serves u on addr until ctx ends, then shuts the server down
// and returns nil. It returns the listener's or server's error otherwise.
func ListenAndServe(ctx context.Context, addr string, u *Upstream) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, u)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func Serve(ctx context.Context, ln net.Listener, u *Upstream) error {
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	u.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// SSEData splits a server-sent event stream body into the data payloads of
// its events, for tests that read an upstream directly. It handles only the
// "data: ...\n\n" framing the Upstream itself writes.
func SSEData(body []byte) [][]byte {
	var out [][]byte
	for ev := range bytes.SplitSeq(body, []byte("\n\n")) {
		if d, ok := bytes.CutPrefix(ev, []byte("data: ")); ok {
			out = append(out, d)
		}
	}
	return out
}
