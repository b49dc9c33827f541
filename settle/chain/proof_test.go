package chain

import (
	"context"
	"errors"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// TestProofQueryCodes: /proof/<id> answers QueryBad for an id that is not
// 64 hex digits and QueryNotFound, naming the receipt, for one the chain
// did not include.
func TestProofQueryCodes(t *testing.T) {
	w := newWorld(t)
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	finalize(t, a, 1, t0+1000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: [][]byte{w.receipt(w.v1, t0+100, 10, 20, 200_000, 600_000)}}))
	finalize(t, a, 2, t0+epochMs+6000) // closes epoch 0
	unknown := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		path string
		code uint32
		log  string
	}{
		{"/proof/" + unknown, QueryNotFound, "receipt " + unknown},
		{"/proof/" + strings.ToUpper(unknown), QueryNotFound, "receipt " + unknown},
		{"/proof/abcd", QueryBad, `receipt id "abcd": want 64 hex digits, got 4 characters`},
		{"/proof/" + strings.Repeat("zz", 32), QueryBad, "is not hex"},
		{"/proof/", QueryBad, "want 64 hex digits"},
	} {
		r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: tc.path})
		if err != nil || r.Code != tc.code || !strings.Contains(r.Log, tc.log) {
			t.Errorf("%s: %+v %v, want code %d with log %q", tc.path, r, err, tc.code, tc.log)
		}
	}
}

// proofFake is a ledger whose ReceiptProof answers err (or proof) and
// whose receipt records are states.
type proofFake struct {
	proof  ledger.ReceiptProof
	err    error
	states map[string]ledger.ReceiptState
}

func (f proofFake) ReceiptProof(context.Context, [32]byte) (ledger.ReceiptProof, error) {
	return f.proof, f.err
}

func (f proofFake) Receipt(_ context.Context, idHex string) (ledger.ReceiptState, bool, error) {
	st, ok := f.states[idHex]
	return st, ok, nil
}

// TestProofQueryErrors: the ledger's ErrEpochOpen is QueryEpochOpen
// naming the receipt's epoch, ErrReceiptUnknown is QueryNotFound, another
// error fails the query, and a proof is the answer.
func TestProofQueryErrors(t *testing.T) {
	id := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		name  string
		l     proofFake
		code  uint32
		msg   string
		found bool
	}{
		{"open epoch", proofFake{err: ledger.ErrEpochOpen, states: map[string]ledger.ReceiptState{id: {Epoch: 3}}}, QueryEpochOpen, "epoch 3 has not closed yet", false},
		{"open epoch, no record", proofFake{err: ledger.ErrEpochOpen}, QueryEpochOpen, "the receipt's epoch has not closed yet", false},
		{"unknown", proofFake{err: ledger.ErrReceiptUnknown}, QueryNotFound, "receipt " + id, false},
		{"other error", proofFake{err: errors.New("ledger: disk on fire")}, QueryBad, "proof of receipt " + id + ": ledger: disk on fire", false},
		{"proof", proofFake{proof: ledger.ReceiptProof{ID: id, Epoch: 3}}, QueryOK, "", true},
	} {
		v, found, err := proofQuery(context.Background(), tc.l, strings.ToUpper(id))
		var code uint32
		msg := ""
		if err != nil {
			code, msg = QueryBad, err.Error()
		}
		if qe, ok := errors.AsType[*queryError](err); ok {
			code = qe.code
		}
		if code != tc.code || msg != tc.msg || found != tc.found {
			t.Errorf("%s: code %d %q found %v, want %d %q %v", tc.name, code, msg, found, tc.code, tc.msg, tc.found)
		}
		if p, ok := v.(ledger.ReceiptProof); tc.found && (!ok || p.ID != id || p.Epoch != 3) {
			t.Errorf("%s: answer %#v", tc.name, v)
		}
	}
}
