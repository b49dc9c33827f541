// Package pool is the receipt pool: every receipt a node serves or hears of
// by gossip, persisted by epoch, de-duplicated by receipt id, and summed per
// account as pending spend.
//
// The serving node calls [Pool.Add], which verifies the receipt, persists it
// and then publishes it on the network's topic fomo/<net>/receipts/1. Every
// node's topic validator verifies what it hears:
//
//   - malformed data, bad signatures and every other rule the bytes break
//     (a [*VerifyError] from the [Verifier] that is not marked Ignore) are
//     Rejected, which lowers the forwarder's peer score;
//   - a receipt the pool already holds (the same envelope bytes) and a
//     receipt of a closed epoch are Ignored;
//   - a second, different receipt for an authorization the pool already
//     holds a receipt for is Ignored as well — its signature is valid, so
//     the forwarder is not at fault — and is kept as evidence against the
//     node that signed it ([Pool.Evidence]); it is never counted.
//
// With Config.VerifyBatch set, the validator gathers what it hears into
// batches (Config.GossipBatch: up to 256 receipts, each waiting at most
// 10 ms) and verifies each batch's signatures together and stores its
// receipts in one write; every message still gets its own verdict, the
// one above. On a router with enough validation workers ([WorkersHost],
// p2p.ValidateWorkers) the validator runs inline in them, each worker
// waiting for its receipt's batch; a batch also closes at once when every
// worker waits in a batch, so none waits the window for receipts that
// cannot come.
//
// The datastore is the seen set, so de-duplication survives restarts. A
// writer goroutine persists what the validator accepts in group commits
// (one write-ahead-log sync for every receipt waiting), a few milliseconds
// after acceptance; until then the receipt is held in memory and Get, Has
// and the de-duplication see it. Add returns only once its receipt is
// committed, and Close waits for the writer to finish.
// Pending spend (the charges of receipts not yet settled) is kept in memory
// and rebuilt from the datastore when the pool opens; [Pool.Admit] refuses
// an authorization whose account cannot cover it.
package pool

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fomonet/fomo/settle/receipt"
	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TopicName is the topic's short name; the host turns it into
// fomo/<net>/receipts/1.
const TopicName = "receipts"

// DefaultPrefix is the datastore prefix of the pool's keys.
const DefaultPrefix = "/pool"

// Host is what the pool needs of the node's libp2p host; *p2p.Host
// implements it.
type Host interface {
	// ID is the host's peer ID.
	ID() peer.ID
	// PubSub is the host's GossipSub router.
	PubSub() *pubsub.PubSub
	// JoinTopic joins the network's topic fomo/<net>/<name>/1.
	JoinTopic(name string) (*pubsub.Topic, error)
}

// ContentIDHost is a Host that may report that its router's message ids
// are the SHA-256 of the message data (p2p.MessageID), so that the
// validator takes its digest from the id rather than hashing the data
// again.
type ContentIDHost interface {
	Host
	// ContentMessageIDs reports whether every message id is the SHA-256
	// of the message data.
	ContentMessageIDs() bool
}

// WorkersHost is a Host that reports how many validation workers its
// GossipSub router runs (p2p.ValidateWorkers). When they are at least
// twice the gossip batch's MaxReceipts, the pool validates its topic
// inline in those workers, each waiting for its receipt's batch, rather
// than in the goroutine pubsub starts per message for an asynchronous
// validator: no goroutine, stack growth or scheduling per message. With
// fewer, or a Host that does not tell, the validator stays asynchronous:
// a worker parked in a batch cannot take the next message.
type WorkersHost interface {
	Host
	// ValidateWorkers is the number of the router's validation workers.
	ValidateWorkers() int
}

// Verifier checks a receipt envelope (its format, both signatures and every
// rule that does not need the pool) and returns its content. Invalid
// receipts yield a *VerifyError; any other error is a local failure (a
// cancelled context, chain state unavailable) and the topic validator
// ignores the message. ReceiptVerifier is the node's Verifier.
type Verifier func(ctx context.Context, env []byte) (Receipt, error)

// Config configures a Pool. Verify and Datastore are required; every other
// field has a default (see New).
type Config struct {
	// Datastore holds the receipts, under Prefix.
	Datastore ds.Batching
	// Prefix is the datastore key prefix; empty means DefaultPrefix.
	Prefix string
	// Host is the node's libp2p host; nil runs the pool without gossip.
	Host Host
	// Verify checks receipt envelopes.
	Verify Verifier
	// VerifyBatch, when set, checks the envelopes of AddBatch together,
	// and those of gossip in batches (GossipBatch); otherwise each is
	// checked with Verify.
	VerifyBatch BatchVerifier
	// GossipBatch is the window in which the topic validator gathers
	// gossiped receipts into batches, when VerifyBatch is set: each
	// message waits at most MaxDelay for its batch. Its zero value
	// means the defaults; MaxReceipts 1 validates one message at a time.
	GossipBatch BatchWindow
	// EpochOf maps an authorization's issue time (Unix ms) to its epoch;
	// nil puts every receipt in epoch 0.
	EpochOf func(issuedAtMs uint64) uint64
	// Open reports whether an epoch still accepts receipts; nil means
	// every epoch is open.
	Open func(epoch uint64) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the pool's logs; nil discards them.
	Logger *slog.Logger
	// OnAccept, when set, is called with every receipt the pool accepts:
	// added locally (once persisted) or received by gossip (once accepted;
	// Get sees it, the writer persists it within milliseconds). It must
	// not block.
	OnAccept func(Entry)
	// OnEvidence, when set, is called with every conflicting receipt the
	// pool keeps as evidence against its node. It must not block.
	OnEvidence func(Entry)
	// TopicScoreParams, when set, are the topic's GossipSub score
	// parameters (the host's pubsub must score peers).
	TopicScoreParams *pubsub.TopicScoreParams
	// Admission, when set, is the rule gossiped receipts must pass before
	// they are verified: a per-peer rate limit and the chain's registry
	// (see Admission). Nil admits what the Verifier accepts.
	Admission *Admission
}

// Pool is the receipt pool. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	store  ds.Batching
	keys   keys
	log    *slog.Logger
	self   peer.ID
	ps     *pubsub.PubSub
	topic  *pubsub.Topic
	tname  string
	sub    *pubsub.Subscription
	cancel context.CancelFunc
	ctx    context.Context

	// mu serialises the check-and-write of receipts and guards pending
	// and closed's transition.
	mu       sync.Mutex
	pending  map[peer.ID]uint64
	reserved map[peer.ID]uint64
	// keyPending and keyReserved are the same per session key, against
	// the key's spend limit.
	keyPending  map[peer.ID]uint64
	keyReserved map[peer.ID]uint64

	// flight holds the receipts accepted but not yet committed by the
	// writer (it never takes mu).
	flightMu sync.Mutex
	flight   map[ID]Entry
	// flightDigests holds the digests of the envelopes in flight,
	// receipts and evidence.
	flightDigests map[[32]byte]struct{}
	// knownDigests holds the digest of every envelope the pool holds or
	// is writing (entries and evidence), and knownIDs the epoch of every
	// entry, so that the common question "is this receipt new?" is
	// answered, and an entry found, without reading the datastore. Both are
	// rebuilt from the datastore when the pool opens.
	knownDigests map[[32]byte]struct{}
	knownIDs     map[ID]uint64
	writes       chan write
	stopWriter   chan struct{}
	writerDone   chan struct{}
	// contentIDs reports that message ids are the SHA-256 of their data
	// (ContentIDHost).
	contentIDs bool
	// batcher gathers gossiped receipts into batches; nil when they are
	// validated one at a time.
	batcher *batcher

	stats *stats

	closed    atomic.Bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New opens the pool over cfg.Datastore, rebuilding the pending spend from
// the receipts it holds, and, when cfg.Host is set, joins the receipts
// topic, registers the validator and subscribes. Close stops it.
func New(cfg Config) (*Pool, error) {
	if cfg.Datastore == nil {
		return nil, errors.New("pool: Config.Datastore is required")
	}
	if cfg.Verify == nil {
		return nil, errors.New("pool: Config.Verify is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.EpochOf == nil {
		cfg.EpochOf = func(uint64) uint64 { return 0 }
	}
	if cfg.Open == nil {
		cfg.Open = func(uint64) bool { return true }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		cfg: cfg, store: cfg.Datastore, keys: keys{ds.NewKey(cfg.Prefix).String()}, log: cfg.Logger,
		ctx: ctx, cancel: cancel, pending: map[peer.ID]uint64{}, reserved: map[peer.ID]uint64{},
		keyPending: map[peer.ID]uint64{}, keyReserved: map[peer.ID]uint64{}, stats: newStats(),
		flight: map[ID]Entry{}, flightDigests: map[[32]byte]struct{}{}, writes: make(chan write, 4096),
		knownDigests: map[[32]byte]struct{}{}, knownIDs: map[ID]uint64{},
		stopWriter: make(chan struct{}), writerDone: make(chan struct{}),
	}
	if _, err := p.migrate(ctx); err != nil {
		cancel()
		return nil, err
	}
	if err := p.loadKnown(ctx); err != nil {
		cancel()
		return nil, err
	}
	go p.writer()
	if win := cfg.GossipBatch.withDefaults(); cfg.VerifyBatch != nil && win.MaxReceipts > 1 {
		p.startBatcher(win)
	}
	if cfg.Host == nil {
		return p, nil
	}
	if err := p.join(cfg); err != nil {
		p.Close()
		return nil, err
	}
	p.wg.Go(p.receive)
	return p, nil
}

func (p *Pool) join(cfg Config) error {
	p.self, p.ps = cfg.Host.ID(), cfg.Host.PubSub()
	if h, ok := cfg.Host.(ContentIDHost); ok {
		p.contentIDs = h.ContentMessageIDs()
	}
	if p.ps == nil {
		return errors.New("pool: the host has no pubsub")
	}
	t, err := cfg.Host.JoinTopic(TopicName)
	if err != nil {
		return fmt.Errorf("pool: joining the receipts topic: %w", err)
	}
	p.topic, p.tname = t, t.String()
	// One at a time, a receipt is validated inline. In batches, each
	// waits for its batch: inline in one of the router's validation
	// workers when it has enough of them (WorkersHost), else in the
	// goroutine pubsub's asynchronous validation runs it in (bounded by
	// its validation throttle).
	validator, inline := p.validate, true
	if p.batcher != nil {
		validator, inline = p.validateBatched, false
		if h, ok := cfg.Host.(WorkersHost); ok && h.ValidateWorkers() >= 2*p.batcher.win.MaxReceipts {
			inline = true
			p.batcher.setValidators(h.ValidateWorkers())
		}
	}
	if err := p.ps.RegisterTopicValidator(p.tname, validator, pubsub.WithValidatorInline(inline)); err != nil {
		return fmt.Errorf("pool: registering the validator of %s: %w", p.tname, err)
	}
	if cfg.TopicScoreParams != nil {
		if err := t.SetScoreParams(cfg.TopicScoreParams); err != nil {
			p.log.Warn("setting topic score parameters failed", "topic", p.tname, "err", err)
		}
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(1024))
	if err != nil {
		_ = p.ps.UnregisterTopicValidator(p.tname)
		return fmt.Errorf("pool: subscribing to %s: %w", p.tname, err)
	}
	p.sub = sub
	return nil
}

// Close leaves the topic (the host keeps the topic handle), ends the
// subscription goroutine and the writer once every accepted receipt is
// persisted. It does not close the datastore. It is idempotent.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed.Store(true)
		p.mu.Unlock()
		p.cancel()
		if p.sub != nil {
			p.sub.Cancel()
		}
		p.wg.Wait()
		if p.ps != nil && p.tname != "" {
			_ = p.ps.UnregisterTopicValidator(p.tname)
		}
		p.stopBatcher()
		close(p.stopWriter)
		<-p.writerDone
	})
	return nil
}

// receive drains the subscription: the validator has already stored every
// message it accepted; the subscription keeps this node in the topic's mesh.
func (p *Pool) receive() {
	for {
		if _, err := p.sub.Next(p.ctx); err != nil {
			return
		}
	}
}

// Add verifies the receipt envelope env, persists it and then publishes it;
// the serving node calls it before returning the receipt to the client.
// It returns a *DuplicateError for a receipt the pool holds, a
// *ConflictError (the receipt is kept as evidence) for a second receipt of
// the same authorization, an *EpochClosedError, or the Verifier's error.
// A failed publication is logged, not returned: the receipt is held, and
// other nodes can still learn it from the chain's submission.
func (p *Pool) Add(ctx context.Context, env []byte) (Entry, error) {
	if p.closed.Load() {
		return Entry{}, ErrClosed
	}
	r, err := p.cfg.Verify(ctx, env)
	if err != nil {
		return Entry{}, err
	}
	return p.add(ctx, r, env)
}

// AddVerified is Add for a receipt this node has checked already: one it
// signed itself as the serving node, or one it verified on arrival. It is
// not verified again.
func (p *Pool) AddVerified(ctx context.Context, sr *receipt.SignedReceipt) (Entry, error) {
	if p.closed.Load() {
		return Entry{}, ErrClosed
	}
	r, err := fromVerified(sr, nil)
	if err != nil {
		return Entry{}, err
	}
	return p.add(ctx, r, sr.Envelope)
}

// add stores a verified receipt, waits for it to be durable and publishes
// it.
func (p *Pool) add(ctx context.Context, r Receipt, env []byte) (Entry, error) {
	e, done, err := p.put(ctx, r, env, sha256.Sum256(env), true, true)
	if err == nil || errors.Is(err, ErrConflict) {
		if werr := wait(ctx, done); werr != nil {
			return Entry{}, werr
		}
	}
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			p.log.Warn("conflicting receipt kept as evidence", "receipt_id", r.ID.String(),
				"node", ce.Conflict.Node.String(), "held_node", ce.Held.Node.String())
			p.evidence(ce.Conflict)
		}
		return e, err
	}
	p.notify(e)
	if a := p.cfg.Admission; a != nil {
		// Kept (the client holds it) but not published: peers would
		// reject it and penalise this node.
		if v, reason, err := a.registered(ctx, env); v == rejected {
			p.log.Error("this node's receipt breaks the chain's registry: kept, not gossiped; register the node as serving the model at its registered price",
				"receipt_id", e.ID.String(), "model", e.Model, "reason", reason)
			return e, nil
		} else if err != nil {
			p.log.Warn("checking this node's receipt against the registry failed", "receipt_id", e.ID.String(), "err", err)
		}
	}
	if p.topic != nil {
		if err := p.topic.Publish(p.ctx, env); err != nil {
			p.log.Warn("publishing receipt failed", "receipt_id", e.ID.String(), "err", err)
		}
	}
	return e, nil
}

// AddBatch admits many receipts learned at once (from a peer or a block,
// not served here): it verifies them together (Config.VerifyBatch), stores
// the new ones in one group commit and returns one result per envelope, as
// Add would, without publishing them.
func (p *Pool) AddBatch(ctx context.Context, envs [][]byte) ([]Entry, []error) {
	out := make([]Entry, len(envs))
	errs := make([]error, len(envs))
	if p.closed.Load() {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return out, errs
	}
	var rs []Receipt
	var verrs []error
	if p.cfg.VerifyBatch != nil {
		rs, verrs = p.cfg.VerifyBatch(ctx, envs)
	} else {
		rs, verrs = make([]Receipt, len(envs)), make([]error, len(envs))
		for i, env := range envs {
			rs[i], verrs[i] = p.cfg.Verify(ctx, env)
		}
	}
	// One write for the whole batch, queued under p.mu so that a flush
	// (MarkSettled) cannot pass it while its receipts are in flight.
	w := write{done: make(chan error, 1), kvs: make([]kv, 0, 4*len(envs))}
	kept := make([]bool, len(envs))
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		for i := range errs {
			if errs[i] == nil {
				errs[i] = ErrClosed
			}
		}
		return out, errs
	}
	for i, env := range envs {
		if verrs[i] != nil {
			errs[i] = verrs[i]
			continue
		}
		digest := sha256.Sum256(env)
		if seen, err := p.seenDigest(ctx, digest); err != nil || seen {
			if err == nil {
				e, _, _ := p.get(ctx, rs[i].ID)
				err = &DuplicateError{Entry: e}
			}
			errs[i] = err
			continue
		}
		n := len(w.kvs)
		out[i], errs[i] = p.putLocked(ctx, rs[i], env, digest, false, &w)
		kept[i] = len(w.kvs) > n
	}
	if len(w.kvs) > 0 {
		p.enqueue(w)
	}
	p.mu.Unlock()
	if len(w.kvs) > 0 {
		if err := wait(ctx, w.done); err != nil {
			for i := range errs {
				if kept[i] {
					errs[i] = err
				}
			}
		}
	}
	for i := range errs {
		var ce *ConflictError
		switch {
		case errs[i] == nil:
			p.notify(out[i])
		case errors.As(errs[i], &ce):
			p.evidence(ce.Conflict)
		}
	}
	return out, errs
}

func (p *Pool) evidence(e Entry) {
	if p.cfg.OnEvidence != nil {
		p.cfg.OnEvidence(e)
	}
}

func (p *Pool) notify(e Entry) {
	if p.cfg.OnAccept != nil {
		p.cfg.OnAccept(e)
	}
}

// validate is the topic validator (see the package comment).
func (p *Pool) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	data := m.GetData()
	digest, res, decided := p.precheck(ctx, from, data, p.digestOf(m))
	if decided {
		return res
	}
	r, err := p.cfg.Verify(ctx, data)
	if err != nil {
		return p.verifyVerdict(from, err)
	}
	e, _, err := p.put(ctx, r, data, digest, false, false)
	return p.putVerdict(from, r, e, err)
}

// digestOf returns the SHA-256 of m's data: its message id when the
// host's router makes ids so (ContentMessageIDs), otherwise computed.
func (p *Pool) digestOf(m *pubsub.Message) [32]byte {
	if p.contentIDs && len(m.ID) == sha256.Size {
		return [32]byte([]byte(m.ID))
	}
	return sha256.Sum256(m.GetData())
}

// precheck applies to a gossiped message what comes before its signatures:
// de-duplication and the admission rule. digest is the SHA-256 of data.
// decided is true when res is the verdict.
func (p *Pool) precheck(ctx context.Context, from peer.ID, data []byte, digest [32]byte) ([32]byte, pubsub.ValidationResult, bool) {
	seen, err := p.seenDigest(ctx, digest)
	switch {
	case err != nil:
		p.log.Warn("reading the receipt pool failed", "err", err)
		return digest, p.stats.ignore(ReasonStore), true
	case seen && from == p.self:
		// Published by Add, which stored it first.
		return digest, p.stats.accept(), true
	case seen:
		return digest, p.stats.ignore(ReasonDuplicate), true
	}
	if a := p.cfg.Admission; a != nil && from != p.self {
		if v, reason, err := a.gossip(ctx, from, data); v != admitted {
			p.log.Debug("refusing gossiped receipt", "from", from, "reason", reason, "err", err)
			if v == rejected {
				return digest, p.stats.reject(reason), true
			}
			return digest, p.stats.ignore(reason), true
		}
	}
	return digest, 0, false
}

// verifyVerdict is the verdict on a gossiped receipt the Verifier refused.
func (p *Pool) verifyVerdict(from peer.ID, err error) pubsub.ValidationResult {
	var ve *VerifyError
	if errors.As(err, &ve) {
		p.log.Debug("refusing gossiped receipt", "from", from, "reason", ve.Reason, "err", err)
		if ve.Ignore {
			return p.stats.ignore(ve.Reason)
		}
		return p.stats.reject(ve.Reason)
	}
	p.log.Debug("could not verify gossiped receipt", "from", from, "err", err)
	return p.stats.ignore(ReasonVerifyFailed)
}

// putVerdict is the verdict on a verified gossiped receipt r that put
// stored as e, or refused with err.
func (p *Pool) putVerdict(from peer.ID, r Receipt, e Entry, err error) pubsub.ValidationResult {
	var ce *ConflictError
	switch {
	case err == nil:
		p.notify(e)
		return p.stats.accept()
	case errors.Is(err, ErrDuplicate):
		return p.stats.ignore(ReasonDuplicate)
	case errors.Is(err, ErrEpochClosed):
		return p.stats.ignore(ReasonEpochClosed)
	case errors.Is(err, ErrClosed):
		return p.stats.ignore(ReasonClosed)
	case errors.As(err, &ce):
		p.log.Warn("conflicting receipt kept as evidence", "receipt_id", r.ID.String(),
			"node", ce.Conflict.Node.String(), "held_node", ce.Held.Node.String(), "from", from)
		p.evidence(ce.Conflict)
		return p.stats.ignore(ReasonConflict)
	default:
		p.log.Warn("storing gossiped receipt failed", "receipt_id", r.ID.String(), "err", err)
		return p.stats.ignore(ReasonStore)
	}
}

// put decides on a verified receipt: refused if its epoch is closed or it
// is held already; a different receipt for a held id is kept as evidence;
// otherwise it is accepted and counted. What it keeps is queued for the
// writer; local marks receipts served here; when waits is true, the returned
// channel reports the commit.
func (p *Pool) put(ctx context.Context, r Receipt, env []byte, digest [32]byte, local, waits bool) (Entry, chan error, error) {
	var done chan error
	if waits {
		done = make(chan error, 1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return Entry{}, nil, ErrClosed
	}
	w := write{done: done}
	e, err := p.putLocked(ctx, r, env, digest, local, &w)
	if len(w.kvs) > 0 {
		p.enqueue(w)
		return e, done, err
	}
	return e, nil, err
}

// putLocked is put, p.mu held and the pool open, adding what it keeps to
// w rather than queueing it.
func (p *Pool) putLocked(ctx context.Context, r Receipt, env []byte, digest [32]byte, local bool, w *write) (Entry, error) {
	epoch := p.cfg.EpochOf(r.IssuedAtMs)
	if !p.cfg.Open(epoch) {
		return Entry{}, &EpochClosedError{Epoch: epoch}
	}
	e := Entry{
		Receipt: r, Digest: digest, Epoch: epoch, SeenAtMs: p.cfg.Now().UnixMilli(), Local: local,
		Envelope: append([]byte(nil), env...),
	}
	held, ok, err := p.get(ctx, r.ID)
	if err != nil {
		return Entry{}, err
	}
	if ok {
		if held.Digest == digest {
			return held, &DuplicateError{Entry: held}
		}
		seen, err := p.seenDigest(ctx, digest)
		if err != nil {
			return Entry{}, err
		}
		if seen { // this conflicting receipt is evidence already
			return Entry{}, &DuplicateError{Entry: e}
		}
		p.flightMu.Lock()
		p.flightDigests[digest] = struct{}{}
		p.knownDigests[digest] = struct{}{}
		p.flightMu.Unlock()
		w.kvs = append(w.kvs, kv{p.keys.evidence(e.ID, e.Digest), encodeEntry(e)})
		w.digests = append(w.digests, digest)
		return Entry{}, &ConflictError{Held: held, Conflict: e}
	}
	w.ids = append(w.ids, e.ID)
	w.digests = append(w.digests, digest)
	for k, v := range p.keys.entryWrites(e, true) {
		w.kvs = append(w.kvs, kv{k, v})
	}
	p.flightMu.Lock()
	p.flight[e.ID] = e
	p.flightDigests[digest] = struct{}{}
	p.knownDigests[digest] = struct{}{}
	p.knownIDs[e.ID] = e.Epoch
	p.flightMu.Unlock()
	p.pend(e)
	return e, nil
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// Pending returns the account's pending spend: the sum of the charges of
// the receipts the pool holds for it that are not settled.
func (p *Pool) Pending(account peer.ID) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[account]
}

// Admit reports whether account, with the given balance, can issue an
// authorization of maxCharge: it returns a *QuotaError (errors.Is
// ErrInsufficientQuota) when balance − pending − reserved − maxCharge < 0,
// reserved being what Reserve holds for requests in progress.
func (p *Pool) Admit(account peer.ID, balance, maxCharge uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admitLocked(account, balance, maxCharge)
}

func (p *Pool) admitLocked(account peer.ID, balance, maxCharge uint64) error {
	pending := satAdd(p.pending[account], p.reserved[account])
	if !covers(balance, pending, maxCharge) {
		return &QuotaError{Account: account, Balance: balance, Pending: pending, MaxCharge: maxCharge}
	}
	return nil
}

// KeyLimit is what a session key may still spend under its spend limit
// (the limit less what the chain has charged it), for [Pool.Reserve].
type KeyLimit struct {
	Key  peer.ID
	Left uint64
}

// Reserve is Admit that, on success, also holds maxCharge against the
// account until release is called, so that concurrent requests of one
// account cannot together overspend it. With a KeyLimit it also holds
// maxCharge against the session key that signs, refusing with a
// *KeyLimitError when left − the key's pending and reserved spend −
// maxCharge < 0. The node calls release once the request's receipt is
// added (or the request failed without one). release is idempotent.
func (p *Pool) Reserve(account peer.ID, balance, maxCharge uint64, limits ...KeyLimit) (release func(), err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.admitLocked(account, balance, maxCharge); err != nil {
		return nil, err
	}
	for _, l := range limits {
		used := satAdd(p.keyPending[l.Key], p.keyReserved[l.Key])
		if !covers(l.Left, used, maxCharge) {
			return nil, &KeyLimitError{Key: l.Key, Left: l.Left, Pending: used, MaxCharge: maxCharge}
		}
	}
	p.reserved[account] = satAdd(p.reserved[account], maxCharge)
	for _, l := range limits {
		p.keyReserved[l.Key] = satAdd(p.keyReserved[l.Key], maxCharge)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			subtract(p.reserved, account, maxCharge)
			for _, l := range limits {
				subtract(p.keyReserved, l.Key, maxCharge)
			}
		})
	}, nil
}

// covers reports whether have pays for used + want, without overflow.
func covers(have, used, want uint64) bool { return want <= have && used <= have-want }

// subtract takes v from m[k], deleting the entry when nothing is left.
func subtract(m map[peer.ID]uint64, k peer.ID, v uint64) {
	if have := m[k]; have > v {
		m[k] = have - v
	} else {
		delete(m, k)
	}
}

// pend counts e's charge as pending spend of its account and signing key;
// p.mu is held.
func (p *Pool) pend(e Entry) {
	p.pending[e.Account] = satAdd(p.pending[e.Account], e.Charge)
	if e.Signer != "" {
		p.keyPending[e.Signer] = satAdd(p.keyPending[e.Signer], e.Charge)
	}
}

// MarkSettled records that the chain settled the receipts ids: they stop
// counting as pending spend. Unknown and already settled ids are skipped.
func (p *Pool) MarkSettled(ctx context.Context, ids []ID) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := p.store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	var done []Entry
	seen := make(map[ID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		e, ok, err := p.get(ctx, id)
		if err != nil {
			return err
		}
		if !ok || e.Settled {
			continue
		}
		e.Settled = true
		if err := b.Put(ctx, p.keys.entry(e.Epoch, e.ID), encodeEntry(e)); err != nil {
			return fmt.Errorf("pool: %w", err)
		}
		done = append(done, e)
	}
	if len(done) == 0 {
		return nil
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("pool: marking receipts settled: %w", err)
	}
	for _, e := range done {
		p.unpend(e)
	}
	return nil
}

// unpend removes e's charge from its account's pending spend; p.mu is held.
func (p *Pool) unpend(e Entry) {
	subtract(p.pending, e.Account, e.Charge)
	if e.Signer != "" {
		subtract(p.keyPending, e.Signer, e.Charge)
	}
}

// Stats returns the validator's verdict counts since the pool opened.
func (p *Pool) Stats() Stats { return p.stats.snapshot() }
