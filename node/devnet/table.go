package devnet

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// topRewarded is how many of an epoch's rewarded accounts the table lists.
const topRewarded = 3

// writeEpoch writes an epoch's settlement as the devnet prints it, in
// fewer than 100 columns: the revenue and its split, the staking discounts
// given, the burns and pool
// prices after the buybacks, the emissions with each model's amount (a
// model without traffic shows its zero), the stake-gated releases and the
// accounts rewarded most. names gives the devnet's accounts a role
// ("user", "issuer"); other accounts show their short id.
func writeEpoch(out io.Writer, e ledger.EpochSettlement, names map[string]string) {
	var b bytes.Buffer
	f := econ.FormatAmount
	fmt.Fprintf(&b, "epoch %d closed at height %d: %d receipts (%d unpaid)\n", e.Epoch, e.ClosedHeight, e.Receipts, e.Unpaid)
	fmt.Fprintf(&b, "  revenue    %s usd gross = %s node pay + %s routing + %s net\n", f(e.Gross), f(e.Cost), f(e.RoutingFee), f(e.Net))
	if e.Discounts > 0 {
		fmt.Fprintf(&b, "  discounts  %s usd off list prices for staked MT\n", f(e.Discounts))
	}
	if bb := e.Buybacks; bb != nil {
		fmt.Fprintf(&b, "  burned     %s MT and %s FLOCK, bought back with %s usd\n", f(bb.MTBurned), f(bb.FlockBurned), f(bb.UsdIn))
		fmt.Fprintf(&b, "  prices     %s usd per FLOCK", ledgerE18(bb.FlockPriceE18))
		for _, m := range bb.Models {
			if m.PoolAfter != nil {
				fmt.Fprintf(&b, "; %s FLOCK per MT of %s", ledgerE18(m.PriceAfterE18), m.Model)
			}
		}
		b.WriteString("\n")
	}
	if em := e.Emissions; em != nil {
		writeEmissions(&b, em, names)
	}
	_, _ = out.Write(b.Bytes())
}

// writeEmissions writes the emissions part of writeEpoch's table.
func writeEmissions(b *bytes.Buffer, em *ledger.EpochEmissions, names map[string]string) {
	f := econ.FormatAmount
	switch {
	case em.NoPrice:
		fmt.Fprintf(b, "  emissions  budget %s FLOCK, none paid: no FLOCK/usd price\n", f(em.Budget))
	case em.Allocation == nil:
		fmt.Fprintf(b, "  emissions  budget %s FLOCK, none paid\n", f(em.Budget))
	default:
		a := em.Allocation
		fmt.Fprintf(b, "  emissions  budget %s FLOCK: %s paid, %s kept by the cap, %s unspent\n",
			f(em.Budget), f(em.Paid), f(a.Capped), f(em.Budget-em.Paid-a.Capped))
		for _, m := range a.Models {
			why := fmt.Sprintf("cap %s", f(m.Cap))
			switch {
			case m.Weight == "0":
				why = "no traffic"
			case m.Capped > 0:
				why = "capped at its gross in FLOCK"
			}
			fmt.Fprintf(b, "    %-26s %16s FLOCK (%s)\n", m.Model, f(m.Amount), why)
		}
	}
	fmt.Fprintf(b, "  reserve    %s FLOCK left to emit\n", f(em.ReserveAfter))
	for _, g := range em.Gated {
		fmt.Fprintf(b, "  gated      %s: %s FLOCK + %s MT paid to stakers who used it\n", g.Model,
			f(g.Flock.Release+g.Flock.CarryIn-g.Flock.Carry), f(g.MT.Release+g.MT.CarryIn-g.MT.Carry))
		if g.Flock.Carry > 0 || g.MT.Carry > 0 {
			fmt.Fprintf(b, "             %s FLOCK + %s MT carried to the next epoch\n", f(g.Flock.Carry), f(g.MT.Carry))
		}
	}
	top := rewarded(em)
	for i, r := range top[:min(len(top), topRewarded)] {
		label := "  rewarded  "
		if i > 0 {
			label = "            "
		}
		fmt.Fprintf(b, "%s %-22s %16s FLOCK %16s MT\n", label, accountName(r.account, names), f(r.flock), f(r.mt))
	}
}

// reward is what an account received in an epoch: emissions (issuer bonus
// and user share) and the stake-gated releases.
type reward struct {
	account   string
	flock, mt uint64
}

// rewarded totals an epoch's rewards by account, the largest FLOCK first
// (then MT, then account), leaving out accounts that received nothing.
func rewarded(em *ledger.EpochEmissions) []reward {
	by := map[string]*reward{}
	add := func(acct string, flock, mt uint64) {
		if flock == 0 && mt == 0 {
			return
		}
		r, ok := by[acct]
		if !ok {
			r = &reward{account: acct}
			by[acct] = r
		}
		r.flock += flock
		r.mt += mt
	}
	for _, m := range em.Models {
		add(m.IssuerID, m.Issuer, 0)
		for _, u := range m.Users {
			add(u.Account, u.Amount, 0)
		}
	}
	for _, g := range em.Gated {
		for _, u := range g.Flock.Users {
			add(u.Account, u.Amount, 0)
		}
		for _, u := range g.MT.Users {
			add(u.Account, 0, u.Amount)
		}
	}
	out := make([]reward, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].flock != out[j].flock {
			return out[i].flock > out[j].flock
		}
		if out[i].mt != out[j].mt {
			return out[i].mt > out[j].mt
		}
		return out[i].account < out[j].account
	})
	return out
}

// accountName is an account's devnet role and the end of its id, or the
// end of its id alone.
func accountName(id string, names map[string]string) string {
	short := id
	if len(id) > 8 {
		short = "…" + id[len(id)-6:]
	}
	if n, ok := names[id]; ok {
		return n + " " + short
	}
	return short
}

// ledgerE18 formats a 1e18 fixed-point price with 9 decimals, rounded down.
func ledgerE18(v uint64) string {
	const cut = econ.PriceScale / 1e9
	return fmt.Sprintf("%d.%09d", v/econ.PriceScale, v%econ.PriceScale/cut)
}
