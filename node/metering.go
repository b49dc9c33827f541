package node

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
)

// startMetering opens the receipt pool and builds the meter over it: the
// node's payers (the chain's state, or the local account registry), its
// keys and its price sources.
func (n *Node) startMetering(nw *network) (*meter.Meter, error) {
	g := n.genesis
	var payers meter.Payers
	if n.chain != nil {
		payers = chain.Payers{App: n.chain.app}
	} else if p := n.cfg.Auth.Accounts; p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.dataDir, p)
		}
		reg, err := meter.OpenRegistry(p, n.opts.now)
		if err != nil {
			return nil, err
		}
		payers = reg
	}
	var signers receipt.Signers
	if payers != nil {
		signers = payers
	}
	pl, err := n.openPool(signers)
	if err != nil {
		return nil, err
	}
	cfg := meter.Config{
		NetworkID: g.ID(), Key: n.key, Pool: pl, Payers: payers, EntryNode: !n.opts.gateway,
		AuthorizationTTL: n.cfg.Auth.AuthorizationTTL.D(), MaxTokens: uint64(n.cfg.Auth.DefaultMaxTokens),
		Now: n.opts.now, Logger: n.sub("metering"),
		LocalPrices: func(model string) (uint64, uint64, bool) { return n.localPrices(nw, model) },
		ManifestPrices: func(ctx context.Context, model string) (uint64, uint64, error) {
			s, err := nw.models.Get(ctx, model)
			if errors.Is(err, models.ErrNotFound) {
				return 0, 0, meter.ErrNoManifest
			}
			if err != nil {
				return 0, 0, err
			}
			return s.Manifest.InputPrice, s.Manifest.OutputPrice, nil
		},
	}
	if n.opts.gateway {
		// The gateway signs as its user, for the account its key signs
		// for (a session key of the genesis, or the account's own key).
		cfg.UserKey = n.key
		accts := newGenesisAccounts(g)
		if n.opts.account != "" {
			accts[n.id] = n.opts.account
		}
		cfg.Accounts = accts
	}
	if n.chain != nil {
		cfg.RegistryPrices = n.registryPrices
		// Authorizations quote, and served ones must quote, the paying
		// account's staking discount (DESIGN §9.2).
		cfg.Discounts = chain.Discounts{App: n.chain.app}
	}
	if k := n.cfg.Auth.OpenAccessKey; k != "" {
		if !g.Development {
			// Whoever reaches the API would spend the key's credit.
			return nil, &fieldError{"auth.open_access_key", errors.New("only allowed on a development network: network " +
				strconv.Quote(g.Name) + " (" + g.ID() + ") does not set development = true in its genesis")}
		}
		sk, err := receipt.DecodeSessionKey(k)
		if err != nil {
			return nil, &fieldError{"auth.open_access_key", err}
		}
		cfg.OpenKey = sk
	}
	m, err := meter.New(cfg)
	if err != nil {
		return nil, err
	}
	nw.paid, nw.pool = m, pl
	return m, nil
}

// localPrices gives the prices of a model this node serves: the chain's
// registry sets them where there is a chain, else the model's manifest
// (zero for a model served without one).
func (n *Node) localPrices(nw *network, model string) (uint64, uint64, bool) {
	if _, ok := n.models.Lookup(model); !ok {
		return 0, 0, false
	}
	if n.chain != nil {
		if in, out, ok := n.registryPrices(model); ok {
			return in, out, true
		}
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	p := nw.prices[model]
	return p[0], p[1], true
}

// registryPrices gives a model's prices in the chain's registry.
func (n *Node) registryPrices(model string) (uint64, uint64, bool) {
	rm, ok, err := n.chain.app.Model(context.Background(), model)
	return rm.InputPrice, rm.OutputPrice, ok && err == nil
}

// epochOf is the epoch of the genesis that the time ms (Unix
// milliseconds) falls in; 0 before genesis.
func (n *Node) epochOf(ms uint64) uint64 {
	genesisMs, epochMs := uint64(n.genesis.GenesisTime.UnixMilli()), uint64(n.genesis.EpochLength.D().Milliseconds())
	if ms < genesisMs || epochMs == 0 {
		return 0
	}
	return (ms - genesisMs) / epochMs
}

// openPool opens the node's receipt pool: receipts verified against the
// network (and the signers known here), placed in epochs of the genesis,
// charged while their epoch is open or within the late window, handed to
// the chain's submitter when there is one.
func (n *Node) openPool(signers receipt.Signers) (*pool.Pool, error) {
	g := n.genesis
	var open func(uint64) bool
	var onAccept func(pool.Entry)
	if n.chain != nil {
		app := n.chain.app
		gen := &n.chain.gen
		open = func(e uint64) bool {
			// A closed epoch's receipts are still charged, in the oldest
			// open epoch, until the late window after they were issued.
			return e >= app.NextEpoch() || n.opts.now().UnixMilli() < gen.EpochEnd(e)+gen.LateWindowMs()
		}
		onAccept = n.chain.sub.Accept
	}
	chk := receipt.Checker{NetworkID: g.ID(), Signers: signers}
	pl, err := pool.New(pool.Config{
		Datastore: n.store,
		Host:      n.host,
		Verify:    pool.ReceiptVerifier(chk),
		// Gossiped receipts are verified in batches (pool.BatchWindow's
		// defaults: up to 256, waiting at most 10 ms).
		VerifyBatch:      pool.ReceiptBatchVerifier(chk),
		EpochOf:          n.epochOf,
		Open:             open,
		OnAccept:         onAccept,
		Now:              n.opts.now,
		Logger:           n.sub("receipts"),
		TopicScoreParams: p2p.TopicScoreParams(),
		Admission:        n.gossipAdmission(),
	})
	if err != nil {
		return nil, err
	}
	n.onStop("receipt pool", func(context.Context) error { return pl.Close() })
	var sub *chain.Submitter
	if n.chain != nil {
		sub = n.chain.sub
	}
	if err := n.reg.Register(newSettleCollector(pl, sub, n.opts.now)); err != nil {
		return nil, err
	}
	return pl, nil
}

// gossipAdmission is the receipt pool's gossip admission rule: the
// per-peer rate limit always, and, with the chain, its model registry
// (registered model, registered serving node) and the paying account's
// effective prices (list prices less its staking discount).
func (n *Node) gossipAdmission() *pool.Admission {
	a := &pool.Admission{Now: n.opts.now}
	if n.chain != nil {
		cons := n.chain.cons
		a.Registry = chain.NewRegistry(n.chain.app, func() bool { return cons.Status().CatchingUp }, n.opts.now)
		a.Price = chain.Discounts{App: n.chain.app}
	}
	return a
}

type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.key + ": " + e.err.Error() }

// apiMeter is the meter as the HTTP API takes it.
type apiMeter struct{ m *meter.Meter }

func (a apiMeter) Begin(r *http.Request, req *runtime.Request) (api.Ticket, *runtime.Error) {
	t, err := a.m.Begin(r, req)
	if err != nil {
		return nil, err
	}
	return t, nil
}
