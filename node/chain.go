package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/peer"
)

// settlement is the node's part in the settlement chain: the ledger
// application, the embedded CometBFT node, and the submitter that puts
// the pool's receipts on chain until they are included.
type settlement struct {
	app  *chain.App
	cons *consensus.Node
	sub  *chain.Submitter
	gen  ledger.Genesis
	log  *slog.Logger

	mu    sync.Mutex
	peers map[string]bool // CometBFT addresses already dialled
}

// LedgerGenesis converts a network genesis into the ledger's: balances,
// tiers, every economic parameter (resolved: absent keys take their
// defaults, present ones their value, zero included), the validators as
// bonded nodes, and the session keys and models registered at genesis.
func LedgerGenesis(g *networks.Genesis) ledger.Genesis {
	e := g.Economics.Resolved()
	p := econ.Params{
		GatewayBps: *e.RoutingFeeBps, MTBuybackBps: *e.MTBuybackBps, FlockBuybackBps: *e.FlockBuybackBps,
		TreasuryBps: *e.TreasuryBps, IssuerBps: *e.IssuerBps, DiscountTiers: []econ.DiscountTier{},
	}
	for _, t := range *e.DiscountTiers {
		p.DiscountTiers = append(p.DiscountTiers, econ.DiscountTier{MinStake: t.MinStake, DiscountBps: t.DiscountBps})
	}
	ms := func(d *networks.Duration) int64 { return d.D().Milliseconds() }
	le := ledger.Economics{
		SwapFeeBps: *e.SwapFeeBps, LaunchFee: *e.LaunchFee, MTSupply: *e.MTSupply, FirstBuyMaxBps: *e.FirstBuyMaxBps,
		CommitFeeTreasuryBps: *e.CommitFeeTreasuryBps, CommitFeeIssuerBps: *e.CommitFeeIssuerBps, RaiseWindowMs: ms(e.RaiseWindow),
		AllocSaleBps: *e.AllocSaleBps, AllocLiquidityBps: *e.AllocLiquidityBps, AllocIncentivesBps: *e.AllocIncentivesBps,
		AllocIssuerBps: *e.AllocIssuerBps, AllocTreasuryBps: *e.AllocTreasuryBps, IssuerVestingMs: ms(e.IssuerVesting),
		RaisePoolBps: *e.RaisePoolBps, RaiseReservedBps: *e.RaiseReservedBps, RaiseIssuerBps: *e.RaiseIssuerBps,
		UnbondingEpochs: *e.UnbondingEpochs, EmissionHalfLifeMs: ms(e.EmissionHalfLife), AgeFloorBps: *e.AgeFloorBps,
		AgeHorizonMs: ms(e.AgeHorizon), EmissionCapBps: *e.EmissionCapBps, IssuerBonusBps: *e.IssuerBonusBps,
		AlphaBps: *e.AlphaBps, IncentiveReleaseMs: ms(e.IncentiveRelease),
		FlockPoolFlock: *e.FlockPoolFlock, FlockPoolUSD: *e.FlockPoolUSD, BuybackMaxImpactBps: *e.BuybackMaxImpactBps,
		CurveStartBps: *e.CurveStartBps,
	}
	if v := e.EmissionReserveFlock; v != nil {
		le.EmissionReserveFlock = *v
	}
	if v := e.EmissionFirstEpochFlock; v != nil {
		le.EmissionFirstEpochFlock = *v
	}
	unit := max(g.Chain.PowerUnit, 1)
	lg := ledger.Genesis{
		GenesisTimeMs: g.GenesisTime.UnixMilli(), EpochMs: g.EpochLength.D().Milliseconds(),
		GraceMs: g.Chain.EpochGrace.D().Milliseconds(), ProtocolKey: g.ProtocolKey, Params: p, Economics: le,
		PowerUnit: unit, MaxValidators: int(g.Chain.MaxValidators),
	}
	for _, t := range g.Tiers {
		lg.Tiers = append(lg.Tiers, ledger.Tier{Name: t.Name, CostPerMTok: t.CostPerMtok, MinInputPrice: t.MinInputPrice,
			MinOutputPrice: t.MinOutputPrice, RaiseMin: t.RaiseMin, RaiseMax: t.RaiseMax})
	}
	for _, b := range g.Balances {
		bal := map[string]uint64{}
		if b.USD > 0 {
			bal[ledger.DenomUSD] = b.USD
		}
		if b.Flock > 0 {
			bal[ledger.DenomFlock] = b.Flock
		}
		lg.Accounts = append(lg.Accounts, ledger.GenesisAccount{ID: b.Account, Balances: bal})
	}
	serves := map[string][]string{}
	for _, m := range g.Models {
		for _, n := range m.Nodes {
			serves[n] = append(serves[n], m.Name)
		}
		lg.Models = append(lg.Models, ledger.GenesisModel{Name: m.Name, Issuer: m.Issuer, ManifestSHA256: m.ManifestSHA256,
			Tier: m.Tier, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice})
	}
	for _, v := range g.Validators {
		lg.Nodes = append(lg.Nodes, ledger.GenesisNode{ID: v.PeerID, Bond: v.Power * unit, Serves: serves[v.PeerID]})
	}
	for _, k := range g.SessionKeys {
		lg.SessionKeys = append(lg.SessionKeys, ledger.GenesisSessionKey{Account: k.Account, Key: k.Key,
			SpendLimit: k.SpendLimit, ExpiresAtMs: k.ExpiresAt.UnixMilli()})
	}
	return lg
}

// consensusGenesis is the CometBFT genesis of a network.
func consensusGenesis(g *networks.Genesis, lg ledger.Genesis) (consensus.Genesis, error) {
	state, err := json.Marshal(lg)
	if err != nil {
		return consensus.Genesis{}, err
	}
	cg := consensus.Genesis{ChainID: "fomo-" + g.ID(), GenesisTime: g.GenesisTime, InitialHeight: 1, AppState: state}
	for i, v := range g.Validators {
		id, err := peer.Decode(v.PeerID)
		if err != nil {
			return consensus.Genesis{}, fmt.Errorf("genesis validators[%d]: %w", i, err)
		}
		pub, err := id.ExtractPublicKey()
		if err != nil {
			return consensus.Genesis{}, fmt.Errorf("genesis validators[%d]: %w", i, err)
		}
		cg.Validators = append(cg.Validators, consensus.Validator{PubKey: pub, Power: int64(v.Power), Name: v.PeerID})
	}
	if len(cg.Validators) == 0 {
		return consensus.Genesis{}, errors.New("the network's genesis names no validators: it cannot run a settlement chain (set chain.enabled = false)")
	}
	return cg, nil
}

func (n *Node) startChain(ctx context.Context, bg context.Context) error {
	if !n.cfg.Chain.Enabled {
		return nil
	}
	lg := LedgerGenesis(n.genesis)
	cg, err := consensusGenesis(n.genesis, lg)
	if err != nil {
		return err
	}
	s := &settlement{gen: lg, log: n.sub("chain"), peers: map[string]bool{}}
	// Block events reach the submitter from the first block CometBFT
	// replays: it exists before consensus starts.
	app, err := chain.NewApp(namespace.Wrap(n.store, ds.NewKey("/chain")), chain.WithLogger(n.sub("ledger")),
		chain.WithNetworkID(n.genesis.ID()), chain.WithOnBlock(func(b chain.BlockInfo) { s.sub.OnBlock(b) }))
	if err != nil {
		return err
	}
	s.app = app
	if s.sub, err = chain.NewSubmitter(app, broadcaster{s}, n.key, chain.WithSubmitterLogger(n.sub("submitter"))); err != nil {
		return err
	}
	home := n.cfg.Chain.Dir
	if !filepath.IsAbs(home) {
		home = filepath.Join(n.dataDir, home)
	}
	cons, err := consensus.Start(ctx, consensus.Config{
		Home: home, Key: n.key, Genesis: cg, ListenAddr: n.cfg.Chain.Listen, ExternalAddr: n.cfg.Chain.ExternalAddress,
		Peers: n.cfg.Chain.Peers, BlockInterval: n.cfg.Chain.BlockInterval.D(), App: app, ConcurrentApp: true, Logger: n.sub("cometbft"),
	})
	if err != nil {
		return fmt.Errorf("chain: %w", err)
	}
	s.cons = cons
	n.chain = s
	n.onStop("chain", func(context.Context) error { return cons.Stop() })
	return nil
}

// chainAddr is this node's CometBFT address for its capacity adverts.
func (n *Node) chainAddr() string {
	if n.chain == nil {
		return ""
	}
	return n.chain.cons.P2PAddress()
}

// learnChainPeers dials the CometBFT addresses other nodes advertise; an
// unspecified host is replaced by the address this node reaches the
// advertiser's libp2p host at.
func (n *Node) learnChainPeers() {
	s := n.chain
	if s == nil || n.net == nil {
		return
	}
	self := n.chainAddr()
	var add []string
	for _, a := range n.net.capacity.All() {
		addr := a.ChainAddr
		if addr == "" || addr == self {
			continue
		}
		id, hostport, _ := strings.Cut(addr, "@")
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			for _, c := range n.host.Network().ConnsToPeer(a.Peer) {
				if h, err := c.RemoteMultiaddr().ValueForProtocol(4); err == nil { // P_IP4
					host = h
					break
				}
			}
		}
		addr = id + "@" + net.JoinHostPort(host, port)
		s.mu.Lock()
		known := s.peers[addr]
		s.peers[addr] = true
		s.mu.Unlock()
		if !known {
			add = append(add, addr)
		}
	}
	if len(add) > 0 {
		s.log.Debug("dialling settlement-chain peers learned from the network", "peers", len(add))
		s.cons.AddPeers(add...)
	}
}

// runSubmitter runs the receipt submitter over the node's pool, and
// learns CometBFT peers from the capacity adverts on a timer (a chain that
// has not yet got enough validators makes no blocks).
func (n *Node) runSubmitter(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.chain.sub.Run(ctx, poolStore{n.net.pool}) })
	defer wg.Wait()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.learnChainPeers()
		}
	}
}

// broadcaster is the submitter's way into the mempool.
type broadcaster struct{ s *settlement }

func (b broadcaster) BroadcastTx(ctx context.Context, tx []byte) (uint32, string, error) {
	res, err := b.s.cons.BroadcastTx(ctx, tx)
	return res.Code, res.Log, err
}

// poolStore is the receipt pool as the submitter's receipt store.
type poolStore struct{ p *pool.Pool }

func (s poolStore) Envelope(ctx context.Context, id [32]byte) ([]byte, bool, bool, error) {
	e, ok, err := s.p.Get(ctx, pool.ID(id))
	return e.Envelope, e.Settled, ok, err
}

func (s poolStore) MarkSettled(ctx context.Context, ids [][32]byte) error {
	pids := make([]pool.ID, len(ids))
	for i, id := range ids {
		pids[i] = pool.ID(id)
	}
	return s.p.MarkSettled(ctx, pids)
}

func (s poolStore) Unsettled(ctx context.Context, fn func([32]byte) bool) error {
	return s.p.Unsettled(ctx, func(e pool.Entry) bool { return fn(e.ID) })
}
