package capacity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Defaults of the Service.
const (
	// DefaultInterval is how often a node publishes its advert.
	DefaultInterval = 5 * time.Second
	// DefaultMaxAge is how old an advert may be and still count.
	DefaultMaxAge = 15 * time.Second
	// DefaultMaxSkew is how far in the future an advert's timestamp may
	// be (clock skew between nodes).
	DefaultMaxSkew = 5 * time.Second
)

// Source supplies the content of this node's adverts; the node implements
// it from its runtimes and GPU monitor. Snapshot must be cheap: it is
// called on every publication.
type Source interface {
	Snapshot() AdvertContent
}

// SourceFunc adapts a function to Source.
type SourceFunc func() AdvertContent

// Snapshot calls f.
func (f SourceFunc) Snapshot() AdvertContent { return f() }

type config struct {
	interval    time.Duration
	maxAge      time.Duration
	maxSkew     time.Duration
	now         func() time.Time
	key         crypto.PrivKey
	log         *slog.Logger
	scoreParams *pubsub.TopicScoreParams
}

// Option configures a Service.
type Option func(*config)

// WithInterval sets the publication interval; 0 or less disables periodic
// publication (Publish still works).
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithMaxAge sets how old an advert may be and still be accepted and
// returned by Fresh.
func WithMaxAge(d time.Duration) Option { return func(c *config) { c.maxAge = d } }

// WithMaxSkew sets how far in the future an advert's timestamp may be.
func WithMaxSkew(d time.Duration) Option { return func(c *config) { c.maxSkew = d } }

// WithClock sets the clock used to stamp and judge adverts.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithKey sets the signing key (default: the host's key from its peerstore).
func WithKey(sk crypto.PrivKey) Option { return func(c *config) { c.key = sk } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithTopicScoreParams sets the GossipSub score parameters of the topic
// (the pubsub must have been created with peer scoring).
func WithTopicScoreParams(p *pubsub.TopicScoreParams) Option {
	return func(c *config) { c.scoreParams = p }
}

// Service publishes this node's adverts and keeps the freshest advert of
// every peer. It is safe for concurrent use.
type Service struct {
	self  peer.ID
	ps    *pubsub.PubSub
	name  string
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	src   Source
	cfg   config
	log   *slog.Logger

	mu     sync.RWMutex
	byPeer map[peer.ID]Advert

	accepted, rejected, ignored atomic.Uint64

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New joins topic (fomo/<net>/capacity/1) on ps, registers the advert
// validator, and starts publishing src's adverts signed by h's key and
// collecting the network's. Close stops it.
func New(h host.Host, ps *pubsub.PubSub, topic string, src Source, opts ...Option) (*Service, error) {
	cfg := config{interval: DefaultInterval, maxAge: DefaultMaxAge, maxSkew: DefaultMaxSkew, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.maxAge <= 0 {
		cfg.maxAge = DefaultMaxAge
	}
	if cfg.maxSkew < 0 {
		cfg.maxSkew = 0
	}
	if cfg.key == nil {
		cfg.key = h.Peerstore().PrivKey(h.ID())
		if cfg.key == nil {
			return nil, errors.New("capacity: the host's peerstore has no private key; pass WithKey")
		}
	}
	if id, err := peer.IDFromPrivateKey(cfg.key); err != nil || id != h.ID() {
		return nil, fmt.Errorf("capacity: signing key is not the host's key (%s)", h.ID())
	}
	if src == nil {
		return nil, errors.New("capacity: nil Source")
	}
	s := &Service{self: h.ID(), ps: ps, name: topic, src: src, cfg: cfg, log: cfg.log, byPeer: map[peer.ID]Advert{}}
	if err := ps.RegisterTopicValidator(topic, s.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("capacity: registering validator on %s: %w", topic, err)
	}
	t, err := ps.Join(topic)
	if err != nil {
		_ = ps.UnregisterTopicValidator(topic)
		return nil, fmt.Errorf("capacity: joining %s: %w", topic, err)
	}
	if cfg.scoreParams != nil {
		if err := t.SetScoreParams(cfg.scoreParams); err != nil {
			s.log.Warn("setting topic score parameters failed", "topic", topic, "err", err)
		}
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		_ = t.Close()
		_ = ps.UnregisterTopicValidator(topic)
		return nil, fmt.Errorf("capacity: subscribing to %s: %w", topic, err)
	}
	s.topic, s.sub = t, sub
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.receive(ctx) })
	if cfg.interval > 0 {
		s.wg.Go(func() { s.publishLoop(ctx) })
	}
	return s, nil
}

// Close stops publishing and collecting, leaves the topic and unregisters
// the validator. It is idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.sub.Cancel()
		s.wg.Wait()
		_ = s.topic.Close()
		_ = s.ps.UnregisterTopicValidator(s.name)
	})
	return nil
}

func (s *Service) publishLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		if err := s.Publish(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("publishing capacity advert failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.prune()
	}
}

// Publish signs and publishes an advert of the Source's current content.
func (s *Service) Publish(ctx context.Context) error {
	content := s.src.Snapshot()
	a := Advert{Peer: s.self, AdvertContent: content, Time: s.cfg.now().Truncate(time.Millisecond)}
	data, err := Sign(a, s.cfg.key)
	if err != nil {
		return err
	}
	return s.topic.Publish(ctx, data)
}

func (s *Service) receive(ctx context.Context) {
	for {
		m, err := s.sub.Next(ctx)
		if err != nil {
			return // cancelled or closed
		}
		a, ok := m.ValidatorData.(Advert)
		if !ok {
			continue
		}
		s.put(a)
	}
}

// validate is the topic validator: forged or malformed adverts (Decode
// checks that the advert's peer signed it) are rejected, which lowers the
// forwarder's score; stale and future-dated ones are ignored. Messages have
// no author (p2p.GossipSubOptions): a genuine advert is accepted from
// whoever publishes it, and put keeps only the freshest of each peer, so a
// replay can neither forge nor roll back what a node advertised.
func (s *Service) validate(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	a, err := Decode(m.GetData())
	if err != nil {
		s.log.Debug("rejecting capacity advert", "from", from, "err", err)
		s.rejected.Add(1)
		return pubsub.ValidationReject
	}
	now := s.cfg.now()
	if now.Sub(a.Time) > s.cfg.maxAge || a.Time.Sub(now) > s.cfg.maxSkew {
		s.log.Debug("ignoring capacity advert out of its time window", "peer_id", a.Peer, "time", a.Time)
		s.ignored.Add(1)
		return pubsub.ValidationIgnore
	}
	m.ValidatorData = a
	s.accepted.Add(1)
	return pubsub.ValidationAccept
}

// put stores a if it is fresher than what the table has for its peer.
func (s *Service) put(a Advert) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.byPeer[a.Peer]; ok && !a.Time.After(have.Time) {
		return false
	}
	s.byPeer[a.Peer] = a
	return true
}

func (s *Service) prune() {
	cut := s.cfg.now().Add(-s.cfg.maxAge)
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, a := range s.byPeer {
		if a.Time.Before(cut) {
			delete(s.byPeer, p)
		}
	}
}

func (s *Service) fresh(a Advert, now time.Time) bool {
	return now.Sub(a.Time) <= s.cfg.maxAge && a.Time.Sub(now) <= s.cfg.maxSkew
}

// Fresh returns the fresh adverts (at most the max age old) of the peers
// that serve model, this node's own included, sorted by peer ID.
func (s *Service) Fresh(model string) []Advert {
	now := s.cfg.now()
	s.mu.RLock()
	var out []Advert
	for _, a := range s.byPeer {
		if _, ok := a.Model(model); ok && s.fresh(a, now) {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	sortAdverts(out)
	return out
}

// All returns every fresh advert, sorted by peer ID.
func (s *Service) All() []Advert {
	now := s.cfg.now()
	s.mu.RLock()
	var out []Advert
	for _, a := range s.byPeer {
		if s.fresh(a, now) {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	sortAdverts(out)
	return out
}

// Get returns the freshest advert of p, fresh or not.
func (s *Service) Get(p peer.ID) (Advert, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byPeer[p]
	return a, ok
}

// Models returns the names of the models that some other peer advertises
// in a fresh advert, sorted.
func (s *Service) Models() []string {
	var out []string
	for _, a := range s.All() {
		if a.Peer == s.self {
			continue
		}
		for _, m := range a.Models {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortAdverts(as []Advert) {
	slices.SortFunc(as, func(a, b Advert) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
}

// Stats counts the validator's verdicts since the Service started.
type Stats struct {
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	Ignored  uint64 `json:"ignored"`
}

// Stats returns the validator's counts.
func (s *Service) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Ignored: s.ignored.Load()}
}
