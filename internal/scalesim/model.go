package scalesim

import (
	"errors"
	"math"
)

// GossipSub's defaults, which fomo's routers keep (p2p.GossipSubOptions).
const (
	// MeshDegree is D, the peers a node forwards each message to.
	MeshDegree = 6
	// GossipLazy is D_lazy, the least number of peers a node sends IHAVE
	// gossip to each heartbeat; GossipFactor the share of its other topic
	// peers it sends it to when that is more.
	GossipLazy   = 6
	GossipFactor = 0.25
	// GossipHistory is the heartbeats a message id is announced in.
	GossipHistory = 3
	// MaxIHaveLength caps the ids of one IHAVE per peer and heartbeat
	// (one heartbeat a second).
	MaxIHaveLength = 5000
	// ConnLow is the connections a node keeps once its connection
	// manager trims (p2p's default ConnLow): its topic peers in a large
	// network.
	ConnLow = 100
)

// Chain figures the projection takes from docs/benchmarks.md.
const (
	// ChainToday is the receipts/s four validators on two cores include
	// (BenchmarkReceiptsThroughChain with the ledger aggregated at
	// inclusion: 4,300–6,100 with one client key, 2,200–5,750 with 1,000,
	// about 5,400 the median of the quieter rounds).
	ChainToday = 5000
	// ChainLoaded is the low end of those runs, with both cores taken by
	// other work.
	ChainLoaded = 2200
	// VerifyBound is the receipts/s one core verifies with the batch
	// check (27–31 µs a receipt, VerifyBatch/256; the slow end).
	VerifyBound = 32000
)

// GossipTargets is the peers a node sends IHAVE gossip to each heartbeat
// when it has peers topic peers: max(D_lazy, factor × non-mesh peers),
// but no more than it has outside its mesh.
func GossipTargets(peers int) float64 {
	out := float64(peers - MeshDegree)
	if out <= 0 {
		return 0
	}
	return math.Min(out, math.Max(GossipLazy, GossipFactor*out))
}

// Model is the per-receipt cost of the current design (every node
// receives, verifies and stores every receipt; every receipt goes to the
// chain), fitted from runs.
type Model struct {
	// Copies is the copies of each receipt a node receives and Message the
	// bytes of one copy on the stream (the largest network's runs).
	Copies, Message float64
	// ControlPerTarget is the control bytes a node receives per receipt
	// per gossip target; IDBytes the bytes of one IHAVE id.
	ControlPerTarget float64
	IDBytes          float64
	// The CPU µs a node spends per receipt at rate R receipts/s is
	// AdmitCPU + Overhead/R: least squares over the runs' busy CPU per
	// node and receipt (the serving node's signature, once per receipt, is
	// in it). Overhead is what a node spends per second on the receipts'
	// flow whatever its rate (a commit, a write, an RPC per receipt at low
	// rates, several at high ones): at the projection's rates AdmitCPU is
	// what remains. MeanCPU is the plain mean over the runs. VerifyCPU and
	// SignCPU are the verifier's and the signer's µs alone.
	AdmitCPU, Overhead, MeanCPU float64
	VerifyCPU, SignCPU          float64
	// Store is the bytes a node's pool writes per receipt; Disk what
	// pebble puts on disk per receipt (0 without a pebble run).
	Store, Disk float64
	// Chain are the chain's costs per receipt.
	Chain ChainCosts
	// LargestN is the node count the copies and message size come from.
	LargestN int
}

// Fit fits a Model to runs, the chain's costs and the paths' costs.
func Fit(runs []*Result, chain ChainCosts, paths PathCosts) (Model, error) {
	var m Model
	if len(runs) == 0 {
		return m, errors.New("scalesim: no runs to fit")
	}
	for _, r := range runs {
		m.LargestN = max(m.LargestN, r.Nodes)
	}
	var copies, payload, msgs float64
	var ctrlT, tT float64
	var ids, ctrlBytes float64
	var store, disk, diskRuns, busy float64
	var sx, sy, sxx, sxy, k float64
	for _, r := range runs {
		if r.Nodes == m.LargestN {
			copies += float64(r.Gossip.RecvMessages)
			payload += float64(r.Gossip.RecvBytes - r.Gossip.RecvControl)
			msgs += float64(r.Receipts * r.Nodes)
		}
		if t := GossipTargets(r.Nodes - 1); t > 0 {
			ctrlT += float64(r.Gossip.RecvControl) / float64(r.Nodes*r.Receipts)
			tT += t
		}
		ids += float64(r.Gossip.IHaveIDs)
		ctrlBytes += float64(r.Gossip.SentControl)
		store += float64(r.StoreBytes)
		if r.Pebble {
			disk += float64(r.DiskBytes)
			diskRuns += float64(r.Nodes * r.Receipts)
		}
		busy += r.CPUPerReceipt() * float64(r.Nodes*r.Receipts)
		x, y := 1/float64(r.Rate), r.CPUPerReceipt()
		sx, sy, sxx, sxy, k = sx+x, sy+y, sxx+x*x, sxy+x*y, k+1
	}
	var total float64
	for _, r := range runs {
		total += float64(r.Nodes * r.Receipts)
	}
	m.Copies = copies / msgs
	m.Message = payload / copies
	if tT > 0 {
		m.ControlPerTarget = ctrlT / tT
	}
	if ids > 0 {
		m.IDBytes = ctrlBytes / ids
	}
	m.Store = store / total
	if diskRuns > 0 {
		m.Disk = disk / diskRuns
	}
	m.MeanCPU = busy / total
	m.AdmitCPU = m.MeanCPU
	if d := k*sxx - sx*sx; d > 0 {
		f := (k*sxy - sx*sy) / d
		if a := (sy - f*sx) / k; a > 0 && f >= 0 {
			m.AdmitCPU, m.Overhead = a, f
		}
	}
	m.VerifyCPU, m.SignCPU = paths.Verify, paths.Sign
	m.Chain = chain
	return m, nil
}

// CPUAt is the CPU µs per receipt and node at rate receipts/s.
func (m Model) CPUAt(rate float64) float64 { return m.AdmitCPU + m.Overhead/rate }

// Projection is the Model applied to a network of Nodes nodes serving
// Rate requests/s, where every Batch requests make one receipt that is
// gossiped and settled (1: today's design).
type Projection struct {
	Nodes, Rate, Batch int
	// Receipts is the receipts/s gossiped and settled.
	Receipts float64
	// Targets is a node's gossip targets (ConnLow topic peers).
	Targets float64
	// Payload and Control are the bytes/s a node receives; a node sends
	// as much (each copy sent is one received), so its link carries
	// twice Total.
	Payload, Control, Total float64
	// Cores is the CPU cores each node spends admitting receipts.
	Cores float64
	// StorePerDay and DiskPerDay are the bytes a node's pool writes a day.
	StorePerDay, DiskPerDay float64
	// ChainTxPerDay is the bytes of SubmitReceipts a day (every block
	// store keeps them); ChainStatePerDay the ledger state kept a day
	// after the epochs close.
	ChainTxPerDay, ChainStatePerDay float64
	// ChainLoad is Receipts over ChainToday and ChainLoaded.
	ChainLoadToday, ChainLoadLoaded float64
}

// Project applies the model.
func (m Model) Project(nodes, rate, batch int) Projection {
	if batch < 1 {
		batch = 1
	}
	p := Projection{Nodes: nodes, Rate: rate, Batch: batch}
	p.Receipts = float64(rate) / float64(batch)
	p.Targets = GossipTargets(min(nodes-1, ConnLow))
	p.Payload = p.Receipts * m.Copies * m.Message
	// IHAVE: each id is announced to every target in GossipHistory
	// heartbeats, at most MaxIHaveLength ids per target and heartbeat.
	ihaveIDs := math.Min(GossipHistory*p.Receipts, MaxIHaveLength)
	perReceipt := m.ControlPerTarget * p.Targets * p.Receipts
	if m.IDBytes > 0 {
		perReceipt = math.Min(perReceipt, p.Targets*ihaveIDs*m.IDBytes)
	}
	p.Control = perReceipt
	p.Total = p.Payload + p.Control
	p.Cores = p.Receipts * m.CPUAt(p.Receipts) / 1e6
	day := 86400 * p.Receipts
	p.StorePerDay = day * m.Store
	p.DiskPerDay = day * m.Disk
	p.ChainTxPerDay = day * m.Chain.TxPerReceipt()
	p.ChainStatePerDay = day * m.Chain.ClosedStatePerReceipt()
	p.ChainLoadToday = p.Receipts / ChainToday
	p.ChainLoadLoaded = p.Receipts / ChainLoaded
	return p
}

// Tickets are the figures of probabilistic micropayments (go-livepeer's
// pm): each request pays with a ticket of face value Face that wins with
// probability WinProb, Face × WinProb being the request's charge.
type Tickets struct {
	WinProb float64
	// Charge is a request's charge (usd base units).
	Charge float64
}

// Face is a ticket's face value.
func (t Tickets) Face() float64 { return t.Charge / t.WinProb }

// Winners is the winning tickets a second at rate requests/s: the chain's
// load.
func (t Tickets) Winners(rate float64) float64 { return rate * t.WinProb }

// CV is the coefficient of variation (standard deviation over mean) of the
// income of a node that serves n requests: sqrt((1 − p) / (n p)).
func (t Tickets) CV(n float64) float64 { return math.Sqrt((1 - t.WinProb) / (n * t.WinProb)) }

// PNothing is the probability that n requests win nothing: (1 − p)^n.
func (t Tickets) PNothing(n float64) float64 { return math.Pow(1-t.WinProb, n) }

// Reserve is what a client must lock so that each of nodes recipients can
// be paid one winning ticket at once (the reserve is split between the
// recipients, as go-livepeer's max float is).
func (t Tickets) Reserve(nodes int) float64 { return float64(nodes) * t.Face() }
