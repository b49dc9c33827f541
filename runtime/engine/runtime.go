package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// DefaultMaxQueue is the number of requests that may wait for the model
// when Config.MaxQueue is 0.
const DefaultMaxQueue = 64

// Config configures an engine runtime, as written in a [[runtime]] section
// with kind = "engine".
type Config struct {
	// Name is the runtime's name and the served model id; default the
	// model's general.name, else the file name without extension.
	Name string `toml:"name"`
	// Model is the path of the GGUF file.
	Model string `toml:"model"`
	// Threads is the number of threads of the matrix products; 0 means one
	// per CPU.
	Threads int `toml:"threads"`
	// ChatTemplate overrides the chat format detected from the model's
	// tokenizer.chat_template: "chatml", "llama3" or "llama2".
	ChatTemplate string `toml:"chat_template"`
	// MaxQueue is how many requests may wait while one is generating; more
	// are refused with 503. 0 means DefaultMaxQueue; -1 means none may wait.
	MaxQueue int `toml:"max_queue"`
	// ContextLength caps the model's context window; 0 keeps the model's.
	ContextLength int `toml:"context_length"`
}

// Validate checks the config without touching the model file.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Model) == "" {
		errs = append(errs, errors.New("model: the path of a .gguf file is required"))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads: %d is negative", c.Threads))
	}
	if c.MaxQueue < -1 {
		errs = append(errs, fmt.Errorf("max_queue: %d is below -1", c.MaxQueue))
	}
	if c.ContextLength < 0 {
		errs = append(errs, fmt.Errorf("context_length: %d is negative", c.ContextLength))
	}
	if c.ChatTemplate != "" {
		if _, err := tokenizer.ParseTemplateKind(c.ChatTemplate); err != nil {
			errs = append(errs, fmt.Errorf("chat_template: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine runtime %q: %w", c.Name, err)
	}
	return nil
}

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

// WithClock sets the clock used for "created" timestamps and health.
func WithClock(now func() time.Time) Option {
	return func(r *Runtime) {
		if now != nil {
			r.now = now
		}
	}
}

// Runtime serves one GGUF model with the built-in engine. It implements
// runtime.Runtime and runtime.Starter. Requests run one at a time in
// arrival order; the others wait in a queue of at most Config.MaxQueue.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	maxQueue int

	startMu  sync.Mutex // serializes Start
	mu       sync.Mutex
	cond     *sync.Cond
	state    string // "starting", "ready", "down"
	detail   string
	since    time.Time
	closing  bool
	model    *Model
	seq      *Sequence
	tmpl     tokenizer.TemplateKind
	tmplErr  error
	ctxLen   int
	name     string
	created  time.Time
	queue    []*job
	running  *job
	loopDone chan struct{}

	ids       atomic.Uint64
	requests  atomic.Int64
	promptN   atomic.Int64
	generated atomic.Int64
	decodeNs  atomic.Int64
	decodeN   atomic.Int64

	// testHook, when set, runs before every decode step.
	testHook func(j *job)
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Starter = (*Runtime)(nil)
)

// New returns a runtime for cfg. The model is loaded by Start.
func New(cfg Config, opts ...Option) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runtime{
		cfg:   cfg,
		log:   slog.New(slog.DiscardHandler),
		now:   time.Now,
		state: "starting",
	}
	r.cond = sync.NewCond(&r.mu)
	for _, o := range opts {
		o(r)
	}
	r.since = r.now()
	r.maxQueue = cfg.MaxQueue
	switch {
	case r.maxQueue == 0:
		r.maxQueue = DefaultMaxQueue
	case r.maxQueue < 0:
		r.maxQueue = 0
	}
	r.name = cfg.Name
	return r, nil
}

// Name returns the configured name, or the model file's name without
// extension when none is configured. It does not change once the model is
// loaded (the served model id may: see Models).
func (r *Runtime) Name() string {
	if r.cfg.Name != "" {
		return r.cfg.Name
	}
	return strings.TrimSuffix(filepath.Base(r.cfg.Model), filepath.Ext(r.cfg.Model))
}

// Start memory-maps and loads the model and starts the request loop.
func (r *Runtime) Start(ctx context.Context) error {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return runtime.ErrClosed
	}
	if r.model != nil {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	threads := r.cfg.Threads
	if threads == 0 {
		threads = defaultThreads()
	}
	begin := time.Now()
	m, err := LoadFile(r.cfg.Model, threads)
	if err != nil {
		r.setState("down", err.Error())
		return fmt.Errorf("engine runtime %q: %w", r.Name(), err)
	}
	tmpl, tmplErr := r.chatTemplate(m)
	if tmplErr != nil {
		r.log.Warn("chat requests will be refused", "runtime", r.Name(), "err", tmplErr)
	}
	ctxLen := m.HP.ContextLength
	if r.cfg.ContextLength > 0 && r.cfg.ContextLength < ctxLen {
		ctxLen = r.cfg.ContextLength
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		_ = m.Close()
		return runtime.ErrClosed
	}
	r.model, r.seq, r.tmpl, r.tmplErr, r.ctxLen = m, m.NewSequence(ctxLen), tmpl, tmplErr, ctxLen
	if r.name == "" {
		r.name = m.Name
	}
	r.created = r.now()
	r.loopDone = make(chan struct{})
	r.state, r.detail, r.since = "ready", "", r.now()
	r.mu.Unlock()
	go r.loop()
	r.log.Info("model loaded", "runtime", r.Name(), "path", r.cfg.Model, "arch", m.HP.Arch,
		"layers", m.HP.Layers, "dim", m.HP.Dim, "vocab", m.HP.Vocab, "context_length", ctxLen,
		"threads", m.Threads(), "weight_bytes", m.WeightBytesPerToken(), "load_ms", time.Since(begin).Milliseconds())
	return nil
}

func (r *Runtime) chatTemplate(m *Model) (tokenizer.TemplateKind, error) {
	if r.cfg.ChatTemplate != "" {
		return tokenizer.ParseTemplateKind(r.cfg.ChatTemplate)
	}
	return tokenizer.DetectTemplate(m.ChatTemplate)
}

func (r *Runtime) setState(state, detail string) {
	r.mu.Lock()
	r.state, r.detail, r.since = state, detail, r.now()
	r.mu.Unlock()
}

// Close refuses new requests, cancels the queued and running ones, waits for
// the request loop to stop and unmaps the model. It is safe to call more
// than once.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closing {
		done := r.loopDone
		r.mu.Unlock()
		if done != nil {
			<-done
		}
		return nil
	}
	r.closing = true
	queued := r.queue
	r.queue = nil
	if r.running != nil {
		r.running.cancel()
	}
	done := r.loopDone
	r.state, r.detail, r.since = "down", "closed", r.now()
	r.cond.Broadcast()
	r.mu.Unlock()
	for _, j := range queued {
		j.cancel()
		j.out.end(runtime.FinishCancelled, runtime.ErrClosed)
	}
	if done == nil {
		return nil
	}
	<-done
	r.mu.Lock()
	m := r.model
	r.model, r.seq = nil, nil
	r.mu.Unlock()
	return m.Close()
}

// Models lists the served model once it is loaded: its id is the
// configured name, else the model's general.name, else the file name.
func (r *Runtime) Models(ctx context.Context) ([]runtime.Model, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.model == nil {
		if r.closing {
			return nil, runtime.ErrClosed
		}
		return nil, errors.New("engine: model not loaded yet")
	}
	return []runtime.Model{{ID: r.modelID(), OwnedBy: "fomo", Created: r.created, Runtime: r.Name(), ContextLength: r.ctxLen}}, nil
}

// modelID is the served name; r.mu must be held.
func (r *Runtime) modelID() string {
	if r.name != "" {
		return r.name
	}
	return r.Name()
}

// Health reports ready once the model is loaded.
func (r *Runtime) Health(ctx context.Context) runtime.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return runtime.Health{OK: r.state == "ready", Status: r.state, Detail: r.detail, Since: r.since}
}

// Embed is not supported by the engine.
func (r *Runtime) Embed(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return nil, badRequest("model", "model %q does not support embeddings", req.Model)
}

// QueueDepth returns the number of requests waiting for the model, not
// counting the one generating.
func (r *Runtime) QueueDepth() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// Stats are running totals of a Runtime.
type Stats struct {
	// Queued requests wait; Running is true while one generates.
	Queued  int
	Running bool
	// Requests is the number of requests that finished generating.
	Requests int64
	// PromptTokens were evaluated (cached prefixes excluded);
	// CompletionTokens were sampled.
	PromptTokens, CompletionTokens int64
	// DecodeTokensPerSecond is the decode speed over all requests so far.
	DecodeTokensPerSecond float64
}

// Load implements runtime.LoadReporter.
func (r *Runtime) Load() runtime.Load {
	st := r.Stats()
	return runtime.Load{Queued: st.Queued, Running: st.Running, DecodeTokensPerSecond: st.DecodeTokensPerSecond}
}

// Stats returns the runtime's totals.
func (r *Runtime) Stats() Stats {
	r.mu.Lock()
	s := Stats{Queued: len(r.queue), Running: r.running != nil}
	r.mu.Unlock()
	s.Requests = r.requests.Load()
	s.PromptTokens = r.promptN.Load()
	s.CompletionTokens = r.generated.Load()
	if ns := r.decodeNs.Load(); ns > 0 {
		s.DecodeTokensPerSecond = float64(r.decodeN.Load()) / (float64(ns) / 1e9)
	}
	return s
}

// Chat serves POST /v1/chat/completions.
func (r *Runtime) Chat(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	msgs, p, err := parseChat(req.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	m, tmpl, tmplErr := r.model, r.tmpl, r.tmplErr
	r.mu.Unlock()
	if m == nil {
		return nil, r.unavailable()
	}
	if tmplErr != nil {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "messages",
			"model %q has no usable chat template (%v); use /v1/completions", r.Name(), tmplErr)
	}
	text, err := tmpl.Apply(msgs, true)
	if err != nil {
		return nil, badRequest("messages", "%v", err)
	}
	prompt, err := m.Tokenizer.Encode(text, true, true)
	if err != nil {
		return nil, badRequest("messages", "%v", err)
	}
	for _, s := range tmpl.StopTokens() {
		if !slices.Contains(p.stops, s) {
			p.internalStops = append(p.internalStops, s)
		}
	}
	return r.submit(ctx, runtime.APIChat, "messages", prompt, p)
}

// Complete serves POST /v1/completions.
func (r *Runtime) Complete(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	text, p, err := parseCompletion(req.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	m := r.model
	r.mu.Unlock()
	if m == nil {
		return nil, r.unavailable()
	}
	prompt, err := m.Tokenizer.Encode(text, true, true)
	if err != nil {
		return nil, badRequest("prompt", "%v", err)
	}
	if len(prompt) == 0 {
		return nil, badRequest("prompt", "prompt is empty")
	}
	return r.submit(ctx, runtime.APICompletion, "prompt", prompt, p)
}

func (r *Runtime) unavailable() error {
	h := r.Health(context.Background())
	msg := "model is loading"
	if h.Status == "down" {
		msg = "model is not available: " + h.Detail
	}
	return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "%s", msg)
}

// submit checks the lengths and queues a job.
func (r *Runtime) submit(ctx context.Context, api runtime.API, promptParam string, prompt []int32, p genParams) (runtime.Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.model == nil {
		return nil, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "runtime %q is shutting down", r.modelID())
	}
	ctxLen := r.ctxLen
	if len(prompt) >= ctxLen {
		return nil, badRequest(promptParam, "This model's maximum context length is %d tokens. However, your prompt is %d tokens, which leaves no room for a completion.", ctxLen, len(prompt)).WithCode("context_length_exceeded")
	}
	if p.maxTokens > 0 && len(prompt)+p.maxTokens > ctxLen {
		return nil, badRequest("max_tokens", "This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the prompt, %d for the completion). Please reduce the prompt or the completion length.",
			ctxLen, len(prompt)+p.maxTokens, len(prompt), p.maxTokens).WithCode("context_length_exceeded")
	}
	if p.maxTokens == 0 {
		p.maxTokens = ctxLen - len(prompt)
	}
	limit := r.maxQueue
	if r.running == nil {
		limit++ // the head of the queue is about to run
	}
	if len(r.queue) >= limit {
		return nil, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"model %q is busy: %d requests are waiting; retry later", r.modelID(), len(r.queue)).WithCode("queue_full")
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &job{
		queued:  time.Now(),
		ctx:     jctx,
		cancel:  cancel,
		api:     api,
		prompt:  prompt,
		params:  p,
		id:      r.newID(api),
		created: r.now().Unix(),
		model:   r.modelID(),
	}
	j.out = newStream(j)
	r.queue = append(r.queue, j)
	r.cond.Signal()
	context.AfterFunc(jctx, func() { r.dequeue(j) })
	return j.out, nil
}

// dequeue removes a cancelled job that has not started.
func (r *Runtime) dequeue(j *job) {
	r.mu.Lock()
	i := slices.Index(r.queue, j)
	if i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
	}
	r.mu.Unlock()
	if i >= 0 {
		j.out.end(runtime.FinishCancelled, j.ctx.Err())
	}
}

func (r *Runtime) newID(api runtime.API) string {
	prefix := "chatcmpl-"
	if api == runtime.APICompletion {
		prefix = "cmpl-"
	}
	return fmt.Sprintf("%s%016x%08x", prefix, rand.Uint64(), r.ids.Add(1))
}

// loop runs queued jobs one at a time until Close.
func (r *Runtime) loop() {
	r.mu.Lock()
	done := r.loopDone
	r.mu.Unlock()
	defer close(done)
	for {
		r.mu.Lock()
		for len(r.queue) == 0 && !r.closing {
			r.cond.Wait()
		}
		if r.closing {
			r.mu.Unlock()
			return
		}
		j := r.queue[0]
		r.queue = r.queue[1:]
		r.running = j
		m, seq := r.model, r.seq
		r.mu.Unlock()

		r.generate(m, seq, j)
		j.cancel() // release the request context

		r.mu.Lock()
		r.running = nil
		r.mu.Unlock()
	}
}
