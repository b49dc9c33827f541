package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/peer"
)

// settlement is the node's part in the settlement chain: the ledger
// application, the embedded CometBFT node, and the loop that submits the
// receipts of the pool until they are included.
type settlement struct {
	app  *chain.App
	cons *consensus.Node
	gen  ledger.Genesis
	log  *slog.Logger

	// blocks are the app's block events not yet handled by the submitter,
	// queued without bound (a node catching up makes many blocks at once,
	// and an event lost would leave its receipts pending for ever); kick
	// wakes the submitter.
	blocksMu sync.Mutex
	blocks   []chain.BlockInfo
	kick     chan struct{}

	mu      sync.Mutex
	peers   map[string]bool    // CometBFT addresses already dialled
	waiting map[pool.ID]int64  // receipt → height at which it was first seen
	mine    map[pool.ID][]byte // this node's receipts not yet submitted
}

// LedgerGenesis converts a network genesis into the ledger's: balances,
// tiers, economic parameters, the validators as bonded nodes, and the
// session keys and models registered at genesis.
func LedgerGenesis(g *networks.Genesis) ledger.Genesis {
	p := econ.DefaultParams()
	if e := g.Economics; e.MTBuybackBps+e.FlockBuybackBps+e.TreasuryBps+e.IssuerBps == 10_000 {
		p.MTBuybackBps, p.FlockBuybackBps, p.TreasuryBps, p.IssuerBps = e.MTBuybackBps, e.FlockBuybackBps, e.TreasuryBps, e.IssuerBps
	}
	if g.Economics.GatewayBps != 0 {
		p.GatewayBps = g.Economics.GatewayBps
	}
	unit := max(g.Chain.PowerUnit, 1)
	lg := ledger.Genesis{
		GenesisTimeMs: g.GenesisTime.UnixMilli(), EpochMs: g.EpochLength.D().Milliseconds(),
		GraceMs: g.Chain.EpochGrace.D().Milliseconds(), ProtocolKey: g.ProtocolKey, Params: p,
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
	s := &settlement{gen: lg, log: n.sub("chain"), kick: make(chan struct{}, 1),
		peers: map[string]bool{}, waiting: map[pool.ID]int64{}, mine: map[pool.ID][]byte{}}
	app, err := chain.NewApp(namespace.Wrap(n.store, ds.NewKey("/chain")), chain.WithLogger(n.sub("ledger")),
		chain.WithNetworkID(n.genesis.ID()), chain.WithOnBlock(s.onBlock))
	if err != nil {
		return err
	}
	s.app = app
	home := n.cfg.Chain.Dir
	if !filepath.IsAbs(home) {
		home = filepath.Join(n.dataDir, home)
	}
	cons, err := consensus.Start(ctx, consensus.Config{
		Home: home, Key: n.key, Genesis: cg, ListenAddr: n.cfg.Chain.Listen, ExternalAddr: n.cfg.Chain.ExternalAddress,
		Peers: n.cfg.Chain.Peers, BlockInterval: n.cfg.Chain.BlockInterval.D(), App: app, Logger: n.sub("cometbft"),
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

// chainPayers reads who may pay, and how much, from the chain's state.
type chainPayers struct{ app *chain.App }

func (c chainPayers) AccountOf(ctx context.Context, signer peer.ID) (peer.ID, bool) {
	if a, ok := c.app.AccountOfKey(ctx, signer.String()); ok {
		id, err := peer.Decode(a)
		return id, err == nil
	}
	return signer, true // an account signs for itself
}

func (c chainPayers) Balance(ctx context.Context, account peer.ID) uint64 {
	a, err := c.app.Account(ctx, account.String())
	if err != nil || a.Overdrawn {
		return 0 // an overdrawn account is refused until topped up
	}
	return a.Balances[ledger.DenomUSD]
}

func (c chainPayers) Authorized(account, signer peer.ID, atMs uint64) error {
	k, ok, err := c.app.SessionKey(context.Background(), account.String(), signer.String())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("key %s is not a session key of %s on chain: %w", signer, account, receipt.ErrUnknownSigner)
	}
	if k.ExpiresAtMs != 0 && int64(atMs) > k.ExpiresAtMs {
		return fmt.Errorf("session key %s of %s expired", signer, account)
	}
	if k.Spent >= k.SpendLimit {
		return fmt.Errorf("session key %s of %s has spent its limit", signer, account)
	}
	return nil
}

// onBlock queues a block event for the submitter; it never blocks the
// chain and never drops an event.
func (s *settlement) onBlock(b chain.BlockInfo) {
	s.blocksMu.Lock()
	s.blocks = append(s.blocks, b)
	s.blocksMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// takeBlocks returns the queued block events, oldest first.
func (s *settlement) takeBlocks() []chain.BlockInfo {
	s.blocksMu.Lock()
	defer s.blocksMu.Unlock()
	b := s.blocks
	s.blocks = nil
	return b
}

// maxSubmitPerBlock bounds the receipts submitted after one block; the
// rest wait for the next.
const maxSubmitPerBlock = 10_000

// SpendLeft implements payers: the key's spend limit less what the chain
// has charged it (a key the chain does not know may spend nothing).
func (c chainPayers) SpendLeft(ctx context.Context, account, signer peer.ID) (uint64, bool) {
	k, ok, err := c.app.SessionKey(ctx, account.String(), signer.String())
	if err != nil || !ok || k.Spent >= k.SpendLimit {
		return 0, true
	}
	return k.SpendLimit - k.Spent, true
}

// runSubmitter batches receipts into SubmitReceipts txs: this node's own
// receipts every block, and any receipt it holds that is still not
// included three blocks after it saw it (its serving node may be gone).
// It marks included and refused receipts settled in the pool. At start it
// takes up every receipt the pool holds unsettled, so that a node that
// stopped, however abruptly, still submits the receipts its clients hold.
func (n *Node) runSubmitter(ctx context.Context) {
	s := n.chain
	if err := n.recoverReceipts(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("reading the pool's unsettled receipts failed; they wait for another node to submit them", "err", err)
	}
	var nonce uint64
	// Peers are learned from adverts on a timer too: a chain that has not
	// yet got enough validators makes no blocks.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.learnChainPeers()
			continue
		case <-s.kick:
		}
		blocks := s.takeBlocks()
		if len(blocks) == 0 {
			continue
		}
		for _, b := range blocks {
			n.settleBlock(ctx, b)
		}
		batch := n.dueReceipts(ctx, blocks[len(blocks)-1].Height)
		for len(batch) > 0 {
			k := min(len(batch), 1000)
			if err := n.submit(ctx, &nonce, batch[:k]); err != nil {
				s.log.Warn("submitting receipts failed; will retry", "receipts", k, "err", err)
				break
			}
			batch = batch[k:]
		}
	}
}

// settleBlock marks the receipts a block included or refused settled in
// the pool: neither counts as pending spend any more, and neither is
// submitted again.
func (n *Node) settleBlock(ctx context.Context, b chain.BlockInfo) {
	s := n.chain
	var settled []pool.ID
	for _, r := range b.Included {
		settled = append(settled, pool.ID(r))
	}
	for r, code := range b.Refused {
		s.log.Debug("receipt refused by the chain", "receipt_id", pool.ID(r).String(), "code", code)
		settled = append(settled, pool.ID(r))
	}
	n.markSettled(ctx, settled)
}

func (n *Node) markSettled(ctx context.Context, ids []pool.ID) {
	if len(ids) == 0 {
		return
	}
	s := n.chain
	if err := n.net.pool.MarkSettled(ctx, ids); err != nil {
		s.log.Warn("marking receipts settled failed", "err", err)
		return
	}
	s.mu.Lock()
	for _, id := range ids {
		delete(s.waiting, id)
		delete(s.mine, id)
	}
	s.mu.Unlock()
}

// recoverReceipts queues every unsettled receipt of the pool for
// submission with the next block: the submit queues live in memory, the
// pool on disk.
func (n *Node) recoverReceipts(ctx context.Context) error {
	s := n.chain
	due := s.app.Height() - 3
	count := 0
	err := n.net.pool.Unsettled(ctx, func(e pool.Entry) bool {
		s.mu.Lock()
		if _, ok := s.waiting[e.ID]; !ok {
			s.waiting[e.ID] = due
			count++
		}
		s.mu.Unlock()
		return true
	})
	if count > 0 {
		s.log.Info("submitting the receipts the pool held unsettled at start", "receipts", count)
	}
	return err
}

// dueReceipts returns the envelopes to submit at height h.
func (n *Node) dueReceipts(ctx context.Context, h int64) [][]byte {
	s := n.chain
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	ids := make([]pool.ID, 0, len(s.mine))
	for id := range s.mine {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b pool.ID) int { return strings.Compare(string(a[:]), string(b[:])) })
	for _, id := range ids {
		out = append(out, s.mine[id])
		delete(s.mine, id)
		s.waiting[id] = h // resubmitted like any other if it is not included
	}
	var included []pool.ID
	for id, seen := range s.waiting {
		if len(out) >= maxSubmitPerBlock {
			break
		}
		if h-seen < 3 {
			continue
		}
		if s.app.ReceiptIncluded(ctx, id) {
			included = append(included, id) // its block event was missed
			continue
		}
		e, ok, err := n.net.pool.Get(ctx, id)
		if err != nil || !ok || e.Settled {
			delete(s.waiting, id)
			continue
		}
		out = append(out, e.Envelope)
		s.waiting[id] = h
	}
	if len(included) > 0 {
		s.mu.Unlock()
		n.markSettled(ctx, included)
		s.mu.Lock()
	}
	return out
}

// onReceipt is the pool's OnAccept: remember every receipt until it is
// included; this node's own go out with the next block.
func (n *Node) onReceipt(e pool.Entry) {
	s := n.chain
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Local {
		s.mine[e.ID] = e.Envelope
		return
	}
	if _, ok := s.waiting[e.ID]; !ok {
		s.waiting[e.ID] = s.app.Height()
	}
}

// submit signs and broadcasts one SubmitReceipts tx with the node's key.
func (n *Node) submit(ctx context.Context, nonce *uint64, envs [][]byte) error {
	return n.sendTx(ctx, nonce, tx.SubmitReceipts{Envelopes: envs})
}

// sendTx signs body with the node's key at the next nonce and broadcasts
// it. The nonce is re-read from the chain when CheckTx refuses it.
func (n *Node) sendTx(ctx context.Context, nonce *uint64, body any) error {
	s := n.chain
	if *nonce == 0 {
		a, err := s.app.Account(ctx, n.id.String())
		if err != nil {
			return err
		}
		*nonce = a.Nonce
	}
	b, err := tx.Sign(tx.Tx{Account: n.id.String(), Nonce: *nonce + 1, Body: body}, n.key)
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := s.cons.BroadcastTx(bctx, b)
	if err != nil {
		return err
	}
	if res.Code != 0 {
		*nonce = 0 // re-read next time
		return fmt.Errorf("tx refused: %s", res.Log)
	}
	*nonce++
	return nil
}
