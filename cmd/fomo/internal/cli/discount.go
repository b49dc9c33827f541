package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
)

// writeDiscounts prints, per model the account has staked on, the stake
// counting now and its discount this epoch and next (DESIGN §9.2); nothing
// when it has no stake or the node has no chain routes.
func writeDiscounts(ctx context.Context, w io.Writer, c *client.Client, account string) error {
	d, err := c.Discounts(ctx, account)
	if client.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, m := range d.Models {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "stake\t%s (%s)\n", m.Model, m.MTDenom)
		fmt.Fprintf(tw, "counting\t%s in epoch %d\n", amount(m.CountingBase, m.MTDenom), m.Now.Epoch)
		for _, e := range []struct {
			name string
			d    api.EpochDiscount
		}{{"discount now", m.Now}, {"discount next", m.Next}} {
			fmt.Fprintf(tw, "%s\t%s in epoch %d (%s staked at its start): %s/%s per 1M tokens, list %s/%s\n",
				e.name, bpsPercent(e.d.DiscountBps), e.d.Epoch, amount(e.d.OpeningStakeBase, m.MTDenom),
				amount(e.d.InputPrice, "usd"), amount(e.d.OutputPrice, "usd"),
				amount(e.d.ListInputPrice, "usd"), amount(e.d.ListOutputPrice, "usd"))
		}
		_ = tw.Flush()
	}
	return nil
}

// bpsPercent writes basis points as a percentage: 1250 → "12.5%".
func bpsPercent(bps uint32) string {
	if bps%100 == 0 {
		return fmt.Sprintf("%d%%", bps/100)
	}
	s := fmt.Sprintf("%d.%02d", bps/100, bps%100)
	if s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s + "%"
}
