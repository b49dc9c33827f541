package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/store"
)

// TestDiscountsThroughChain: /discount answers the user's opening stake,
// tier and effective prices for the epoch of a time; the Discounts rule
// allows exactly those prices, leaves a quote of an epoch the chain has
// not reached to the chain, and the chain includes a receipt at the
// discounted price and refuses one that claims a discount not earned.
func TestDiscountsThroughChain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.gen.Accounts[0].Balances[ledger.MTDenom("m1")] = 10_000 * econ.Unit
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	user := w.user.id.String()
	d := Discounts{App: a}
	if _, err := d.Allowed(ctx, pool.Quote{Account: w.user.id, Model: "m1", IssuedAtMs: uint64(t0)}); !errors.Is(err, pool.ErrRegistryBehind) {
		t.Fatalf("before the first block: %v", err)
	}
	finalize(t, a, 1, t0+1000, signTx(t, w.user, 1, ledger.Stake{Model: "m1", Amount: 10_000 * econ.Unit}))
	query := func(path string) (ledger.Discount, uint32) {
		t.Helper()
		r, err := a.Query(ctx, &abcitypes.QueryRequest{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		var v ledger.Discount
		if r.Code == QueryOK {
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatal(err)
			}
		}
		return v, r.Code
	}
	if v, code := query(fmt.Sprintf("/discount/%s/m1/%d", user, t0+2000)); code != QueryOK || v.DiscountBps != 0 || v.InputPrice != 200_000 {
		t.Fatalf("epoch 0: %d %+v", code, v)
	}
	next := t0 + epochMs + 10
	for _, tc := range []struct {
		path string
		code uint32
	}{
		{fmt.Sprintf("/discount/%s/nope/%d", user, next), QueryNotFound},
		{fmt.Sprintf("/discount/%s/m1/x", user), QueryBad},
		{fmt.Sprintf("/discount/%s/m1", user), QueryBad},
	} {
		if _, code := query(tc.path); code != tc.code {
			t.Fatalf("%s: code %d, want %d", tc.path, code, tc.code)
		}
	}
	// Epoch 1 is not reached: the rule leaves the quote to the chain.
	q := pool.Quote{Account: w.user.id, Model: "m1", IssuedAtMs: uint64(next), InputPrice: 160_000, OutputPrice: 480_000}
	if _, err := d.Allowed(ctx, q); !errors.Is(err, pool.ErrRegistryBehind) {
		t.Fatalf("a quote of an epoch not reached: %v", err)
	}
	finalize(t, a, 2, next+1000)
	v, code := query(fmt.Sprintf("/discount/%s/m1/%d", user, next))
	want := ledger.Discount{Account: user, Model: "m1", Epoch: 1, OpeningStake: 10_000 * econ.Unit, DiscountBps: 2_000,
		ListInputPrice: 200_000, ListOutputPrice: 600_000, FloorInputPrice: 150_000, FloorOutputPrice: 300_000,
		InputPrice: 160_000, OutputPrice: 480_000}
	if code != QueryOK || v != want {
		t.Fatalf("epoch 1: %d %+v", code, v)
	}
	if v, code := query(fmt.Sprintf("/discount/%s/m1?epoch=1", user)); code != QueryOK || v != want {
		t.Fatalf("epoch=1: %d %+v", code, v)
	}
	if _, code := query(fmt.Sprintf("/discount/%s/m1?epoch=x", user)); code != QueryBad {
		t.Fatalf("epoch=x: code %d", code)
	}
	if in, out, bps, ok, err := d.Discount(ctx, w.user.id, "m1", uint64(next)); err != nil || !ok || in != 160_000 || out != 480_000 || bps != 2_000 {
		t.Fatalf("Discount: %d %d %d %v %v", in, out, bps, ok, err)
	}
	for _, tc := range []struct {
		in, out uint64
		want    bool
	}{{160_000, 480_000, true}, {200_000, 600_000, false}, {150_000, 420_000, false}, {160_000, 479_999, false}} {
		q.InputPrice, q.OutputPrice = tc.in, tc.out
		if ok, err := d.Allowed(ctx, q); err != nil || ok != tc.want {
			t.Fatalf("quote %d/%d: %v %v, want %v", tc.in, tc.out, ok, err, tc.want)
		}
	}
	res := finalize(t, a, 3, next+2000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: [][]byte{
		w.receipt(w.v1, next, 1000, 100, 160_000, 480_000),
		w.receipt(w.v1, next+1, 1000, 100, 150_000, 420_000),
	}}))
	got := receiptCodes(t, res.TxResults[0])
	if len(got) != 2 || got[0] != ledger.OK || got[1] != ledger.CodeDiscountMismatch {
		t.Fatalf("receipt codes %v", got)
	}
}
