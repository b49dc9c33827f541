package ledger

import (
	"context"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

// emissionGenesis is testGenesis with a FLOCK/usd pool (0.1 usd per FLOCK)
// and an emission reserve of 1,000 FLOCK whose first budget is 10 FLOCK.
func emissionGenesis() Genesis {
	g := testGenesis()
	g.Economics = econEconomics()
	g.Economics.FlockPoolFlock, g.Economics.FlockPoolUSD = 1_000*econ.Unit, 100*econ.Unit
	g = withEmissions(g)
	g.Economics.EmissionFirstEpochFlock = 10 * econ.Unit
	return g
}

func closedEpoch(t *testing.T, c *chain, e uint64) EpochSettlement {
	t.Helper()
	st, ok, err := c.l.Epoch(context.Background(), e)
	if err != nil || !ok {
		t.Fatalf("epoch %d: %v %v", e, ok, err)
	}
	return st
}

// TestEmissionsSessionKeysRollUp: usage through a session key counts for
// its account, which is scored once.
func TestEmissionsSessionKeysRollUp(t *testing.T) {
	ctx := context.Background()
	c := newChain(t, emissionGenesis())
	c.setup()
	c.must("alice", AuthorizeKey{Key: "ak", SpendLimit: econ.Unit, ExpiresAtMs: t0 + 10*epochMs})
	r1 := rcpt("a", "alice", "alice", "n1", "", c.now, 1_000_000, 0)
	r2 := rcpt("b", "alice", "ak", "n1", "", c.now, 1_000_000, 0)
	c.must("n1", SubmitReceipts{Receipts: []Receipt{r1, r2}})
	before, _ := c.l.Account(ctx, "alice")
	c.block(epochMs + graceMs)
	em := closedEpoch(t, c, 0).Emissions
	if em == nil || len(em.Models) != 1 || len(em.Models[0].Users) != 1 || em.Models[0].Users[0].Account != "alice" {
		t.Fatalf("emissions %+v", em)
	}
	u := em.Models[0].Users[0]
	if u.Score != econ.FixedOne/10*9 || u.Amount == 0 {
		t.Fatalf("alice: %+v", u)
	}
	after, _ := c.l.Account(ctx, "alice")
	if after.Balances[DenomFlock]-before.Balances[DenomFlock] != u.Amount {
		t.Fatalf("alice credited %d, want %d", after.Balances[DenomFlock]-before.Balances[DenomFlock], u.Amount)
	}
	if res, _ := c.l.EmissionReserve(ctx); res != em.ReserveAfter || res != 1_000*econ.Unit-em.Paid {
		t.Fatalf("reserve %d, settlement %+v", res, em)
	}
}

// TestEmissionsNoPool: without a FLOCK/usd pool nothing is allocated, the
// budget stays in the reserve and still decays.
func TestEmissionsNoPool(t *testing.T) {
	g := emissionGenesis()
	g.Economics.FlockPoolFlock, g.Economics.FlockPoolUSD = 0, 0
	c := newChain(t, g)
	c.setup()
	c.must("n1", SubmitReceipts{Receipts: []Receipt{rcpt("a", "alice", "alice", "n1", "", c.now, 1_000_000, 0)}})
	c.block(epochMs + graceMs)
	c.block(epochMs)
	e0, e1 := closedEpoch(t, c, 0).Emissions, closedEpoch(t, c, 1).Emissions
	if e0 == nil || !e0.NoPrice || e0.Paid != 0 || e0.Allocation != nil || e0.ReserveAfter != 1_000*econ.Unit {
		t.Fatalf("epoch 0: %+v", e0)
	}
	if e0.Budget != 10*econ.Unit || e1 == nil || e1.Budget >= e0.Budget || e1.Budget == 0 {
		t.Fatalf("budgets %d then %+v", e0.Budget, e1)
	}
}

// TestEmissionsOff: without a reserve the settlement has no emissions
// section and the state no emission record.
func TestEmissionsOff(t *testing.T) {
	g := emissionGenesis()
	g.Economics.EmissionReserveFlock, g.Economics.EmissionFirstEpochFlock = 0, 0
	c := newChain(t, g)
	c.setup()
	c.must("n1", SubmitReceipts{Receipts: []Receipt{rcpt("a", "alice", "alice", "n1", "", c.now, 1_000_000, 0)}})
	c.block(epochMs + graceMs)
	if em := closedEpoch(t, c, 0).Emissions; em != nil {
		t.Fatalf("emissions %+v", em)
	}
	ents, err := c.l.reader(context.Background()).scan("/emission/")
	if err != nil || len(ents) != 0 {
		t.Fatalf("emission records %v %v", ents, err)
	}
}

// TestFirstEmissionBudget: the default first budget makes the decaying
// budgets sum to the reserve.
func TestFirstEmissionBudget(t *testing.T) {
	g := emissionGenesis()
	g.Economics.EmissionFirstEpochFlock = 0
	p, err := g.EmissionParams()
	if err != nil {
		t.Fatal(err)
	}
	// retention 2^(−1/5) ≈ 0.8705506: E(1) = reserve × (1 − retention).
	if got := g.FirstEmissionBudget(p); got != 129_449_437 {
		t.Fatalf("first budget %d", got)
	}
}

// TestEmissionGenesisBounds: the first budget is at most the reserve, and
// a funded reserve needs usable emission parameters.
func TestEmissionGenesisBounds(t *testing.T) {
	g := emissionGenesis()
	g.Economics.EmissionFirstEpochFlock = g.Economics.EmissionReserveFlock + 1
	if err := g.Validate(); err == nil {
		t.Fatal("a first budget above the reserve was accepted")
	}
	g = emissionGenesis()
	g.Economics.EmissionHalfLifeMs = 0
	if err := g.Validate(); err == nil {
		t.Fatal("a zero half-life was accepted with a funded reserve")
	}
	g.Economics.EmissionReserveFlock, g.Economics.EmissionFirstEpochFlock = 0, 0
	if err := g.Validate(); err != nil {
		t.Fatalf("without a reserve the emission parameters are not read: %v", err)
	}
}

// TestEmissionBudgetStaysSpent: a budget that has decayed to zero stays
// zero; it does not start over at the first epoch's.
func TestEmissionBudgetStaysSpent(t *testing.T) {
	g := emissionGenesis()
	g.Economics.FlockPoolFlock, g.Economics.FlockPoolUSD = 0, 0
	g.Economics.EmissionFirstEpochFlock = 1 // one base unit: 1, then 0
	c := newChain(t, g)
	c.setup()
	c.must("n1", SubmitReceipts{Receipts: []Receipt{rcpt("a", "alice", "alice", "n1", "", c.now, 1_000_000, 0)}})
	c.block(epochMs + graceMs)
	c.block(epochMs)
	c.block(epochMs)
	want := []uint64{1, 0, 0}
	for e, w := range want {
		if em := closedEpoch(t, c, uint64(e)).Emissions; em == nil || em.Budget != w {
			t.Fatalf("epoch %d: emissions %+v, want budget %d", e, em, w)
		}
	}
}
