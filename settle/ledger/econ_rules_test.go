package ledger

import (
	"context"
	"reflect"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

// TestEconRefusals: each refusal of Swap and the offering's transactions
// has its own code and changes nothing: not the sender's nonce or
// balances, the treasury, the pools, the offerings or the supply.
func TestEconRefusals(t *testing.T) {
	type step struct {
		from string
		body Body
	}
	const fk = econ.Unit // one FLOCK
	launch := step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, DurationMs: 10_000}}
	graduated := []step{launch, {"bob", Commit{Model: "m1", Amount: 12_000 * fk}}}
	for _, tc := range []struct {
		name string
		gen  func(*Genesis)
		pre  []step
		dt   int64 // before the refused tx
		tx   step
		want Code
	}{
		{"swap: no such pool", nil, nil, 1, step{"alice", Swap{Pool: ModelPoolID("m1"), DenomIn: DenomFlock, AmountIn: fk}}, CodePoolUnknown},
		{"swap: bad pool id", nil, nil, 1, step{"alice", Swap{Pool: "../x", DenomIn: DenomFlock, AmountIn: fk}}, CodePoolUnknown},
		{"swap: below min_out", nil, nil, 1, step{"alice", Swap{Pool: PoolFlockUSD, DenomIn: DenomUSD, AmountIn: fk, MinOut: 10 * fk}}, CodeBelowMinOut},
		{"swap: too small", nil, nil, 1, step{"alice", Swap{Pool: PoolFlockUSD, DenomIn: DenomFlock, AmountIn: 1}}, CodeSwapTooSmall},
		{"swap: zero", nil, nil, 1, step{"alice", Swap{Pool: PoolFlockUSD, DenomIn: DenomFlock}}, CodeBadAmount},
		{"swap: denom not in pool", nil, nil, 1, step{"alice", Swap{Pool: PoolFlockUSD, DenomIn: MTDenom("m1"), AmountIn: fk}}, CodeBadDenom},
		{"swap: insufficient", nil, nil, 1, step{"carol", Swap{Pool: PoolFlockUSD, DenomIn: DenomUSD, AmountIn: fk}}, CodeInsufficient},
		{"launch: not the issuer", nil, nil, 1, step{"alice", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk}}, CodeNotIssuer},
		{"launch: unknown model", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m9", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk}}, CodeModelUnknown},
		{"launch: not served", nil, []step{{"issuer", RegisterModel{Name: "m2", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000}}},
			1, step{"issuer", LaunchRMO{Model: "m2", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk}}, CodeNotServed},
		{"launch: served only by an unbonded node", nil, []step{{"n1", UnbondNode{}}, {"n2", UnbondNode{}}}, 1, launch, CodeNotServed},
		{"launch: twice", nil, []step{launch}, 1, launch, CodeRMOExists},
		{"launch: min above max", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 10_000 * fk, RaiseMax: 9_000 * fk}}, CodeBadRaise},
		{"launch: min below the tier's", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 999 * fk, RaiseMax: 10_000 * fk}}, CodeBadRaise},
		{"launch: max above the tier's", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 100_001 * fk}}, CodeBadRaise},
		{"launch: window too long", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, DurationMs: 5*epochMs + 1}}, CodeBadRaise},
		{"launch: negative window", nil, nil, 1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, DurationMs: -1}}, CodeBadRaise},
		{"launch: fee unpaid", nil, []step{{"issuer", Transfer{To: "bob", Denom: DenomFlock, Amount: 99_000 * fk}}}, 1, launch, CodeInsufficient},
		{"launch: first buy unpaid", nil, []step{{"issuer", Transfer{To: "bob", Denom: DenomFlock, Amount: 65_000 * fk}}},
			1, step{"issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, FirstBuy: 9_000 * fk}}, CodeInsufficient},
		{"launch: no curve", func(g *Genesis) { g.Economics.CurveStartBps = 0 }, nil, 1, launch, CodeRMODisabled},
		{"commit: no offering", nil, nil, 1, step{"alice", Commit{Model: "m1", Amount: fk}}, CodeRMOUnknown},
		{"commit: zero", nil, []step{launch}, 1, step{"alice", Commit{Model: "m1"}}, CodeBadAmount},
		// With a supply of 1 MT a base unit of MT costs more than one of flock.
		{"commit: too small", func(g *Genesis) { g.Economics.MTSupply = econ.Unit }, []step{launch}, 1, step{"alice", Commit{Model: "m1", Amount: 1}}, CodeCommitTooSmall},
		{"commit: window over", nil, []step{launch}, 10_000, step{"alice", Commit{Model: "m1", Amount: fk}}, CodeRMONotOpen},
		{"commit: graduated", nil, graduated, 1, step{"alice", Commit{Model: "m1", Amount: fk}}, CodeRMONotOpen},
		{"commit: insufficient", nil, []step{launch}, 1, step{"carol", Commit{Model: "m1", Amount: 2_000 * fk}}, CodeInsufficient},
		{"graduate: no offering", nil, nil, 1, step{"carol", Graduate{Model: "m1"}}, CodeRMOUnknown},
		{"graduate: window open", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 2_000 * fk}}}, 1, step{"carol", Graduate{Model: "m1"}}, CodeNotGraduable},
		{"graduate: below min", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 100 * fk}}}, 10_000, step{"carol", Graduate{Model: "m1"}}, CodeNotGraduable},
		{"graduate: twice", nil, graduated, 1, step{"carol", Graduate{Model: "m1"}}, CodeNotGraduable},
		{"redeem: no offering", nil, nil, 1, step{"alice", Redeem{Model: "m1"}}, CodeRMOUnknown},
		{"redeem: window open", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 100 * fk}}}, 1, step{"alice", Redeem{Model: "m1"}}, CodeNotFailed},
		{"redeem: graduable", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 2_000 * fk}}}, 10_000, step{"alice", Redeem{Model: "m1"}}, CodeNotFailed},
		{"redeem: graduated", nil, graduated, 1, step{"bob", Redeem{Model: "m1"}}, CodeNotFailed},
		{"redeem: no position", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 100 * fk}}}, 10_000, step{"carol", Redeem{Model: "m1"}}, CodeNothingToRedeem},
		{"redeem: twice", nil, []step{launch, {"alice", Commit{Model: "m1", Amount: 100 * fk}}, {"alice", Redeem{Model: "m1"}}}, 10_000,
			step{"alice", Redeem{Model: "m1"}}, CodeNothingToRedeem},
		{"claim: no vesting", nil, nil, 1, step{"issuer", ClaimVested{Model: "m1"}}, CodeNothingToClaim},
		{"claim: not the issuer", nil, graduated, 1, step{"alice", ClaimVested{Model: "m1"}}, CodeNothingToClaim},
		{"claim: bad model name", nil, nil, 1, step{"issuer", ClaimVested{Model: ".."}}, CodeBadName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := econGenesis()
			if tc.gen != nil {
				tc.gen(&g)
			}
			c := newChain(t, g)
			c.setup()
			for _, p := range tc.pre {
				if p.body.Type() == "redeem" {
					c.block(10_000) // past the window
				}
				c.must(p.from, p.body)
			}
			ctx := context.Background()
			snap := func() []any {
				a, _ := c.l.Account(ctx, tc.tx.from)
				tr, _ := c.l.Treasury(ctx)
				ps, _ := c.l.Pools(ctx)
				rs, _ := c.l.RMOs(ctx)
				sup, _ := c.l.Supply(ctx)
				return []any{a, tr, ps, rs, sup}
			}
			before := snap()
			r := c.block(tc.dt, c.tx(tc.tx.from, tc.tx.body)).Txs[0]
			if r.Code != tc.want {
				t.Fatalf("code %s (%s), want %s", r.Code, r.Log, tc.want)
			}
			if after := snap(); !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused %s changed the state:\n%+v\n%+v", tc.tx.body.Type(), before, after)
			}
		})
	}
}

// TestOfferingQueries: TimeMs is the last block's time (the genesis time
// before any) and RMOPositions counts the accounts that committed, each
// once however often it committed.
func TestOfferingQueries(t *testing.T) {
	const fk = econ.Unit
	ctx := context.Background()
	c := newChain(t, econGenesis())
	if got := c.l.TimeMs(); got != t0 {
		t.Fatalf("TimeMs before any block = %d, want the genesis time %d", got, t0)
	}
	c.setup()
	if n, err := c.l.RMOPositions(ctx, "m1"); err != nil || n != 0 {
		t.Fatalf("RMOPositions without an offering = %d, %v", n, err)
	}
	c.must("issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, DurationMs: 10_000, FirstBuy: 100 * fk})
	c.must("alice", Commit{Model: "m1", Amount: 100 * fk})
	c.must("alice", Commit{Model: "m1", Amount: 100 * fk})
	c.must("bob", Commit{Model: "m1", Amount: 100 * fk})
	for model, want := range map[string]int{"m1": 3, "m2": 0, "..": 0} {
		if n, err := c.l.RMOPositions(ctx, model); err != nil || n != want {
			t.Errorf("RMOPositions(%q) = %d, %v; want %d", model, n, err, want)
		}
	}
	if got := c.l.TimeMs(); got != c.now {
		t.Fatalf("TimeMs = %d, want the last block's %d", got, c.now)
	}
}

// TestGraduateAfterWindow: Graduate of an offering whose window is over
// with at least its minimum raised graduates it: the buyers' MT is minted
// and paid, the MT/FLOCK pool seeded, the issuer's MT set vesting.
func TestGraduateAfterWindow(t *testing.T) {
	const fk = econ.Unit
	ctx := context.Background()
	c := newChain(t, econGenesis())
	c.setup()
	c.must("issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * fk, RaiseMax: 10_000 * fk, DurationMs: 10_000})
	c.must("alice", Commit{Model: "m1", Amount: 2_000 * fk})
	c.block(10_000)
	c.must("carol", Graduate{Model: "m1"})
	r, _, _ := c.l.RMO(ctx, "m1")
	if r.Status != RMOGraduated || r.Graduation == nil {
		t.Fatalf("after Graduate the offering is %s", r.Status)
	}
	pos, _, _ := c.l.RMOPosition(ctx, "m1", "alice")
	a, _ := c.l.Account(ctx, "alice")
	if a.Balances[MTDenom("m1")] != pos.Tokens || pos.Tokens == 0 {
		t.Fatalf("alice holds %d MT, bought %d", a.Balances[MTDenom("m1")], pos.Tokens)
	}
	if _, ok, _ := c.l.Pool(ctx, ModelPoolID("m1")); !ok {
		t.Fatal("no MT/FLOCK pool after graduation")
	}
	if v, ok, _ := c.l.Vesting(ctx, "issuer", "m1"); !ok || v.Total == 0 {
		t.Fatalf("issuer vesting %+v", v)
	}
	if r := c.block(1, c.tx("carol", Graduate{Model: "m1"})).Txs[0]; r.Code != CodeNotGraduable {
		t.Fatalf("a second Graduate: %s %s", r.Code, r.Log)
	}
}
