package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gossipAdmission is the receipt pool's gossip admission rule: the
// per-peer rate limit always, and, with the chain, its model registry
// (registered model, registered serving node, registry price).
func (n *Node) gossipAdmission() *pool.Admission {
	a := &pool.Admission{Now: n.opts.now}
	if n.chain != nil {
		cons := n.chain.cons
		a.Registry = newChainRegistry(n.chain.app, func() bool { return cons.Status().CatchingUp }, n.opts.now)
	}
	return a
}

// chainRegistry answers the admission rule from the chain's model
// registry. It caches each model's record for the height it was read at
// (a gossiped receipt is checked against the same few models again and
// again), and reports ErrRegistryBehind while the chain has no block or
// CometBFT is catching up: a node that is syncing must not penalise
// honest peers for receipts of nodes it has not yet seen register.
type chainRegistry struct {
	app        *chain.App
	catchingUp func() bool
	now        func() time.Time

	mu      sync.Mutex
	height  int64
	models  map[string]registeredModel
	behind  bool      // what catchingUp last answered
	checked time.Time // when it was last asked
}

type registeredModel struct {
	m  ledger.Model
	ok bool
}

// Bounds of the registry cache.
const (
	// registryCacheSize bounds the cached models (names that are not
	// registered are cached too, so a flood of invented names is bounded).
	registryCacheSize = 1024
	// syncCheckEvery is how often CometBFT is asked whether it is
	// catching up.
	syncCheckEvery = time.Second
)

func newChainRegistry(app *chain.App, catchingUp func() bool, now func() time.Time) *chainRegistry {
	return &chainRegistry{app: app, catchingUp: catchingUp, now: now, models: map[string]registeredModel{}}
}

var _ pool.Registry = (*chainRegistry)(nil)

func (r *chainRegistry) model(ctx context.Context, name string) (ledger.Model, bool, error) {
	h := r.app.Height()
	r.mu.Lock()
	defer r.mu.Unlock()
	if h == 0 {
		return ledger.Model{}, false, fmt.Errorf("the chain has no block yet: %w", pool.ErrRegistryBehind)
	}
	if t := r.now(); t.Sub(r.checked) >= syncCheckEvery || t.Before(r.checked) {
		r.checked = t
		r.behind = r.catchingUp != nil && r.catchingUp()
	}
	if r.behind {
		return ledger.Model{}, false, fmt.Errorf("the chain is catching up at height %d: %w", h, pool.ErrRegistryBehind)
	}
	if h != r.height || len(r.models) >= registryCacheSize {
		r.height = h
		clear(r.models)
	}
	if c, ok := r.models[name]; ok {
		return c.m, c.ok, nil
	}
	m, ok, err := r.app.Model(ctx, name)
	if err != nil {
		return ledger.Model{}, false, err
	}
	r.models[name] = registeredModel{m: m, ok: ok}
	return m, ok, nil
}

// Prices implements pool.Registry.
func (r *chainRegistry) Prices(ctx context.Context, model string) (uint64, uint64, bool, error) {
	m, ok, err := r.model(ctx, model)
	return m.InputPrice, m.OutputPrice, ok, err
}

// Serves implements pool.Registry: the ledger keeps a model's nodes
// sorted.
func (r *chainRegistry) Serves(ctx context.Context, node peer.ID, model string) (bool, error) {
	m, ok, err := r.model(ctx, model)
	if err != nil || !ok {
		return false, err
	}
	_, found := slices.BinarySearch(m.Nodes, node.String())
	return found, nil
}
