package ledger

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

// rewardsChain runs the §9.7 emissions over three epochs: m1 (issuer)
// graduates in epoch 0, bob stakes its MT and gives some to carol, who
// stakes them; carol registers m2, which nobody uses. alice (through her
// session key ak) and bob use m1 in epochs 1 and 2.
func rewardsChain(t *testing.T) *chain {
	t.Helper()
	g := withEmissions(econGenesis())
	g.Economics.EmissionFirstEpochFlock = 10 * econ.Unit
	// The receipts below quote list prices: no tier discounts them.
	g.Params.DiscountTiers = nil
	c := newChain(t, g)
	c.setup()
	c.must("issuer", LaunchRMO{Model: "m1", RaiseMin: 1_000 * econ.Unit, RaiseMax: 10_000 * econ.Unit})
	c.must("carol", RegisterModel{Name: "m2", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000})
	c.must("bob", Commit{Model: "m1", Amount: 12_000 * econ.Unit}) // above the maximum: graduates
	c.must("bob", Stake{Model: "m1", Amount: 200_000 * econ.Unit})
	c.must("bob", Transfer{To: "carol", Denom: MTDenom("m1"), Amount: 1_000 * econ.Unit})
	c.must("carol", Stake{Model: "m1", Amount: 1_000 * econ.Unit})
	c.must("alice", AuthorizeKey{Key: "ak", SpendLimit: 100 * econ.Unit, ExpiresAtMs: t0 + 10*epochMs})
	c.block(epochMs + graceMs) // closes epoch 0
	c.must("n1", SubmitReceipts{Receipts: []Receipt{
		rcpt("a1", "alice", "ak", "n1", "", c.now, 1_000_000, 1_000_000),
		rcpt("b1", "bob", "bob", "n1", "", c.now, 1_000_000, 1_000_000),
	}})
	c.block(epochMs) // closes epoch 1
	c.must("n1", SubmitReceipts{Receipts: []Receipt{
		rcpt("a2", "alice", "alice", "n1", "", c.now, 3_000_000, 1_000_000),
		rcpt("b2", "bob", "bob", "n1", "", c.now, 1_000_000, 0),
	}})
	c.block(epochMs) // closes epoch 2
	if next := c.l.NextEpoch(); next != 3 {
		t.Fatalf("next epoch %d, want 3", next)
	}
	return c
}

// TestRewardsIndex: each account's index holds what the settlements
// credited it, model by model: alice (usage only) the global emission,
// bob (usage and stake) the gated pools too, the issuer its bonus, carol
// (stake only, and the issuer of an unused model) nothing.
func TestRewardsIndex(t *testing.T) {
	ctx := context.Background()
	c := rewardsChain(t)
	// want is what the settlements say each account was credited.
	want := map[string]map[uint64]map[string]ModelReward{}
	at := func(a string, e uint64, m string) *ModelReward {
		if want[a] == nil {
			want[a] = map[uint64]map[string]ModelReward{}
		}
		if want[a][e] == nil {
			want[a][e] = map[string]ModelReward{}
		}
		r := want[a][e][m]
		r.Model = m
		want[a][e][m] = r
		return &r
	}
	set := func(a string, e uint64, m string, f func(*ModelReward)) {
		r := at(a, e, m)
		f(r)
		want[a][e][m] = *r
	}
	for e := uint64(0); e < 3; e++ {
		em := closedEpoch(t, c, e).Emissions
		for _, m := range em.Models {
			set(m.IssuerID, e, m.Model, func(r *ModelReward) { r.Issuer += m.Issuer })
			for _, u := range m.Users {
				if u.Amount > 0 {
					set(u.Account, e, m.Model, func(r *ModelReward) { r.User += u.Amount })
				}
			}
		}
		for _, g := range em.Gated {
			for _, u := range g.Flock.Users {
				if u.Amount > 0 {
					set(u.Account, e, g.Model, func(r *ModelReward) { r.GatedFlock += u.Amount })
				}
			}
			for _, u := range g.MT.Users {
				if u.Amount > 0 {
					set(u.Account, e, g.Model, func(r *ModelReward) { r.GatedMT += u.Amount })
				}
			}
		}
	}
	for _, a := range []string{"alice", "bob", "issuer", "carol", "n1"} {
		p, err := c.l.Rewards(ctx, a, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]map[string]ModelReward{}
		for _, er := range p.Epochs {
			got[er.Epoch] = map[string]ModelReward{}
			for _, m := range er.Models {
				got[er.Epoch][m.Model] = m
			}
		}
		w := want[a]
		if w == nil {
			w = map[uint64]map[string]ModelReward{}
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: index %+v, settlements %+v", a, got, w)
		}
	}

	alice, _ := c.l.Rewards(ctx, "alice", 0, 100)
	if len(alice.Epochs) != 2 || alice.Epochs[0].Epoch != 1 || alice.Epochs[1].Epoch != 2 {
		t.Fatalf("alice's epochs %+v, want 1 and 2", alice.Epochs)
	}
	for _, er := range alice.Epochs {
		if m := er.Models; len(m) != 1 || m[0].Model != "m1" || m[0].User == 0 || m[0].GatedFlock != 0 || m[0].GatedMT != 0 || m[0].Issuer != 0 {
			t.Errorf("alice (usage without stake), epoch %d: %+v", er.Epoch, m)
		}
	}
	acct, _ := c.l.Account(ctx, "alice")
	if got := alice.Totals; len(got) != 1 || got[DenomFlock] != acct.Balances[DenomFlock]-50_000*econ.Unit {
		t.Fatalf("alice's totals %v, her FLOCK earned %d", got, acct.Balances[DenomFlock]-50_000*econ.Unit)
	}
	bob, _ := c.l.Rewards(ctx, "bob", 0, 100)
	if len(bob.Epochs) != 2 || bob.Epochs[0].Models[0].GatedFlock == 0 || bob.Epochs[0].Models[0].GatedMT == 0 || bob.Epochs[0].Models[0].User == 0 {
		t.Fatalf("bob (usage and stake): %+v", bob.Epochs)
	}
	if bob.Totals[MTDenom("m1")] == 0 || bob.Totals[DenomFlock] == 0 {
		t.Fatalf("bob's totals %v", bob.Totals)
	}
	carol, err := c.l.Rewards(ctx, "carol", 0, 100)
	if err != nil || len(carol.Epochs) != 0 || len(carol.Totals) != 0 || carol.Epochs == nil {
		t.Fatalf("carol (stake only): %+v, %v", carol, err)
	}
	if ents, err := c.l.reader(ctx).scan(pRewards + "carol/"); err != nil || len(ents) != 0 {
		t.Fatalf("carol's index %v %v", ents, err)
	}
}

// TestRewardsPages: pages from an epoch on, the next page's first epoch,
// totals over every epoch whatever the page, and a session key reading its
// account's rewards.
func TestRewardsPages(t *testing.T) {
	ctx := context.Background()
	c := rewardsChain(t)
	all, err := c.l.Rewards(ctx, "alice", 0, 100)
	if err != nil || len(all.Epochs) != 2 || all.Next != 0 {
		t.Fatalf("all: %+v, %v", all, err)
	}
	for _, tc := range []struct {
		from   uint64
		limit  int
		epochs []uint64
		next   uint64
	}{
		{0, 1, []uint64{1}, 2},
		{2, 1, []uint64{2}, 0},
		{2, 5, []uint64{2}, 0},
		{1, 2, []uint64{1, 2}, 0},
		{3, 5, nil, 0},
	} {
		p, err := c.l.Rewards(ctx, "ak", tc.from, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var es []uint64
		for _, e := range p.Epochs {
			es = append(es, e.Epoch)
		}
		if p.Account != "alice" || !reflect.DeepEqual(es, tc.epochs) || p.Next != tc.next || !reflect.DeepEqual(p.Totals, all.Totals) {
			t.Errorf("from %d limit %d: account %s epochs %v next %d totals %v; want alice %v %d %v",
				tc.from, tc.limit, p.Account, es, p.Next, p.Totals, tc.epochs, tc.next, all.Totals)
		}
	}
	if _, err := c.l.Rewards(ctx, "alice", 0, 0); !errors.Is(err, ErrBadPage) {
		t.Errorf("limit 0: %v", err)
	}
	if _, err := c.l.Rewards(ctx, "bad/id", 0, 1); err == nil || err.Error() != `ledger: bad account "bad/id"` {
		t.Errorf("a bad account: %v", err)
	}
	if p, err := c.l.Rewards(ctx, "nobody", 0, 1); err != nil || p.Account != "nobody" || len(p.Epochs) != 0 || p.Totals == nil {
		t.Errorf("an unknown account: %+v, %v", p, err)
	}
}

// TestEmissionsOverview: the per-epoch summaries match the settlements,
// a model without usage is listed with zero, and the reserve and the next
// budget are those the next close will use.
func TestEmissionsOverview(t *testing.T) {
	ctx := context.Background()
	c := rewardsChain(t)
	o, err := c.l.Emissions(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Enabled || len(o.Epochs) != 3 || o.Next != 0 || o.NextEpoch != 3 {
		t.Fatalf("overview %+v", o)
	}
	for i, s := range o.Epochs {
		em := closedEpoch(t, c, uint64(i)).Emissions
		if s.Epoch != uint64(i) || s.Budget != em.Budget || s.Paid != em.Paid || s.Paid+s.Kept != s.Budget ||
			s.ReserveBefore != em.ReserveBefore || s.ReserveAfter != em.ReserveAfter || s.ReserveBefore-s.ReserveAfter != s.Paid {
			t.Errorf("epoch %d: summary %+v, settlement %+v", i, s, em)
		}
		var paid uint64
		for _, m := range s.Models {
			paid += m.Paid
			if m.Paid != m.Issuer+m.Users || m.Capped+m.Paid > m.Share {
				t.Errorf("epoch %d model %s: %+v", i, m.Model, m)
			}
		}
		if paid != s.Paid {
			t.Errorf("epoch %d: models paid %d, epoch %d", i, paid, s.Paid)
		}
	}
	e1 := o.Epochs[1]
	if len(e1.Models) != 2 || e1.Models[0].Model != "m1" || e1.Models[1].Model != "m2" {
		t.Fatalf("epoch 1 models %+v", e1.Models)
	}
	m1, m2 := e1.Models[0], e1.Models[1]
	if m1.Gross != closedEpoch(t, c, 1).Gross || m1.Paid == 0 || m1.Issuer == 0 || m1.Weight == "0" {
		t.Errorf("m1 %+v", m1)
	}
	if m2 != (ModelEmissionSummary{Model: "m2", AgeFactor: m2.AgeFactor, Weight: "0", Cap: 0}) {
		t.Errorf("m2 (no usage) %+v, want zeros", m2)
	}
	if g := e1.Gated; len(g) != 1 || g[0].Model != "m1" || g[0].Flock.Paid == 0 || g[0].MT.Paid == 0 ||
		g[0].Flock.Released+g[0].Flock.CarryIn != g[0].Flock.Paid+g[0].Flock.Carry {
		t.Errorf("epoch 1 gated %+v", g)
	}
	// Epoch 0 had no usage: the release carried over, nothing was paid.
	if g := o.Epochs[0].Gated; len(g) != 1 || g[0].Flock.Paid != 0 || g[0].Flock.Carry != g[0].Flock.Released {
		t.Errorf("epoch 0 gated %+v", g)
	}
	res, _ := c.l.EmissionReserve(ctx)
	p, _ := c.l.gen.EmissionParams()
	next, _ := econ.EmissionBudget(o.Epochs[2].Budget, p.RetentionNum, p.RetentionDen)
	if o.Reserve != res || o.Reserve != o.Epochs[2].ReserveAfter || o.NextBudget != next || next == 0 {
		t.Errorf("reserve %d (state %d), next budget %d, want %d", o.Reserve, res, o.NextBudget, next)
	}
	// The next close uses the budget the overview announced.
	c.block(epochMs)
	if b := closedEpoch(t, c, 3).Emissions.Budget; b != o.NextBudget {
		t.Errorf("epoch 3 budget %d, announced %d", b, o.NextBudget)
	}

	for _, tc := range []struct {
		from   uint64
		limit  int
		epochs []uint64
		next   uint64
	}{
		{0, 2, []uint64{0, 1}, 2},
		{2, 2, []uint64{2, 3}, 0},
		{3, 1, []uint64{3}, 0},
		{9, 1, nil, 0},
	} {
		o, err := c.l.Emissions(ctx, tc.from, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var es []uint64
		for _, e := range o.Epochs {
			es = append(es, e.Epoch)
		}
		if !reflect.DeepEqual(es, tc.epochs) || o.Next != tc.next {
			t.Errorf("from %d limit %d: epochs %v next %d, want %v %d", tc.from, tc.limit, es, o.Next, tc.epochs, tc.next)
		}
	}
	if _, err := c.l.Emissions(ctx, 0, 0); !errors.Is(err, ErrBadPage) {
		t.Errorf("limit 0: %v", err)
	}
}

// TestRewardsOff: without an emission reserve nothing is indexed and the
// overview says emissions are off.
func TestRewardsOff(t *testing.T) {
	ctx := context.Background()
	c := newChain(t, econGenesis())
	c.setup()
	c.must("n1", SubmitReceipts{Receipts: []Receipt{rcpt("a", "alice", "alice", "n1", "", c.now, 1_000_000, 0)}})
	c.block(epochMs + graceMs)
	if ents, err := c.l.reader(ctx).scan(pRewards); err != nil || len(ents) != 0 {
		t.Fatalf("rewards records %v %v", ents, err)
	}
	o, err := c.l.Emissions(ctx, 0, 10)
	if err != nil || o.Enabled || len(o.Epochs) != 0 || o.Epochs == nil || o.NextEpoch != 1 || o.Reserve != 0 || o.NextBudget != 0 {
		t.Fatalf("overview %+v, %v", o, err)
	}
	if p, err := c.l.Rewards(ctx, "alice", 0, 10); err != nil || len(p.Epochs) != 0 {
		t.Fatalf("alice %+v, %v", p, err)
	}
}
