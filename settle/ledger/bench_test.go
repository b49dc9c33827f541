package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
)

// benchLedger returns a ledger holding n paid receipts of epoch 0 spread over
// `models` models and 3 nodes, and the next block height and a time that
// closes epoch 0.
func benchLedger(b *testing.B, n, models int) (*Ledger, int64, int64) {
	return benchLedgerWith(b, testGenesis(), n, models, false)
}

// benchLedgerWith is benchLedger on genesis g. With graduate, every model's
// offering is launched and sold out (graduated, its MT/FLOCK pool seeded) by
// LaunchRMO and Commit transactions in the block after the registrations,
// before the receipts; g must then allow offerings (econGenesis).
func benchLedgerWith(b *testing.B, g Genesis, n, models int, graduate bool) (*Ledger, int64, int64) {
	return benchLedgerOn(b, store.NewMemory(), g, n, models, 0, graduate)
}

// benchAccount is the name of the i-th paying account of benchLedgerOn.
func benchAccount(i int) string { return fmt.Sprintf("acct-%05d", i) }

// benchLedgerOn is benchLedgerWith on datastore d. With accounts > 0, the
// genesis funds that many accounts and receipt j is paid by account
// j mod accounts, of the model (j + 37·(⌊j/accounts⌋ mod 3)) mod models: each
// account uses three models. With accounts == 0 every receipt is paid by
// one account, "whale", and receipt j is of model j mod models. Receipts
// are made and applied a block (20 txs of 1,000) at a time.
func benchLedgerOn(b *testing.B, d ds.Datastore, g Genesis, n, models, accounts int, graduate bool) (*Ledger, int64, int64) {
	b.Helper()
	ctx := context.Background()
	g.Accounts = append(append([]GenesisAccount(nil), g.Accounts...), GenesisAccount{ID: "whale", Balances: map[string]uint64{DenomUSD: 1 << 60}})
	for i := range accounts {
		g.Accounts = append(g.Accounts, GenesisAccount{ID: benchAccount(i), Balances: map[string]uint64{DenomUSD: 1 << 40}})
	}
	if graduate {
		// The issuer pays every launch fee; "fan" buys every sale bucket.
		fee := g.Economics.LaunchFee
		g.Accounts = append(g.Accounts, GenesisAccount{ID: "fan", Balances: map[string]uint64{DenomFlock: uint64(models) * 2 * benchRaise}})
		for i := range g.Accounts {
			if g.Accounts[i].ID == "issuer" {
				g.Accounts[i].Balances = map[string]uint64{DenomFlock: uint64(models) * fee}
			}
		}
	}
	l, err := New(ctx, d, g)
	if err != nil {
		b.Fatal(err)
	}
	nonces := map[string]uint64{}
	tx := func(a string, body Body) Tx { nonces[a]++; return Tx{Account: a, Nonce: nonces[a], Body: body} }
	h := int64(0)
	apply := func(txs ...Tx) {
		h++
		res, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: t0 + h, Txs: txs})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Txs {
			if r.Code != OK {
				b.Fatalf("%s %s", r.Code, r.Log)
			}
		}
	}
	nodes := []string{"n1", "n2", "e1"}
	var setup []Tx
	for _, nd := range nodes {
		setup = append(setup, tx(nd, RegisterNode{Bond: econ.Unit}))
	}
	for m := range models {
		name := fmt.Sprintf("model-%03d", m)
		setup = append(setup, tx("issuer", RegisterModel{Name: name, ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000}))
		for _, nd := range nodes {
			setup = append(setup, tx(nd, ServeModel{Model: name}))
		}
	}
	apply(setup...)
	if graduate {
		var rmo []Tx
		for m := range models {
			name := fmt.Sprintf("model-%03d", m)
			rmo = append(rmo, tx("issuer", LaunchRMO{Model: name, RaiseMin: benchRaise, RaiseMax: benchRaise}),
				tx("fan", Commit{Model: name, Amount: 2 * benchRaise})) // sells out: graduates, the rest refunded
		}
		apply(rmo...)
		pools, err := l.Pools(ctx)
		if err != nil || len(pools) != models+1 {
			b.Fatalf("%d pools, %v", len(pools), err)
		}
	}
	modelNames := make([]string, models)
	for m := range models {
		modelNames[m] = fmt.Sprintf("model-%03d", m)
	}
	const batch = 1000
	var txs []Tx
	for i := 0; i < n; i += batch {
		rs := make([]Receipt, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			var seed [8]byte
			binary.BigEndian.PutUint64(seed[:], uint64(j))
			acct, model := "whale", j%models
			if accounts > 0 {
				acct, model = benchAccount(j%accounts), (j+37*((j/accounts)%3))%models
			}
			r := Receipt{
				ID: sha256.Sum256(seed[:]), Account: acct, Signer: acct, Model: modelNames[model],
				Node: nodes[j%2], EntryNode: nodes[(j/2)%3], IssuedAtMs: t0 + 1, InputTokens: uint64(1000 + j%977),
				OutputTokens: uint64(200 + j%313), InputPrice: 200_000, OutputPrice: 600_000,
			}
			r.Charge, _ = econ.Charge(r.InputTokens, r.OutputTokens, r.InputPrice, r.OutputPrice)
			rs = append(rs, r)
		}
		txs = append(txs, tx("n1", SubmitReceipts{Receipts: rs}))
		if len(txs) == 20 {
			apply(txs...)
			txs = nil
		}
	}
	if len(txs) > 0 {
		apply(txs...)
	}
	return l, h + 1, t0 + epochMs + graceMs
}

// benchAccounts is the number of paying accounts of BenchmarkEpochClose1M
// and BenchmarkEpochClose100k.
const benchAccounts = 10_000

func benchmarkEpochClose(b *testing.B, n int) {
	ctx := context.Background()
	var setup time.Duration
	for b.Loop() {
		b.StopTimer()
		d, err := store.OpenPebble(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		l, h, tm := benchLedgerOn(b, d, testGenesis(), n, 100, benchAccounts, false)
		setup = time.Since(start)
		runtime.GC()
		b.StartTimer()
		res, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: tm})
		if err != nil || len(res.ClosedEpochs) != 1 {
			b.Fatalf("%v %+v", err, res.ClosedEpochs)
		}
		b.StopTimer()
		st, _, _ := l.Epoch(ctx, 0)
		if st.Paid != uint64(n) || len(st.Models) != 100 {
			b.Fatalf("paid %d over %d models", st.Paid, len(st.Models))
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "receipts/op")
	// The setup includes every receipt through SubmitReceipts txs of 1,000:
	// its time per receipt bounds the ledger's inclusion cost.
	b.ReportMetric(float64(setup.Microseconds())/float64(n), "setup-µs/receipt")
}

// BenchmarkEpochClose100k measures the block that closes an epoch of 100,000
// receipts over 100 models paid by 10,000 accounts (each using three
// models), on the pebble store in a temporary directory: the split from the
// inclusion aggregates, payouts, the receipts root over the stored ids,
// the settlement record and the app hash of the block's writes. Only the
// closing block is timed, after a GC.
func BenchmarkEpochClose100k(b *testing.B) { benchmarkEpochClose(b, 100_000) }

// BenchmarkEpochClose1M is the same with 1,000,000 receipts. Run it alone
// (-run '^$' -bench EpochClose1M -benchtime 1x) under /usr/bin/time -v to
// see the whole process's peak memory.
func BenchmarkEpochClose1M(b *testing.B) { benchmarkEpochClose(b, 1_000_000) }

// benchRaise is each offering's raise (minimum and maximum) in
// BenchmarkEpochClose100Graduated: 1,000 FLOCK, the tier minimum of
// econGenesis, of which graduation puts 500 FLOCK in the model's pool.
const benchRaise = 1_000 * econ.Unit

// BenchmarkEpochClose100Graduated measures the block that closes an epoch
// of 10,000 receipts over 100 models, two ways: "buybacks", on a network
// with a FLOCK/usd pool in its genesis (econGenesis) where every model has
// graduated through its offering (LaunchRMO and a Commit that sells it out,
// in setup) and so has an MT/FLOCK pool; the close then adds each model's
// MT-buyback share to its reserve and spends it through both pools
// (econ.ExecuteBuybacks), burning MT and FLOCK. "no_pools", the same
// genesis without the FLOCK/usd pool and no offerings: the same receipts
// and split, and buybacks that return at once, every reserve carried over.
// Only the closing block is timed, after a GC.
func BenchmarkEpochClose100Graduated(b *testing.B) {
	const n, models = 10_000, 100
	for _, tc := range []struct {
		name     string
		graduate bool
	}{{"buybacks", true}, {"no_pools", false}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			g := econGenesis()
			if !tc.graduate {
				g.Economics.FlockPoolFlock, g.Economics.FlockPoolUSD = 0, 0
			}
			bought := 0
			for b.Loop() {
				b.StopTimer()
				l, h, tm := benchLedgerWith(b, g, n, models, tc.graduate)
				// The setups differ in garbage (the offerings); collect it
				// here so that the timed block does not pay for it.
				runtime.GC()
				b.StartTimer()
				res, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: tm})
				if err != nil || len(res.ClosedEpochs) != 1 {
					b.Fatalf("%v %+v", err, res.ClosedEpochs)
				}
				b.StopTimer()
				st, _, _ := l.Epoch(ctx, 0)
				if st.Paid != n || len(st.Models) != models {
					b.Fatalf("paid %d over %d models", st.Paid, len(st.Models))
				}
				bought = 0
				if st.Buybacks != nil {
					for _, mb := range st.Buybacks.Models {
						if mb.Reserve > 0 && mb.MTBurned > 0 {
							bought++
						}
					}
				}
				if want := map[bool]int{true: models, false: 0}[tc.graduate]; bought != want {
					b.Fatalf("%d models bought back MT, want %d", bought, want)
				}
				b.StartTimer()
			}
			b.ReportMetric(n, "receipts/op")
			b.ReportMetric(models, "models/op")
			b.ReportMetric(float64(bought), "buybacks/op")
		})
	}
}

// BenchmarkInclusion measures the inclusion of 100,000 receipts over 100
// models paid by 10,000 accounts, in blocks of 20 SubmitReceipts txs of
// 1,000 receipts (with the genesis and registrations, a small part), on
// the in-memory store the chain's benchmarks use and on pebble.
func BenchmarkInclusion(b *testing.B) {
	const n = 100_000
	for _, tc := range []struct {
		name string
		open func(b *testing.B) ds.Datastore
	}{
		{"memory", func(*testing.B) ds.Datastore { return store.NewMemory() }},
		{"pebble", func(b *testing.B) ds.Datastore {
			d, err := store.OpenPebble(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = d.Close() })
			return d
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				benchLedgerOn(b, tc.open(b), testGenesis(), n, 100, benchAccounts, false)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/receipt")
		})
	}
}

// BenchmarkEpochPrune1M measures the pruning of an epoch of 1,000,000
// receipts (over 100 models, 10,000 accounts, on pebble): with a late
// window of half an epoch the retention can be 2 epochs, so from the close
// of epoch 2 on, each block prunes a bounded share of epoch 0's receipt
// states and id chunks. The blocks from that close until epoch 0 is pruned
// are timed; the slowest block's time and the number of blocks are
// reported.
func BenchmarkEpochPrune1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	var blocks int
	var slowest time.Duration
	for b.Loop() {
		b.StopTimer()
		d, err := store.OpenPebble(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		g := testGenesis()
		g.LateReceiptMs = epochMs / 2
		g.ReceiptRetentionEpochs = g.MinRetentionEpochs()
		if g.ReceiptRetentionEpochs != 2 {
			b.Fatalf("retention %d", g.ReceiptRetentionEpochs)
		}
		l, h, tm := benchLedgerOn(b, d, g, n, 100, benchAccounts, false)
		for e := range 2 {
			if res, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: tm + int64(e)*epochMs}); err != nil || len(res.ClosedEpochs) != 1 {
				b.Fatalf("%v %+v", err, res.ClosedEpochs)
			}
			h++
		}
		probe := sha256.Sum256(binary.BigEndian.AppendUint64(nil, 7)) // a receipt of epoch 0
		runtime.GC()
		blocks, slowest = 0, 0
		for t := tm + 2*epochMs; ; t++ {
			b.StartTimer()
			start := time.Now()
			_, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: t})
			el := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			h++
			blocks++
			slowest = max(slowest, el)
			if blocks == 1 {
				if _, err := l.ReceiptProof(ctx, probe); err != ErrReceiptUnknown {
					b.Fatalf("proof of a retired receipt: %v", err)
				}
			}
			if _, ok, err := l.s.get(pEpochIDIndex + epochKey(0)); err != nil {
				b.Fatal(err)
			} else if !ok {
				break
			}
		}
		if _, ok, _ := l.Receipt(ctx, hex.EncodeToString(probe[:])); ok {
			b.Fatal("receipt state kept after its epoch was pruned")
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(n, "pruned/op")
	b.ReportMetric(float64(blocks), "blocks/op")
	b.ReportMetric(float64(slowest.Milliseconds()), "slowest-block-ms")
}

// BenchmarkSortIDs sorts the 1,000,000 ids of an epoch as the close does
// (sortIDs) and by comparison (merkle.SortIDs).
func BenchmarkSortIDs(b *testing.B) {
	src := make([][32]byte, 1_000_000)
	for i := range src {
		src[i] = sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	ids := make([][32]byte, len(src))
	for _, tc := range []struct {
		name string
		sort func([][32]byte)
	}{{"bucket", func(x [][32]byte) { sortIDs(x) }}, {"comparison", merkle.SortIDs}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				copy(ids, src)
				b.StartTimer()
				tc.sort(ids)
			}
		})
	}
}
