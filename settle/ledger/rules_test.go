package ledger

import (
	"context"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

// rulesGenesis is testGenesis with an MT balance, so that MT withdrawals
// and transfers can be tried.
func rulesGenesis() Genesis {
	g := testGenesis()
	g.Accounts = append(g.Accounts, GenesisAccount{ID: "holder", Balances: map[string]uint64{
		DenomUSD: econ.Unit, DenomFlock: econ.Unit, MTDenom("m1"): econ.Unit,
	}})
	return g
}

func supplyOf(t *testing.T, l *Ledger, denom string) Supply {
	t.Helper()
	s, err := l.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s[denom]
}

// TestDepositUSDOnly: the protocol key deposits usd only; FLOCK and MT are
// refused with deposit_not_usd and mint nothing.
func TestDepositUSDOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   string
		denom  string
		want   Code
		minted uint64 // added to the denom's minted supply
	}{
		{"usd", protocol, DenomUSD, OK, 7},
		{"flock", protocol, DenomFlock, CodeDepositNotUSD, 0},
		{"mt", protocol, MTDenom("m1"), CodeDepositNotUSD, 0},
		{"mt of unknown model", protocol, MTDenom("nope"), CodeDepositNotUSD, 0},
		{"bad denom", protocol, "eur", CodeBadDenom, 0},
		{"usd not protocol", "alice", DenomUSD, CodeNotProtocol, 0},
		{"flock not protocol", "alice", DenomFlock, CodeNotProtocol, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, rulesGenesis())
			before := supplyOf(t, c.l, tc.denom)
			r := c.block(1, c.tx(tc.from, Deposit{To: "bob", Denom: tc.denom, Amount: 7})).Txs[0]
			if r.Code != tc.want {
				t.Fatalf("code %s (%s), want %s", r.Code, r.Log, tc.want)
			}
			after := supplyOf(t, c.l, tc.denom)
			if after.Minted-before.Minted != tc.minted || after.Burned != before.Burned || after.Withdrawn != before.Withdrawn {
				t.Fatalf("supply %+v → %+v, want minted +%d", before, after, tc.minted)
			}
			bob, _ := c.l.Account(context.Background(), "bob")
			if bob.Balances[tc.denom] != tc.minted {
				t.Fatalf("bob holds %d %s", bob.Balances[tc.denom], tc.denom)
			}
		})
	}
}

// TestWithdrawRecorded: usd and flock withdrawals are recorded as withdrawn
// in the supply (not as burns); MT cannot be withdrawn.
func TestWithdrawRecorded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		denom     string
		amount    uint64
		want      Code
		withdrawn uint64
	}{
		{"usd", DenomUSD, 300, OK, 300},
		{"flock", DenomFlock, 400, OK, 400},
		{"all usd", DenomUSD, econ.Unit, OK, econ.Unit},
		{"mt", MTDenom("m1"), 1, CodeNotWithdrawable, 0},
		{"usd too much", DenomUSD, econ.Unit + 1, CodeInsufficient, 0},
		{"zero", DenomFlock, 0, CodeBadAmount, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, rulesGenesis())
			before := supplyOf(t, c.l, tc.denom)
			r := c.block(1, c.tx("holder", Withdraw{Denom: tc.denom, Amount: tc.amount})).Txs[0]
			if r.Code != tc.want {
				t.Fatalf("code %s (%s), want %s", r.Code, r.Log, tc.want)
			}
			after := supplyOf(t, c.l, tc.denom)
			if after.Withdrawn-before.Withdrawn != tc.withdrawn || after.Burned != before.Burned || after.Minted != before.Minted {
				t.Fatalf("supply %+v → %+v, want withdrawn +%d", before, after, tc.withdrawn)
			}
			h, _ := c.l.Account(context.Background(), "holder")
			if h.Balances[tc.denom] != econ.Unit-tc.withdrawn {
				t.Fatalf("holder holds %d %s", h.Balances[tc.denom], tc.denom)
			}
		})
	}
}

// TestEntryNodeFee: the routing fee goes only to an entry node registered
// at the epoch close that is not the paying account; otherwise it stays in
// the net split.
func TestEntryNodeFee(t *testing.T) {
	for _, tc := range []struct {
		name    string
		account string // pays; n2 and e1 are registered nodes
		entry   string
		unbond  bool // the entry node unbonds before the close
		paid    bool
	}{
		{"registered entry", "alice", "e1", false, true},
		{"registered entry that is also a serving node", "alice", "n2", false, true},
		{"unregistered entry", "alice", "ghost", false, false},
		{"client names itself", "alice", "alice", false, false},
		{"node client names itself", "e1", "e1", false, false},
		{"entry unbonded before the close", "alice", "e1", true, false},
		{"entry is the serving node", "alice", "n1", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGenesis()
			for i := range g.Accounts {
				if g.Accounts[i].ID == "e1" {
					g.Accounts[i].Balances[DenomUSD] = econ.Unit
				}
			}
			c := newChain(t, g)
			c.setup()
			ctx := context.Background()
			r := rcpt("r", tc.account, tc.account, "n1", tc.entry, c.now, 50_000, 10_000)
			if res := c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{r}})).Txs[0]; res.Receipts[0].Code != OK {
				t.Fatalf("%+v", res)
			}
			if tc.unbond {
				c.must(tc.entry, UnbondNode{})
			}
			before, _ := c.l.Account(ctx, tc.entry)
			c.block(epochMs + graceMs)
			st, ok, err := c.l.Epoch(ctx, 0)
			if err != nil || !ok || len(st.Models) != 1 {
				t.Fatalf("epoch 0: %+v %v %v", st, ok, err)
			}
			ms := st.Models[0]
			// charge 16,000; 60,000 tokens × 0.1 usd/Mtok = 6,000 cost; rest 10,000; fee 2% = 200.
			wantFee, wantDenied := uint64(0), uint64(0)
			if tc.paid {
				wantFee = 200
			} else if tc.entry != "n1" {
				wantDenied = 1
			}
			if st.RoutingFee != wantFee || ms.RoutingDenied != wantDenied || ms.Split.Total() != ms.Split.Gross {
				t.Fatalf("routing fee %d denied %d, want %d and %d", st.RoutingFee, ms.RoutingDenied, wantFee, wantDenied)
			}
			if st.Net != 10_000-wantFee {
				t.Fatalf("net %d: the unpaid fee must stay in the net split", st.Net)
			}
			after, _ := c.l.Account(ctx, tc.entry)
			got := after.Balances[DenomUSD] - before.Balances[DenomUSD]
			if tc.entry == "n1" || tc.entry == "n2" {
				got = 0
				for _, p := range ms.Split.RoutingFees {
					got += p.Amount
				}
			}
			if got != wantFee {
				t.Fatalf("entry %s received %d, want %d", tc.entry, got, wantFee)
			}
		})
	}
}

// TestZeroRoutingFee: a routing fee of 0 bps is honoured, not replaced by
// the default.
func TestZeroRoutingFee(t *testing.T) {
	g := testGenesis()
	g.Params.GatewayBps = 0
	c := newChain(t, g)
	c.setup()
	r := rcpt("r", "alice", "alice", "n1", "e1", c.now, 50_000, 10_000)
	c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{r}}))
	c.block(epochMs + graceMs)
	st, _, _ := c.l.Epoch(context.Background(), 0)
	if st.RoutingFee != 0 || st.Net != 10_000 || st.Models[0].RoutingDenied != 0 {
		t.Fatalf("settlement %+v", st)
	}
	e1, _ := c.l.Account(context.Background(), "e1")
	if e1.Balances[DenomUSD] != 0 {
		t.Fatalf("e1 paid %d", e1.Balances[DenomUSD])
	}
}

// TestTreasury: the treasury is an account that the epoch close credits,
// that shows through the account query, that no tx may be sent from and
// no receipt may charge, and that only the protocol key spends.
func TestTreasury(t *testing.T) {
	c := newChain(t, testGenesis())
	c.setup()
	ctx := context.Background()
	r := rcpt("r", "alice", "alice", "n1", "", c.now, 50_000, 10_000)
	c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{r}}))
	c.block(epochMs + graceMs)
	st, _, _ := c.l.Epoch(ctx, 0)
	acct, err := c.l.Account(ctx, TreasuryAccount)
	if err != nil || st.Treasury == 0 || acct.Balances[DenomUSD] != st.Treasury {
		t.Fatalf("treasury account %+v, settlement treasury %d, %v", acct, st.Treasury, err)
	}
	if tr, _ := c.l.Treasury(ctx); tr[DenomUSD] != st.Treasury {
		t.Fatalf("Treasury() = %v", tr)
	}
	held := st.Treasury
	// Anyone may give to the treasury.
	c.must("n1", Transfer{To: TreasuryAccount, Denom: DenomFlock, Amount: 9})
	forged := rcpt("forged", TreasuryAccount, TreasuryAccount, "n1", "", c.now, 10, 10)
	for _, tc := range []struct {
		name string
		from string
		body Body
		want Code
	}{
		{"spend by a user", "alice", TreasurySpend{To: "alice", Denom: DenomUSD, Amount: 1}, CodeNotProtocol},
		{"spend by a node", "n1", TreasurySpend{To: "n1", Denom: DenomUSD, Amount: 1}, CodeNotProtocol},
		{"tx from the treasury", TreasuryAccount, Transfer{To: "alice", Denom: DenomUSD, Amount: 1}, CodeTreasuryAccount},
		{"withdraw by the treasury", TreasuryAccount, Withdraw{Denom: DenomUSD, Amount: 1}, CodeTreasuryAccount},
		{"spend more than held", protocol, TreasurySpend{To: "bob", Denom: DenomUSD, Amount: held + 1}, CodeInsufficient},
		{"spend to the treasury", protocol, TreasurySpend{To: TreasuryAccount, Denom: DenomUSD, Amount: 1}, CodeSelfTransfer},
		{"spend bad denom", protocol, TreasurySpend{To: "bob", Denom: "eur", Amount: 1}, CodeBadDenom},
		{"spend usd", protocol, TreasurySpend{To: "bob", Denom: DenomUSD, Amount: held - 1}, OK},
		{"spend flock", protocol, TreasurySpend{To: "bob", Denom: DenomFlock, Amount: 9}, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := c.block(1, c.tx(tc.from, tc.body)).Txs[0]; r.Code != tc.want {
				t.Fatalf("code %s (%s), want %s", r.Code, r.Log, tc.want)
			}
		})
	}
	res := c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{forged}})).Txs[0]
	if res.Receipts[0].Code != CodeTreasuryAccount {
		t.Fatalf("receipt charging the treasury: %+v", res)
	}
	bob, _ := c.l.Account(ctx, "bob")
	tr, _ := c.l.Treasury(ctx)
	if bob.Balances[DenomUSD] != held-1 || bob.Balances[DenomFlock] != 9 || tr[DenomUSD] != 1 || tr[DenomFlock] != 0 {
		t.Fatalf("bob %+v, treasury %v", bob, tr)
	}
	if a, _ := c.l.Account(ctx, TreasuryAccount); a.Nonce != 0 {
		t.Fatalf("treasury nonce %d", a.Nonce)
	}
}

// TestGenesisBounds: tier and account rules of the ledger genesis.
func TestGenesisBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Genesis)
		want string
	}{
		{"raise_min above raise_max", func(g *Genesis) { g.Tiers[0].RaiseMin, g.Tiers[0].RaiseMax = 2, 1 }, "raise_min"},
		{"floor below cost", func(g *Genesis) { g.Tiers[0].MinInputPrice = g.Tiers[0].CostPerMTok - 1 }, "below cost"},
		{"split not 10000", func(g *Genesis) { g.Params.IssuerBps++ }, "10000"},
		{"gateway above 10000", func(g *Genesis) { g.Params.GatewayBps = 10_001 }, "gateway_bps"},
		{"treasury as node", func(g *Genesis) { g.Nodes = []GenesisNode{{ID: TreasuryAccount, Bond: 1}} }, "nodes[0]"},
		{"treasury session key", func(g *Genesis) {
			g.SessionKeys = []GenesisSessionKey{{Account: TreasuryAccount, Key: "k"}}
		}, "session_keys[0]"},
		{"treasury protocol key", func(g *Genesis) { g.ProtocolKey = TreasuryAccount }, "protocol_key"},
		{"swap fee above 10000", func(g *Genesis) { g.Economics.SwapFeeBps = 10_001 }, "swap_fee_bps"},
		{"allocation above 10000", func(g *Genesis) { g.Economics.AllocSaleBps, g.Economics.AllocIssuerBps = 9_000, 2_000 }, "alloc_"},
		{"commit fees that wrap 32 bits", func(g *Genesis) {
			g.Economics.CommitFeeTreasuryBps, g.Economics.CommitFeeIssuerBps = 1, 1<<32-1
		}, "commit_fee_treasury_bps + commit_fee_issuer_bps"},
		{"negative raise window", func(g *Genesis) { g.Economics.RaiseWindowMs = -1 }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGenesis()
			tc.edit(&g)
			_, err := New(context.Background(), store.NewMemory(), g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// A genesis may fund the treasury; it counts as minted.
	g := testGenesis()
	g.Accounts = append(g.Accounts, GenesisAccount{ID: TreasuryAccount, Balances: map[string]uint64{DenomFlock: 5}})
	g.Economics.UnbondingEpochs = 3
	c := newChain(t, g)
	if tr, _ := c.l.Treasury(context.Background()); tr[DenomFlock] != 5 {
		t.Fatalf("treasury %v", tr)
	}
	if c.l.Genesis().Economics.UnbondingEpochs != 3 {
		t.Fatal("unbonding_epochs lost")
	}
}
