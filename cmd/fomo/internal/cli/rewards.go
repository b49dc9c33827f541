package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/spf13/cobra"
)

// pageFlags are the --from and --limit of a paged command.
type pageFlags struct {
	from  uint64
	limit int
}

func (p *pageFlags) register(cmd *cobra.Command) {
	cmd.Flags().Uint64Var(&p.from, "from", 0, "first epoch to show")
	cmd.Flags().IntVar(&p.limit, "limit", 0, "most epochs to show (0: the node's default, 100)")
}

// more tells how to see the next page, if there is one.
func more(w io.Writer, next uint64) {
	if next > 0 {
		fmt.Fprintf(w, "more from epoch %d: --from %d\n", next, next)
	}
}

// sixDecimals cuts a decimal to six digits after the point (floored, as
// the API's decimals are).
func sixDecimals(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", max(0, 6-len(frac)))
	return whole + "." + frac[:6]
}

// newRewardsCmd is `fomo rewards show [ACCOUNT]` (DESIGN §9.7).
func newRewardsCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "rewards", Short: "Show what the emissions credited an account"}
	var apiURL, keyName string
	var asJSON bool
	var page pageFlags
	show := &cobra.Command{
		Use:   "show [ACCOUNT]",
		Short: "Show an account's emission rewards by epoch and model, and its totals (default: your key's)",
		Long: `show lists what the emissions credited an account at each epoch's close,
model by model: its part of the model's emission as a user (by usage, lifted
by its stake), the issuer bonus of the models it issued, and its parts of
the stake-gated pools (reserved FLOCK and MT incentives, for accounts that
both use and stake a model). The totals cover every closed epoch.`,
		Example: "  fomo rewards show --key-name alice\n  fomo rewards show 12D3KooW... --from 100 --limit 10",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := accountArg(rf, args, keyName)
			if err != nil {
				return err
			}
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			r, err := c.Rewards(cmd.Context(), id, page.from, page.limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			return writeRewards(cmd.OutOrStdout(), r)
		},
	}
	show.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	show.Flags().StringVar(&keyName, "key-name", "user", "your key: HOME/keys/NAME.key")
	show.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON (amounts in base units)")
	page.register(show)
	cmd.AddCommand(show)
	return cmd
}

func writeRewards(w io.Writer, r *api.Rewards) error {
	if len(r.Totals) == 0 {
		fmt.Fprintf(w, "%s has no rewards\n", r.Account)
		return nil
	}
	fmt.Fprintf(w, "rewards of %s\n", r.Account)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Epochs) > 0 {
		fmt.Fprintln(tw, "EPOCH\tMODEL\tAS USER\tISSUER BONUS\tGATED FLOCK\tGATED MT")
	}
	for _, e := range r.Epochs {
		for _, m := range e.Models {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Epoch, m.Model, amount(m.UserFlockBase, ledger.DenomFlock),
				amount(m.IssuerFlockBase, ledger.DenomFlock), amount(m.GatedFlockBase, ledger.DenomFlock), amount(m.GatedMTBase, m.MTDenom))
		}
	}
	for i, t := range r.Totals {
		label := ""
		if i == 0 {
			label = "total"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, amount(t.AmountBase, t.Denom))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	more(w, r.Next)
	return nil
}

// newEmissionsCmd is `fomo emissions` (DESIGN §9.7).
func newEmissionsCmd() *cobra.Command {
	var apiURL string
	var asJSON bool
	var page pageFlags
	cmd := &cobra.Command{
		Use:   "emissions",
		Short: "Show the emission reserve, the next budget and each epoch's emissions by model",
		Long: `emissions shows the FLOCK left in the emission reserve and the budget of
the next epoch to close, then for each closed epoch its budget, what was
paid out of the reserve, what stayed in it (of which what the cap held
back), the reserve after and the FLOCK/usd price the cap was taken at;
then each model's gross usage, age factor, share, cap and what was paid to
its issuer and users; then the stake-gated pools' releases.`,
		Example: "  fomo emissions\n  fomo emissions --from 100 --limit 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			e, err := c.Emissions(cmd.Context(), page.from, page.limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			return writeEmissions(cmd.OutOrStdout(), e)
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON (amounts in base units)")
	page.register(cmd)
	return cmd
}

func writeEmissions(w io.Writer, e *api.Emissions) error {
	if !e.Enabled {
		fmt.Fprintln(w, "this network has no emissions: its genesis funds no emission reserve")
		return nil
	}
	f := econ.FormatAmount
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "reserve\t%s left\n", amount(e.ReserveFlockBase, ledger.DenomFlock))
	fmt.Fprintf(tw, "next budget\t%s (epoch %d)\n", amount(e.NextBudgetFlockBase, ledger.DenomFlock), e.NextEpoch)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(e.Epochs) == 0 {
		fmt.Fprintln(w, "no closed epoch here")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nEPOCH\tBUDGET (FLOCK)\tPAID\tKEPT\tCAPPED\tRESERVE AFTER\tFLOCK PRICE (USD)\t")
	for _, x := range e.Epochs {
		p := "none"
		if x.FlockPrice != "" {
			p = sixDecimals(x.FlockPrice)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Epoch, f(x.BudgetFlockBase), f(x.PaidFlockBase), f(x.KeptFlockBase),
			f(x.CappedFlockBase), f(x.ReserveAfterFlockBase), p)
	}
	fmt.Fprintln(tw, "\nEPOCH\tMODEL\tGROSS (USD)\tAGE FACTOR\tSHARE (FLOCK)\tCAP\tPAID\tISSUER\tUSERS\t")
	for _, x := range e.Epochs {
		for _, m := range x.Models {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Epoch, m.Model, f(m.GrossUSDBase), sixDecimals(m.AgeFactor),
				f(m.ShareFlockBase), f(m.CapFlockBase), f(m.PaidFlockBase), f(m.IssuerFlockBase), f(m.UsersFlockBase))
		}
	}
	gated := false
	for _, x := range e.Epochs {
		for _, g := range x.Gated {
			if !gated {
				fmt.Fprintln(tw, "\nEPOCH\tGATED POOL\tRELEASED FLOCK\tPAID\tCARRY\tRELEASED MT\tPAID\tCARRY\t")
				gated = true
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Epoch, g.Model, f(g.ReleasedFlockBase), f(g.PaidFlockBase),
				f(g.CarryFlockBase), f(g.ReleasedMTBase), f(g.PaidMTBase), f(g.CarryMTBase))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	more(w, e.Next)
	return nil
}
