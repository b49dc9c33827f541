package pool

import (
	"context"
	"errors"
	"sync"
	"time"

	rpb "github.com/fomonet/fomo/settle/receipt/pb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// Reasons of the gossip admission rule ([Admission]).
const (
	// ReasonRateLimited: the forwarding peer sent more receipts than its
	// token bucket holds; the receipt is Ignored (the excess of an honest
	// burst is not the forwarder's fault, and the receipt may still
	// arrive from another peer or from the chain).
	ReasonRateLimited = "rate_limited"
	// ReasonModelNotRegistered: the receipt's model is not in the chain's
	// model registry. Rejected.
	ReasonModelNotRegistered = "model_not_registered"
	// ReasonNotServing: the receipt's node is not registered on the chain
	// as serving its model. Rejected.
	ReasonNotServing = "not_serving"
	// ReasonPriceNotAllowed: the authorization quotes prices the
	// Admission's PriceRule refuses (by default: other than the
	// registry's). Rejected.
	ReasonPriceNotAllowed = "price_not_allowed"
	// ReasonRegistryUnavailable: the registry could not answer (the chain
	// is catching up, or a read failed); the receipt is Ignored.
	ReasonRegistryUnavailable = "registry_unavailable"
)

// Defaults of the per-peer token bucket. They are generous: a peer that
// relays a busy network's receipts first must not lose them to the
// bucket; the bucket only keeps one peer from taking the whole validation
// pipeline.
const (
	// DefaultRate is the receipts per second a forwarding peer's bucket
	// refills.
	DefaultRate = 500
	// DefaultBurst is the bucket's size: ten seconds at DefaultRate.
	DefaultBurst = 5000
)

// ErrRegistryBehind is what a Registry returns (wrapped) while its view of
// the chain is known to be behind (no block yet, catching up): the
// admission rule then skips the registry rules and admits what the
// Verifier accepts. Ignoring would lose, at this node, honest receipts
// that gossip never delivers again, and rejecting would penalise honest
// peers; the chain refuses what the registry would have.
var ErrRegistryBehind = errors.New("pool: the model registry is catching up")

// Registry is what the gossip admission rule asks of the chain's model
// registry. An error means the registry could not answer: the receipt is
// then Ignored, never Rejected, or, for ErrRegistryBehind, admitted.
type Registry interface {
	// Prices returns the list prices the registry holds for model, usd
	// base units per 1M tokens; ok is false when the model is not
	// registered.
	Prices(ctx context.Context, model string) (in, out uint64, ok bool, err error)
	// Serves reports whether node is registered as serving model.
	Serves(ctx context.Context, node peer.ID, model string) (bool, error)
}

// Quote is the priced part of a receipt that a PriceRule judges.
type Quote struct {
	// Node signed the receipt; Account pays it.
	Node, Account peer.ID
	// Model is the authorization's model.
	Model string
	// IssuedAtMs is the authorization's issue time (Unix ms).
	IssuedAtMs uint64
	// InputPrice and OutputPrice are the prices the authorization quotes.
	InputPrice, OutputPrice uint64
	// ListInput and ListOutput are the registry's prices of Model.
	ListInput, ListOutput uint64
}

// PriceRule decides whether a receipt's quoted prices are ones its node
// may charge. The chain accepts only the paying account's effective
// prices: the list prices less its staking discount (DESIGN §9.2) in the
// epoch the authorization was issued in; settle/chain's Discounts is that
// rule, [ListPrice] the rule of a network without a chain.
type PriceRule interface {
	// Allowed reports whether q's prices are allowed; an error means the
	// rule could not decide (the receipt is Ignored).
	Allowed(ctx context.Context, q Quote) (bool, error)
}

// ListPrice is the PriceRule of a network without discounts (no chain):
// the quoted prices must equal the registry's.
type ListPrice struct{}

// Allowed implements PriceRule.
func (ListPrice) Allowed(_ context.Context, q Quote) (bool, error) {
	return q.InputPrice == q.ListInput && q.OutputPrice == q.ListOutput, nil
}

var _ PriceRule = ListPrice{}

// Admission is the rule the topic validator applies to a gossiped receipt
// before verifying its signatures (Config.Admission):
//
//   - each forwarding peer has a token bucket of Burst receipts refilled
//     at Rate per second; a receipt beyond it is Ignored and counted
//     (ReasonRateLimited);
//   - with a Registry, the receipt's model must be registered, its node
//     registered as serving that model, and its quoted prices allowed by
//     Price; a receipt that breaks one of these is Rejected, which lowers
//     the forwarder's peer score. A Registry that cannot answer makes the
//     receipt Ignored.
//
// Receipts the node adds itself ([Pool.Add]) are checked against the
// registry too, but kept whatever the verdict (the client holds them):
// a refused one is logged as an error and not published, so that peers
// do not penalise this node for it.
//
// An Admission holds the buckets of the peers it has seen: give each pool
// its own. Its zero value limits rates at the defaults and has no
// registry.
type Admission struct {
	// Registry is the chain's model registry; nil skips the registry
	// rules (a network without a chain).
	Registry Registry
	// Price judges quoted prices; nil means ListPrice.
	Price PriceRule
	// Rate is the refill of a peer's bucket, receipts per second; 0 means
	// DefaultRate, negative turns the limit off.
	Rate float64
	// Burst is the size of a peer's bucket; 0 means DefaultBurst.
	Burst float64
	// Now is the bucket's clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[peer.ID]*bucket
	takes   int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// sweepEvery is how many takes pass between sweeps of the buckets that
// have refilled (which are dropped: a full bucket is a new one).
const sweepEvery = 1024

// take spends one token of from's bucket; false means it is empty.
func (a *Admission) take(from peer.ID) bool {
	rate, burst := a.Rate, a.Burst
	if rate < 0 {
		return true
	}
	if rate == 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t := now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.buckets == nil {
		a.buckets = map[peer.ID]*bucket{}
	}
	if a.takes++; a.takes >= sweepEvery {
		a.takes = 0
		for id, b := range a.buckets {
			if b.tokens+t.Sub(b.at).Seconds()*rate >= burst {
				delete(a.buckets, id)
			}
		}
	}
	b, ok := a.buckets[from]
	if !ok {
		b = &bucket{tokens: burst, at: t}
		a.buckets[from] = b
	} else if d := t.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
		b.at = t
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// verdict is the admission rule's answer.
type verdict int

const (
	admitted verdict = iota
	ignored
	rejected
)

func (v verdict) result() pubsub.ValidationResult {
	switch v {
	case rejected:
		return pubsub.ValidationReject
	case ignored:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationAccept
}

// gossip applies the rule to a receipt envelope env forwarded by from.
func (a *Admission) gossip(ctx context.Context, from peer.ID, env []byte) (verdict, string, error) {
	if !a.take(from) {
		return ignored, ReasonRateLimited, nil
	}
	return a.registered(ctx, env)
}

// registered applies the registry rules to env. An envelope that does not
// decode is admitted: the Verifier rejects it as malformed.
func (a *Admission) registered(ctx context.Context, env []byte) (verdict, string, error) {
	if a.Registry == nil {
		return admitted, "", nil
	}
	q, ok := quoteOf(env)
	if !ok {
		return admitted, "", nil
	}
	in, out, ok, err := a.Registry.Prices(ctx, q.Model)
	switch {
	case errors.Is(err, ErrRegistryBehind):
		return admitted, "", nil // see ErrRegistryBehind
	case err != nil:
		return ignored, ReasonRegistryUnavailable, err
	case !ok:
		return rejected, ReasonModelNotRegistered, nil
	}
	q.ListInput, q.ListOutput = in, out
	serves, err := a.Registry.Serves(ctx, q.Node, q.Model)
	switch {
	case errors.Is(err, ErrRegistryBehind):
		return admitted, "", nil // see ErrRegistryBehind
	case err != nil:
		return ignored, ReasonRegistryUnavailable, err
	case !serves:
		return rejected, ReasonNotServing, nil
	}
	var rule PriceRule = ListPrice{}
	if a.Price != nil {
		rule = a.Price
	}
	allowed, err := rule.Allowed(ctx, q)
	switch {
	case errors.Is(err, ErrRegistryBehind):
		return admitted, "", nil // see ErrRegistryBehind
	case err != nil:
		return ignored, ReasonRegistryUnavailable, err
	case !allowed:
		return rejected, ReasonPriceNotAllowed, nil
	}
	return admitted, "", nil
}

// quoteOf reads the fields the registry rules need from a receipt
// envelope, without checking signatures or encodings: the Verifier does,
// and a forged envelope that passes here is rejected there. ok is false
// when env does not decode.
func quoteOf(env []byte) (q Quote, ok bool) {
	var re, ae recordpb.Envelope
	var r rpb.Receipt
	var a rpb.Authorization
	if proto.Unmarshal(env, &re) != nil || proto.Unmarshal(re.GetPayload(), &r) != nil ||
		proto.Unmarshal(r.GetAuthorization(), &ae) != nil || proto.Unmarshal(ae.GetPayload(), &a) != nil {
		return Quote{}, false
	}
	node, err := peer.IDFromBytes(r.GetNode())
	if err != nil {
		return Quote{}, false
	}
	acct, err := peer.IDFromBytes(a.GetAccount())
	if err != nil {
		return Quote{}, false
	}
	return Quote{
		Node: node, Account: acct, Model: a.GetModel(), IssuedAtMs: a.GetIssuedAtMs(),
		InputPrice: a.GetInputPrice(), OutputPrice: a.GetOutputPrice(),
	}, true
}
