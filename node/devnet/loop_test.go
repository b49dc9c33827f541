package devnet

import (
	"context"
	"encoding/hex"
	"math"
	"sort"
	"testing"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// loopReceipt is a receipt as the devnet's nodes and its chain report it.
type loopReceipt struct {
	api.ReceiptView
	chain ledger.ReceiptState
}

// checkLoop recomputes every closed epoch of the devnet from the raw
// inputs its API serves, with loop_recompute_test.go's arithmetic rather
// than package econ's:
//
//   - the receipts, gathered from every node's pool, with the chain's
//     record of each (the epoch it is charged in, paid or not);
//   - the genesis (tiers, net split, discount tiers, emission parameters),
//     the model's list prices, the offering's graduation and the user's
//     stake.
//
// From them it recomputes each receipt's discounted price and charge, each
// model's split, the epoch totals and receipts root, the emission budget,
// its allocation across models (the idle one at zero), the issuer bonus,
// every user's global-score share, the stake-gated releases with their
// carry-over, and what the rewards API says each account was credited.
// stakedBy is the last epoch in which the user's stake may have been sent:
// it counts from the epoch after the one that holds it.
func checkLoop(t *testing.T, nodes []Node, model, user string, stakedBy uint64) {
	t.Helper()
	ctx := t.Context()
	c, err := client.New(nodes[0].API)
	if err != nil {
		t.Fatal(err)
	}
	var cs struct {
		State struct {
			NextEpoch uint64         `json:"next_epoch"`
			Genesis   ledger.Genesis `json:"genesis"`
		} `json:"state"`
	}
	if err := c.Do(ctx, "GET", "/api/v1/chain", "", nil, &cs); err != nil {
		t.Fatal(err)
	}
	g, closed := cs.State.Genesis, cs.State.NextEpoch
	listed, err := c.RegisteredModel(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	var tier ledger.Tier
	for _, x := range g.Tiers {
		if x.Name == listed.Tier {
			tier = x
		}
	}
	rmo, err := c.RMO(ctx, model)
	if err != nil || rmo.Graduation == nil {
		t.Fatalf("the offering of %s: %+v, %v", model, rmo, err)
	}
	gradMs := rmo.Graduation.Time.UnixMilli()

	byEpoch := gatherReceipts(t, ctx, nodes, closed)
	t.Logf("checking epochs 0..%d", closed-1)

	// The staking discount: the user's receipts are at list prices until
	// its stake counts, then at the first tier's (stakeMT is in it), and
	// never anything else.
	first := ^uint64(0)
	for e := range closed {
		for _, r := range byEpoch[e] {
			if r.Account == user && r.InputPrice != listed.InputPrice && r.ReceiptView.Epoch < first {
				first = r.ReceiptView.Epoch
			}
		}
	}
	if first == ^uint64(0) || first > stakedBy+1 {
		t.Fatalf("the user's receipts are discounted from epoch %d; its stake was sent by epoch %d", first, stakedBy)
	}
	t.Logf("the user's receipts are discounted from epoch %d (stake sent by epoch %d)", first, stakedBy)
	var tierBps uint64
	for _, x := range g.Params.DiscountTiers {
		if stakeMT >= x.MinStake && uint64(x.DiscountBps) > tierBps {
			tierBps = uint64(x.DiscountBps)
		}
	}
	if tierBps == 0 {
		t.Fatal("the user's stake is in no discount tier")
	}
	// max(floor(list × (10000 − discount) / 10000), the tier's floor)
	price := func(list, floor uint64) uint64 { return max(list*(bps-tierBps)/bps, floor) }
	discIn, discOut := price(listed.InputPrice, tier.MinInputPrice), price(listed.OutputPrice, tier.MinOutputPrice)

	var budget uint64
	var flockCarry, mtCarry, vestedF, vestedM uint64
	for e := range closed {
		s, err := c.Epoch(ctx, e)
		if err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		rs := byEpoch[e]
		// The receipts included in e, paid or not, are the ones its root covers.
		ids := make([][32]byte, 0, len(rs))
		var paid []paidUsage
		usage := map[string]uint64{}
		var discounts uint64
		for _, r := range rs {
			var id [32]byte
			b, _ := hex.DecodeString(r.ID)
			copy(id[:], b)
			ids = append(ids, id)
			wantIn, wantOut := listed.InputPrice, listed.OutputPrice
			if r.Account == user && r.ReceiptView.Epoch >= first {
				wantIn, wantOut = discIn, discOut
			}
			if r.Model != model || r.InputPrice != wantIn || r.OutputPrice != wantOut {
				t.Fatalf("receipt %s of epoch %d (issued in %d) prices %d/%d, want %d/%d", r.ID, e, r.ReceiptView.Epoch, r.InputPrice, r.OutputPrice, wantIn, wantOut)
			}
			// floor((in × p_in + out × p_out) / 1e6), at the quoted and at the list prices
			charge := (r.InputTokens*r.InputPrice + r.OutputTokens*r.OutputPrice) / 1_000_000
			list := (r.InputTokens*listed.InputPrice + r.OutputTokens*listed.OutputPrice) / 1_000_000
			if r.Charge != charge || r.chain.Charge != charge || r.chain.Discount != list-charge {
				t.Fatalf("receipt %s: charge %d (chain %d, discount %d), recomputed %d at list %d", r.ID, r.Charge, r.chain.Charge, r.chain.Discount, charge, list)
			}
			if !r.chain.Paid {
				continue
			}
			discounts += list - charge
			paid = append(paid, paidUsage{tokens: r.InputTokens + r.OutputTokens, charge: charge, node: r.Node, entry: r.EntryNode})
			usage[r.Account] += charge
		}
		root := ledger.MerkleRoot(ids)
		if s.ReceiptsRoot != hex.EncodeToString(root[:]) || s.Receipts != uint64(len(rs)) || s.Paid != uint64(len(paid)) {
			t.Fatalf("epoch %d: %d receipts (%d paid), root %s; the nodes hold %d (%d paid) with root %x",
				e, s.Receipts, s.Paid, s.ReceiptsRoot, len(rs), len(paid), root)
		}
		sp := recomputeSplit(paid, tier.CostPerMTok, uint64(g.Params.GatewayBps),
			[4]uint64{uint64(g.Params.MTBuybackBps), uint64(g.Params.FlockBuybackBps), uint64(g.Params.TreasuryBps), uint64(g.Params.IssuerBps)})
		got := splitTotals{s.Gross, s.Cost, s.RoutingFee, s.Net, s.MTBuyback, s.FlockBuyback, s.Treasury, s.Issuer}
		if got != sp || s.Discounts != discounts {
			t.Fatalf("epoch %d: settled %+v with %d of discounts, recomputed %+v with %d", e, got, s.Discounts, sp, discounts)
		}

		// Emissions: the budget decays by the half-life's retention.
		em := s.Emissions
		if em == nil || em.Allocation == nil {
			t.Fatalf("epoch %d has no emissions: %+v", e, em)
		}
		if e == 0 {
			budget = g.Economics.EmissionFirstEpochFlock
		} else {
			want := float64(budget) * math.Exp2(-float64(g.EpochMs)/float64(g.Economics.EmissionHalfLifeMs))
			if d := math.Abs(float64(em.Budget) - want); d > 1+want*1e-12 {
				t.Fatalf("epoch %d: budget %d, want %.1f", e, em.Budget, want)
			}
			budget = em.Budget
		}
		if em.Budget != min(budget, em.ReserveBefore) {
			t.Fatalf("epoch %d: budget %d, want %d", e, em.Budget, budget)
		}
		// The FLOCK/usd price after the buybacks prices the cap.
		if bb := s.Buybacks; bb != nil && (em.PriceNum != bb.FlockPoolAfter.ReserveB || em.PriceDen != bb.FlockPoolAfter.ReserveA) {
			t.Fatalf("epoch %d: emissions priced at %d/%d, the FLOCK/usd pool holds %d usd / %d FLOCK", e, em.PriceNum, em.PriceDen,
				bb.FlockPoolAfter.ReserveB, bb.FlockPoolAfter.ReserveA)
		}
		ms := []modelInput{{name: model, gross: sp.gross, ageMs: s.ClosedTimeMs - gradMs}, {name: model + idleSuffix}}
		alloc := recomputeAllocation(em.Budget, ms, g.Economics.AgeHorizonMs, uint64(g.Economics.AgeFloorBps),
			uint64(g.Economics.EmissionCapBps), em.PriceNum, em.PriceDen)
		for _, m := range em.Allocation.Models {
			if m.Amount != alloc[m.Model] {
				t.Fatalf("epoch %d: %s allocated %d FLOCK, recomputed %d", e, m.Model, m.Amount, alloc[m.Model])
			}
		}

		// Within the model: the issuer's bonus, then the users by
		// global_score; the user's stake counts from epoch first.
		ps := make([]participant, 0, len(usage)+1)
		for a, u := range usage {
			ps = append(ps, participant{account: a, usage: u})
		}
		if e >= first {
			found := false
			for i := range ps {
				if ps[i].account == user {
					ps[i].stake, found = stakeMT, true
				}
			}
			if !found {
				ps = append(ps, participant{account: user, stake: stakeMT})
			}
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].account < ps[j].account })
		credited := map[string][3]uint64{} // account → user/issuer FLOCK, gated FLOCK, gated MT
		add := func(a string, i int, v uint64) {
			x := credited[a]
			x[i] += v
			credited[a] = x
		}
		amount := alloc[model]
		bonus := mulDiv(amount, uint64(g.Economics.IssuerBonusBps), bps)
		users := distribute(amount-bonus, scores(ps, fixed/bps*uint64(g.Economics.AlphaBps), false))
		for _, mr := range em.Models {
			if mr.Model != model || mr.Issuer != bonus {
				t.Fatalf("epoch %d: %s's issuer bonus %d, recomputed %d of %d", e, mr.Model, mr.Issuer, bonus, amount)
			}
			add(mr.IssuerID, 0, mr.Issuer)
			for _, u := range mr.Users {
				if u.Amount != users[u.Account] {
					t.Fatalf("epoch %d: %s got %d FLOCK as a user, recomputed %d", e, u.Account, u.Amount, users[u.Account])
				}
				add(u.Account, 0, u.Amount)
			}
		}
		if amount > 0 && len(em.Models) != 1 {
			t.Fatalf("epoch %d: emissions to %d models, want %s only", e, len(em.Models), model)
		}

		// The stake-gated pools release linearly since the graduation and
		// are shared by incentive_score, what no one earns carried over.
		vf := vested(rmo.Graduation.RaiseReservedFlockBase, gradMs, s.ClosedTimeMs, g.Economics.IncentiveReleaseMs)
		vm := vested(rmo.Graduation.IncentivesMTBase, gradMs, s.ClosedTimeMs, g.Economics.IncentiveReleaseMs)
		relF, relM := vf-vestedF, vm-vestedM
		vestedF, vestedM = vf, vm
		inc := scores(ps, 0, true)
		if relF+relM+flockCarry+mtCarry > 0 {
			if len(em.Gated) != 1 {
				t.Fatalf("epoch %d: gated releases %+v, want %d FLOCK and %d MT of %s", e, em.Gated, relF, relM, model)
			}
			gr := em.Gated[0]
			for _, c := range []struct {
				denom       string
				got         econ.GatedSplit
				rel, carry  uint64
				creditIndex int
			}{{"FLOCK", gr.Flock, relF, flockCarry, 1}, {"MT", gr.MT, relM, mtCarry, 2}} {
				want := distribute(c.rel+c.carry, inc)
				var sum uint64
				for _, u := range c.got.Users {
					if u.Amount != want[u.Account] {
						t.Fatalf("epoch %d: %s got %d gated %s, recomputed %d", e, u.Account, u.Amount, c.denom, want[u.Account])
					}
					sum += u.Amount
					add(u.Account, c.creditIndex, u.Amount)
				}
				if c.got.Release != c.rel || c.got.CarryIn != c.carry || c.got.Carry != c.rel+c.carry-sum {
					t.Fatalf("epoch %d: gated %s %+v, recomputed release %d carry in %d", e, c.denom, c.got, c.rel, c.carry)
				}
			}
			flockCarry, mtCarry = gr.Flock.Carry, gr.MT.Carry
		}

		// The rewards API reports what each credited account received.
		for a, want := range credited {
			if want == [3]uint64{} {
				continue
			}
			rw, err := c.Rewards(ctx, a, e, 1)
			if err != nil || len(rw.Epochs) == 0 || rw.Epochs[0].Epoch != e {
				t.Fatalf("epoch %d: the rewards of %s: %+v, %v", e, a, rw, err)
			}
			var got [3]uint64
			for _, m := range rw.Epochs[0].Models {
				got[0] += m.UserFlockBase + m.IssuerFlockBase
				got[1] += m.GatedFlockBase
				got[2] += m.GatedMTBase
			}
			if got != want {
				t.Fatalf("epoch %d: the rewards API credits %s with %v (FLOCK, gated FLOCK, gated MT), recomputed %v", e, a, got, want)
			}
		}
		if e >= first && credited[user][0] == 0 {
			t.Fatalf("epoch %d: the staking user, who sent traffic, earned no emissions", e)
		}
		t.Logf("epoch %d: %d receipts, gross %d, discounts %d, emitted %d of %d to %s, user %v", e, len(rs), sp.gross, discounts, amount, em.Budget, model, credited[user])
	}
}

// vested is floor(total × (now − start) / duration), total past the end
// and 0 before the start.
func vested(total uint64, startMs, nowMs, durationMs int64) uint64 {
	switch {
	case nowMs <= startMs:
		return 0
	case nowMs-startMs >= durationMs:
		return total
	}
	return mulDiv(total, uint64(nowMs-startMs), uint64(durationMs))
}

// gatherReceipts returns the receipts of every node's pool that the chain
// charged in an epoch before closed, by that epoch.
func gatherReceipts(t *testing.T, ctx context.Context, nodes []Node, closed uint64) map[uint64][]loopReceipt {
	t.Helper()
	seen := map[string]api.ReceiptView{}
	for _, n := range nodes {
		c, err := client.New(n.API)
		if err != nil {
			t.Fatal(err)
		}
		q := client.ReceiptQuery{Limit: 1000}
		for {
			page, err := c.Receipts(ctx, q)
			if err != nil {
				t.Fatalf("receipts of %s: %v", n.API, err)
			}
			for _, r := range page.Receipts {
				seen[r.ID] = r
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
	}
	c, err := client.New(nodes[0].API)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64][]loopReceipt{}
	for id, r := range seen {
		st, err := c.ChainReceipt(ctx, id)
		if client.IsNotFound(err) {
			continue // not included yet: charged in an open epoch
		} else if err != nil {
			t.Fatalf("the chain's record of receipt %s: %v", id, err)
		}
		if st.Epoch < closed {
			out[st.Epoch] = append(out[st.Epoch], loopReceipt{ReceiptView: r, chain: *st})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no receipt charged in epochs 0..%d", closed)
	}
	return out
}
