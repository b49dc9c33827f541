package node

import (
	"log/slog"
	"time"

	"github.com/fomonet/fomo/gpu"
)

// Option customises a Node.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	gpuSource gpu.Source
	now       func() time.Time
	gateway   bool
}

func defaultOptions() options {
	return options{logger: slog.New(slog.DiscardHandler), now: time.Now}
}

// WithLogger sets the node's logger; subsystems log through children of it.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithGPUSource replaces NVML discovery with the given source (tests use the
// fakes in gpu/gputest).
func WithGPUSource(s gpu.Source) Option { return func(o *options) { o.gpuSource = s } }

// WithClock sets the clock used for uptime and timings.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// AsGateway makes the node a light client: it forwards requests without
// naming itself as their entry node (a gateway earns no routing fee).
func AsGateway() Option { return func(o *options) { o.gateway = true } }
