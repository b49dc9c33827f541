package chain_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/cputime"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var (
	benchPerTx    = flag.Int("chain.pertx", 1000, "BenchmarkReceiptsThroughChain: receipts per SubmitReceipts tx")
	benchInterval = flag.Duration("chain.interval", 200*time.Millisecond, "BenchmarkReceiptsThroughChain: block interval")
	benchClients  = flag.Int("chain.clients", 1, "BenchmarkReceiptsThroughChain: paying accounts, each with its own key, taking turns")
	benchTotal    = flag.Int("chain.total", 20_000, "BenchmarkReceiptsThroughChain: receipts submitted")
)

// BenchmarkReceiptsThroughChain submits 20,000 (-chain.total) signed
// receipts, paid by one account (-chain.clients: that many accounts, each
// signing with its own key, taking turns) and served by one node, in
// SubmitReceipts txs of 1,000 (-chain.pertx) to one of four in-process
// validators on loopback (each with its own application and in-memory
// ledger, 200 ms block interval, -chain.interval) and measures receipts
// included per second, from the first broadcast to the block that includes
// the last receipt, with the blocks per second and receipts per block of
// that span. Every validator verifies every receipt itself, in its CheckTx
// or, for a tx it did not see in its mempool, in FinalizeBlock: validators
// share nothing but the network. cpu-s is the process's CPU time over the
// span (all four validators), a measure that other load on the machine
// does not inflate as it does the wall-clock rate.
func BenchmarkReceiptsThroughChain(b *testing.B) {
	total, batch := *benchTotal, *benchPerTx
	mk := func() (crypto.PrivKey, peer.ID) { return testkeys.New(b) }
	var userSKs []crypto.PrivKey
	var users []peer.ID
	for range max(1, *benchClients) {
		sk, id := mk()
		userSKs, users = append(userSKs, sk), append(users, id)
	}
	protoSK, protocol := mk()
	_ = protoSK
	var vals []crypto.PrivKey
	var valIDs []peer.ID
	for range 4 {
		sk, id := mk()
		vals, valIDs = append(vals, sk), append(valIDs, id)
	}
	now := time.Now()
	g := ledger.Genesis{
		GenesisTimeMs: now.Add(-time.Minute).UnixMilli(), EpochMs: int64(time.Hour / time.Millisecond), GraceMs: 60_000,
		ProtocolKey: protocol.String(), Params: econ.DefaultParams(), PowerUnit: econ.Unit, MaxValidators: 10,
		Tiers: []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000}},
		Models: []ledger.GenesisModel{{Name: "m1", Issuer: protocol.String(), Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: "aa00000000000000000000000000000000000000000000000000000000000000"}},
	}
	for _, u := range users {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{ID: u.String(), Balances: map[string]uint64{ledger.DenomUSD: 1_000_000 * econ.Unit}})
	}
	if batch > 1000 {
		g.MaxReceiptsPerTx = batch // above the default, for measuring larger txs
	}
	for _, id := range valIDs {
		g.Nodes = append(g.Nodes, ledger.GenesisNode{ID: id.String(), Bond: 10 * econ.Unit, Serves: []string{"m1"}})
	}
	state, _ := json.Marshal(g)
	cg := consensus.Genesis{ChainID: "fomo-bench", GenesisTime: now.Add(-time.Second), InitialHeight: 1, AppState: state}
	for _, sk := range vals {
		cg.Validators = append(cg.Validators, consensus.Validator{PubKey: sk.GetPublic(), Power: 10})
	}

	// The receipts, made before the clock starts.
	var txs [][]byte
	var envs [][]byte
	for i := range total {
		a := receipt.NewAuthorization("bench", users[i%len(users)], "m1", now, 5*time.Minute)
		a.MaxOutputTokens, a.MaxCharge = 1000, econ.Unit
		a.InputPrice, a.OutputPrice = 200_000, 600_000
		a.RequestSHA256 = sha256.Sum256(fmt.Appendf(nil, "req %d", i))
		auth, err := receipt.SignAuthorization(a, userSKs[i%len(users)])
		if err != nil {
			b.Fatal(err)
		}
		c, _ := receipt.Charge(100, 50, 200_000, 600_000)
		env, err := receipt.SignReceipt(receipt.Receipt{Authorization: auth, InputTokens: 100, OutputTokens: 50, Finish: receipt.FinishStop,
			StartedAtMs: uint64(now.UnixMilli()), CompletedAtMs: uint64(now.UnixMilli() + 1), Charge: c}, vals[0])
		if err != nil {
			b.Fatal(err)
		}
		envs = append(envs, env)
		if len(envs) == batch || i == total-1 {
			t, err := tx.Sign(tx.Tx{Nonce: uint64(len(txs) + 1), Body: tx.SubmitReceipts{Envelopes: envs}}, vals[0])
			if err != nil {
				b.Fatal(err)
			}
			txs, envs = append(txs, t), nil
		}
	}

	var included, blocks atomic.Int64
	done := make(chan struct{})
	dir := b.TempDir()
	var nodes []*consensus.Node
	var peers []string
	for i, sk := range vals {
		opts := []chain.Option{chain.WithNetworkID("bench"), chain.WithMaxPendingPerAccount(1000)}
		if i == 0 {
			opts = append(opts, chain.WithOnBlock(func(bi chain.BlockInfo) {
				blocks.Add(1)
				if included.Add(int64(len(bi.Included))) == int64(total) {
					close(done)
				}
			}))
		}
		app, err := chain.NewApp(store.NewMemory(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		n, err := consensus.Start(context.Background(), consensus.Config{Home: filepath.Join(dir, fmt.Sprint(i)), Key: sk, Genesis: cg,
			ListenAddr: "tcp://127.0.0.1:0", Peers: peers, BlockInterval: *benchInterval, App: app, ConcurrentApp: true})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Stop()
		nodes, peers = append(nodes, n), append(peers, n.P2PAddress())
	}
	for _, n := range nodes {
		n.AddPeers(peers...)
	}
	for nodes[0].Status().Height < 2 {
		time.Sleep(20 * time.Millisecond)
	}
	b.ResetTimer()
	start, cpu0, blocks0 := time.Now(), cputime.Process(), blocks.Load()
	for _, t := range txs {
		r, err := nodes[0].BroadcastTx(context.Background(), t)
		if err != nil || r.Code != 0 {
			b.Fatalf("broadcast: %+v %v", r, err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d receipts included after 5 minutes", included.Load(), total)
	}
	el, cpu, nb := time.Since(start), cputime.Process()-cpu0, blocks.Load()-blocks0
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "receipts/s")
	b.ReportMetric(el.Seconds(), "s/total")
	b.ReportMetric(float64(nb)/el.Seconds(), "blocks/s")
	b.ReportMetric(float64(total)/float64(nb), "receipts/block")
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds(), "cpu-s")
	}
}
