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
