package chain

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// BenchmarkAppReceipts measures one validator's application on a
// SubmitReceipts of 1,000 receipts, without consensus or network: CheckTx
// (verifying the receipts, one worker or one per core), FinalizeBlock and
// Commit of a block holding the tx after CheckTx kept its verdicts (the
// ledger's work and the app's bookkeeping), and FinalizeBlock of a tx
// CheckTx never saw (verifying in the block). Each reports µs/receipt.
func BenchmarkAppReceipts(b *testing.B) {
	const n = 1000
	w := newWorld(b)
	w.gen.Accounts[0].Balances[ledger.DenomUSD] = 1_000_000 * econ.Unit
	// A pool of txs, each of fresh receipts, used round-robin by fresh apps.
	var txs [][]byte
	for k := range 4 {
		var envs [][]byte
		for i := range n {
			envs = append(envs, w.receipt(w.v1, t0+100+int64(k*n+i), 10, 20, 200_000, 600_000))
		}
		txs = append(txs, signTx(b, w.v1, 1, tx.SubmitReceipts{Envelopes: envs}))
	}
	ctx := context.Background()
	fresh := func(workers int) *App {
		a := w.app(store.NewMemory(), nil)
		a.workers = workers
		w.initChain(a)
		return a
	}
	check := func(a *App, t []byte) {
		r, err := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: t, Type: abcitypes.CHECK_TX_TYPE_CHECK})
		if err != nil || r.Code != 0 {
			b.Fatalf("CheckTx: %+v %v", r, err)
		}
	}
	finalize := func(a *App, t []byte) {
		res, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Height: 1, Time: time.UnixMilli(t0 + 1000), Txs: [][]byte{t}})
		if err != nil || res.TxResults[0].Code != 0 {
			b.Fatalf("FinalizeBlock: %+v %v", res, err)
		}
		if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	perReceipt := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/receipt")
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("CheckTx/workers="+strconv.Itoa(workers), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				a := fresh(workers)
				b.StartTimer()
				check(a, txs[i%len(txs)])
			}
			perReceipt(b)
		})
	}
	b.Run("FinalizeBlock/verified-in-CheckTx", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			a := fresh(runtime.GOMAXPROCS(0))
			check(a, txs[i%len(txs)])
			b.StartTimer()
			finalize(a, txs[i%len(txs)])
		}
		perReceipt(b)
	})
	b.Run("FinalizeBlock/not-seen", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			a := fresh(runtime.GOMAXPROCS(0))
			b.StartTimer()
			finalize(a, txs[i%len(txs)])
		}
		perReceipt(b)
	})
}
