// Package supervise runs a model server (vLLM, llama.cpp's llama-server,
// SGLang, …) as a child process of the node and keeps it serving.
//
// A Supervisor checks that the GPUs assigned to the child exist and have the
// free memory the model needs, starts the command in a process group of its
// own with CUDA_VISIBLE_DEVICES set to those GPUs, and waits until its health
// URL answers 2xx. From then on a monitor goroutine probes the health URL and
// restarts the child, with exponential backoff, when it exits or stops
// answering. Close stops the whole process group: SIGTERM, then SIGKILL after
// the stop timeout. The child's output is logged line by line.
//
// The node talks to the child over HTTP with an OpenAI-upstream runtime; Wrap
// joins that runtime and its Supervisor into one runtime.Runtime whose Start
// and Close run the child and whose requests fail fast with 503 while the
// child is not ready.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/runtime"
)

// Health statuses reported by a Supervisor.
const (
	StatusStarting   = "starting"   // Start is waiting for the first healthy answer
	StatusReady      = "ready"      // the child answers its health URL
	StatusRestarting = "restarting" // the child failed and is being started again
	StatusDown       = "down"       // not started, failed to start, or closed
)

// GPUs reads the state of the host's GPUs; gpu.Source implementations
// satisfy it.
type GPUs interface {
	Sample(ctx context.Context) ([]gpu.Status, error)
}

// Option configures a Supervisor.
type Option func(*Supervisor)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Supervisor) {
		if l != nil {
			s.log = l
		}
	}
}

// WithName sets the name the supervisor logs under (key "runtime") and uses
// in errors; the default is the base name of the command's program.
func WithName(name string) Option {
	return func(s *Supervisor) {
		if name != "" {
			s.name = name
		}
	}
}

// WithGPUs sets where GPU state is read before each start. Without it the
// host is taken to have no GPUs, so a Config with gpus fails to start.
func WithGPUs(g GPUs) Option {
	return func(s *Supervisor) {
		if g != nil {
			s.gpus = g
		}
	}
}

// WithClock replaces time.Now, for Health's Since and for measuring how long
// a child stayed ready.
func WithClock(now func() time.Time) Option {
	return func(s *Supervisor) {
		if now != nil {
			s.now = now
		}
	}
}

// WithSleep replaces the wait between health probes and before restarts. It
// must return early with ctx's error when ctx is done.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Supervisor) {
		if sleep != nil {
			s.sleep = sleep
		}
	}
}

// WithOutput adds a sink that receives every line the child writes, with the
// stream it came from ("stdout" or "stderr"). Lines are logged at Info level
// with keys runtime, pid and stream whether or not a sink is set. The sink
// is called from the goroutines reading the child's pipes, concurrently for
// the two streams, and must not block.
func WithOutput(sink func(stream, line string)) Option {
	return func(s *Supervisor) { s.sink = sink }
}

// Supervisor runs one child process. Its methods are safe for concurrent
// use.
type Supervisor struct {
	cfg    Config
	name   string
	log    *slog.Logger
	gpus   GPUs
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	sink   func(stream, line string)
	client *http.Client

	// ctx is cancelled by Close; it bounds everything the supervisor does.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts a Start in progress and the monitor goroutine.
	wg sync.WaitGroup

	mu       sync.Mutex
	status   string
	detail   string
	since    time.Time
	restarts int
	cur      *child // the running child, nil when none
	starting bool
	started  bool
	closed   bool
}

// New returns a Supervisor for cfg, which must pass Validate. Zero durations
// and counts take their defaults. Nothing runs until Start.
func New(cfg Config, opts ...Option) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("supervise: %w", err)
	}
	cfg = cfg.withDefaults()
	cfg.Command = append([]string(nil), cfg.Command...)
	cfg.Env = append([]string(nil), cfg.Env...)
	cfg.GPUs = append([]int(nil), cfg.GPUs...)

	s := &Supervisor{
		cfg:   cfg,
		name:  filepath.Base(cfg.Command[0]),
		log:   slog.New(slog.DiscardHandler),
		gpus:  gpu.Null{},
		now:   time.Now,
		sleep: runtime.Sleep,
	}
	for _, o := range opts {
		o(s)
	}
	s.status, s.detail, s.since = StatusDown, "not started", s.now()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil              // the child is local
	tr.DisableKeepAlives = true // a restarted child is a new server
	s.client = &http.Client{Transport: tr, Timeout: min(max(cfg.HealthInterval, time.Second), 10*time.Second)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Name returns the name the supervisor logs under.
func (s *Supervisor) Name() string { return s.name }

// Health reports the child's state: starting, ready, restarting or down,
// with a detail (the last failure) and when that state began. OK is true
// only when ready.
func (s *Supervisor) Health() runtime.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return runtime.Health{OK: s.status == StatusReady, Status: s.status, Detail: s.detail, Since: s.since}
}

// Restarts returns how many times the monitor has started the child again
// after it failed, counting attempts that failed in turn.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// PID returns the process id of the running child (also its process group
// id), or 0 when none runs.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pid
}

func (s *Supervisor) setStatus(status, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status != s.status {
		s.since = s.now()
	}
	s.status, s.detail = status, detail
}

func (s *Supervisor) setDetail(detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detail = detail
}

// output logs one line of the child's output and hands it to the sink.
func (s *Supervisor) output(pid int, stream, line string) {
	s.log.Info(line, "runtime", s.name, "pid", pid, "stream", stream)
	if s.sink != nil {
		s.sink(stream, line)
	}
}

// Start checks the assigned GPUs, starts the child and waits until its
// health URL answers 2xx, then returns and leaves a monitor goroutine
// restarting the child whenever it fails, until Close. If the GPUs lack
// memory, the child exits, start_timeout passes or ctx is done, Start stops
// whatever it started and returns the reason; it may then be called again.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return runtime.ErrClosed
	case s.started || s.starting:
		s.mu.Unlock()
		return fmt.Errorf("supervise: %s already started", s.name)
	}
	s.starting = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	// Close cancels a Start in progress.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()

	s.setStatus(StatusStarting, "")
	c, err := s.launch(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = false
	if err != nil {
		s.status, s.detail, s.since = StatusDown, err.Error(), s.now()
		return err
	}
	if s.closed {
		// Close ran while the child came up and found nothing to stop.
		s.mu.Unlock()
		s.stop(c, s.cfg.StopTimeout)
		s.mu.Lock()
		return runtime.ErrClosed
	}
	s.started = true
	s.cur = c
	s.status, s.detail, s.since = StatusReady, "", s.now()
	s.wg.Add(1)
	go s.monitor(c)
	return nil
}

// launch checks the GPUs, starts a child and waits until it is healthy. On
// failure nothing it started remains.
func (s *Supervisor) launch(ctx context.Context) (*child, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("supervise: %s: start: %w", s.name, err)
	}
	if err := s.checkGPUs(ctx); err != nil {
		return nil, err
	}
	c, err := s.spawn(s.ctx, s.childEnv())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	s.log.Info("runtime started", "runtime", s.name, "pid", c.pid, "command", s.cfg.Command,
		"gpus", s.cfg.GPUs)
	if err := s.waitReady(ctx, c); err != nil {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		return nil, err
	}
	c.ready = s.now()
	s.log.Info("runtime ready", "runtime", s.name, "pid", c.pid, "after", c.ready.Sub(c.start))
	return c, nil
}

var errStartTimeout = errors.New("start_timeout passed")

// startPoll is the longest wait between readiness probes during start.
const startPoll = 500 * time.Millisecond

// waitReady polls the health URL until it answers 2xx. It fails, having
// stopped the child, when the child exits, start_timeout passes or ctx is
// done.
func (s *Supervisor) waitReady(ctx context.Context, c *child) error {
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, s.cfg.StartTimeout, errStartTimeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stop waiting as soon as the child exits.
	stopOnExit := context.AfterFunc(c.ctx, cancel)
	defer stopOnExit()

	interval := min(s.cfg.HealthInterval, startPoll)
	var last error
	for {
		err := s.probe(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil {
			last = err
			err = s.sleep(ctx, interval)
		}
		if err == nil {
			continue
		}
		// Tell why before stopping the child, then stop it so that its
		// output has been read for the error message.
		exited, cause, closing := c.done(), context.Cause(ctx), s.ctx.Err() != nil
		s.stop(c, s.cfg.StopTimeout)
		switch {
		case exited:
			return fmt.Errorf("supervise: %s exited during start (%s)%s", s.name, c.status(), c.lastOutput())
		case cause == errStartTimeout:
			probe := ""
			if last != nil {
				probe = fmt.Sprintf(" (last probe: %v)", last)
			}
			return fmt.Errorf("supervise: %s did not become healthy within start_timeout %s%s%s",
				s.name, s.cfg.StartTimeout, probe, c.lastOutput())
		case closing:
			return fmt.Errorf("supervise: %s: closed while starting", s.name)
		}
		return fmt.Errorf("supervise: %s: start: %w", s.name, cause)
	}
}

// probe sends one GET to the health URL and wants a 2xx answer.
func (s *Supervisor) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.HealthURL, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", s.cfg.HealthURL, resp.Status)
	}
	return nil
}

// watch probes a ready child until it exits, fails health_failures probes
// in a row or the supervisor closes. It returns why the child is considered
// failed.
func (s *Supervisor) watch(c *child) string {
	failures := 0
	for {
		if s.sleep(c.ctx, s.cfg.HealthInterval) != nil {
			break
		}
		err := s.probe(c.ctx)
		if c.ctx.Err() != nil {
			break
		}
		if err == nil {
			if failures > 0 {
				s.log.Info("runtime health check recovered", "runtime", s.name, "pid", c.pid, "failures", failures)
				s.setDetail("")
			}
			failures = 0
			continue
		}
		failures++
		s.log.Warn("runtime health check failed", "runtime", s.name, "pid", c.pid,
			"failures", failures, "of", s.cfg.HealthFailures, "err", err)
		if failures >= s.cfg.HealthFailures {
			return fmt.Sprintf("health check failed %d times in a row: %v", failures, err)
		}
		s.setDetail(fmt.Sprintf("health check failed (%d of %d): %v", failures, s.cfg.HealthFailures, err))
	}
	if c.done() {
		return "exited (" + c.status() + ")"
	}
	return "" // closing
}

// monitor owns the running child from the end of Start until Close: it
// restarts the child whenever it fails and stops it on Close.
func (s *Supervisor) monitor(c *child) {
	defer s.wg.Done()
	backoff := newBackoff(s.cfg.RestartBackoffMin, s.cfg.RestartBackoffMax)
	var why string
	for {
		if c != nil {
			why = s.watch(c)
			if s.ctx.Err() != nil {
				s.stop(c, s.cfg.StopTimeout)
				return
			}
			status := c.status()
			s.stop(c, s.cfg.StopTimeout)
			if c.done() && status == "running" {
				status = "stopped, " + c.status()
			}
			readyFor := s.now().Sub(c.ready)
			if readyFor >= s.cfg.RestartBackoffMax {
				backoff.reset()
			}
			s.mu.Lock()
			s.cur = nil
			s.mu.Unlock()
			s.log.Warn("runtime failed", "runtime", s.name, "pid", c.pid, "exit", status,
				"reason", why, "ready_for", readyFor, "last_output", c.lastOutput())
		}
		wait := backoff.next()
		s.setStatus(StatusRestarting, why)
		s.mu.Lock()
		restarts := s.restarts + 1
		s.mu.Unlock()
		s.log.Warn("restarting runtime", "runtime", s.name, "restart", restarts, "backoff", wait)
		if s.sleep(s.ctx, wait) != nil {
			return
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		var err error
		c, err = s.launch(s.ctx)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			why = err.Error()
			s.log.Error("runtime restart failed", "runtime", s.name, "restart", restarts, "err", err)
			continue
		}
		s.mu.Lock()
		s.cur = c
		s.mu.Unlock()
		s.setStatus(StatusReady, "")
	}
}

// Close stops the child's process group (SIGTERM, then SIGKILL after
// stop_timeout), waits until the monitor goroutine has ended and the child
// is reaped, and marks the supervisor down. A Start in progress is
// cancelled. Close is idempotent and always returns nil.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if !already {
		s.client.CloseIdleConnections()
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		s.setStatus(StatusDown, "closed")
	}
	return nil
}

// backoff yields exponentially growing waits between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

// next returns the wait before the next restart.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

// reset makes the next wait the minimum again.
func (b *backoff) reset() { b.cur = 0 }
