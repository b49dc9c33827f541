package node

import (
	"log/slog"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Option customises a Node.
type Option func(*options)

type options struct {
	logger    *slog.Logger
	gpuSource gpu.Source
	now       func() time.Time
	gateway   bool
	account   peer.ID // the account a gateway's key signs for, when set
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

// WithAccount names the account a gateway's key signs for: a session key
// authorized after the network's genesis (the genesis's session keys, and
// an account's own key, need none).
func WithAccount(account peer.ID) Option { return func(o *options) { o.account = account } }
