package scalesim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// BatchSize is the receipts per SubmitReceipts transaction ChainCost
// signs: the submitter's batch (DESIGN §7).
const BatchSize = 1000

// ChainCosts is what the chain carries and stores per receipt.
type ChainCosts struct {
	// Receipts were included (Included of them charged, paid or not).
	Receipts, Included int
	// TxBytes is the size of the SubmitReceipts transactions that carry
	// them: what the block store keeps and every validator receives.
	TxBytes int64
	Txs     int
	// LedgerWriteBytes is what the ledger wrote (keys and values) for the
	// block that included them, less what it writes for an empty block.
	LedgerWriteBytes int64
	// StateBytes is the growth of the ledger's state (keys and values)
	// once they are included; ClosedStateBytes once their epoch closed.
	StateBytes, ClosedStateBytes int64
	// ChargeSum is the receipts' charges summed (usd base units).
	ChargeSum uint64
}

// MeanCharge is a receipt's mean charge, usd base units.
func (c ChainCosts) MeanCharge() float64 { return float64(c.ChargeSum) / float64(c.Receipts) }

// TxPerReceipt is the chain bytes of transactions per receipt.
func (c ChainCosts) TxPerReceipt() float64 { return float64(c.TxBytes) / float64(c.Receipts) }

// LedgerWritePerReceipt is the ledger's writes per receipt.
func (c ChainCosts) LedgerWritePerReceipt() float64 {
	return float64(c.LedgerWriteBytes) / float64(c.Receipts)
}

// StatePerReceipt is the state growth per receipt while the epoch is open.
func (c ChainCosts) StatePerReceipt() float64 { return float64(c.StateBytes) / float64(c.Receipts) }

// ClosedStatePerReceipt is the state kept per receipt after the epoch
// closed.
func (c ChainCosts) ClosedStatePerReceipt() float64 {
	return float64(c.ClosedStateBytes) / float64(c.Receipts)
}

// ChainCost includes res.Envelopes in a ledger whose genesis registers the
// run's nodes, models and clients: it signs them into SubmitReceipts
// transactions of BatchSize with res.NodeKey, converts them as the chain
// application does and applies them in one block, then closes their epoch.
func ChainCost(ctx context.Context, res *Result) (ChainCosts, error) {
	envs := res.Envelopes
	if len(envs) == 0 {
		return ChainCosts{}, errors.New("scalesim: no receipts kept for the chain")
	}
	out := ChainCosts{Receipts: len(envs)}
	var rs []ledger.Receipt
	var minIssued, maxIssued int64
	for _, env := range envs {
		sr, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: NetworkID})
		if err != nil {
			return out, err
		}
		a := &sr.Authorization.Authorization
		r := ledger.Receipt{
			ID: sr.ID(), Account: a.Account.String(), Signer: a.Signer.String(), Model: a.Model,
			Node: sr.Receipt.Node.String(), IssuedAtMs: int64(a.IssuedAtMs), InputTokens: sr.Receipt.InputTokens,
			OutputTokens: sr.Receipt.OutputTokens, InputPrice: a.InputPrice, OutputPrice: a.OutputPrice, Charge: sr.Receipt.Charge,
		}
		if a.EntryNode != "" {
			r.EntryNode = a.EntryNode.String()
		}
		rs = append(rs, r)
		out.ChargeSum += r.Charge
		if minIssued == 0 || r.IssuedAtMs < minIssued {
			minIssued = r.IssuedAtMs
		}
		maxIssued = max(maxIssued, r.IssuedAtMs)
	}
	nonce := uint64(0)
	var txs []ledger.Tx
	submitter := ""
	for b := range slices.Chunk(envs, BatchSize) {
		nonce++
		signed, err := tx.Sign(tx.Tx{Nonce: nonce, Body: tx.SubmitReceipts{Envelopes: b}}, res.NodeKey)
		if err != nil {
			return out, err
		}
		out.TxBytes += int64(len(signed))
		out.Txs++
		st, err := tx.Open(signed)
		if err != nil {
			return out, err
		}
		submitter = st.Account
	}
	for b := range slices.Chunk(rs, BatchSize) {
		txs = append(txs, ledger.Tx{Account: submitter, Nonce: uint64(len(txs) + 1), Body: ledger.SubmitReceipts{Receipts: b}})
	}

	g := genesis(res, minIssued-60_000)
	cs := &countingStore{Batching: store.NewMemory()}
	l, err := ledger.New(ctx, cs, g)
	if err != nil {
		return out, err
	}
	t := maxIssued + 1000
	apply := func(h int64, at int64, txs []ledger.Tx) (int64, error) {
		before := cs.bytes.Load()
		br, err := l.ApplyBlock(ctx, ledger.Block{Height: h, TimeMs: at, Txs: txs})
		if err != nil {
			return 0, err
		}
		for _, r := range br.Txs {
			if r.Code != ledger.OK {
				return 0, fmt.Errorf("scalesim: ledger: %s %s", r.Code, r.Log)
			}
			for _, rr := range r.Receipts {
				if rr.Code == ledger.OK || rr.Code == ledger.CodeUnpaid {
					out.Included++
				}
			}
		}
		return cs.bytes.Load() - before, nil
	}
	empty, err := apply(1, t, nil)
	if err != nil {
		return out, err
	}
	s0, err := stateSize(ctx, cs)
	if err != nil {
		return out, err
	}
	full, err := apply(2, t+1, txs)
	if err != nil {
		return out, err
	}
	out.LedgerWriteBytes = full - empty
	s1, err := stateSize(ctx, cs)
	if err != nil {
		return out, err
	}
	out.StateBytes = s1 - s0
	if _, err := apply(3, g.EpochEnd(0)+g.GraceMs+1, nil); err != nil {
		return out, err
	}
	s2, err := stateSize(ctx, cs)
	if err != nil {
		return out, err
	}
	out.ClosedStateBytes = s2 - s0
	return out, nil
}

// genesis registers the run's nodes as serving every model and funds its
// clients; epochs last an hour, as on the devnet.
func genesis(res *Result, startMs int64) ledger.Genesis {
	sum := sha256.Sum256([]byte("scalesim manifest"))
	g := ledger.Genesis{
		GenesisTimeMs: startMs, EpochMs: 3_600_000, GraceMs: 60_000, ProtocolKey: "protocol",
		Params: econ.DefaultParams(), MaxReceiptsPerTx: BatchSize,
		Tiers: []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000}},
	}
	for _, m := range res.ModelNames {
		g.Models = append(g.Models, ledger.GenesisModel{Name: m, Issuer: "issuer", ManifestSHA256: hex.EncodeToString(sum[:]),
			Tier: "small", InputPrice: InputPrice, OutputPrice: OutputPrice})
	}
	for _, n := range res.NodeIDs {
		g.Nodes = append(g.Nodes, ledger.GenesisNode{ID: n.String(), Bond: econ.Unit, Serves: res.ModelNames})
	}
	for _, c := range res.ClientIDs {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{ID: c.String(), Balances: map[string]uint64{ledger.DenomUSD: 1_000_000 * econ.Unit}})
	}
	return g
}

// stateSize sums the keys and values a datastore holds.
func stateSize(ctx context.Context, d ds.Datastore) (int64, error) {
	rs, err := d.Query(ctx, query.Query{})
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	var n int64
	for r := range rs.Next() {
		if r.Error != nil {
			return 0, r.Error
		}
		n += int64(len(r.Key) + len(r.Value))
	}
	return n, nil
}

// PathCosts are the CPU costs of the receipt paths alone, measured one
// receipt after another on one goroutine: what admission's verifier spends
// per gossiped receipt, and what the serving node spends to sign one.
type PathCosts struct {
	// Verify is the CPU µs of receipt.Verify (both signatures and the
	// rules) per receipt; Sign of receipt.SignOpened.
	Verify, Sign float64
}

// MeasurePaths times the verifier and the signer over res.Envelopes,
// rounds times over, by the process's CPU time (nothing else of the
// simulation runs by then).
func MeasurePaths(ctx context.Context, res *Result, rounds int) (PathCosts, error) {
	var out PathCosts
	envs := res.Envelopes
	if len(envs) == 0 {
		return out, errors.New("scalesim: no receipts kept")
	}
	srs := make([]*receipt.SignedReceipt, len(envs))
	c0 := cpuTime()
	for range rounds {
		for i, env := range envs {
			sr, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: NetworkID})
			if err != nil {
				return out, err
			}
			srs[i] = sr
		}
	}
	n := float64(rounds * len(envs))
	out.Verify = (cpuTime() - c0).Seconds() * 1e6 / n
	// The first node signs the receipts it served (their payee).
	self := res.NodeIDs[0]
	var own []*receipt.SignedReceipt
	for _, sr := range srs {
		if sr.Authorization.Authorization.Node == self {
			own = append(own, sr)
		}
	}
	if len(own) == 0 {
		return out, errors.New("scalesim: the first node served none of the kept receipts")
	}
	c0 = cpuTime()
	for range rounds {
		for _, sr := range own {
			if _, err := receipt.SignOpened(sr.Receipt, sr.Authorization, res.NodeKey); err != nil {
				return out, err
			}
		}
	}
	n = float64(rounds * len(own))
	out.Sign = (cpuTime() - c0).Seconds() * 1e6 / n
	return out, nil
}
