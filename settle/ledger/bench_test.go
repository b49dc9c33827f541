package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

// benchLedger returns a ledger holding n paid receipts of epoch 0 spread over
// `models` models and 3 nodes, and the next block height and a time that
// closes epoch 0.
func benchLedger(b *testing.B, n, models int) (*Ledger, int64, int64) {
	b.Helper()
	ctx := context.Background()
	g := testGenesis()
	g.Accounts = append(g.Accounts, GenesisAccount{ID: "whale", Balances: map[string]uint64{DenomUSD: 1 << 60}})
	l, err := New(ctx, store.NewMemory(), g)
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
	const batch = 1000
	var txs []Tx
	for i := 0; i < n; i += batch {
		rs := make([]Receipt, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			var seed [8]byte
			binary.BigEndian.PutUint64(seed[:], uint64(j))
			r := Receipt{
				ID: sha256.Sum256(seed[:]), Account: "whale", Signer: "whale", Model: fmt.Sprintf("model-%03d", j%models),
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

func benchmarkEpochClose(b *testing.B, n int) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		l, h, tm := benchLedger(b, n, 100)
		b.StartTimer()
		res, err := l.ApplyBlock(ctx, Block{Height: h, TimeMs: tm})
		if err != nil || len(res.ClosedEpochs) != 1 {
			b.Fatalf("%v %+v", err, res.ClosedEpochs)
		}
		b.StopTimer()
		st, _, _ := l.Epoch(ctx, 0)
		if st.Paid != uint64(n) {
			b.Fatalf("paid %d", st.Paid)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "receipts/op")
}

// BenchmarkEpochClose100k measures the block that closes an epoch of 100,000
// receipts over 100 models (the split, payouts, settlement record, deletion
// of the epoch's receipt records and the app hash of the resulting state).
func BenchmarkEpochClose100k(b *testing.B) { benchmarkEpochClose(b, 100_000) }

// BenchmarkEpochClose1M is the same with 1,000,000 receipts.
func BenchmarkEpochClose1M(b *testing.B) { benchmarkEpochClose(b, 1_000_000) }
