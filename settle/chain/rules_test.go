package chain

import (
	"context"
	"encoding/json"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// TestEconomicRulesThroughChain: the ledger's economic rules hold for
// signed transactions, with their own numeric codes, and the treasury is
// visible as an account.
func TestEconomicRulesThroughChain(t *testing.T) {
	w := newWorld(t)
	w.gen.Accounts = append(w.gen.Accounts, ledger.GenesisAccount{ID: ledger.TreasuryAccount,
		Balances: map[string]uint64{ledger.DenomUSD: 5 * econ.Unit}})
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	user := w.user.id.String()
	res := finalize(t, a, 1, t0+1000,
		signTx(t, w.protocol, 1, ledger.Deposit{To: user, Denom: ledger.DenomFlock, Amount: 1}),
		signTx(t, w.user, 1, ledger.Withdraw{Denom: ledger.MTDenom("m1"), Amount: 1}),
		signTx(t, w.user, 1, ledger.TreasurySpend{To: user, Denom: ledger.DenomUSD, Amount: 1}),
		signTx(t, w.protocol, 1, ledger.TreasurySpend{To: user, Denom: ledger.DenomUSD, Amount: 2 * econ.Unit}),
		signTx(t, w.user, 1, ledger.Withdraw{Denom: ledger.DenomUSD, Amount: econ.Unit}),
	)
	want := []ledger.Code{ledger.CodeDepositNotUSD, ledger.CodeNotWithdrawable, ledger.CodeNotProtocol, ledger.OK, ledger.OK}
	for i, c := range want {
		if got := res.TxResults[i].Code; got != Code(c) {
			t.Errorf("tx %d: code %d (%s), want %d (%s)", i, got, res.TxResults[i].Log, Code(c), c)
		}
	}
	for _, c := range []ledger.Code{ledger.CodeDepositNotUSD, ledger.CodeNotWithdrawable, ledger.CodeTreasuryAccount} {
		if Code(c) == Code(ledger.CodeBadTx) {
			t.Errorf("%s has no numeric code of its own", c)
		}
	}
	r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/account/" + ledger.TreasuryAccount})
	var acct AccountView
	if err != nil || r.Code != QueryOK || json.Unmarshal(r.Value, &acct) != nil || acct.Balances[ledger.DenomUSD] != 3*econ.Unit {
		t.Fatalf("treasury account: %+v %s %v", r, r.Value, err)
	}
	r, _ = a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/chain"})
	var st ChainState
	if err := json.Unmarshal(r.Value, &st); err != nil {
		t.Fatal(err)
	}
	if s := st.Supply[ledger.DenomUSD]; s.Withdrawn != econ.Unit || s.Minted != 15*econ.Unit {
		t.Fatalf("usd supply %+v", s)
	}
}

// TestPoolAndOfferingTxsThroughChain: Swap and the offering's transactions
// are signed, routed to the ledger and answered with their own numeric
// codes, appended after the earlier ones.
func TestPoolAndOfferingTxsThroughChain(t *testing.T) {
	w := newWorld(t)
	w.gen.Economics.FlockPoolFlock, w.gen.Economics.FlockPoolUSD, w.gen.Economics.SwapFeeBps = 1_000*econ.Unit, 100*econ.Unit, 30
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	user := w.user.id.String()
	res := finalize(t, a, 1, t0+1000,
		signTx(t, w.user, 1, ledger.Swap{Pool: ledger.PoolFlockUSD, DenomIn: ledger.DenomUSD, AmountIn: econ.Unit, MinOut: 9 * econ.Unit}),
		signTx(t, w.user, 2, ledger.Swap{Pool: ledger.PoolFlockUSD, DenomIn: ledger.DenomUSD, AmountIn: econ.Unit, MinOut: 10 * econ.Unit}),
		signTx(t, w.v2, 1, ledger.Swap{Pool: ledger.ModelPoolID("m1"), DenomIn: ledger.DenomFlock, AmountIn: econ.Unit}),
		signTx(t, w.iss, 1, ledger.LaunchRMO{Model: "m1", RaiseMin: 1, RaiseMax: 2}),
		signTx(t, w.v2, 1, ledger.Commit{Model: "m1", Amount: econ.Unit}),
		signTx(t, w.v2, 1, ledger.Graduate{Model: "m1"}),
		signTx(t, w.v2, 1, ledger.Redeem{Model: "m1"}),
		signTx(t, w.iss, 1, ledger.ClaimVested{Model: "m1"}),
	)
	want := []ledger.Code{ledger.OK, ledger.CodeBelowMinOut, ledger.CodePoolUnknown, ledger.CodeRMODisabled,
		ledger.CodeRMOUnknown, ledger.CodeRMOUnknown, ledger.CodeRMOUnknown, ledger.CodeNothingToClaim}
	for i, c := range want {
		if got := res.TxResults[i].Code; got != Code(c) {
			t.Errorf("tx %d: code %d (%s), want %d (%s)", i, got, res.TxResults[i].Log, Code(c), c)
		}
	}
	// The numbers are part of the protocol: the new codes follow
	// treasury_account (26) in this order.
	for i, c := range []ledger.Code{ledger.CodePoolUnknown, ledger.CodeBelowMinOut, ledger.CodeSwapTooSmall, ledger.CodeNotIssuer,
		ledger.CodeNotServed, ledger.CodeRMOExists, ledger.CodeRMOUnknown, ledger.CodeBadRaise, ledger.CodeRMONotOpen,
		ledger.CodeCommitTooSmall, ledger.CodeNotGraduable, ledger.CodeNotFailed, ledger.CodeNothingToRedeem,
		ledger.CodeNothingToClaim, ledger.CodeRMODisabled} {
		if got := Code(c); got != uint32(27+i) {
			t.Errorf("%s: code %d, want %d", c, got, 27+i)
		}
	}
	r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/account/" + user})
	var acct AccountView
	if err != nil || json.Unmarshal(r.Value, &acct) != nil || acct.Balances[ledger.DenomFlock] < 9*econ.Unit {
		t.Fatalf("the swap paid no flock: %+v %s %v", r, r.Value, err)
	}
	r, _ = a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/pool/" + ledger.PoolFlockUSD})
	var p ledger.PoolState
	if err := json.Unmarshal(r.Value, &p); err != nil || r.Code != QueryOK || p.Pool.ReserveB != 101*econ.Unit {
		t.Fatalf("/pool/flock: %+v %s %v", r, r.Value, err)
	}
	for _, path := range []string{"/pools", "/rmos", "/supply/usd"} {
		if r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path}); r.Code != QueryOK {
			t.Errorf("%s: %+v", path, r)
		}
	}
	for _, path := range []string{"/rmo/m1", "/vesting/" + user + "/m1", "/pool/mt:m1"} {
		if r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path}); r.Code != QueryNotFound {
			t.Errorf("%s: %+v", path, r)
		}
	}
}
