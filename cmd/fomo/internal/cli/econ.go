package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/cobra"
)

// amount writes base units of a denom as a decimal with its denom.
func amount(v uint64, denom string) string { return econ.FormatAmount(v) + " " + denom }

// price trims a price's trailing zeros, keeping six decimals.
func price(s string) string {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok {
		return s
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) < 6 {
		frac += strings.Repeat("0", 6-len(frac))
	}
	return whole + "." + frac
}

// parseAmount parses the decimal of flag name; an empty optional one is zero.
func parseAmount(name, s string, required bool) (uint64, error) {
	if s == "" && !required {
		return 0, nil
	}
	v, err := econ.ParseAmount(s)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return v, nil
}

// balances returns an account's balances; an account the chain has never
// seen has none.
func balances(ctx context.Context, c *client.Client, account string) (map[string]uint64, error) {
	a, err := c.Account(ctx, account)
	if client.IsNotFound(err) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	return a.Balances, nil
}

// sendAndShow sends body signed by sk through f.api and prints how the
// sender's balances of denoms moved: what the transaction paid and got.
func sendAndShow(ctx context.Context, out io.Writer, f *txFlags, sk crypto.PrivKey, body any, denoms ...string) error {
	c, err := connect(f.api)
	if err != nil {
		return err
	}
	account := identity.PeerID(sk).String()
	before, err := balances(ctx, c, account)
	if err != nil {
		return err
	}
	if _, err := sendTx(ctx, out, f.api, sk, body); err != nil {
		return err
	}
	after, err := balances(ctx, c, account)
	if err != nil {
		return err
	}
	for _, d := range denoms {
		switch b, a := before[d], after[d]; {
		case a < b:
			fmt.Fprintf(out, "paid     %s\n", amount(b-a, d))
		case a > b:
			fmt.Fprintf(out, "received %s\n", amount(a-b, d))
		}
	}
	return nil
}

// modelTxCmd is a command that sends one transaction naming a model.
func modelTxCmd(rf *Flags, use, short, example, defaultKey string, body func(model string) any, show bool, denoms ...func(model string) string) *cobra.Command {
	var f txFlags
	cmd := &cobra.Command{
		Use: use + " MODEL", Short: short, Example: example, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			ds := make([]string, 0, len(denoms))
			for _, d := range denoms {
				ds = append(ds, d(args[0]))
			}
			if err := sendAndShow(cmd.Context(), cmd.OutOrStdout(), &f, sk, body(args[0]), ds...); err != nil {
				return err
			}
			if !show {
				return nil
			}
			return showOffering(cmd.Context(), cmd.OutOrStdout(), f.api, args[0])
		},
	}
	f.register(cmd, defaultKey)
	return cmd
}

func flockDenom(string) string { return ledger.DenomFlock }

// newRMOCmd is `fomo rmo`: a model's offering (DESIGN §9.5).
func newRMOCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "rmo", Short: "Launch, commit to, graduate, redeem and show model offerings (RMO)"}

	var lf txFlags
	var raiseMin, raiseMax, firstBuy string
	var window time.Duration
	launch := &cobra.Command{
		Use:   "launch MODEL",
		Short: "Open the offering of a model you issued: pays the launch fee (FLOCK) to the treasury",
		Long: `launch opens the offering of a registered model served by at least one node:
a raise of FLOCK between --raise-min and --raise-max (within the model's tier
bounds) on a linear bonding curve over the sale bucket of its MT. The launch
fee goes to the treasury; --first-buy commits FLOCK for you first, at the
curve's start price. Only the model's issuer may launch it.`,
		Example: "  fomo rmo launch llama-3.1-8b.q4 --raise-min 1000 --raise-max 10000 --first-buy 100 --key-name issuer",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := lf.key(rf.Home)
			if err != nil {
				return err
			}
			x := ledger.LaunchRMO{Model: args[0], DurationMs: window.Milliseconds()}
			if x.RaiseMin, err = parseAmount("raise-min", raiseMin, true); err != nil {
				return err
			}
			if x.RaiseMax, err = parseAmount("raise-max", raiseMax, true); err != nil {
				return err
			}
			if x.FirstBuy, err = parseAmount("first-buy", firstBuy, false); err != nil {
				return err
			}
			if err := sendAndShow(cmd.Context(), cmd.OutOrStdout(), &lf, sk, x, ledger.DenomFlock); err != nil {
				return err
			}
			return showOffering(cmd.Context(), cmd.OutOrStdout(), lf.api, args[0])
		},
	}
	lf.register(launch, "issuer")
	launch.Flags().StringVar(&raiseMin, "raise-min", "", "least FLOCK the raise needs to graduate (required)")
	launch.Flags().StringVar(&raiseMax, "raise-max", "", "most FLOCK the raise takes: the sale bucket sold out (required)")
	launch.Flags().StringVar(&firstBuy, "first-buy", "", "FLOCK to commit first, at the start price (capped; the rest is refunded)")
	launch.Flags().DurationVar(&window, "window", 0, "raise window (0: the network's default, which is also the longest)")
	_ = launch.MarkFlagRequired("raise-min")
	_ = launch.MarkFlagRequired("raise-max")

	var cf txFlags
	var commitAmount string
	commit := &cobra.Command{
		Use:   "commit MODEL",
		Short: "Commit FLOCK to an open offering: buys MT on the curve, delivered at graduation",
		Long: `commit pays --amount FLOCK into a model's open offering: the principal buys MT
on the bonding curve and the commit fee is paid on top, out of the amount;
what the curve cannot fill is refunded. The MT is delivered at graduation;
if the raise fails, redeem returns the principal (not the fee).`,
		Example: "  fomo rmo commit llama-3.1-8b.q4 --amount 250 --key-name alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := cf.key(rf.Home)
			if err != nil {
				return err
			}
			v, err := parseAmount("amount", commitAmount, true)
			if err != nil {
				return err
			}
			if err := sendAndShow(cmd.Context(), cmd.OutOrStdout(), &cf, sk, ledger.Commit{Model: args[0], Amount: v},
				ledger.DenomFlock, ledger.MTDenom(args[0])); err != nil {
				return err
			}
			return showOffering(cmd.Context(), cmd.OutOrStdout(), cf.api, args[0])
		},
	}
	cf.register(commit, "user")
	commit.Flags().StringVar(&commitAmount, "amount", "", "FLOCK to commit, fee included (required)")
	_ = commit.MarkFlagRequired("amount")

	graduate := modelTxCmd(rf, "graduate", "Graduate an offering whose window is over with at least its minimum raised (anyone may)",
		"  fomo rmo graduate llama-3.1-8b.q4 --key-name alice", "user", func(m string) any { return ledger.Graduate{Model: m} }, true,
		flockDenom, ledger.MTDenom)
	redeem := modelTxCmd(rf, "redeem", "Take back your principal from an offering that failed (the fee is not refunded)",
		"  fomo rmo redeem llama-3.1-8b.q4 --key-name alice", "user", func(m string) any { return ledger.Redeem{Model: m} }, false,
		flockDenom)

	var showAPI string
	var showJSON bool
	show := &cobra.Command{
		Use:     "show MODEL",
		Short:   "Show a model's offering: state, raise, curve price, window, positions",
		Example: "  fomo rmo show llama-3.1-8b.q4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if showJSON {
				c, err := connect(showAPI)
				if err != nil {
					return err
				}
				o, err := c.RMO(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), o)
			}
			return showOffering(cmd.Context(), cmd.OutOrStdout(), showAPI, args[0])
		},
	}
	show.Flags().StringVar(&showAPI, "api", defaultAPI(), "node to ask (env FOMO_API)")
	show.Flags().BoolVar(&showJSON, "json", false, "print the API's JSON (amounts in base units)")

	var listAPI string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the offerings: open, failed and graduated",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(listAPI)
			if err != nil {
				return err
			}
			os, err := c.RMOs(cmd.Context())
			if err != nil {
				return err
			}
			if len(os) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no offering yet")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tSTATE\tRAISED (FLOCK)\tMIN\tMAX\tPRICE (FLOCK/MT)\tPOSITIONS\tWINDOW END")
			for _, o := range os {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", o.Model, o.State, econ.FormatAmount(o.RaisedFlockBase),
					econ.FormatAmount(o.RaiseMinFlockBase), econ.FormatAmount(o.RaiseMaxFlockBase), price(o.PriceNow), o.Positions,
					o.WindowEnd.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listAPI, "api", defaultAPI(), "node to ask (env FOMO_API)")
	cmd.AddCommand(launch, commit, graduate, redeem, show, list)
	return cmd
}

// showOffering prints a model's offering.
func showOffering(ctx context.Context, w io.Writer, apiURL, model string) error {
	c, err := connect(apiURL)
	if err != nil {
		return err
	}
	o, err := c.RMO(ctx, model)
	if err != nil {
		return err
	}
	writeOffering(w, o)
	return nil
}

func writeOffering(w io.Writer, o *api.Offering) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "offering\t%s (%s), tier %s, issuer %s\n", o.Model, o.MTDenom, o.Tier, o.Issuer)
	fmt.Fprintf(tw, "state\t%s\n", o.State)
	fmt.Fprintf(tw, "raise\t%s raised of %s min, %s max\n", amount(o.RaisedFlockBase, ledger.DenomFlock),
		econ.FormatAmount(o.RaiseMinFlockBase), econ.FormatAmount(o.RaiseMaxFlockBase))
	if o.RedeemedFlockBase > 0 {
		fmt.Fprintf(tw, "redeemed\t%s\n", amount(o.RedeemedFlockBase, ledger.DenomFlock))
	}
	fmt.Fprintf(tw, "sold\t%s of %s for sale\n", amount(o.SoldMTBase, o.MTDenom), econ.FormatAmount(o.SaleMTBase))
	fmt.Fprintf(tw, "price\t%s flock per MT now (start %s, end %s)\n", price(o.PriceNow), price(o.PriceStart), price(o.PriceEnd))
	fmt.Fprintf(tw, "commit fee\t%d bps; paid %s to the treasury, %s to the issuer\n", o.CommitFeeBps,
		amount(o.FeesTreasuryFlockBase, ledger.DenomFlock), amount(o.FeesIssuerFlockBase, ledger.DenomFlock))
	fmt.Fprintf(tw, "window\t%s to %s (last block %s)\n", o.WindowStart.Format(time.RFC3339), o.WindowEnd.Format(time.RFC3339),
		o.BlockTime.Format(time.RFC3339))
	fmt.Fprintf(tw, "positions\t%d accounts, %d commits\n", o.Positions, o.Commits)
	if g := o.Graduation; g != nil {
		fmt.Fprintf(tw, "graduated\tat height %d: minted %s (buyers %s, liquidity %s, incentives %s, issuer vesting %s, treasury %s)\n",
			g.Height, amount(g.MintedMTBase, o.MTDenom), econ.FormatAmount(g.BuyersMTBase), econ.FormatAmount(g.LiquidityMTBase),
			econ.FormatAmount(g.IncentivesMTBase), econ.FormatAmount(g.IssuerMTBase), econ.FormatAmount(g.TreasuryMTBase))
		fmt.Fprintf(tw, "raise paid\t%s into pool %s, %s reserved, %s to the issuer\n", amount(g.RaisePoolFlockBase, ledger.DenomFlock),
			g.Pool, econ.FormatAmount(g.RaiseReservedFlockBase), econ.FormatAmount(g.RaiseIssuerFlockBase))
	}
	_ = tw.Flush()
}

// swapPool returns the pool that trades in for out: FLOCK/usd ("flock")
// or a model's MT/FLOCK ("mt:<model>").
func swapPool(in, out string) (string, error) {
	switch {
	case in == ledger.DenomUSD && out == ledger.DenomFlock, in == ledger.DenomFlock && out == ledger.DenomUSD:
		return ledger.PoolFlockUSD, nil
	case strings.HasPrefix(in, ledger.DenomMTPrefix) && out == ledger.DenomFlock:
		return in, nil
	case strings.HasPrefix(out, ledger.DenomMTPrefix) && in == ledger.DenomFlock:
		return out, nil
	}
	return "", fmt.Errorf("no pool trades %s for %s: the pools trade usd for flock and flock for mt:<model>", in, out)
}

// newSwapCmd is `fomo swap`: a trade against a protocol pool.
func newSwapCmd(rf *Flags) *cobra.Command {
	var f txFlags
	var in, out, amt, minOut string
	cmd := &cobra.Command{
		Use:   "swap",
		Short: "Trade against a protocol pool: usd for FLOCK and back, FLOCK for a graduated model's MT and back",
		Long: `swap sells --amount of --from for --to through the protocol pool that trades
them: FLOCK/usd, or the MT/FLOCK pool of a graduated model. The pool keeps
its fee. --min-out refuses the trade if it would pay less.`,
		Example: "  fomo swap --from usd --to flock --amount 10 --min-out 95 --key-name alice\n" +
			"  fomo swap --from flock --to mt:llama-3.1-8b.q4 --amount 50 --key-name alice",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := swapPool(in, out)
			if err != nil {
				return err
			}
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			x := ledger.Swap{Pool: p, DenomIn: in}
			if x.AmountIn, err = parseAmount("amount", amt, true); err != nil {
				return err
			}
			if x.MinOut, err = parseAmount("min-out", minOut, false); err != nil {
				return err
			}
			return sendAndShow(cmd.Context(), cmd.OutOrStdout(), &f, sk, x, in, out)
		},
	}
	f.register(cmd, "user")
	cmd.Flags().StringVar(&in, "from", "", "denom to sell: usd, flock or mt:<model> (required)")
	cmd.Flags().StringVar(&out, "to", "", "denom to buy (required)")
	cmd.Flags().StringVar(&amt, "amount", "", "amount of --from to sell (required)")
	cmd.Flags().StringVar(&minOut, "min-out", "", "least amount of --to to accept")
	for _, n := range []string{"from", "to", "amount"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// newVestingCmd is `fomo vesting claim`.
func newVestingCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "vesting", Short: "Claim the MT vested to you (an issuer's allocation)"}
	claim := modelTxCmd(rf, "claim", "Claim the MT of a graduated model vested to you so far",
		"  fomo vesting claim llama-3.1-8b.q4 --key-name issuer", "issuer", func(m string) any { return ledger.ClaimVested{Model: m} }, false,
		ledger.MTDenom)
	cmd.AddCommand(claim)
	return cmd
}

// newSupplyCmd is `fomo supply`.
func newSupplyCmd() *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:   "supply",
		Short: "Show every denom's minted, burned, withdrawn and circulating totals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			sup, err := c.Supply(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "DENOM\tMINTED\tBURNED\tWITHDRAWN\tCIRCULATING\t")
			for _, s := range sup {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Denom, econ.FormatAmount(s.MintedBase), econ.FormatAmount(s.BurnedBase),
					econ.FormatAmount(s.WithdrawnBase), econ.FormatAmount(s.CirculatingBase))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	return cmd
}

// newPoolCmd is `fomo pool show|list`.
func newPoolCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "Show the protocol pools: FLOCK/usd and each graduated model's MT/FLOCK"}
	var listAPI string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the pools with their reserves, fee and price",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(listAPI)
			if err != nil {
				return err
			}
			ps, err := c.Pools(cmd.Context())
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no pool")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POOL\tRESERVE A\tRESERVE B\tFEE (BPS)\tPRICE (B PER A)")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.ID, amount(p.ReserveABase, p.DenomA), amount(p.ReserveBBase, p.DenomB), p.FeeBps, price(p.Price))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listAPI, "api", defaultAPI(), "node to ask (env FOMO_API)")
	var showAPI string
	show := &cobra.Command{
		Use:     "show ID",
		Short:   `Show one pool: "flock" (FLOCK/usd) or "mt:<model>" (a model's MT/FLOCK)`,
		Example: "  fomo pool show flock\n  fomo pool show mt:llama-3.1-8b.q4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(showAPI)
			if err != nil {
				return err
			}
			p, err := c.Pool(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "pool\t%s (%s/%s)\n", p.ID, p.DenomA, p.DenomB)
			fmt.Fprintf(tw, "reserves\t%s, %s\n", amount(p.ReserveABase, p.DenomA), amount(p.ReserveBBase, p.DenomB))
			fmt.Fprintf(tw, "fee\t%d bps (stays in the pool)\n", p.FeeBps)
			fmt.Fprintf(tw, "price\t%s %s per %s\n", price(p.Price), p.DenomB, p.DenomA)
			fmt.Fprintf(tw, "seeded\tat height %d\n", p.SeededHeight)
			return tw.Flush()
		},
	}
	show.Flags().StringVar(&showAPI, "api", defaultAPI(), "node to ask (env FOMO_API)")
	cmd.AddCommand(list, show)
	return cmd
}

// newTreasuryCmd is `fomo treasury`: the treasury and the buyback reserves.
func newTreasuryCmd() *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:   "treasury",
		Short: "Show the treasury's balances and the usd buyback reserves carried over",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			t, err := c.Treasury(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Reserves(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "treasury (account %q)\n", t.Account)
			if len(t.Balances) == 0 {
				fmt.Fprintln(tw, "  nothing")
			}
			for _, b := range t.Balances {
				fmt.Fprintf(tw, "  %s\t%s\n", b.Denom, econ.FormatAmount(b.AmountBase))
			}
			fmt.Fprintln(tw, "buyback reserves (usd, carried over to the next epoch)")
			fmt.Fprintf(tw, "  FLOCK buyback\t%s\n", econ.FormatAmount(r.FlockBuybackUSDBase))
			for _, m := range r.Models {
				fmt.Fprintf(tw, "  MT buyback of %s\t%s\n", m.Model, econ.FormatAmount(m.MTBuybackUSDBase))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	return cmd
}
