package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/spf13/cobra"
)

// stakeAmountCmd is `fomo stake MODEL` or `fomo unstake MODEL`: one
// amount of a model's MT, then the position it leaves.
func stakeAmountCmd(rf *Flags, use, short, long, example string, body func(model string, amount uint64) any) *cobra.Command {
	var f txFlags
	var amt string
	cmd := &cobra.Command{
		Use: use + " MODEL", Short: short, Long: long, Example: example, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			v, err := parseAmount("amount", amt, true)
			if err != nil {
				return err
			}
			if err := sendAndShow(cmd.Context(), cmd.OutOrStdout(), &f, sk, body(args[0], v), ledger.MTDenom(args[0])); err != nil {
				return err
			}
			return showStake(cmd.Context(), cmd.OutOrStdout(), f.api, identity.PeerID(sk).String(), args[0])
		},
	}
	f.register(cmd, "user")
	cmd.Flags().StringVar(&amt, "amount", "", "MT of the model, in whole units up to 6 decimals (required)")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

// newStakeCmd is `fomo stake MODEL`, `fomo stake claim MODEL` and `fomo
// stake show [ACCOUNT]` (DESIGN §9.6).
func newStakeCmd(rf *Flags) *cobra.Command {
	cmd := stakeAmountCmd(rf, "stake", "Stake a model's MT; claim what you unstaked; show stake positions",
		`stake bonds --amount of a model's MT from your balance: it counts from the
next epoch on. unstake starts its unbonding; once the unbonding period is
over, stake claim pays it back.`,
		"  fomo stake llama-3.1-8b.q4 --amount 100 --key-name alice",
		func(m string, v uint64) any { return ledger.Stake{Model: m, Amount: v} })

	claim := modelTxCmd(rf, "claim", "Claim the MT you unstaked from a model whose unbonding is over",
		"  fomo stake claim llama-3.1-8b.q4 --key-name alice", "user", func(m string) any { return ledger.ClaimUnbonded{Model: m} }, false,
		ledger.MTDenom)

	var apiURL, keyName string
	var asJSON bool
	show := &cobra.Command{
		Use:     "show [ACCOUNT]",
		Short:   "Show an account's stake positions: staked, counting now, unbonding (default: your key's)",
		Example: "  fomo stake show --key-name alice\n  fomo stake show 12D3KooW...",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := accountArg(rf, args, keyName)
			if err != nil {
				return err
			}
			if asJSON {
				c, err := connect(apiURL)
				if err != nil {
					return err
				}
				s, err := c.Stakes(cmd.Context(), id)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), s)
			}
			return showStake(cmd.Context(), cmd.OutOrStdout(), apiURL, id, "")
		},
	}
	show.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	show.Flags().StringVar(&keyName, "key-name", "user", "your key: HOME/keys/NAME.key")
	show.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON (amounts in base units)")
	cmd.AddCommand(claim, show)
	return cmd
}

// newUnstakeCmd is `fomo unstake MODEL`.
func newUnstakeCmd(rf *Flags) *cobra.Command {
	return stakeAmountCmd(rf, "unstake", "Unstake a model's MT: it stops counting and unbonds until it can be claimed",
		`unstake takes --amount of your stake on a model out of what counts (at once)
and starts its unbonding: fomo stake claim pays it back from its release
epoch on.`,
		"  fomo unstake llama-3.1-8b.q4 --amount 40 --key-name alice",
		func(m string, v uint64) any { return ledger.Unstake{Model: m, Amount: v} })
}

// showStake prints an account's stake positions, only that on model when
// model is set.
func showStake(ctx context.Context, w io.Writer, apiURL, account, model string) error {
	c, err := connect(apiURL)
	if err != nil {
		return err
	}
	s, err := c.Stakes(ctx, account)
	if err != nil {
		return err
	}
	n := 0
	for _, p := range s.Positions {
		if model == "" || p.Model == model {
			writeStake(w, p)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(w, "%s has no stake\n", s.Account)
	}
	return nil
}

func writeStake(w io.Writer, p api.StakePosition) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "stake\t%s (%s) in epoch %d\n", p.Model, p.MTDenom, p.Epoch)
	fmt.Fprintf(tw, "staked\t%s, all of it counting from epoch %d\n", amount(p.StakedBase, p.MTDenom), p.Epoch+1)
	fmt.Fprintf(tw, "counting\t%s in epoch %d\n", amount(p.CountingBase, p.MTDenom), p.Epoch)
	for _, u := range p.Unbonding {
		state := "unbonding"
		if u.Claimable {
			state = "claimable"
		}
		fmt.Fprintf(tw, "unbonding\t%s from epoch %d (%s)\n", amount(u.AmountBase, p.MTDenom), u.ReleaseEpoch, state)
	}
	_ = tw.Flush()
}
