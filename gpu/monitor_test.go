package gpu

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testbuf"
)

// fakeSource is a Source whose samples a test sets.
type fakeSource struct {
	devs []Device

	mu      sync.Mutex
	samples []*Sample // per device; nil keeps the device unsampled
	err     error
	calls   int
	gate    chan struct{} // when non-nil, Sample waits for a receive from it
	entered chan struct{} // when non-nil, Sample signals it on entry
}

func newFakeSource(n int) *fakeSource {
	s := &fakeSource{samples: make([]*Sample, n)}
	for i := 0; i < n; i++ {
		s.devs = append(s.devs, Device{Index: i, UUID: "GPU-" + string(rune('a'+i)), Name: "Fake", MemoryTotalBytes: 100})
	}
	return s
}

func (s *fakeSource) Devices() []Device { return append([]Device{}, s.devs...) }
func (s *fakeSource) Driver() string    { return "fake" }
func (s *fakeSource) Close() error      { return nil }

func (s *fakeSource) Sample(ctx context.Context) ([]Status, error) {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	out := make([]Status, len(s.devs))
	for i, d := range s.devs {
		out[i] = Status{Device: d, Sample: s.samples[i].Clone()}
	}
	return out, s.err
}

func (s *fakeSource) set(i int, sm Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples[i] = &sm
}

func (s *fakeSource) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSource) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// manualTicker is a Ticker a test drives.
type manualTicker struct {
	interval time.Duration
	c        chan time.Time
	mu       sync.Mutex
	stopped  bool
}

func (t *manualTicker) C() <-chan time.Time { return t.c }
func (t *manualTicker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}
func (t *manualTicker) isStopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopped
}

// tickerFactory records the tickers a Monitor creates.
type tickerFactory struct {
	mu      sync.Mutex
	tickers []*manualTicker
}

func (f *tickerFactory) new(d time.Duration) Ticker {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &manualTicker{interval: d, c: make(chan time.Time)}
	f.tickers = append(f.tickers, t)
	return t
}

func (f *tickerFactory) only(t *testing.T) *manualTicker {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tickers) != 1 {
		t.Fatalf("%d tickers created, want 1", len(f.tickers))
	}
	return f.tickers[0]
}

// waitFor receives one notification or fails after a bounded wait.
func waitFor(t *testing.T, ch <-chan []Status) []Status {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no sample notification")
		return nil
	}
}

func startMonitor(t *testing.T, src Source, opts ...MonitorOption) (*Monitor, *tickerFactory, <-chan []Status) {
	t.Helper()
	tf := &tickerFactory{}
	notes := make(chan []Status, 16)
	opts = append([]MonitorOption{WithTicker(tf.new), WithSubscriber(func(st []Status) { notes <- st })}, opts...)
	m := NewMonitor(src, opts...)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, tf, notes
}

func TestMonitorLatestBeforeFirstSample(t *testing.T) {
	src := newFakeSource(3)
	m := NewMonitor(src)
	defer m.Close()
	got := m.Latest()
	if len(got) != 3 {
		t.Fatalf("%d statuses, want 3", len(got))
	}
	for i, s := range got {
		if s.Device != src.devs[i] || s.Sample != nil {
			t.Errorf("status %d = %+v, want device %+v with nil sample", i, s, src.devs[i])
		}
	}
	if _, ok := m.FreeMemory(0); ok {
		t.Error("FreeMemory known before the first sample")
	}
	if src.callCount() != 0 {
		t.Error("NewMonitor sampled")
	}
	if m.Interval() != DefaultInterval {
		t.Errorf("Interval() = %v, want %v", m.Interval(), DefaultInterval)
	}
}

func TestMonitorSamplesOnTicks(t *testing.T) {
	src := newFakeSource(2)
	src.set(0, Sample{UtilizationPercent: 10, MemoryFreeBytes: 70, Healthy: true})
	src.set(1, Sample{UtilizationPercent: 20, MemoryFreeBytes: 30, Healthy: true})
	m, tf, notes := startMonitor(t, src, WithInterval(250*time.Millisecond))

	first := waitFor(t, notes) // Start samples at once, without a tick
	if first[0].Sample.UtilizationPercent != 10 || first[1].Sample.UtilizationPercent != 20 {
		t.Errorf("first sample = %+v, %+v", first[0].Sample, first[1].Sample)
	}
	tk := tf.only(t)
	if tk.interval != 250*time.Millisecond {
		t.Errorf("ticker interval %v, want 250ms", tk.interval)
	}

	for round := 1; round <= 3; round++ {
		src.set(1, Sample{UtilizationPercent: uint32(20 + round), MemoryFreeBytes: uint64(30 - round)})
		tk.c <- time.Time{}
		st := waitFor(t, notes)
		if got := st[1].Sample.UtilizationPercent; got != uint32(20+round) {
			t.Errorf("round %d: notified utilization %d", round, got)
		}
		if got := m.Latest()[1].Sample.UtilizationPercent; got != uint32(20+round) {
			t.Errorf("round %d: Latest utilization %d", round, got)
		}
		if free, ok := m.FreeMemory(1); !ok || free != uint64(30-round) {
			t.Errorf("round %d: FreeMemory(1) = %d, %v", round, free, ok)
		}
	}
	if got := src.callCount(); got != 4 {
		t.Errorf("%d samples, want 4", got)
	}
}

func TestMonitorFreeMemoryAndStatus(t *testing.T) {
	src := newFakeSource(3)
	src.set(0, Sample{MemoryFreeBytes: 42})
	src.set(1, Sample{Unsupported: []string{FieldMemory}})
	// GPU 2 is never sampled.
	m := NewMonitor(src)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		index int
		free  uint64
		ok    bool
	}{
		{0, 42, true},
		{1, 0, false},
		{2, 0, false},
		{3, 0, false},
		{-1, 0, false},
	}
	for _, tt := range tests {
		free, ok := m.FreeMemory(tt.index)
		if free != tt.free || ok != tt.ok {
			t.Errorf("FreeMemory(%d) = %d, %v; want %d, %v", tt.index, free, ok, tt.free, tt.ok)
		}
	}
	if s, ok := m.Status(1); !ok || s.UUID != "GPU-b" || s.Sample == nil {
		t.Errorf("Status(1) = %+v, %v", s, ok)
	}
	if _, ok := m.Status(9); ok {
		t.Error("Status(9) found")
	}
}

func TestMonitorLatestIsACopy(t *testing.T) {
	src := newFakeSource(1)
	src.set(0, Sample{ThrottleReasons: []string{ThrottleSWPowerCap}, TemperatureC: 50})
	m := NewMonitor(src)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := m.Latest()
	got[0].Sample.TemperatureC = 99
	got[0].Sample.ThrottleReasons[0] = "changed"
	got[0].Name = "changed"
	again := m.Latest()
	if again[0].Sample.TemperatureC != 50 || again[0].Sample.ThrottleReasons[0] != ThrottleSWPowerCap || again[0].Name != "Fake" {
		t.Errorf("Latest shares state with its callers: %+v %+v", again[0], again[0].Sample)
	}
}

func TestMonitorLogsEachErrorOnce(t *testing.T) {
	src := newFakeSource(1)
	src.set(0, Sample{TemperatureC: 40})
	logs := &testbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	m, tf, notes := startMonitor(t, src, WithLogger(log))
	waitFor(t, notes)
	tk := tf.only(t)

	errA, errB := errors.New("gpu 0: temperature: ERROR_UNKNOWN"), errors.New("gpu 0: power: ERROR_UNKNOWN")
	steps := []struct {
		err       error
		warnsA    int
		warnsB    int
		recovered int
	}{
		{errA, 1, 0, 0},
		{errA, 1, 0, 0},
		{errA, 1, 0, 0},
		{errB, 1, 1, 0},
		{errA, 2, 1, 0},
		{nil, 2, 1, 1},
		{nil, 2, 1, 1},
		{errA, 3, 1, 1},
	}
	for i, s := range steps {
		src.setErr(s.err)
		tk.c <- time.Time{}
		st := waitFor(t, notes) // statuses that come with an error are kept
		if st[0].Sample.TemperatureC != 40 {
			t.Errorf("step %d: sample not kept", i)
		}
		if a, b, r := strings.Count(logs.String(), "temperature: ERROR_UNKNOWN"), strings.Count(logs.String(), "power: ERROR_UNKNOWN"), strings.Count(logs.String(), "gpu sampling recovered"); a != s.warnsA || b != s.warnsB || r != s.recovered {
			t.Errorf("step %d: logged A %d, B %d, recovered %d times; want %d, %d, %d", i, a, b, r, s.warnsA, s.warnsB, s.recovered)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 4 {
		t.Errorf("%d WARN lines, want 4", n)
	}
	if m.Latest()[0].Sample == nil {
		t.Error("no latest sample")
	}
}

func TestMonitorKeepsLatestWhenSourceReturnsNothing(t *testing.T) {
	src := &nilSource{fakeSource: newFakeSource(1)}
	src.set(0, Sample{TemperatureC: 40})
	m := NewMonitor(src)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.fail = true
	if err := m.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh hid the error")
	}
	if got := m.Latest()[0].Sample; got == nil || got.TemperatureC != 40 {
		t.Errorf("Latest after a failed sample = %+v, want the previous sample", got)
	}
}

// nilSource returns no statuses at all once fail is set.
type nilSource struct {
	*fakeSource
	fail bool
}

func (s *nilSource) Sample(ctx context.Context) ([]Status, error) {
	if s.fail {
		return nil, errors.New("source closed")
	}
	return s.fakeSource.Sample(ctx)
}

func TestMonitorSubscribe(t *testing.T) {
	src := newFakeSource(1)
	m := NewMonitor(src)
	var mu sync.Mutex
	var a, b int
	cancelA := m.Subscribe(func([]Status) { mu.Lock(); a++; mu.Unlock() })
	m.Subscribe(func([]Status) { mu.Lock(); b++; mu.Unlock() })
	m.Refresh(context.Background())
	cancelA()
	cancelA() // twice is harmless
	m.Refresh(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if a != 1 || b != 2 {
		t.Errorf("notified a %d, b %d times; want 1, 2", a, b)
	}
}

func TestMonitorCloseWaitsAndIsIdempotent(t *testing.T) {
	src := newFakeSource(1)
	src.gate = make(chan struct{})
	src.entered = make(chan struct{}, 1)
	m, tf, _ := startMonitor(t, src)
	<-src.entered // the first sample is in flight and blocked

	done := make(chan error)
	go func() { done <- m.Close() }()
	// Close cancels the in-flight sample's context and waits for the goroutine.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if !tf.only(t).isStopped() {
		t.Error("ticker not stopped")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Start(); !errors.Is(err, ErrMonitorClosed) {
		t.Errorf("Start after Close = %v, want ErrMonitorClosed", err)
	}
	if err := m.Refresh(context.Background()); !errors.Is(err, ErrMonitorClosed) {
		t.Errorf("Refresh after Close = %v, want ErrMonitorClosed", err)
	}
	if src.callCount() != 0 {
		t.Errorf("%d samples completed, want 0", src.callCount())
	}
}

func TestMonitorStartTwiceAndCloseUnstarted(t *testing.T) {
	m := NewMonitor(newFakeSource(1), WithTicker((&tickerFactory{}).new))
	if err := m.Close(); err != nil {
		t.Errorf("Close of an unstarted monitor: %v", err)
	}
	m2, _, _ := startMonitor(t, newFakeSource(1))
	if err := m2.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestMonitorRealTicker(t *testing.T) {
	src := newFakeSource(1)
	notes := make(chan []Status, 64)
	m := NewMonitor(src, WithInterval(time.Millisecond), WithSubscriber(func(st []Status) {
		select {
		case notes <- st:
		default:
		}
	}))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		waitFor(t, notes)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := src.callCount(); n < 3 {
		t.Errorf("%d samples, want >= 3", n)
	}
}

func TestSampleCloneAndSupports(t *testing.T) {
	var nilSample *Sample
	if nilSample.Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
	s := &Sample{Unsupported: []string{FieldPower}}
	if s.Supports(FieldPower) || !s.Supports(FieldTemperature) {
		t.Error("Supports wrong")
	}
	c := s.Clone()
	c.Unsupported[0] = FieldTemperature
	if s.Unsupported[0] != FieldPower {
		t.Error("Clone shares Unsupported")
	}
}
