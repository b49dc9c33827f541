package chain

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Registry answers the receipt pool's admission rule (pool.Registry)
// from the chain's model registry. It caches each model's record for the height it was read at
// (a gossiped receipt is checked against the same few models again and
// again), and reports ErrRegistryBehind while the chain has no block or
// CometBFT is catching up: a node that is syncing must not penalise
// honest peers for receipts of nodes it has not yet seen register.
type Registry struct {
	app        *App
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

// NewRegistry returns the Registry of app; catchingUp says whether
// CometBFT is catching up, now is the clock.
func NewRegistry(app *App, catchingUp func() bool, now func() time.Time) *Registry {
	return &Registry{app: app, catchingUp: catchingUp, now: now, models: map[string]registeredModel{}}
}

var _ pool.Registry = (*Registry)(nil)

func (r *Registry) model(ctx context.Context, name string) (ledger.Model, bool, error) {
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
func (r *Registry) Prices(ctx context.Context, model string) (uint64, uint64, bool, error) {
	m, ok, err := r.model(ctx, model)
	return m.InputPrice, m.OutputPrice, ok, err
}

// Serves implements pool.Registry: the ledger keeps a model's nodes
// sorted.
func (r *Registry) Serves(ctx context.Context, node peer.ID, model string) (bool, error) {
	m, ok, err := r.model(ctx, model)
	if err != nil || !ok {
		return false, err
	}
	_, found := slices.BinarySearch(m.Nodes, node.String())
	return found, nil
}
