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

// TestOfferingTreasuryAndReserveQueries: /rmo and /rmos answer the
// offering with its outcome at the last block and its positions count;
// /treasury, /reserves and /supply answer (empty, not missing, before
// anything is held).
func TestOfferingTreasuryAndReserveQueries(t *testing.T) {
	w := newWorld(t)
	p := econ.DefaultRMOParams()
	w.gen.Economics = ledger.Economics{SwapFeeBps: 30, LaunchFee: p.LaunchFee, MTSupply: p.Supply, FirstBuyMaxBps: p.FirstBuyMaxBps,
		CommitFeeTreasuryBps: 100, CommitFeeIssuerBps: 50, RaiseWindowMs: 60_000,
		AllocSaleBps: 4_000, AllocLiquidityBps: 2_000, AllocIncentivesBps: 2_000, AllocIssuerBps: 1_000, AllocTreasuryBps: 1_000,
		IssuerVestingMs: 600_000, RaisePoolBps: 5_000, RaiseReservedBps: 2_000, RaiseIssuerBps: 3_000, CurveStartBps: 5_000}
	w.gen.Tiers[0].RaiseMin, w.gen.Tiers[0].RaiseMax = 10*econ.Unit, 1_000*econ.Unit
	w.gen.Accounts = append(w.gen.Accounts, ledger.GenesisAccount{ID: w.iss.id.String(), Balances: map[string]uint64{ledger.DenomFlock: p.LaunchFee}})
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	query := func(path string, v any) uint32 {
		t.Helper()
		r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code == QueryOK {
			if err := json.Unmarshal(r.Value, v); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, r.Value)
			}
		}
		return r.Code
	}
	var tr map[string]uint64
	var res Reserves
	if query("/treasury", &tr) != QueryOK || len(tr) != 0 || query("/reserves", &res) != QueryOK || res.FlockUSD != 0 || len(res.MTUSD) != 0 {
		t.Fatalf("before anything: treasury %v, reserves %+v", tr, res)
	}
	out := finalize(t, a, 1, t0+1000,
		signTx(t, w.iss, 1, ledger.LaunchRMO{Model: "m1", RaiseMin: 10 * econ.Unit, RaiseMax: 1_000 * econ.Unit, DurationMs: 30_000}),
		signTx(t, w.v2, 1, ledger.Commit{Model: "m1", Amount: econ.Unit}))
	for i, r := range out.TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: %d %s", i, r.Code, r.Log)
		}
	}
	var v RMOView
	if query("/rmo/m1", &v) != QueryOK || v.Outcome != "open" || v.Positions != 1 || v.BlockTimeMs != t0+1000 || v.State.Raised == 0 || v.Issuer != w.iss.id.String() {
		t.Fatalf("/rmo/m1 = %+v", v)
	}
	finalize(t, a, 2, t0+40_000) // the window is over below the minimum
	var vs []RMOView
	if query("/rmos", &vs) != QueryOK || len(vs) != 1 || vs[0].Outcome != "failed" || vs[0].Positions != 1 {
		t.Fatalf("/rmos = %+v", vs)
	}
	if c := query("/rmo/m2", &v); c != QueryNotFound {
		t.Fatalf("/rmo/m2: code %d", c)
	}
	if query("/treasury", &tr) != QueryOK || tr[ledger.DenomFlock] < p.LaunchFee {
		t.Fatalf("treasury after the launch fee: %v", tr)
	}
	var sup map[string]ledger.Supply
	if query("/supply", &sup) != QueryOK || sup[ledger.DenomFlock].Minted == 0 {
		t.Fatalf("/supply = %v", sup)
	}
}

// TestStakeTxsThroughChain: Stake, Unstake and ClaimUnbonded are signed,
// routed to the ledger and answered with their codes, appended after
// rmo_disabled (41); /stake and /stakes answer the positions.
func TestStakeTxsThroughChain(t *testing.T) {
	w := newWorld(t)
	w.gen.Economics.UnbondingEpochs = 1
	w.gen.Accounts[0].Balances[ledger.MTDenom("m1")] = 100
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	user := w.user.id.String()
	res := finalize(t, a, 1, t0+1000,
		signTx(t, w.user, 1, ledger.Stake{Model: "m1", Amount: 60}),
		signTx(t, w.user, 2, ledger.Unstake{Model: "m1", Amount: 61}),
		signTx(t, w.user, 2, ledger.Unstake{Model: "m1", Amount: 20}),
		signTx(t, w.user, 3, ledger.ClaimUnbonded{Model: "m1"}),
		signTx(t, w.v2, 1, ledger.ClaimUnbonded{Model: "m1"}),
	)
	want := []ledger.Code{ledger.OK, ledger.CodeInsufficientStake, ledger.OK, ledger.CodeStillUnbonding, ledger.CodeNothingToClaim}
	for i, c := range want {
		if got := res.TxResults[i].Code; got != Code(c) {
			t.Errorf("tx %d: code %d (%s), want %d (%s)", i, got, res.TxResults[i].Log, Code(c), c)
		}
	}
	for i, c := range []ledger.Code{ledger.CodeInsufficientStake, ledger.CodeStillUnbonding, ledger.CodeSessionKeyStake} {
		if got := Code(c); got != uint32(42+i) {
			t.Errorf("%s: code %d, want %d", c, got, 42+i)
		}
	}
	query := func(path string, v any) {
		t.Helper()
		r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path})
		if err != nil || r.Code != QueryOK || json.Unmarshal(r.Value, v) != nil {
			t.Fatalf("%s: %+v %v", path, r, err)
		}
	}
	var si ledger.StakeInfo
	query("/stake/"+user+"/m1", &si)
	if si.Staked != 40 || si.Counting != 0 || len(si.Unbonding) != 1 || si.Unbonding[0].ReleaseEpoch != 1 {
		t.Fatalf("/stake = %+v", si)
	}
	finalize(t, a, 2, t0+epochMs+1000, signTx(t, w.user, 3, ledger.ClaimUnbonded{Model: "m1"}))
	var ss []ledger.StakeInfo
	query("/stakes/"+user, &ss)
	if len(ss) != 1 || ss[0].Model != "m1" || ss[0].Staked != 40 || ss[0].Counting != 40 || len(ss[0].Unbonding) != 0 {
		t.Fatalf("/stakes = %+v", ss)
	}
	query("/stake/"+user+"/m2", &si)
	if si.Staked != 0 || si.Model != "m2" {
		t.Fatalf("/stake of no position = %+v", si)
	}
}
