package chain

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
)

// receiptOn is world.receipt for an authorization of another network.
func (w *world) receiptOn(network string, issued int64) []byte {
	w.t.Helper()
	a := receipt.NewAuthorization(network, w.user.id, "m1", time.UnixMilli(issued), time.Minute)
	a.MaxOutputTokens, a.MaxCharge = 1000, econ.Unit
	a.InputPrice, a.OutputPrice = 200_000, 600_000
	a.RequestSHA256 = sha256.Sum256([]byte("req"))
	auth, err := receipt.SignAuthorization(a, w.user.sk)
	if err != nil {
		w.t.Fatal(err)
	}
	charge, _ := receipt.Charge(10, 20, 200_000, 600_000)
	env, err := receipt.SignReceipt(receipt.Receipt{Authorization: auth, InputTokens: 10, OutputTokens: 20, Finish: receipt.FinishStop,
		StartedAtMs: uint64(issued), CompletedAtMs: uint64(issued + 10), Charge: charge}, w.v1.sk)
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

// mixedBatch returns receipts of every kind CheckTx and FinalizeBlock must
// tell apart, interleaved so that each verification chunk holds some of
// each: valid ones, ones whose node signature is forged, ones of another
// network, bytes that are no receipt, and valid ones listed twice.
func mixedBatch(w *world, n int) [][]byte {
	var envs [][]byte
	for i := range n {
		issued := t0 + 100 + int64(i)
		switch i % 5 {
		case 0, 1:
			envs = append(envs, w.receipt(w.v1, issued, 10, 20, 200_000, 600_000))
		case 2:
			forged := w.receipt(w.v1, issued, 10, 20, 200_000, 600_000)
			forged[len(forged)-3] ^= 1
			envs = append(envs, forged)
		case 3:
			envs = append(envs, w.receiptOn("othernet", issued))
		case 4:
			if i%10 == 4 {
				envs = append(envs, []byte("not a receipt"))
			} else {
				envs = append(envs, envs[i-4]) // a duplicate of a valid one
			}
		}
	}
	return envs
}

// TestVerifyEnvelopesSameVerdicts: the parallel batches give every
// receipt the verdict receipt.Verify gives it alone, and the id authOf
// gives it, whatever the number of workers.
func TestVerifyEnvelopesSameVerdicts(t *testing.T) {
	w := newWorld(t)
	envs := mixedBatch(w, 3*minVerifyChunk+7)
	ctx := context.Background()
	for _, workers := range []int{1, 2, 3, 8} {
		a := w.app(store.NewMemory(), nil)
		a.workers = workers
		vs, _, err := a.verifyEnvelopes(ctx, envs, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, env := range envs {
			sr, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: netID})
			want := verdict{id: receipt.ID(authOf(env)), code: ledger.OK}
			if err != nil {
				r := receipt.ReasonOf(err)
				if r == "" {
					r = receipt.ReasonMalformed
				}
				want.code = ReceiptCode(r)
			} else {
				want.r = peerIDs{}.receipt(sr)
			}
			if vs[i] != want {
				t.Fatalf("%d workers, receipt %d: verdict %+v, alone %+v", workers, i, vs[i], want)
			}
		}
	}
}

// TestCheckTxParallelSameCodes: CheckTx and FinalizeBlock give the same
// codes, tx and receipt by receipt, and the same app hash, whether the
// receipts are verified by one worker or in parallel batches, and whether
// FinalizeBlock takes CheckTx's verdicts or (a validator that never saw
// the tx) verifies the receipts itself. CheckTx's cut-down dry run refuses
// what the ledger's full dry run refuses.
func TestCheckTxParallelSameCodes(t *testing.T) {
	w := newWorld(t)
	w.gen.MaxReceiptsPerTx = 200
	mixed := mixedBatch(w, 3*minVerifyChunk+7)
	var good, bad [][]byte
	for range 201 {
		good = append(good, w.receipt(w.v1, t0+500, 10, 20, 200_000, 600_000))
	}
	for _, env := range mixed[2:4] {
		bad = append(bad, env, env)
	}
	// Each the first tx of its account, so that CheckTx asks the ledger.
	txs := [][]byte{
		signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: mixed}),
		signTx(t, w.v2, 1, tx.SubmitReceipts{Envelopes: good}),             // one receipt too many
		signTx(t, w.iss, 1, tx.SubmitReceipts{Envelopes: bad}),             // no receipt verifies
		signTx(t, w.protocol, 1, tx.SubmitReceipts{Envelopes: good[:200]}), // as many as may be
	}
	ctx := context.Background()
	type run struct {
		codes   []uint32
		results [][]byte
		hash    []byte
	}
	do := func(workers int, check bool) run {
		a := w.app(store.NewMemory(), nil)
		w.initChain(a)
		a.workers = workers
		var out run
		var block [][]byte
		for _, b := range txs {
			if !check {
				block = append(block, b)
				continue
			}
			r, err := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: b, Type: abcitypes.CHECK_TX_TYPE_CHECK})
			if err != nil {
				t.Fatal(err)
			}
			out.codes = append(out.codes, r.Code)
			if r.Code == 0 {
				block = append(block, b)
			}
			// The ledger's full dry run refuses exactly what CheckTx does.
			s, _ := tx.Open(b)
			vs, _, err := a.verifyEnvelopes(ctx, s.Body.(tx.SubmitReceipts).Envelopes, false)
			if err != nil {
				t.Fatal(err)
			}
			a.mu.Lock()
			full, err := a.l.CheckTx(ctx, receiptsTx(s, vs))
			a.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if Code(full.Code) != r.Code {
				t.Fatalf("CheckTx code %d (%s), the ledger's full dry run %s", r.Code, r.Log, full.Code)
			}
		}
		if !check {
			block = [][]byte{txs[0], txs[3]}
		}
		res := finalize(t, a, 1, t0+1000, block...)
		for _, r := range res.TxResults {
			out.results = append(out.results, r.Data)
			if r.Code != 0 {
				t.Fatalf("tx failed in the block: %+v", r)
			}
		}
		out.hash = res.AppHash
		return out
	}
	seq := do(1, true)
	if want := []uint32{0, Code(ledger.CodeTooManyRcpts), Code(ledger.CodeEmptyBatch), 0}; !slices.Equal(seq.codes, want) {
		t.Fatalf("CheckTx codes %v, want %v", seq.codes, want)
	}
	var d TxData
	if err := json.Unmarshal(seq.results[0], &d); err != nil {
		t.Fatal(err)
	}
	seen := map[ledger.Code]int{}
	for _, r := range d.Receipts {
		seen[r.Code]++
	}
	for _, c := range []ledger.Code{ledger.OK, ReceiptCode(receipt.ReasonBadNodeSignature), ReceiptCode(receipt.ReasonWrongNetwork),
		ReceiptCode(receipt.ReasonMalformed), ledger.CodeDuplicate} {
		if seen[c] == 0 {
			t.Fatalf("no receipt with code %s in %v", c, seen)
		}
	}
	for _, tc := range []struct {
		name    string
		workers int
		check   bool
	}{{"parallel", 4, true}, {"parallel, not seen in CheckTx", 4, false}, {"one worker, not seen in CheckTx", 1, false}} {
		got := do(tc.workers, tc.check)
		if tc.check && !slices.Equal(got.codes, seq.codes) {
			t.Fatalf("%s: CheckTx codes %v, one worker %v", tc.name, got.codes, seq.codes)
		}
		if !slices.EqualFunc(got.results, seq.results, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("%s: results differ:\n%s\n%s", tc.name, got.results, seq.results)
		}
		if string(got.hash) != string(seq.hash) {
			t.Fatalf("%s: app hash %x, one worker %x", tc.name, got.hash, seq.hash)
		}
	}
}
