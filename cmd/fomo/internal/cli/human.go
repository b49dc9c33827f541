package cli

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// writeAccount writes an account as account show prints it: balances in
// decimals with their denoms.
func writeAccount(w io.Writer, a *api.Account) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "account\t%s\n", a.ID)
	fmt.Fprintf(tw, "nonce\t%d\n", a.Nonce)
	denoms := make([]string, 0, len(a.Balances))
	for d := range a.Balances {
		denoms = append(denoms, d)
	}
	slices.Sort(denoms)
	if len(denoms) == 0 {
		fmt.Fprintf(tw, "balance\t%s\n", amount(0, ledger.DenomUSD))
	}
	for _, d := range denoms {
		fmt.Fprintf(tw, "balance\t%s\n", amount(a.Balances[d], d))
	}
	if a.Overdrawn || a.UnpaidUSD > 0 {
		fmt.Fprintf(tw, "overdrawn\t%t, %s of receipts unpaid\n", a.Overdrawn, amount(a.UnpaidUSD, ledger.DenomUSD))
	}
	if a.Node != nil {
		fmt.Fprintf(tw, "node\tregistered, bond %s\n", amount(a.Node.Bond, ledger.DenomFlock))
	}
	return tw.Flush()
}

// writeEpoch writes a closed epoch's settlement as epoch show prints it:
// amounts in decimals with their denoms.
func writeEpoch(w io.Writer, e *ledger.EpochSettlement) error {
	usd := func(v uint64) string { return amount(v, ledger.DenomUSD) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "epoch\t%d, %s to %s\n", e.Epoch, msUTC(e.StartMs), msUTC(e.EndMs))
	fmt.Fprintf(tw, "closed\tat height %d, %s\n", e.ClosedHeight, msUTC(e.ClosedTimeMs))
	fmt.Fprintf(tw, "receipts\t%d (%d paid, %d unpaid), root %s\n", e.Receipts, e.Paid, e.Unpaid, e.ReceiptsRoot)
	fmt.Fprintf(tw, "gross\t%s\n", usd(e.Gross))
	fmt.Fprintf(tw, "node pay\t%s\n", usd(e.Cost))
	fmt.Fprintf(tw, "routing fee\t%s\n", usd(e.RoutingFee))
	fmt.Fprintf(tw, "net\t%s: MT buyback %s, FLOCK buyback %s, treasury %s, issuer %s\n", usd(e.Net),
		usd(e.MTBuyback), usd(e.FlockBuyback), usd(e.Treasury), usd(e.Issuer))
	if e.Discounts > 0 {
		fmt.Fprintf(tw, "discounts\t%s\n", usd(e.Discounts))
	}
	for _, m := range e.Models {
		s := m.Split
		fmt.Fprintf(tw, "model %s\t%d receipts, %d tokens: gross %s, node pay %s, routing fee %s, net %s\n",
			m.Model, s.Receipts, s.Tokens, usd(s.Gross), usd(s.Cost), usd(s.RoutingFee), usd(s.Net))
	}
	if bb := e.Buybacks; bb != nil {
		fmt.Fprintf(tw, "buybacks\t%s in for %s; burned %s and %s MT\n", usd(bb.UsdIn),
			amount(bb.FlockOut, ledger.DenomFlock), amount(bb.FlockBurned, ledger.DenomFlock), econ.FormatAmount(bb.MTBurned))
	}
	return tw.Flush()
}

// msUTC writes Unix milliseconds as a UTC time.
func msUTC(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.DateTime) + " UTC" }
