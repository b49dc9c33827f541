package devnet

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// swapOut is the constant-product trade recomputed here, apart from
// package econ: in of the in-reserve x buys floor(y × in × (10000 − fee) /
// (x × 10000 + in × (10000 − fee))) of the out-reserve y.
func swapOut(x, y, in, feeBps uint64) uint64 {
	f := new(big.Int).SetUint64(10_000 - feeBps)
	inF := new(big.Int).Mul(new(big.Int).SetUint64(in), f)
	num := new(big.Int).Mul(new(big.Int).SetUint64(y), inF)
	den := new(big.Int).Add(new(big.Int).Mul(new(big.Int).SetUint64(x), big.NewInt(10_000)), inF)
	return num.Quo(num, den).Uint64()
}

// epochAt reads epoch n's settlement through node api.
func epochAt(t *testing.T, api string, n uint64) (ledger.EpochSettlement, bool) {
	var e ledger.EpochSettlement
	err := fomotest.GetJSON(context.Background(), fmt.Sprintf("%s/api/v1/epochs/%d", api, n), &e, 5*time.Second)
	return e, err == nil
}

// TestDevnetBuybackBurn runs the devnet with the built binary until its
// model's offering graduates and an epoch buys back and burns its MT, then
// recomputes that epoch's trades from the pools before (the previous
// epoch's record) and checks the pools after, the burns and the chain's
// supply; a second run over the same directory skips the offering.
func TestDevnetBuybackBurn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node with the chain and the offering")
	}
	bin := fomotest.BuildBinary(t)
	dir := t.TempDir()
	opts := []Option{WithBinary(bin), WithDir(dir), WithEpoch(4 * time.Second), WithBlockInterval(200 * time.Millisecond),
		WithTraffic(300 * time.Millisecond), WithConfigSet("gpu.enabled=false")}
	p := startDevnet(t, 2, opts...)
	n := p.d.Nodes()[0]
	if len(n.Models) != 1 {
		t.Fatalf("node0 serves %v", n.Models)
	}
	model, api := n.Models[0], n.API
	fomotest.WaitFor(t, 90*time.Second, "the offering to graduate", func() bool { return strings.Contains(p.out.String(), "graduated: ") })
	out := p.out.String()
	for _, want := range []string{"rmo of " + model + " launched at height", "supporter1 ", "supporter2 ",
		"refunded past the end of the sale bucket", "graduated: 1000000.000000 MT minted; pool 200000.000000 MT / 10000.000000 FLOCK"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the devnet did not print %q:\n%s", want, out)
		}
	}

	// The user buys MT and stakes it once the offering has graduated.
	fomotest.WaitFor(t, 60*time.Second, "the user's stake", func() bool { return strings.Contains(p.out.String(), "devnet: user staked ") })
	c, err := client.New(api)
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := identity.LoadOrCreate(userKey(dir))
	if err != nil {
		t.Fatal(err)
	}
	user := identity.PeerID(sk).String()
	if got, err := stakeOf(t.Context(), c, user, model); err != nil || got != stakeMT {
		t.Fatalf("the user's stake on chain: %d, %v; want %d", got, err, uint64(stakeMT))
	}
	var cs struct {
		State struct {
			NextEpoch uint64 `json:"next_epoch"`
		} `json:"state"`
	}
	if err := fomotest.GetJSON(t.Context(), api+"/api/v1/chain", &cs, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	staked := cs.State.NextEpoch // the open epoch holds the user's trades

	// An epoch E whose MT buyback burned, with E−1 recording the pools
	// before it: E−1 closes after the user's trades, and no other trade
	// touches the pools on the devnet.
	var prev, cur ledger.EpochSettlement
	next := staked + 1
	fomotest.WaitFor(t, 60*time.Second, "an epoch with an MT burn after one with the model's pool", func() bool {
		for {
			e, ok := epochAt(t, api, next)
			if !ok {
				return false
			}
			pe, ok := epochAt(t, api, next-1)
			next++
			if !ok || e.Buybacks == nil || pe.Buybacks == nil || len(e.Buybacks.Models) != 1 || len(pe.Buybacks.Models) != 1 {
				continue
			}
			if e.Buybacks.Models[0].MTBurned > 0 && pe.Buybacks.Models[0].PoolAfter != nil {
				prev, cur = pe, e
				return true
			}
		}
	})
	bb, m := cur.Buybacks, cur.Buybacks.Models[0]
	fp0, mp0 := prev.Buybacks.FlockPoolAfter, *prev.Buybacks.Models[0].PoolAfter
	t.Logf("epoch %d: %+v", cur.Epoch, *bb)
	const fee = 30
	if fp0.FeeBps != fee || mp0.FeeBps != fee {
		t.Fatalf("pool fees %d and %d bps, want %d", fp0.FeeBps, mp0.FeeBps, fee)
	}
	// The reserves: what the split put in, less any carry, all spent in one trade.
	if m.Model != model || m.UsdIn+m.Carry != m.Reserve || bb.Flock.UsdIn+bb.Flock.Carry != bb.Flock.Reserve ||
		bb.UsdIn != m.UsdIn+bb.Flock.UsdIn {
		t.Fatalf("reserves do not add up: %+v", *bb)
	}
	// usd → FLOCK in the FLOCK/usd pool (A = FLOCK, B = usd).
	flockOut := swapOut(fp0.ReserveB, fp0.ReserveA, bb.UsdIn, fee)
	if flockOut != bb.FlockOut {
		t.Fatalf("%d usd in: %d FLOCK out recomputed, %d recorded", bb.UsdIn, flockOut, bb.FlockOut)
	}
	if fp1 := bb.FlockPoolAfter; fp1.ReserveA != fp0.ReserveA-flockOut || fp1.ReserveB != fp0.ReserveB+bb.UsdIn {
		t.Fatalf("FLOCK/usd pool %+v → %+v after %d usd for %d FLOCK", fp0, fp1, bb.UsdIn, flockOut)
	}
	// The model's share of the FLOCK, then FLOCK → MT in its pool (A = MT, B = FLOCK).
	share := new(big.Int).Mul(new(big.Int).SetUint64(flockOut), new(big.Int).SetUint64(m.UsdIn))
	share.Quo(share, new(big.Int).SetUint64(bb.UsdIn))
	if share.Uint64() != m.FlockBought || m.FlockIn != m.FlockBought {
		t.Fatalf("the model's FLOCK: %d recomputed, %d bought, %d sold", share.Uint64(), m.FlockBought, m.FlockIn)
	}
	mtOut := swapOut(mp0.ReserveB, mp0.ReserveA, m.FlockIn, fee)
	if mtOut != m.MTBurned || mtOut != bb.MTBurned {
		t.Fatalf("%d FLOCK in: %d MT out recomputed, %d burned", m.FlockIn, mtOut, m.MTBurned)
	}
	if mp1 := m.PoolAfter; mp1 == nil || mp1.ReserveA != mp0.ReserveA-mtOut || mp1.ReserveB != mp0.ReserveB+m.FlockIn {
		t.Fatalf("MT/FLOCK pool %+v → %+v after %d FLOCK for %d MT", mp0, m.PoolAfter, m.FlockIn, mtOut)
	}
	// Burned FLOCK: the FLOCK buyback's share and the rounding dust.
	if want := flockOut - m.FlockBought; bb.FlockBurned != want || bb.Flock.FlockBurned != want {
		t.Fatalf("%d FLOCK burned, want %d", bb.FlockBurned, want)
	}
	// Both prices rose, each within the 1% impact bound.
	for _, c := range []struct {
		name          string
		before, after econ.Pool
	}{{"FLOCK/usd", fp0, bb.FlockPoolAfter}, {"MT/FLOCK", mp0, *m.PoolAfter}} {
		// after = B1/A1, before = B0/A0: before < after ≤ before × 1.01.
		lhs := new(big.Int).Mul(new(big.Int).SetUint64(c.after.ReserveB), new(big.Int).SetUint64(c.before.ReserveA))
		rhs := new(big.Int).Mul(new(big.Int).SetUint64(c.before.ReserveB), new(big.Int).SetUint64(c.after.ReserveA))
		bound := new(big.Int).Mul(rhs, big.NewInt(10_100))
		if lhs.Cmp(rhs) <= 0 || new(big.Int).Mul(lhs, big.NewInt(10_000)).Cmp(bound) > 0 {
			t.Fatalf("%s price %d/%d → %d/%d: not a rise within 1%%", c.name, c.before.ReserveB, c.before.ReserveA, c.after.ReserveB, c.after.ReserveA)
		}
	}

	// The chain's supply counts every epoch's burns.
	fomotest.WaitFor(t, 30*time.Second, "the supply to match the epochs' burns", func() bool {
		var cs struct {
			State struct {
				NextEpoch uint64                   `json:"next_epoch"`
				Supply    map[string]ledger.Supply `json:"supply"`
			} `json:"state"`
		}
		if fomotest.GetJSON(context.Background(), api+"/api/v1/chain", &cs, 5*time.Second) != nil {
			return false
		}
		var mt, flock uint64
		for e := range cs.State.NextEpoch {
			s, ok := epochAt(t, api, e)
			if !ok {
				return false
			}
			if s.Buybacks != nil {
				mt += s.Buybacks.MTBurned
				flock += s.Buybacks.FlockBurned
			}
		}
		return cs.State.Supply[ledger.MTDenom(model)].Burned == mt && cs.State.Supply[ledger.DenomFlock].Burned == flock && mt > 0
	})

	checkEmissions(t, p.out, api, model, user, staked)
	// The stake tx is in epoch staked−1, staked or staked+1 (the open
	// epoch read after it may lag or lead the block's).
	checkLoop(t, p.d.Nodes(), model, user, staked+1)
	// Node1 does not serve the model (DefaultServeOn): the traffic it
	// takes in is forwarded to node0 and its epochs pay routing fees.
	if nodes := p.d.Nodes(); len(nodes[1].Models) != 0 {
		t.Fatalf("node1 serves %v; by default only node0 of two does", nodes[1].Models)
	}
	routed := false
	for e := uint64(0); !routed; e++ {
		s, ok := epochAt(t, api, e)
		if !ok {
			break
		}
		routed = s.RoutingFee > 0
	}
	if !routed {
		t.Fatal("no closed epoch paid a routing fee: no request was forwarded")
	}

	// A second run over the same directory finds the offering done.
	p.stop(t)
	p = startDevnet(t, 2, opts...)
	fomotest.WaitFor(t, 90*time.Second, "the second run to see the graduation", func() bool { return strings.Contains(p.out.String(), "graduated: ") })
	out = p.out.String()
	for _, want := range []string{"reusing network", "launched before", "supporter1 committed before", "supporter2 committed before",
		"user staked 1500.000000 MT of " + model + " before"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the second run did not print %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "offering of") || strings.Contains(out, "stake on") {
		t.Fatalf("the second run's offering failed:\n%s", out)
	}
	p.stop(t)
}

// checkEmissions waits for an epoch after the user's stake counts (the
// epoch after staked) in which the user is paid emissions and both
// stake-gated releases, then checks every closed epoch: the idle model is
// allocated exactly zero, the reserve pays what it loses and the epochs
// chain their reserves from the genesis one; and the devnet printed the
// emissions.
func checkEmissions(t *testing.T, out fmt.Stringer, api, model, user string, staked uint64) {
	t.Helper()
	idle := model + idleSuffix
	var last uint64
	fomotest.WaitFor(t, 60*time.Second, "an epoch paying the staking user emissions and gated rewards", func() bool {
		for e := staked + 1; ; e++ {
			s, ok := epochAt(t, api, e)
			if !ok {
				return false
			}
			last = e
			if s.Emissions == nil {
				t.Fatalf("epoch %d has no emissions", e)
			}
			var emitted, flock, mt uint64
			for _, m := range s.Emissions.Models {
				for _, u := range m.Users {
					if m.Model == model && u.Account == user {
						emitted += u.Amount
					}
				}
			}
			for _, g := range s.Emissions.Gated {
				for _, u := range g.Flock.Users {
					if g.Model == model && u.Account == user {
						flock += u.Amount
					}
				}
				for _, u := range g.MT.Users {
					if g.Model == model && u.Account == user {
						mt += u.Amount
					}
				}
			}
			if emitted > 0 && flock > 0 && mt > 0 {
				t.Logf("epoch %d: the user got %d FLOCK of emissions, %d FLOCK and %d MT gated", e, emitted, flock, mt)
				return true
			}
		}
	})

	reserve := uint64(emissionReserve)
	for e := range last + 1 {
		s, ok := epochAt(t, api, e)
		if !ok {
			t.Fatalf("epoch %d is not readable", e)
		}
		em := s.Emissions
		if em == nil || em.Allocation == nil {
			t.Fatalf("epoch %d allocated no emissions: %+v", e, em)
		}
		if em.ReserveBefore != reserve || em.ReserveBefore-em.ReserveAfter != em.Paid {
			t.Fatalf("epoch %d: reserve %d → %d paying %d, after %d", e, em.ReserveBefore, em.ReserveAfter, em.Paid, reserve)
		}
		reserve = em.ReserveAfter
		var paid uint64
		for _, m := range em.Models {
			if m.Model == idle {
				t.Fatalf("epoch %d rewards the idle model: %+v", e, m)
			}
			paid += m.Issuer
			for _, u := range m.Users {
				paid += u.Amount
			}
		}
		if paid != em.Paid || em.Paid == 0 {
			t.Fatalf("epoch %d: %d FLOCK credited, %d paid out of the reserve", e, paid, em.Paid)
		}
		found := false
		for _, m := range em.Allocation.Models {
			if m.Model == idle {
				found = true
				if m.Share != 0 || m.Amount != 0 || m.Weight != "0" {
					t.Fatalf("epoch %d: the idle model is allocated %+v", e, m)
				}
			}
		}
		if !found {
			t.Fatalf("epoch %d: the idle model is not in the allocation: %+v", e, em.Allocation.Models)
		}
	}
	text := out.String()
	for _, want := range []string{idle + " ", "0.000000 FLOCK (no traffic)", "kept by the cap", "rewarded   user ", "--plot "} {
		if !strings.Contains(text, want) {
			t.Fatalf("the devnet did not print %q:\n%s", want, text)
		}
	}
}
