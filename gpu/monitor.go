package gpu

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Monitor samples its Source unless
// WithInterval says otherwise.
const DefaultInterval = 5 * time.Second

// ErrMonitorClosed is returned by Start and Refresh after Close.
var ErrMonitorClosed = errors.New("gpu: monitor closed")

// Ticker delivers the ticks that pace a Monitor. *time.Ticker satisfies it
// through NewTimeTicker; tests inject one they drive by hand.
type Ticker interface {
	// C returns the channel the ticks arrive on.
	C() <-chan time.Time
	// Stop releases the ticker. No tick arrives after Stop returns.
	Stop()
}

// NewTimeTicker returns a Ticker backed by time.NewTicker.
func NewTimeTicker(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time { return t.t.C }
func (t timeTicker) Stop()               { t.t.Stop() }

// MonitorOption configures a Monitor.
type MonitorOption func(*monitorConfig)

type monitorConfig struct {
	interval    time.Duration
	log         *slog.Logger
	newTicker   func(time.Duration) Ticker
	subscribers []func([]Status)
}

func defaultMonitorConfig() monitorConfig {
	return monitorConfig{
		interval:  DefaultInterval,
		log:       slog.New(slog.DiscardHandler),
		newTicker: NewTimeTicker,
	}
}

// WithInterval sets the sampling interval. Values <= 0 keep the default.
func WithInterval(d time.Duration) MonitorOption {
	return func(c *monitorConfig) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithLogger sets the logger the Monitor reports sampling errors to.
func WithLogger(l *slog.Logger) MonitorOption {
	return func(c *monitorConfig) {
		if l != nil {
			c.log = l
		}
	}
}

// WithTicker replaces the ticker constructor (default NewTimeTicker). The
// Monitor calls it once, from Start, with the configured interval.
func WithTicker(newTicker func(time.Duration) Ticker) MonitorOption {
	return func(c *monitorConfig) {
		if newTicker != nil {
			c.newTicker = newTicker
		}
	}
}

// WithSubscriber registers fn to be called after every sample, as if by
// Subscribe before Start.
func WithSubscriber(fn func([]Status)) MonitorOption {
	return func(c *monitorConfig) {
		if fn != nil {
			c.subscribers = append(c.subscribers, fn)
		}
	}
}

// Monitor samples a Source at a fixed interval and keeps the latest
// statuses. One goroutine, started by Start and ended by Close, does the
// sampling. All methods are safe for concurrent use.
type Monitor struct {
	src Source
	cfg monitorConfig

	sampleMu sync.Mutex // serializes Source.Sample and the error state below
	lastErr  string     // message of the last logged sample error; "" when healthy

	mu      sync.Mutex
	latest  []Status
	subs    map[int]func([]Status)
	nextSub int
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewMonitor returns a Monitor over src. It does not sample until Start or
// Refresh; until then Latest reports the inventory with nil samples. The
// Monitor does not close src.
func NewMonitor(src Source, opts ...MonitorOption) *Monitor {
	cfg := defaultMonitorConfig()
	for _, o := range opts {
		o(&cfg)
	}
	devs := src.Devices()
	latest := make([]Status, len(devs))
	for i, d := range devs {
		latest[i] = Status{Device: d}
	}
	m := &Monitor{src: src, cfg: cfg, latest: latest, subs: map[int]func([]Status){}}
	for _, fn := range cfg.subscribers {
		m.subs[m.nextSub] = fn
		m.nextSub++
	}
	return m
}

// Interval returns the sampling interval.
func (m *Monitor) Interval() time.Duration { return m.cfg.interval }

// Start takes a first sample in the background and then one per interval,
// until Close. It returns an error if the Monitor was already started or
// closed.
func (m *Monitor) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrMonitorClosed
	case m.started:
		return errors.New("gpu: monitor already started")
	}
	m.started = true
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.done = make(chan struct{})
	t := m.cfg.newTicker(m.cfg.interval)
	go m.run(ctx, t, m.done)
	return nil
}

func (m *Monitor) run(ctx context.Context, t Ticker, done chan struct{}) {
	defer close(done)
	defer t.Stop()
	m.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.sample(ctx)
		}
	}
}

// Refresh samples the Source now, updates Latest and notifies subscribers.
// It returns the Source's error, if any; statuses the Source returned along
// with an error are still kept.
func (m *Monitor) Refresh(ctx context.Context) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrMonitorClosed
	}
	return m.sample(ctx)
}

func (m *Monitor) sample(ctx context.Context) error {
	m.sampleMu.Lock()
	defer m.sampleMu.Unlock()
	statuses, err := m.src.Sample(ctx)
	if ctx.Err() != nil {
		// Shutting down or the caller gave up: nothing worth keeping or logging.
		return ctx.Err()
	}
	switch {
	case err != nil:
		if msg := err.Error(); msg != m.lastErr {
			m.cfg.log.Warn("gpu sample failed", "err", err)
			m.lastErr = msg
		}
	case m.lastErr != "":
		m.cfg.log.Info("gpu sampling recovered")
		m.lastErr = ""
	}
	if statuses == nil {
		return err
	}
	kept := cloneStatuses(statuses)
	m.mu.Lock()
	m.latest = kept
	subs := make([]func([]Status), 0, len(m.subs))
	for i := 0; i < m.nextSub; i++ {
		if fn, ok := m.subs[i]; ok {
			subs = append(subs, fn)
		}
	}
	m.mu.Unlock()
	for _, fn := range subs {
		fn(cloneStatuses(kept))
	}
	return err
}

// Latest returns a copy of the latest statuses, ordered by index. Before the
// first sample every device has a nil Sample.
func (m *Monitor) Latest() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneStatuses(m.latest)
}

// Status returns the latest status of the GPU with the given index.
func (m *Monitor) Status(index int) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.latest {
		if s.Index == index {
			return Status{Device: s.Device, Sample: s.Sample.Clone()}, true
		}
	}
	return Status{}, false
}

// FreeMemory returns the free memory in bytes of the GPU with the given
// index, from the latest sample. ok is false when there is no such GPU, it
// has not been sampled yet, or its driver does not report memory.
func (m *Monitor) FreeMemory(index int) (free uint64, ok bool) {
	s, found := m.Status(index)
	if !found || s.Sample == nil || !s.Sample.Supports(FieldMemory) {
		return 0, false
	}
	return s.Sample.MemoryFreeBytes, true
}

// Subscribe registers fn to be called with a copy of the statuses after
// every sample, on the sampling goroutine: fn must return quickly. The
// returned function removes the subscription.
func (m *Monitor) Subscribe(fn func([]Status)) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

// Close stops sampling and waits for the sampling goroutine to end. It is
// idempotent and does not close the Source.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		if m.done != nil {
			<-m.done
		}
		return nil
	}
	m.closed = true
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func cloneStatuses(in []Status) []Status {
	out := make([]Status, len(in))
	for i, s := range in {
		out[i] = Status{Device: s.Device, Sample: s.Sample.Clone()}
	}
	return out
}
