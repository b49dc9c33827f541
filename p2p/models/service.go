package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
)

// DefaultInterval is how often a Service republishes the manifests it put
// and re-provides the models it serves (DHT records expire after 48 h).
const DefaultInterval = 12 * time.Hour

// Routing is what a Service needs of the DHT; *dht.IpfsDHT implements it.
type Routing interface {
	PutValue(ctx context.Context, key string, value []byte, opts ...routing.Option) error
	GetValue(ctx context.Context, key string, opts ...routing.Option) ([]byte, error)
	Provide(ctx context.Context, c cid.Cid, announce bool) error
	FindProvidersAsync(ctx context.Context, c cid.Cid, count int) <-chan peer.AddrInfo
}

// Option configures a Service.
type Option func(*options)

type options struct {
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
}

func defaultOptions() options {
	return options{
		interval: DefaultInterval,
		timeout:  time.Minute,
		log:      slog.New(slog.DiscardHandler),
	}
}

// WithInterval sets the time between republish/re-provide rounds (default
// DefaultInterval); d <= 0 keeps the default.
func WithInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
	}
}

// WithTimeout bounds each put or provide of a round (default one minute);
// d <= 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithLogger sets the logger that receives republish failures (default:
// discard); nil keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Service publishes and resolves manifests and provider records. It keeps
// the manifests it put and the models it provides and republishes them every
// republish interval (WithInterval) until Close.
type Service struct {
	r        Routing
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	published map[string][]byte // name → envelope
	provided  map[string]bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewService starts a Service over r.
func NewService(r Routing, opts ...Option) *Service {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		r: r, interval: o.interval, timeout: o.timeout, log: o.log,
		published: map[string][]byte{}, provided: map[string]bool{}, cancel: cancel,
	}
	s.wg.Go(func() { s.loop(ctx) })
	return s
}

// Put verifies a signed manifest and stores it in the DHT under its name.
// The Service republishes it every republish interval.
func (s *Service) Put(ctx context.Context, envelope []byte) (*Signed, error) {
	sm, err := Open(envelope)
	if err != nil {
		return nil, err
	}
	name := sm.Manifest.Name
	if err := s.r.PutValue(ctx, Key(name), sm.Envelope); err != nil {
		return nil, fmt.Errorf("put manifest %s: %w", name, err)
	}
	s.mu.Lock()
	if old, ok := s.published[name]; !ok || better(sm, old) {
		s.published[name] = sm.Envelope
	}
	s.mu.Unlock()
	return sm, nil
}

func better(sm *Signed, old []byte) bool {
	i, err := (Validator{}).Select(Key(sm.Manifest.Name), [][]byte{sm.Envelope, old})
	return err == nil && i == 0
}

// ErrNotFound is returned by Get when no node has a manifest of that name.
var ErrNotFound = errors.New("manifest not found")

// Get resolves the best manifest named name from the DHT.
func (s *Service) Get(ctx context.Context, name string) (*Signed, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("model name %q: must be 1-64 of [a-z0-9._-]", name)
	}
	v, err := s.r.GetValue(ctx, Key(name))
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get manifest %s: %w", name, err)
	}
	return Open(v)
}

// Provide announces that this node serves the model named name, and keeps
// re-providing it every republish interval until StopProviding or Close.
func (s *Service) Provide(ctx context.Context, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("model name %q: must be 1-64 of [a-z0-9._-]", name)
	}
	s.mu.Lock()
	s.provided[name] = true
	s.mu.Unlock()
	if err := s.r.Provide(ctx, CID(name), true); err != nil {
		return fmt.Errorf("provide %s: %w", name, err)
	}
	return nil
}

// StopProviding stops re-providing name. Existing provider records expire
// on their own (48 h).
func (s *Service) StopProviding(name string) {
	s.mu.Lock()
	delete(s.provided, name)
	s.mu.Unlock()
}

// Provided lists the names this Service re-provides, sorted.
func (s *Service) Provided() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.provided {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// FindProviders returns the peers that provide the model named name,
// including this node if it does.
func (s *Service) FindProviders(ctx context.Context, name string) ([]peer.AddrInfo, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("model name %q: must be 1-64 of [a-z0-9._-]", name)
	}
	var out []peer.AddrInfo
	for ai := range s.r.FindProvidersAsync(ctx, CID(name), 0) {
		out = append(out, ai)
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("find providers of %s: %w", name, ctx.Err())
	}
	return out, nil
}

func (s *Service) loop(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Republish(ctx)
		}
	}
}

// Republish puts every manifest this Service published and provides every
// model it serves, once. The loop calls it every Interval.
func (s *Service) Republish(ctx context.Context) {
	s.mu.Lock()
	envs := make(map[string][]byte, len(s.published))
	for n, e := range s.published {
		envs[n] = e
	}
	names := make([]string, 0, len(s.provided))
	for n := range s.provided {
		names = append(names, n)
	}
	s.mu.Unlock()
	for name, env := range envs {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		if err := s.r.PutValue(cctx, Key(name), env); err != nil && ctx.Err() == nil {
			s.log.Warn("republish manifest", "model", name, "err", err)
		}
		cancel()
	}
	for _, name := range names {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		if err := s.r.Provide(cctx, CID(name), true); err != nil && ctx.Err() == nil {
			s.log.Warn("re-provide model", "model", name, "err", err)
		}
		cancel()
	}
}

// Close stops the republish loop. It does not close the DHT.
func (s *Service) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
	return nil
}
