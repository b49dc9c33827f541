package capacity

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/runtime"
)

// SummarizeGPUs sums up GPU statuses for an advert: the count, the first
// GPU's name, total and free memory (free from the latest samples; a GPU
// without a sample counts as fully free) and the mean utilization.
func SummarizeGPUs(statuses []gpu.Status) GPUSummary {
	var s GPUSummary
	var util uint64
	for _, st := range statuses {
		s.Count++
		if s.Name == "" {
			s.Name = st.Name
		}
		s.MemoryTotalBytes += st.MemoryTotalBytes
		free := st.MemoryTotalBytes
		if st.Sample != nil {
			free = min(st.Sample.MemoryFreeBytes, st.MemoryTotalBytes)
			util += uint64(min(st.Sample.UtilizationPercent, 100))
		}
		s.MemoryFreeBytes += free
	}
	if s.Count > 0 {
		s.UtilizationPercent = uint32(util / uint64(s.Count))
	}
	if len(s.Name) > MaxNameLen {
		s.Name = s.Name[:MaxNameLen]
	}
	return s
}

// Meter measures, per model, the requests in flight (the advert's queue
// depth) and the generation rate (tokens per second, an exponentially
// weighted mean over completed requests of completion tokens divided by
// the time from the request to its last event, queueing and prompt
// processing included). Wrap the node's backend with it
// and build adverts from Capacity. It is safe for concurrent use.
type Meter struct {
	now    func() time.Time
	mu     sync.Mutex
	models map[string]*modelStats
}

type modelStats struct {
	inFlight uint32
	tpsMilli float64 // 0 until the first measurement
}

// meterWeight is the weight of the newest measurement in the mean.
const meterWeight = 0.2

// MeterOption configures a Meter.
type MeterOption func(*Meter)

// WithMeterClock sets the meter's clock (default time.Now).
func WithMeterClock(now func() time.Time) MeterOption { return func(m *Meter) { m.now = now } }

// NewMeter returns a Meter.
func NewMeter(opts ...MeterOption) *Meter {
	m := &Meter{now: time.Now, models: map[string]*modelStats{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Wrap returns a Backend that meters every request b serves.
func (m *Meter) Wrap(b runtime.Backend) runtime.Backend { return meteredBackend{m: m, b: b} }

// Capacity returns the requests in flight for model and its measured rate
// in thousandths of a token per second (0: not measured yet).
func (m *Meter) Capacity(model string) (queueDepth uint32, tokensPerSecondMilli uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.models[model]
	if !ok {
		return 0, 0
	}
	return st.inFlight, uint64(st.tpsMilli + 0.5)
}

// Models returns the names of the models the Meter has seen, sorted.
func (m *Meter) Models() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.models))
	for name := range m.models {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (m *Meter) start(model string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.models[model]
	if !ok {
		st = &modelStats{}
		m.models[model] = st
	}
	st.inFlight++
}

// finish ends one request; tokens over elapsed is a measurement when both
// are positive.
func (m *Meter) finish(model string, tokens int64, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.models[model]
	if st.inFlight > 0 {
		st.inFlight--
	}
	if tokens <= 0 || elapsed <= 0 {
		return
	}
	rate := float64(tokens) * 1000 / elapsed.Seconds()
	if st.tpsMilli == 0 {
		st.tpsMilli = rate
	} else {
		st.tpsMilli += meterWeight * (rate - st.tpsMilli)
	}
}

type meteredBackend struct {
	m *Meter
	b runtime.Backend
}

func (mb meteredBackend) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	mb.m.start(req.Model)
	start := mb.m.now()
	s, err := mb.b.Do(ctx, req)
	if err != nil {
		mb.m.finish(req.Model, 0, 0)
		return nil, err
	}
	return &meteredStream{Stream: s, m: mb.m, model: req.Model, start: start}, nil
}

type meteredStream struct {
	runtime.Stream
	m       *Meter
	model   string
	start   time.Time
	events  int
	endOnce sync.Once
}

func (s *meteredStream) Recv() (runtime.Event, error) {
	ev, err := s.Stream.Recv()
	switch {
	case err == nil:
		s.events++
	case errors.Is(err, io.EOF):
		s.end(true)
	case err != nil:
		s.end(false)
	}
	return ev, err
}

func (s *meteredStream) end(complete bool) {
	s.endOnce.Do(func() {
		if !complete || s.events == 0 {
			s.m.finish(s.model, 0, 0)
			return
		}
		s.m.finish(s.model, s.Stream.Usage().CompletionTokens, s.m.now().Sub(s.start))
	})
}

func (s *meteredStream) Close() error {
	err := s.Stream.Close()
	s.end(false)
	return err
}
