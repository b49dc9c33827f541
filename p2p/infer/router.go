package infer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/p2p/capacity"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Providers finds the peers that provide a model in the DHT; the node backs
// it with p2p/models.
type Providers interface {
	Providers(ctx context.Context, model string) ([]peer.ID, error)
}

// FindProvidersFunc looks up a model's providers with their addresses;
// (*models.Service).FindProviders is one.
type FindProvidersFunc func(ctx context.Context, model string) ([]peer.AddrInfo, error)

// ProvidersFrom adapts find to Providers. The providers' addresses are
// added to h's peerstore for an hour so that they can be
// dialled without another lookup.
func ProvidersFrom(h host.Host, find FindProvidersFunc) Providers {
	return providersFunc(func(ctx context.Context, model string) ([]peer.ID, error) {
		infos, err := find(ctx, model)
		if err != nil {
			return nil, err
		}
		out := make([]peer.ID, 0, len(infos))
		for _, ai := range infos {
			if ai.ID == "" {
				continue
			}
			if len(ai.Addrs) > 0 && ai.ID != h.ID() {
				h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
			}
			out = append(out, ai.ID)
		}
		return out, nil
	})
}

type providersFunc func(ctx context.Context, model string) ([]peer.ID, error)

func (f providersFunc) Providers(ctx context.Context, model string) ([]peer.ID, error) {
	return f(ctx, model)
}

// Adverts returns the fresh capacity adverts of the peers that serve a
// model; *capacity.Service is one.
type Adverts interface {
	Fresh(model string) []capacity.Advert
}

// Router defaults.
const (
	// DefaultFailureTTL is how long a provider that failed is skipped.
	DefaultFailureTTL = time.Minute
	// DefaultUnknownRTT is the round-trip time assumed for a peer whose
	// latency has not been measured.
	DefaultUnknownRTT = 100 * time.Millisecond
	// DefaultTokensPerRequest converts an advert's queue depth (requests)
	// into tokens for the wait estimate.
	DefaultTokensPerRequest = 256
	// DefaultUnmeasuredWait is the wait assumed per queued request at a
	// provider that has not measured its throughput yet.
	DefaultUnmeasuredWait = 10 * time.Second
	// DefaultTieMargin is the score difference under which two providers
	// count as equal and the cheaper one wins.
	DefaultTieMargin = 10 * time.Millisecond
	// DefaultProviderCacheTTL is how long a DHT provider lookup is reused.
	DefaultProviderCacheTTL = 30 * time.Second
	// DefaultLookupTimeout bounds a DHT provider lookup.
	DefaultLookupTimeout = 10 * time.Second
)

type routerConfig struct {
	rng              *rand.Rand
	now              func() time.Time
	failureTTL       time.Duration
	unknownRTT       time.Duration
	tokensPerRequest int
	tieMargin        time.Duration
	cacheTTL         time.Duration
	lookupTimeout    time.Duration
	dialOpts         []DialOption
	entryNode        *string
	log              *slog.Logger
}

// RouterOption configures a Router.
type RouterOption func(*routerConfig)

// WithRand sets the random source of the power-of-two-choices draw.
func WithRand(r *rand.Rand) RouterOption { return func(c *routerConfig) { c.rng = r } }

// WithClock sets the clock used for failure expiry and the provider cache.
func WithClock(now func() time.Time) RouterOption { return func(c *routerConfig) { c.now = now } }

// WithFailureTTL sets how long a failed provider is skipped.
func WithFailureTTL(d time.Duration) RouterOption { return func(c *routerConfig) { c.failureTTL = d } }

// WithUnknownRTT sets the RTT assumed for unmeasured peers.
func WithUnknownRTT(d time.Duration) RouterOption { return func(c *routerConfig) { c.unknownRTT = d } }

// WithTokensPerRequest sets the tokens one queued request is assumed to
// take when estimating a provider's wait.
func WithTokensPerRequest(n int) RouterOption {
	return func(c *routerConfig) { c.tokensPerRequest = n }
}

// WithTieMargin sets the score difference under which price decides.
func WithTieMargin(d time.Duration) RouterOption { return func(c *routerConfig) { c.tieMargin = d } }

// WithProviderCacheTTL sets how long a DHT lookup's result is reused; 0
// looks up every request.
func WithProviderCacheTTL(d time.Duration) RouterOption {
	return func(c *routerConfig) { c.cacheTTL = d }
}

// WithLookupTimeout bounds each DHT provider lookup.
func WithLookupTimeout(d time.Duration) RouterOption {
	return func(c *routerConfig) { c.lookupTimeout = d }
}

// WithDialOptions sets the options of every Dial.
func WithDialOptions(opts ...DialOption) RouterOption {
	return func(c *routerConfig) { c.dialOpts = opts }
}

// WithEntryNode sets the entry_node sent with forwarded requests (default:
// the host's peer ID; a light client that is no node passes "").
func WithEntryNode(id string) RouterOption { return func(c *routerConfig) { c.entryNode = &id } }

// WithRouterLogger sets the logger.
func WithRouterLogger(l *slog.Logger) RouterOption { return func(c *routerConfig) { c.log = l } }

// Router forwards requests to a provider of their model: candidates are
// the model's DHT providers that have a fresh capacity advert, less this
// node and the providers that failed recently. Among two random candidates
// it picks the one with the lower estimated wait (queue depth × tokens per
// request ÷ measured tokens/s) plus RTT, the cheaper one when the scores
// are within the tie margin. A provider that fails before its first chunk
// is marked failed and the request is retried once on another candidate.
type Router struct {
	h         host.Host
	proto     protocol.ID
	providers Providers
	adverts   Adverts
	cfg       routerConfig
	entry     string

	mu       sync.Mutex
	failed   map[peer.ID]time.Time
	cache    map[string]cachedProviders
	attempts uint64
	retries  uint64
	failures map[string]uint64
}

// Failure reasons counted in RouterStats.Failures.
const (
	// FailNoProvider: no provider of the model was usable.
	FailNoProvider = "no_provider"
	// FailUnreachable: the provider could not be dialled, or its stream
	// broke before the first chunk.
	FailUnreachable = "unreachable"
	// FailProvider: the provider answered with an error before the first
	// chunk.
	FailProvider = "provider_error"
	// FailBroken: the provider's stream broke after the first chunk.
	FailBroken = "broken"
)

// RouterStats counts the router's forwarding since it started.
type RouterStats struct {
	// Attempts is the providers tried, first tries and retries.
	Attempts uint64
	// Retries is the tries on a second provider after the first failed.
	Retries uint64
	// Failures counts failed tries and requests that found no provider,
	// by reason (FailNoProvider, FailUnreachable, FailProvider,
	// FailBroken).
	Failures map[string]uint64
}

// Stats returns the router's counts.
func (r *Router) Stats() RouterStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RouterStats{Attempts: r.attempts, Retries: r.retries, Failures: make(map[string]uint64, len(r.failures))}
	for k, v := range r.failures {
		st.Failures[k] = v
	}
	return st
}

func (r *Router) count(attempt int, failure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if attempt >= 0 {
		r.attempts++
		if attempt > 0 {
			r.retries++
		}
	}
	if failure != "" {
		r.failures[failure]++
	}
}

type cachedProviders struct {
	peers []peer.ID
	at    time.Time
}

// NewRouter returns a Router that dials providers from h over protoID.
func NewRouter(h host.Host, protoID protocol.ID, providers Providers, adverts Adverts, opts ...RouterOption) *Router {
	cfg := routerConfig{
		now: time.Now, failureTTL: DefaultFailureTTL, unknownRTT: DefaultUnknownRTT,
		tokensPerRequest: DefaultTokensPerRequest, tieMargin: DefaultTieMargin, cacheTTL: DefaultProviderCacheTTL,
		lookupTimeout: DefaultLookupTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.rng == nil {
		cfg.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.tokensPerRequest <= 0 {
		cfg.tokensPerRequest = DefaultTokensPerRequest
	}
	entry := h.ID().String()
	if cfg.entryNode != nil {
		entry = *cfg.entryNode
	}
	return &Router{h: h, proto: protoID, providers: providers, adverts: adverts, cfg: cfg, entry: entry,
		failed: map[peer.ID]time.Time{}, cache: map[string]cachedProviders{}, failures: map[string]uint64{}}
}

// candidate is a provider with its offer for the model.
type candidate struct {
	peer  peer.ID
	offer capacity.ModelCapacity
	score time.Duration
}

// Do forwards req to a provider of req.Model and returns its response once
// the first chunk (or the Final) has arrived. The stream's ServedBy names
// the provider. With no candidate it returns a 503
// service_unavailable_error that says why.
func (r *Router) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	cands, rerr := r.candidates(ctx, req.Model)
	if rerr != nil {
		if ctx.Err() == nil {
			r.count(-1, FailNoProvider)
		}
		return nil, rerr
	}
	if req.Payee != "" {
		// Its authorization pays one node only: that node or none.
		cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.peer.String() != req.Payee })
		if len(cands) == 0 {
			r.count(-1, FailNoProvider)
			return nil, noProvider(req.Model, "its authorization names node %s as payee, which is not among its providers "+
				"with a fresh capacity advert that did not fail recently", req.Payee)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 2 && len(cands) > 0; attempt++ {
		c := r.pick(cands)
		cands = slices.DeleteFunc(cands, func(o candidate) bool { return o.peer == c.peer })
		s, err := r.try(ctx, c, req, attempt)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		ae, ok := err.(*attemptError)
		if !ok {
			return nil, err // the request's payment failed: no provider is at fault
		}
		if ae.fromProvider {
			r.count(-1, FailProvider)
		} else {
			r.count(-1, FailUnreachable)
		}
		err = ae.err
		lastErr = err
		if !retriable(err, ae.fromProvider) {
			return nil, err
		}
		r.markFailed(c.peer)
		r.cfg.log.Warn("provider failed before its first chunk", "model", req.Model, "peer_id", c.peer,
			"attempt", attempt+1, "err", err)
	}
	return nil, lastErr
}

// Choose returns the provider the router would send a request for model to
// now, for a client that names its payee before sending.
func (r *Router) Choose(ctx context.Context, model string) (peer.ID, error) {
	cands, err := r.candidates(ctx, model)
	if err != nil {
		return "", err
	}
	return r.pick(cands).peer, nil
}

// attemptError carries whether a failed attempt's error came from the
// provider's Final.
type attemptError struct {
	err          error
	fromProvider bool
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// retriable reports whether a failure before the first chunk may be tried
// on another provider: a broken or unreachable provider, or one that
// answered that it is overloaded, failing, or no longer serves the model.
// Errors in the request itself are not.
func retriable(err error, fromProvider bool) bool {
	if !fromProvider {
		var re *runtime.Error
		return !errors.As(err, &re) || re.Status != http.StatusRequestEntityTooLarge && re.Status != http.StatusBadRequest
	}
	var re *runtime.Error
	if !errors.As(err, &re) {
		return true
	}
	return re.Status >= 500 || re.Status == http.StatusTooManyRequests || re.Status == http.StatusNotFound
}

func (r *Router) try(ctx context.Context, c candidate, req *runtime.Request, attempt int) (runtime.Stream, error) {
	// The request's payment names the provider as its payee.
	var auth []byte
	if req.Payment != nil {
		a, err := req.Payment.For(c.peer.String())
		if err != nil {
			return nil, err
		}
		auth = a
	}
	r.count(attempt, "")
	s, err := Dial(ctx, r.h, c.peer, r.proto, req, auth, r.entry, r.cfg.dialOpts...)
	if err != nil {
		var re *runtime.Error
		if errors.As(err, &re) && re.Code != nil && *re.Code == codeLocalLimit {
			return nil, err // not the provider's fault: no retry, no blame
		}
		return nil, &attemptError{err: err}
	}
	ev, err := s.Recv()
	switch {
	case err == nil:
		return &forwarded{Stream: s, r: r, pay: req.Payment, first: ev, pending: true}, nil
	case errors.Is(err, io.EOF):
		f := &forwarded{Stream: s, r: r, pay: req.Payment}
		f.ended()
		return f, nil
	}
	fromProvider := s.FromProvider()
	_ = s.Close()
	return nil, &attemptError{err: err, fromProvider: fromProvider}
}

// forwarded is a provider's stream with its first event read ahead. At its
// end the provider's receipt goes to the request's payment.
type forwarded struct {
	*Stream
	r       *Router
	pay     runtime.Payment
	first   runtime.Event
	pending bool
	paid    bool
}

// Recv returns the read-ahead event first. A provider whose stream breaks
// is marked failed.
func (f *forwarded) Recv() (runtime.Event, error) {
	if f.pending {
		f.pending = false
		return f.first, nil
	}
	ev, err := f.Stream.Recv()
	if err != nil {
		if !errors.Is(err, io.EOF) && !f.FromProvider() && f.ctx.Err() == nil && !errors.Is(err, runtime.ErrClosed) {
			f.r.markFailed(f.Peer())
			f.r.count(-1, FailBroken)
		}
		f.ended()
	}
	return ev, err
}

// ended hands the provider's receipt, if its Final carried one, to the
// request's payment.
func (f *forwarded) ended() {
	if f.paid || f.pay == nil {
		return
	}
	f.paid = true
	if rc := f.Stream.Receipt(); rc != nil {
		f.pay.Paid(rc)
	}
}

func (r *Router) markFailed(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[p] = r.cfg.now()
	for model, c := range r.cache {
		if slices.Contains(c.peers, p) {
			delete(r.cache, model) // look the model up again next time
		}
	}
}

// Failed reports whether p failed within the failure TTL.
func (r *Router) Failed(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failedLocked(p, r.cfg.now())
}

func (r *Router) failedLocked(p peer.ID, now time.Time) bool {
	at, ok := r.failed[p]
	if !ok {
		return false
	}
	if now.Sub(at) >= r.cfg.failureTTL {
		delete(r.failed, p)
		return false
	}
	return true
}

func noProvider(model, why string, args ...any) *runtime.Error {
	return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "model",
		"no provider serves model %s: %s", model, fmt.Sprintf(why, args...)).WithCode("no_provider")
}

func (r *Router) lookup(ctx context.Context, model string) ([]peer.ID, error) {
	now := r.cfg.now()
	if r.cfg.cacheTTL > 0 {
		r.mu.Lock()
		c, ok := r.cache[model]
		r.mu.Unlock()
		if ok && now.Sub(c.at) < r.cfg.cacheTTL {
			return c.peers, nil
		}
	}
	if r.cfg.lookupTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.lookupTimeout)
		defer cancel()
	}
	peers, err := r.providers.Providers(ctx, model)
	if err != nil {
		return nil, err
	}
	peers = slices.DeleteFunc(slices.Clone(peers), func(p peer.ID) bool { return p == r.h.ID() || p == "" })
	if r.cfg.cacheTTL > 0 && len(peers) > 0 {
		r.mu.Lock()
		r.cache[model] = cachedProviders{peers: peers, at: now}
		r.mu.Unlock()
	}
	return peers, nil
}

// candidates returns the usable providers of model with their scores, or
// the 503 that explains why there are none.
func (r *Router) candidates(ctx context.Context, model string) ([]candidate, error) {
	provs, err := r.lookup(ctx, model)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, noProvider(model, "looking up its providers in the DHT failed: %v", err)
	}
	if len(provs) == 0 {
		return nil, noProvider(model, "no DHT providers")
	}
	offers := map[peer.ID]capacity.ModelCapacity{}
	for _, a := range r.adverts.Fresh(model) {
		if m, ok := a.Model(model); ok {
			offers[a.Peer] = m
		}
	}
	now := r.cfg.now()
	var cands []candidate
	withAdvert := 0
	r.mu.Lock()
	for _, p := range provs {
		offer, ok := offers[p]
		if !ok {
			continue
		}
		withAdvert++
		if r.failedLocked(p, now) {
			continue
		}
		cands = append(cands, candidate{peer: p, offer: offer})
	}
	r.mu.Unlock()
	switch {
	case withAdvert == 0:
		return nil, noProvider(model, "none of its %d DHT providers has a fresh capacity advert", len(provs))
	case len(cands) == 0:
		return nil, noProvider(model, "all %d providers with a fresh capacity advert failed in the last %s", withAdvert, r.cfg.failureTTL)
	}
	for i := range cands {
		cands[i].score = r.score(cands[i])
	}
	return cands, nil
}

// score is the estimated wait at the provider plus the RTT to it.
func (r *Router) score(c candidate) time.Duration {
	var wait time.Duration
	if q := c.offer.QueueDepth; q > 0 {
		if tps := c.offer.TokensPerSecondMilli; tps > 0 {
			tokens := float64(q) * float64(r.cfg.tokensPerRequest)
			wait = time.Duration(tokens * 1000 / float64(tps) * float64(time.Second))
		} else {
			wait = time.Duration(q) * DefaultUnmeasuredWait
		}
	}
	rtt := r.h.Peerstore().LatencyEWMA(c.peer)
	if rtt <= 0 {
		rtt = r.cfg.unknownRTT
	}
	return wait + rtt
}

// pick draws two distinct candidates and returns the better.
func (r *Router) pick(cands []candidate) candidate {
	if len(cands) == 1 {
		return cands[0]
	}
	r.mu.Lock()
	i := r.cfg.rng.IntN(len(cands))
	j := r.cfg.rng.IntN(len(cands) - 1)
	r.mu.Unlock()
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if better(b, a, r.cfg.tieMargin) {
		return b
	}
	return a
}

// better reports whether a should be chosen over b.
func better(a, b candidate, margin time.Duration) bool {
	d := a.score - b.score
	if d < -margin {
		return true
	}
	if d > margin {
		return false
	}
	pa, pb := a.offer.InputPrice+a.offer.OutputPrice, b.offer.InputPrice+b.offer.OutputPrice
	if pa != pb {
		return pa < pb
	}
	return a.score < b.score
}
