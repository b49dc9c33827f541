package ledger

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fomonet/fomo/settle/econ"
)

// WriteTable writes the settlement as a table, one row per model and a
// total where there is more than one, then the epoch's buybacks and burns
// with the pools after them: what `fomo epoch list` prints (the devnet
// prints its own, narrower table).
func (e EpochSettlement) WriteTable(out io.Writer) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "epoch %d closed at height %d: %d receipts (%d unpaid), root %s\n",
		e.Epoch, e.ClosedHeight, e.Receipts, e.Unpaid, shortHex(e.ReceiptsRoot))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\trequests\ttokens\tgross\tnode pay\trouting\tMT buyback\tFLOCK buyback\ttreasury\tissuer\t")
	for _, m := range e.Models {
		s := m.Split
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Model, s.Receipts, s.Tokens, econ.FormatAmount(s.Gross),
			econ.FormatAmount(s.Cost), econ.FormatAmount(s.RoutingFee), econ.FormatAmount(s.MTBuyback), econ.FormatAmount(s.FlockBuyback), econ.FormatAmount(s.Treasury), econ.FormatAmount(s.Issuer))
	}
	if len(e.Models) != 1 {
		fmt.Fprintf(tw, "total\t%d\t\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.Paid, econ.FormatAmount(e.Gross), econ.FormatAmount(e.Cost),
			econ.FormatAmount(e.RoutingFee), econ.FormatAmount(e.MTBuyback), econ.FormatAmount(e.FlockBuyback), econ.FormatAmount(e.Treasury), econ.FormatAmount(e.Issuer))
	}
	tw.Flush()
	if bb := e.Buybacks; bb != nil && (bb.UsdIn > 0 || bb.Flock.Carry > 0 || len(bb.Models) > 0) {
		var carry uint64
		for _, m := range bb.Models {
			carry += m.Carry
		}
		fmt.Fprintf(&b, "buybacks: %s usd in for %s FLOCK; burned %s FLOCK and %s MT; %s usd carried over\n",
			econ.FormatAmount(bb.UsdIn), econ.FormatAmount(bb.FlockOut), econ.FormatAmount(bb.FlockBurned),
			econ.FormatAmount(bb.MTBurned), econ.FormatAmount(carry+bb.Flock.Carry))
		if p := bb.FlockPoolAfter; p.ReserveA > 0 {
			fmt.Fprintf(&b, "  FLOCK/usd pool: %s FLOCK / %s usd, %s usd per FLOCK\n", econ.FormatAmount(p.ReserveA),
				econ.FormatAmount(p.ReserveB), formatE18(bb.FlockPriceE18))
		}
		for _, m := range bb.Models {
			fmt.Fprintf(&b, "  %s: %s usd → %s FLOCK → %s MT burned", m.Model, econ.FormatAmount(m.UsdIn),
				econ.FormatAmount(m.FlockBought), econ.FormatAmount(m.MTBurned))
			if p := m.PoolAfter; p != nil {
				fmt.Fprintf(&b, "; MT/FLOCK pool: %s MT / %s FLOCK, %s FLOCK per MT", econ.FormatAmount(p.ReserveA),
					econ.FormatAmount(p.ReserveB), formatE18(m.PriceAfterE18))
			} else {
				b.WriteString("; no pool yet")
			}
			fmt.Fprintf(&b, "; %s usd carried over\n", econ.FormatAmount(m.Carry))
		}
	}
	_, _ = out.Write(b.Bytes())
}

// formatE18 formats a 1e18 fixed-point price with 9 decimals, rounded
// down: enough to see a buyback move it.
func formatE18(v uint64) string {
	const cut = econ.PriceScale / 1e9
	return fmt.Sprintf("%d.%09d", v/econ.PriceScale, v%econ.PriceScale/cut)
}

// shortHex cuts a hex string to its first 16 digits and an ellipsis.
func shortHex(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
