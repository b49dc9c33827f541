package api

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures a Server built by New.
type Option func(*options)

// options are a Server's settings; defaultOptions holds every default.
type options struct {
	// NodeID is the node's peer ID, sent as X-Fomo-Node and named in
	// price quotes.
	NodeID string
	// NetworkID is the network the node is on, named in price quotes and
	// required of the receipts in a submitted tx.
	NetworkID string
	// MaxBodyBytes limits inference request bodies.
	MaxBodyBytes int64
	// Backend serves inference.
	Backend Backend
	// GPUs feeds /api/v1/gpus; nil means no GPUs.
	GPUs GPUs
	// Info feeds /api/v1/status and /api/v1/peers; nil answers with the
	// node ID only.
	Info Info
	// Registry is where the API registers its metrics and what /metrics
	// serves.
	Registry *prometheus.Registry
	// Logger receives one line per request.
	Logger *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// Meter authenticates, admits and meters inference requests; nil
	// serves them without authentication or receipts.
	Meter Meter
	// Receipts, Prices, Manifests and Chain each add their admin routes;
	// nil leaves them out (the node answers 404).
	Receipts  Receipts
	Prices    Prices
	Manifests Manifests
	Chain     Chain
	// Doctor adds GET /api/v1/doctor; nil leaves it out.
	Doctor Doctor
	// Readiness feeds /readyz; nil reports ready while the process serves.
	Readiness Readiness
}

func defaultOptions() options {
	return options{
		MaxBodyBytes: 4 << 20,
		Registry:     prometheus.NewRegistry(),
		Logger:       slog.New(slog.DiscardHandler),
		Now:          time.Now,
	}
}

// WithNodeID sets the node's peer ID, sent as X-Fomo-Node on every
// response and named in price quotes.
func WithNodeID(id string) Option { return func(o *options) { o.NodeID = id } }

// WithNetworkID sets the id of the node's network, named in price quotes
// and checked on the receipts of a submitted tx.
func WithNetworkID(id string) Option { return func(o *options) { o.NetworkID = id } }

// WithMaxBodyBytes limits inference request bodies (default 4 MiB); n <= 0
// keeps the default.
func WithMaxBodyBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.MaxBodyBytes = n
		}
	}
}

// WithGPUs feeds /api/v1/gpus (default: no GPUs).
func WithGPUs(g GPUs) Option { return func(o *options) { o.GPUs = g } }

// WithInfo feeds /api/v1/status and /api/v1/peers (default: the node ID
// only, no peers).
func WithInfo(i Info) Option { return func(o *options) { o.Info = i } }

// WithRegistry sets where the API registers its metrics and what /metrics
// serves (default: a private registry); nil keeps the default.
func WithRegistry(r *prometheus.Registry) Option {
	return func(o *options) {
		if r != nil {
			o.Registry = r
		}
	}
}

// WithLogger sets the logger of the request log (default: discard); nil
// keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.Logger = l
		}
	}
}

// WithClock sets the clock (default time.Now); nil keeps the default.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.Now = now
		}
	}
}

// WithMeter authenticates and meters inference requests (default: served
// without authentication or receipts).
func WithMeter(m Meter) Option { return func(o *options) { o.Meter = m } }

// WithReceipts serves GET /api/v1/receipts and /api/v1/receipts/{id}
// from r, and resolves the id prefixes of GET
// /api/v1/receipts/{id}/proof (503 without WithChain).
func WithReceipts(r Receipts) Option { return func(o *options) { o.Receipts = r } }

// WithPrices serves GET /api/v1/prices/{model} from p.
func WithPrices(p Prices) Option { return func(o *options) { o.Prices = p } }

// WithManifests serves the model-announcement routes under
// /api/v1/manifests from m.
func WithManifests(m Manifests) Option { return func(o *options) { o.Manifests = m } }

// WithChain serves the settlement chain's routes (/api/v1/chain,
// accounts, models, nodes, epochs, txs, receipts' proofs of inclusion)
// from c.
func WithChain(c Chain) Option { return func(o *options) { o.Chain = c } }

// WithReadiness answers GET /readyz from r (default: ready whenever the
// process serves).
func WithReadiness(r Readiness) Option { return func(o *options) { o.Readiness = r } }
