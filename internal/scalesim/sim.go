// Package scalesim measures what usage receipts cost a fomo network, so that
// docs/scaling.md can project it to networks far larger than one machine
// holds.
//
// [Run] starts an in-process network of nodes: libp2p hosts on loopback TCP
// (noise, yamux), every pair connected, each with a GossipSub router built
// with the node's own options (p2p.GossipSubOptions) and the real receipt
// pool (settle/pool) on pebble or on the in-memory store, joined to the
// receipts topic with the node's verifier and gossip admission rule.
// Synthetic clients sign authorizations (settle/receipt) for requests
// spread over nodes, clients and models at a configured rate; the serving
// node checks the authorization, signs the receipt and adds it to its
// pool, which persists and publishes it, as the metering path does. No
// model runs.
//
// Each run counts, per node: the GossipSub bytes sent and received (the
// protobuf size of every RPC and its length prefix, through a raw tracer;
// control messages apart), the copies of each receipt received, the bytes
// the pool writes to its datastore (keys and values) and, on pebble, the
// bytes on disk; for the whole process, the CPU time (getrusage) over the
// load less the idle rate measured before it; and the delay from the
// serving node's signature to each other node's acceptance. [ChainCost]
// measures what the chain carries and stores per receipt (SubmitReceipts
// transactions, the ledger's writes and state) and [MeasurePaths] the
// verifier's and signer's CPU alone. [Fit] and [Model.Project] turn them
// into per-receipt costs and projections; [Report.Markdown] prints them.
package scalesim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// NetworkID is the simulated network's id.
const NetworkID = "scalesim"

// Prices of the simulated models, usd base units per 1M tokens.
const (
	InputPrice  = 200_000
	OutputPrice = 600_000
)

// Config describes one run.
type Config struct {
	// Nodes is the number of nodes (at least 2).
	Nodes int
	// Rate is the requests (receipts) per second over the whole network.
	Rate int
	// Duration is how long the load lasts.
	Duration time.Duration
	// Models and Clients spread the requests (defaults 4 and 32).
	Models, Clients int
	// Pebble puts each node's pool on pebble in a directory under Dir
	// (a temporary one when empty); otherwise on the in-memory store.
	Pebble bool
	Dir    string
	// Warmup is how long the network runs idle before the load, for the
	// meshes to form; its last second measures the idle CPU (default 3 s).
	Warmup time.Duration
	// Drain bounds the wait, after the load, for every node to hold every
	// receipt (default 60 s).
	Drain time.Duration
	// Keep, when > 0, keeps up to Keep receipt envelopes of the run
	// (Result.Envelopes) for ChainCost.
	Keep int
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Nodes < 2 || c.Rate < 1 || c.Duration <= 0 {
		return fmt.Errorf("scalesim: need at least 2 nodes, a rate ≥ 1 and a duration; got %d nodes, %d/s, %v", c.Nodes, c.Rate, c.Duration)
	}
	if c.Models <= 0 {
		c.Models = 4
	}
	if c.Clients <= 0 {
		c.Clients = 32
	}
	if c.Warmup <= 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result is what one run measured. Byte and time totals are over all
// nodes; the methods divide them per node and per receipt.
type Result struct {
	Nodes, Rate int
	Pebble      bool
	// Receipts is the number of receipts issued; Held the sum over nodes
	// of the receipts each pool accepted (Nodes × Receipts when every node
	// holds every receipt).
	Receipts, Held int
	// Load is how long issuing took; Wall adds the wait until every node
	// held every receipt (or Drain ran out).
	Load, Wall time.Duration
	// EnvelopeBytes is the mean size of a receipt envelope.
	EnvelopeBytes float64
	// Gossip counters over every node.
	Gossip Traffic
	// CPU is the process's CPU time over Wall; IdleCPUPerSecond the
	// process's CPU per second of the idle network before the load.
	CPU              time.Duration
	IdleCPUPerSecond time.Duration
	// Verify is the time the pools' verifiers took over every gossiped
	// receipt (Verifies calls); Serve the serving nodes' time to check
	// the authorization and sign the receipt (once per receipt).
	Verify   time.Duration
	Verifies int64
	// Batches is the gossip batches the pools verified.
	Batches int64
	Serve   time.Duration
	// StoreBytes is what the pools wrote to their datastores (keys and
	// values, every node); DiskBytes the size of the pebble directories
	// once closed (0 on the in-memory store).
	StoreBytes, StoreWrites int64
	DiskBytes               int64
	// LatencyP50 and LatencyP99 are the delays from a receipt's signature
	// to another node's acceptance.
	LatencyP50, LatencyP99 time.Duration
	// Admission holds the verdicts of every pool summed.
	Accepted, Ignored, Rejected uint64
	// Envelopes are up to Config.Keep receipt envelopes of the run.
	Envelopes [][]byte
	// NodeIDs, ClientIDs and ModelNames name the run's participants.
	NodeIDs, ClientIDs []peer.ID
	ModelNames         []string
	// NodeKey is the first node's key, which signs ChainCost's txs.
	NodeKey crypto.PrivKey
}

// Complete reports whether every node holds every receipt.
func (r *Result) Complete() bool { return r.Held == r.Nodes*r.Receipts }

// Achieved is the receipts per second the network absorbed: issued over the
// time until every node held them.
func (r *Result) Achieved() float64 { return float64(r.Receipts) / r.Wall.Seconds() }

func (r *Result) perNodeReceipt(v float64) float64 {
	return v / float64(r.Nodes) / float64(r.Receipts)
}

// SentPerReceipt is the gossip bytes a node sends per receipt (the mean
// over nodes); RecvPerReceipt those it receives.
func (r *Result) SentPerReceipt() float64 { return r.perNodeReceipt(float64(r.Gossip.SentBytes)) }

// RecvPerReceipt is the gossip bytes a node receives per receipt.
func (r *Result) RecvPerReceipt() float64 { return r.perNodeReceipt(float64(r.Gossip.RecvBytes)) }

// ControlPerReceipt is the part of RecvPerReceipt that is control messages
// (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT).
func (r *Result) ControlPerReceipt() float64 { return r.perNodeReceipt(float64(r.Gossip.RecvControl)) }

// CopiesPerReceipt is how many copies of each receipt a node receives.
func (r *Result) CopiesPerReceipt() float64 { return r.perNodeReceipt(float64(r.Gossip.RecvMessages)) }

// CPUPerReceipt is the process's CPU time over the run, less the idle rate,
// per node and receipt, in µs.
func (r *Result) CPUPerReceipt() float64 {
	busy := r.CPU.Seconds() - r.IdleCPUPerSecond.Seconds()*r.Wall.Seconds()
	return max(busy, 0) * 1e6 / float64(r.Nodes) / float64(r.Receipts)
}

// BatchSize is the mean receipts of a verified gossip batch.
func (r *Result) BatchSize() float64 {
	if r.Batches == 0 {
		return 0
	}
	return float64(r.Verifies) / float64(r.Batches)
}

// VerifyPerReceipt is the verifier's time per gossiped receipt, in µs.
func (r *Result) VerifyPerReceipt() float64 {
	if r.Verifies == 0 {
		return 0
	}
	return r.Verify.Seconds() * 1e6 / float64(r.Verifies)
}

// StorePerReceipt is the bytes a node's pool writes per receipt.
func (r *Result) StorePerReceipt() float64 { return r.perNodeReceipt(float64(r.StoreBytes)) }

// DiskPerReceipt is the pebble bytes on disk per node and receipt.
func (r *Result) DiskPerReceipt() float64 { return r.perNodeReceipt(float64(r.DiskBytes)) }

// request is one pre-signed authorization and the node that serves it.
type request struct {
	auth   []byte
	sa     *receipt.SignedAuthorization
	node   int
	in     uint64
	out    uint64
	respID [32]byte
}

type simNode struct {
	idx  int
	key  crypto.PrivKey
	id   peer.ID
	h    host.Host
	ps   *pubsub.PubSub
	pool *pool.Pool
	cs   *countingStore
	db   *store.Pebble
	dir  string
	tr   *tracer

	verifyNs atomic.Int64
	verifies atomic.Int64
	batches  atomic.Int64
	serveNs  atomic.Int64

	latMu sync.Mutex
	lat   []int64 // µs
}

// JoinTopic implements pool.Host over the simulated router.
func (n *simNode) JoinTopic(name string) (*pubsub.Topic, error) {
	return n.ps.Join(p2p.Topic(NetworkID, name))
}

// ID implements pool.Host.
func (n *simNode) ID() peer.ID { return n.id }

// ContentMessageIDs implements pool.ContentIDHost: the router has the
// node's options, message ids by p2p.MessageID.
func (n *simNode) ContentMessageIDs() bool { return true }

// ValidateWorkers implements pool.WorkersHost: the router has the node's
// options, p2p.ValidateWorkers validation workers.
func (n *simNode) ValidateWorkers() int { return p2p.ValidateWorkers }

// PubSub implements pool.Host.
func (n *simNode) PubSub() *pubsub.PubSub { return n.ps }

// sim is one running network.
type sim struct {
	cfg     Config
	nodes   []*simNode
	signed  []atomic.Int64 // Unix µs when request i's receipt was signed; 0 before
	byID    map[[32]byte]int
	held    atomic.Int64
	target  atomic.Int64
	wake    chan struct{}
	keepMu  sync.Mutex
	kept    [][]byte
	cleanup []func()
	tempDir string
}

// Run runs one simulation and returns its measurements.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &sim{cfg: cfg, wake: make(chan struct{}, 1)}
	defer func() {
		s.close()
		if s.tempDir != "" {
			os.RemoveAll(s.tempDir)
		}
	}()
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s.run(ctx)
}

func (s *sim) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	s.cleanup = nil
}

func (s *sim) start(ctx context.Context) error {
	cfg := s.cfg
	if cfg.Pebble && cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "scalesim-")
		if err != nil {
			return err
		}
		s.cfg.Dir, s.tempDir = dir, dir
	}
	for i := range cfg.Nodes {
		sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		h, err := libp2p.New(
			libp2p.Identity(sk),
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableMetrics(),
			libp2p.ResourceManager(&network.NullResourceManager{}),
		)
		if err != nil {
			return fmt.Errorf("scalesim: node %d: %w", i, err)
		}
		s.cleanup = append(s.cleanup, func() { h.Close() })
		s.nodes = append(s.nodes, &simNode{idx: i, key: sk, id: h.ID(), h: h, tr: &tracer{}})
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	for _, n := range s.nodes {
		if err := s.openNode(ctx, n); err != nil {
			return fmt.Errorf("scalesim: node %d: %w", n.idx, err)
		}
	}
	return nil
}

func (s *sim) openNode(ctx context.Context, n *simNode) error {
	opts := append(p2p.GossipSubOptions(NetworkID, 0, nil), pubsub.WithRawTracer(n.tr))
	psCtx, cancel := context.WithCancel(ctx)
	s.cleanup = append(s.cleanup, cancel)
	ps, err := pubsub.NewGossipSub(psCtx, n.h, opts...)
	if err != nil {
		return err
	}
	n.ps = ps
	var base ds.Batching = store.NewMemory()
	if s.cfg.Pebble {
		n.dir = filepath.Join(s.cfg.Dir, fmt.Sprintf("node-%03d", n.idx))
		db, err := store.OpenPebble(n.dir, store.WithSyncWrites(false), store.WithCacheSize(1<<20))
		if err != nil {
			return err
		}
		n.db, base = db, db
	}
	n.cs = &countingStore{Batching: base}
	chk := receipt.Checker{NetworkID: NetworkID}
	verify := pool.ReceiptVerifier(chk)
	verifyBatch := pool.ReceiptBatchVerifier(chk)
	pl, err := pool.New(pool.Config{
		Datastore: n.cs,
		Host:      n,
		Verify: func(ctx context.Context, env []byte) (pool.Receipt, error) {
			t := time.Now()
			r, err := verify(ctx, env)
			n.verifyNs.Add(int64(time.Since(t)))
			n.verifies.Add(1)
			return r, err
		},
		// Gossiped receipts are verified in batches, as a node's pool
		// does (node/metering.go; pool.BatchWindow's defaults).
		VerifyBatch: func(ctx context.Context, envs [][]byte) ([]pool.Receipt, []error) {
			t := time.Now()
			rs, errs := verifyBatch(ctx, envs)
			n.verifyNs.Add(int64(time.Since(t)))
			n.verifies.Add(int64(len(envs)))
			n.batches.Add(1)
			return rs, errs
		},
		OnAccept:         func(e pool.Entry) { s.accepted(n, e) },
		TopicScoreParams: p2p.TopicScoreParams(),
		Admission:        &pool.Admission{},
	})
	if err != nil {
		if n.db != nil {
			n.db.Close()
		}
		return err
	}
	n.pool = pl
	s.cleanup = append(s.cleanup, func() {
		pl.Close()
		if n.db != nil {
			n.db.Close()
		}
	})
	return nil
}

// connect connects every pair of nodes, a few dials at a time.
func (s *sim) connect(ctx context.Context) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var failed atomic.Value
	for i, a := range s.nodes {
		for _, b := range s.nodes[i+1:] {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.id, Addrs: b.h.Addrs()}); err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("scalesim: connecting node %d to %d: %w", a.idx, b.idx, err))
				}
			})
		}
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}

// accepted is every pool's OnAccept: it counts the receipt and, for
// another node's, the delay since it was signed.
func (s *sim) accepted(n *simNode, e pool.Entry) {
	now := time.Now().UnixMicro()
	if i, ok := s.byID[e.ID]; ok && !e.Local {
		if t := s.signed[i].Load(); t > 0 {
			n.latMu.Lock()
			n.lat = append(n.lat, now-t)
			n.latMu.Unlock()
		}
	}
	if n.idx == 0 && s.cfg.Keep > 0 {
		s.keepMu.Lock()
		if len(s.kept) < s.cfg.Keep {
			s.kept = append(s.kept, e.Envelope)
		}
		s.keepMu.Unlock()
	}
	if h := s.held.Add(1); h >= s.target.Load() && s.target.Load() > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// requests pre-signs the run's authorizations, so that the clients'
// signing is not counted as the nodes' CPU.
func (s *sim) requests(issued time.Time) ([]request, []peer.ID, []string, error) {
	cfg := s.cfg
	clients := make([]crypto.PrivKey, cfg.Clients)
	ids := make([]peer.ID, cfg.Clients)
	for i := range clients {
		sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, nil, nil, err
		}
		clients[i] = sk
		if ids[i], err = peer.IDFromPrivateKey(sk); err != nil {
			return nil, nil, nil, err
		}
	}
	models := make([]string, cfg.Models)
	for i := range models {
		models[i] = fmt.Sprintf("model-%02d", i)
	}
	n := int(math.Ceil(float64(cfg.Rate) * cfg.Duration.Seconds()))
	rng := mrand.New(mrand.NewPCG(uint64(cfg.Nodes), uint64(cfg.Rate)))
	reqs := make([]request, n)
	s.byID = make(map[[32]byte]int, n)
	for i := range reqs {
		c := rng.IntN(cfg.Clients)
		node := rng.IntN(cfg.Nodes)
		in, out := uint64(200+rng.IntN(800)), uint64(50+rng.IntN(450))
		a := receipt.NewAuthorization(NetworkID, ids[c], models[rng.IntN(cfg.Models)], issued, 5*time.Minute)
		a.Node = s.nodes[node].id
		a.MaxOutputTokens = 1024
		maxCharge, err := receipt.Charge(in, a.MaxOutputTokens, InputPrice, OutputPrice)
		if err != nil {
			return nil, nil, nil, err
		}
		a.MaxCharge = maxCharge
		a.InputPrice, a.OutputPrice = InputPrice, OutputPrice
		_, _ = rand.Read(a.RequestSHA256[:])
		env, err := receipt.SignAuthorization(a, clients[c])
		if err != nil {
			return nil, nil, nil, err
		}
		sa, err := receipt.OpenAuthorization(env)
		if err != nil {
			return nil, nil, nil, err
		}
		reqs[i] = request{auth: env, sa: sa, node: node, in: in, out: out}
		_, _ = rand.Read(reqs[i].respID[:])
		s.byID[receipt.ID(env)] = i
	}
	return reqs, ids, models, nil
}

// serve is the metering path of the serving node: check the
// authorization, sign the receipt, add it to the pool (which persists and
// publishes it).
func (s *sim) serve(ctx context.Context, i int, rq *request) error {
	n := s.nodes[rq.node]
	t := time.Now()
	if _, err := receipt.VerifyAuthorization(ctx, rq.auth, receipt.Checker{NetworkID: NetworkID}); err != nil {
		return err
	}
	charge, err := receipt.Charge(rq.in, rq.out, InputPrice, OutputPrice)
	if err != nil {
		return err
	}
	now := uint64(time.Now().UnixMilli())
	sr, err := receipt.SignOpened(receipt.Receipt{
		Authorization: rq.auth, InputTokens: rq.in, OutputTokens: rq.out, Finish: receipt.FinishStop,
		ResponseSHA256: rq.respID, StartedAtMs: now, CompletedAtMs: now, Charge: charge,
	}, rq.sa, n.key)
	if err != nil {
		return err
	}
	n.serveNs.Add(int64(time.Since(t)))
	s.signed[i].Store(time.Now().UnixMicro())
	_, err = n.pool.AddVerified(ctx, sr)
	return err
}

func (s *sim) run(ctx context.Context) (*Result, error) {
	cfg := s.cfg
	log := cfg.Logger
	reqs, clientIDs, models, err := s.requests(time.Now())
	if err != nil {
		return nil, err
	}
	s.signed = make([]atomic.Int64, len(reqs))
	// The meshes form at the first heartbeats; the last second of the
	// warm-up measures the idle network.
	if err := wait(ctx, cfg.Warmup-time.Second); err != nil {
		return nil, err
	}
	idle0 := cpuTime()
	if err := wait(ctx, time.Second); err != nil {
		return nil, err
	}
	idle := cpuTime() - idle0
	for _, n := range s.nodes {
		n.tr.reset()
	}
	log.Info("load", "nodes", cfg.Nodes, "rate", cfg.Rate, "receipts", len(reqs))

	cpu0, start := cpuTime(), time.Now()
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	tick := time.NewTicker(5 * time.Millisecond)
	next := 0
	for next < len(reqs) {
		select {
		case <-ctx.Done():
			tick.Stop()
			wg.Wait()
			return nil, ctx.Err()
		case <-tick.C:
		}
		due := min(len(reqs), int(time.Since(start).Seconds()*float64(cfg.Rate))+1)
		for ; next < due; next++ {
			sem <- struct{}{}
			i := next
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.serve(ctx, i, &reqs[i]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			})
		}
	}
	tick.Stop()
	wg.Wait()
	load := time.Since(start)
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("scalesim: %d requests failed, the first: %v", f, firstErr.Load())
	}
	s.target.Store(int64(cfg.Nodes * len(reqs)))
	drain := time.NewTimer(cfg.Drain)
	defer drain.Stop()
	for s.held.Load() < s.target.Load() {
		select {
		case <-s.wake:
		case <-drain.C:
			log.Warn("drain ran out", "held", s.held.Load(), "want", s.target.Load())
			goto done
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
done:
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	s.quiesce(ctx)
	res := &Result{
		Nodes: cfg.Nodes, Rate: cfg.Rate, Pebble: cfg.Pebble, Receipts: len(reqs), Held: int(s.held.Load()),
		Load: load, Wall: wall, CPU: cpu, IdleCPUPerSecond: idle,
		ClientIDs: clientIDs, ModelNames: models, NodeKey: s.nodes[0].key,
	}
	var lats []int64
	var envBytes int64
	for _, n := range s.nodes {
		res.Gossip.add(n.tr.snapshot())
		res.Verify += time.Duration(n.verifyNs.Load())
		res.Verifies += n.verifies.Load()
		res.Batches += n.batches.Load()
		res.Serve += time.Duration(n.serveNs.Load())
		res.StoreBytes += n.cs.bytes.Load()
		res.StoreWrites += n.cs.writes.Load()
		st := n.pool.Stats()
		res.Accepted += st.Accepted
		for _, v := range st.Ignored {
			res.Ignored += v
		}
		for _, v := range st.Rejected {
			res.Rejected += v
		}
		n.latMu.Lock()
		lats = append(lats, n.lat...)
		n.latMu.Unlock()
		res.NodeIDs = append(res.NodeIDs, n.id)
	}
	s.keepMu.Lock()
	res.Envelopes = s.kept
	for _, e := range s.kept {
		envBytes += int64(len(e))
	}
	if len(s.kept) > 0 {
		res.EnvelopeBytes = float64(envBytes) / float64(len(s.kept))
	}
	s.keepMu.Unlock()
	slices.Sort(lats)
	if len(lats) > 0 {
		res.LatencyP50 = time.Duration(lats[len(lats)/2]) * time.Microsecond
		res.LatencyP99 = time.Duration(lats[len(lats)*99/100]) * time.Microsecond
	}
	if cfg.Pebble {
		// Close the pools and stores to measure what reached the disk.
		s.close()
		for _, n := range s.nodes {
			sz, err := dirSize(n.dir)
			if err != nil {
				return nil, err
			}
			res.DiskBytes += sz
		}
	}
	log.Info("done", "nodes", cfg.Nodes, "rate", cfg.Rate, "complete", res.Complete(), "wall", wall.Round(time.Millisecond))
	return res, nil
}

// quiesce waits, up to two heartbeats, until every RPC the routers sent
// was received, so that the traffic counters agree.
func (s *sim) quiesce(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		var t Traffic
		for _, n := range s.nodes {
			t.add(n.tr.snapshot())
		}
		if t.SentBytes == t.RecvBytes {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// wait waits d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return total, err
}
