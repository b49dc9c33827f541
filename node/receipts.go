package node

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// startMetering opens the receipt pool and builds the meter: the node's
// payers (the local account registry), its keys and its price sources.
func (n *Node) startMetering(nw *network) (*meter, error) {
	g := n.genesis
	genesisMs, epochMs := uint64(g.GenesisTime.UnixMilli()), uint64(g.EpochLength.D().Milliseconds())
	m := &meter{
		log: n.sub("metering"), netID: g.ID(), self: n.id, key: n.key, entry: !n.opts.gateway,
		ttl: n.cfg.Auth.AuthorizationTTL.D(), maxTok: uint64(n.cfg.Auth.DefaultMaxTokens), now: n.opts.now,
		inFlight: map[[32]byte]bool{},
	}
	if n.opts.gateway {
		m.userKey = n.key
	}
	if n.chain != nil {
		m.payers = chainPayers{app: n.chain.app}
	} else if p := n.cfg.Auth.Accounts; p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.dataDir, p)
		}
		reg, err := openRegistry(p, n.opts.now)
		if err != nil {
			return nil, err
		}
		m.payers = reg
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
		m.openKey = sk
	}
	m.local = func(model string) (uint64, uint64, bool) {
		if _, ok := n.models.Lookup(model); !ok {
			return 0, 0, false
		}
		if n.chain != nil { // the chain's registry sets the prices
			if rm, ok, err := n.chain.app.Model(context.Background(), model); err == nil && ok {
				return rm.InputPrice, rm.OutputPrice, true
			}
		}
		nw.mu.Lock()
		defer nw.mu.Unlock()
		p := nw.prices[model] // zero for a model served without a manifest
		return p[0], p[1], true
	}
	pc := newPriceCache(nw.models, m.local, n.opts.now)
	if n.chain != nil {
		app := n.chain.app
		pc.registry = func(model string) (uint64, uint64, bool) {
			rm, ok, err := app.Model(context.Background(), model)
			return rm.InputPrice, rm.OutputPrice, ok && err == nil
		}
	}
	m.quote = pc.quote
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
		onAccept = n.onReceipt
	}

	pl, err := pool.New(pool.Config{
		Datastore: n.store,
		Host:      n.host,
		Verify:    pool.ReceiptVerifier(receipt.Checker{NetworkID: m.netID, Signers: m.signers()}),
		EpochOf: func(issuedAtMs uint64) uint64 {
			if issuedAtMs < genesisMs || epochMs == 0 {
				return 0
			}
			return (issuedAtMs - genesisMs) / epochMs
		},
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
	m.pool = pl
	nw.paid, nw.pool = m, pl
	return m, nil
}

type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.key + ": " + e.err.Error() }

// priceCache quotes a model's prices: a model served here at its own
// prices, any other at its signed manifest's, looked up in the DHT and
// kept for a minute.
type priceCache struct {
	models *models.Service
	local  func(string) (uint64, uint64, bool)
	// registry, when set, is the chain's model registry, consulted before
	// the DHT.
	registry func(string) (uint64, uint64, bool)
	now      func() time.Time

	mu    sync.Mutex
	known map[string]quoted
}

type quoted struct {
	in, out uint64
	at      time.Time
}

func newPriceCache(ms *models.Service, local func(string) (uint64, uint64, bool), now func() time.Time) *priceCache {
	return &priceCache{models: ms, local: local, now: now, known: map[string]quoted{}}
}

func (c *priceCache) quote(ctx context.Context, model string) (uint64, uint64, error) {
	if in, out, ok := c.local(model); ok {
		return in, out, nil
	}
	if c.registry != nil {
		if in, out, ok := c.registry(model); ok {
			return in, out, nil
		}
	}
	c.mu.Lock()
	q, ok := c.known[model]
	c.mu.Unlock()
	if ok && c.now().Sub(q.at) < time.Minute {
		return q.in, q.out, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	signed, err := c.models.Get(lctx, model)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return 0, 0, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model",
				"the model %q does not exist on this network: no node serves it here and it has no signed manifest", model).WithCode("model_not_found")
		}
		return 0, 0, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"looking up the prices of %q failed: %v", model, err).WithCode("no_manifest")
	}
	q = quoted{in: signed.Manifest.InputPrice, out: signed.Manifest.OutputPrice, at: c.now()}
	c.mu.Lock()
	c.known[model] = q
	c.mu.Unlock()
	return q.in, q.out, nil
}

// prices quotes models for GET /api/v1/prices/{model} (api.Prices).
type prices Node

func (p *prices) Quote(ctx context.Context, model string) (uint64, uint64, error) {
	return p.net.paid.quote(ctx, model)
}

func (p *prices) Payee(ctx context.Context, model string) (peer.ID, error) {
	n := (*Node)(p)
	if _, ok := n.models.Lookup(model); ok {
		return n.id, nil
	}
	return n.net.router.Choose(ctx, model)
}
