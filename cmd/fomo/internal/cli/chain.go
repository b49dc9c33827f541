package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/cobra"
)

// txFlags are the flags of every command that sends a transaction.
type txFlags struct {
	keyName, keyFile, api string
}

func (f *txFlags) register(cmd *cobra.Command, defaultKey string) {
	cmd.Flags().StringVar(&f.keyName, "key-name", defaultKey, "signing key: HOME/keys/NAME.key")
	cmd.Flags().StringVar(&f.keyFile, "key", "", "signing key file (overrides --key-name)")
	cmd.Flags().StringVar(&f.api, "api", defaultAPI(), "node to send the transaction through (env FOMO_API)")
}

func (f *txFlags) key(home string) (crypto.PrivKey, error) {
	return identity.Load(keyPath(home, f.keyName, f.keyFile))
}

// sendTx signs body as the key's account at its next nonce, sends it
// through a node and waits until it is in a block. A tx the chain refused
// is an error naming the reason.
func sendTx(ctx context.Context, out io.Writer, apiURL string, sk crypto.PrivKey, body any) (api.TxResult, error) {
	c, err := connect(apiURL)
	if err != nil {
		return api.TxResult{}, err
	}
	account := identity.PeerID(sk).String()
	var nonce uint64
	acct, err := c.Account(ctx, account)
	switch {
	case err == nil:
		nonce = acct.Nonce
	case !client.IsNotFound(err): // an account the chain has never seen starts at nonce 0
		return api.TxResult{}, err
	}
	b, err := tx.Sign(tx.Tx{Account: account, Nonce: nonce + 1, Body: body}, sk)
	if err != nil {
		return api.TxResult{}, err
	}
	res, err := c.SubmitTx(ctx, b)
	if err != nil {
		return api.TxResult{}, err
	}
	if res.Code != 0 {
		return *res, fmt.Errorf("the chain refused the transaction: %s", res.Log)
	}
	fmt.Fprintf(out, "included at height %d (tx %s)\n", res.Height, res.Hash)
	return *res, nil
}

// amountCmd is a command that sends one amount of a denom, to an account
// when toHelp is set: deposit, withdraw, transfer.
type amountCmd struct {
	use, short, example, defaultKey, toHelp string
	body                                    func(to, denom string, amount uint64) any
}

func (a amountCmd) build(rf *Flags) *cobra.Command {
	var f txFlags
	var to, amount, denom string
	cmd := &cobra.Command{
		Use: a.use, Short: a.short, Example: a.example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			v, err := econ.ParseAmount(amount)
			if err != nil {
				return err
			}
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), f.api, sk, a.body(to, denom, v))
			return err
		},
	}
	f.register(cmd, a.defaultKey)
	if a.toHelp != "" {
		cmd.Flags().StringVar(&to, "to", "", a.toHelp+" (required)")
		_ = cmd.MarkFlagRequired("to")
	}
	cmd.Flags().StringVar(&amount, "amount", "", "amount in whole units, up to 6 decimals: 25, 1.5, 0.000001 (required)")
	cmd.Flags().StringVar(&denom, "denom", ledger.DenomUSD, "denomination")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func newDepositCmd(rf *Flags) *cobra.Command {
	return amountCmd{use: "deposit", short: "Credit an account with usd (the protocol key only: fiat or USDC received off chain)",
		example: "  fomo deposit --to 12D3KooW... --amount 25.00 --key-name protocol", defaultKey: "protocol", toHelp: "account to credit",
		body: func(to, denom string, v uint64) any { return ledger.Deposit{To: to, Denom: denom, Amount: v} }}.build(rf)
}

func newWithdrawCmd(rf *Flags) *cobra.Command {
	return amountCmd{use: "withdraw", short: "Withdraw from your account",
		example: "  fomo withdraw --amount 10.0 --key-name alice", defaultKey: "user",
		body: func(_, denom string, v uint64) any { return ledger.Withdraw{Denom: denom, Amount: v} }}.build(rf)
}

func newTransferCmd(rf *Flags) *cobra.Command {
	return amountCmd{use: "transfer", short: "Move an amount from your account to another",
		example: "  fomo transfer --to 12D3KooW... --amount 1.5 --key-name alice", defaultKey: "user", toHelp: "account to pay",
		body: func(to, denom string, v uint64) any { return ledger.Transfer{To: to, Denom: denom, Amount: v} }}.build(rf)
}

func newTreasurySpendCmd(rf *Flags) *cobra.Command {
	return amountCmd{use: "treasury-spend", short: "Pay an amount out of the treasury account (the protocol key only)",
		example: "  fomo treasury-spend --to 12D3KooW... --amount 100 --key-name protocol", defaultKey: "protocol", toHelp: "account to pay",
		body: func(to, denom string, v uint64) any { return ledger.TreasurySpend{To: to, Denom: denom, Amount: v} }}.build(rf)
}

// newKeyChainCmds are `fomo key authorize` and `fomo key revoke`.
func newKeyChainCmds(rf *Flags) []*cobra.Command {
	var f txFlags
	var session, spend string
	var ttl time.Duration
	authorize := &cobra.Command{
		Use:   "authorize",
		Short: "Authorize a session key to sign for your account, and print it as an API key",
		Long: `authorize records on chain that the session key HOME/keys/SESSION.key (created
if missing) may sign authorizations for your account, up to --spend-limit and
until --expires. It prints the key as an API key (fomo_sk_…) to give a node:
Authorization: Bearer fomo_sk_….`,
		Example: "  fomo key authorize --session laptop --spend-limit 20.0 --expires 720h --key-name alice",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			sess, _, err := identity.LoadOrCreate(keyPath(rf.Home, session, ""))
			if err != nil {
				return err
			}
			limit, err := econ.ParseAmount(spend)
			if err != nil {
				return err
			}
			body := ledger.AuthorizeKey{Key: identity.PeerID(sess).String(), SpendLimit: limit, ExpiresAtMs: time.Now().Add(ttl).UnixMilli()}
			if _, err := sendTx(cmd.Context(), cmd.OutOrStdout(), f.api, sk, body); err != nil {
				return err
			}
			apiKey, err := receipt.EncodeSessionKey(sess)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "session key %s may sign for %s\nAPI key: %s\n", identity.PeerID(sess), identity.PeerID(sk), apiKey)
			return nil
		},
	}
	f.register(authorize, "user")
	authorize.Flags().StringVar(&session, "session", "session", "session key name: HOME/keys/NAME.key")
	authorize.Flags().StringVar(&spend, "spend-limit", "100.0", "most the key may spend")
	authorize.Flags().DurationVar(&ttl, "expires", 30*24*time.Hour, "how long the key stays valid")

	var rf2 txFlags
	revoke := &cobra.Command{
		Use:     "revoke SESSION_KEY_ID",
		Short:   "Revoke a session key of your account",
		Example: "  fomo key revoke 12D3KooW... --key-name alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := rf2.key(rf.Home)
			if err != nil {
				return err
			}
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), rf2.api, sk, ledger.RevokeKey{Key: args[0]})
			return err
		},
	}
	rf2.register(revoke, "user")
	return []*cobra.Command{authorize, revoke}
}

// newNodeChainCmds are `fomo node register` and `fomo node unbond`, signed
// with the node's key.
func newNodeChainCmds(rf *Flags) []*cobra.Command {
	var f, g txFlags
	var bond string
	register := &cobra.Command{
		Use:     "register",
		Short:   "Register this node on chain, bonding FLOCK (adds to an existing bond)",
		Example: "  fomo node register --bond 10.0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			v, err := econ.ParseAmount(bond)
			if err != nil {
				return err
			}
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), f.api, sk, ledger.RegisterNode{Bond: v})
			return err
		},
	}
	f.register(register, "node")
	register.Flags().StringVar(&bond, "bond", "", "FLOCK to bond (required)")
	_ = register.MarkFlagRequired("bond")
	unbond := &cobra.Command{
		Use:   "unbond",
		Short: "Return this node's bond; it stops being paid for serving",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sk, err := g.key(rf.Home)
			if err != nil {
				return err
			}
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), g.api, sk, ledger.UnbondNode{})
			return err
		},
	}
	g.register(unbond, "node")
	return []*cobra.Command{register, unbond}
}

// newModelChainCmds are `fomo model register` (issuer) and `fomo model
// serve` (node).
func newModelChainCmds(rf *Flags) []*cobra.Command {
	var f, g txFlags
	register := &cobra.Command{
		Use:   "register NAME",
		Short: "Register an announced model on chain, binding its name to the manifest's hash, tier and prices",
		Long: `register reads the model's signed manifest from the DHT through --api and sends
RegisterModel with its hash, tier and prices, signed by the issuer key.`,
		Example: "  fomo model register llama-3.1-8b.q4 --key-name issuer",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := f.key(rf.Home)
			if err != nil {
				return err
			}
			c, err := connect(f.api)
			if err != nil {
				return err
			}
			info, err := c.Manifest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if info.Manifest.Issuer != identity.PeerID(sk) {
				return fmt.Errorf("the manifest of %s is signed by %s, not by this key (%s)", args[0], info.Manifest.Issuer, identity.PeerID(sk))
			}
			m := info.Manifest
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), f.api, sk, ledger.RegisterModel{Name: m.Name, ManifestSHA256: info.SHA256,
				Tier: m.Tier, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice})
			return err
		},
	}
	f.register(register, "issuer")
	serve := &cobra.Command{
		Use:     "serve NAME",
		Short:   "Declare on chain that this node serves a registered model (needed to be paid for it)",
		Example: "  fomo model serve llama-3.1-8b.q4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sk, err := g.key(rf.Home)
			if err != nil {
				return err
			}
			_, err = sendTx(cmd.Context(), cmd.OutOrStdout(), g.api, sk, ledger.ServeModel{Model: args[0]})
			return err
		},
	}
	g.register(serve, "node")
	return []*cobra.Command{register, serve}
}

func newEpochCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "epoch", Short: "Show closed settlement epochs"}
	var apiURL string
	var after uint64
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List closed epochs with their settlement tables",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			page, err := c.Epochs(cmd.Context(), after, limit)
			if err != nil {
				return err
			}
			for _, e := range page.Epochs {
				e.WriteTable(cmd.OutOrStdout())
			}
			if len(page.Epochs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no closed epoch yet")
			}
			return nil
		},
	}
	list.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	list.Flags().Uint64Var(&after, "after", 0, "first epoch to list")
	list.Flags().IntVar(&limit, "limit", 0, "most epochs to list")
	var api2, plotFile string
	var epochJSON bool
	show := &cobra.Command{
		Use:     "show N",
		Short:   "Show one closed epoch's settlement record, or plot epochs 0..N",
		Example: "  fomo epoch show 12\n  fomo epoch show 12 --json\n  fomo epoch show 12 --plot epochs.png",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("epoch %q is not a number", args[0])
			}
			c, err := connect(api2)
			if err != nil {
				return err
			}
			if plotFile != "" {
				if err := plotEpochs(cmd.Context(), c, n, plotFile); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "plotted epochs 0..%d: supply, burns, emissions and pool prices in %s\n", n, plotFile)
				return nil
			}
			e, err := c.Epoch(cmd.Context(), n)
			if err != nil {
				return err
			}
			if epochJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			return writeEpoch(cmd.OutOrStdout(), e)
		},
	}
	show.Flags().StringVar(&api2, "api", defaultAPI(), "node to ask (env FOMO_API)")
	show.Flags().BoolVar(&epochJSON, "json", false, "print the API's JSON (amounts in base units)")
	show.Flags().StringVar(&plotFile, "plot", "", "draw epochs 0..N (supply, burns, emissions, pool prices) into this PNG file")
	cmd.AddCommand(list, show)
	return cmd
}

// accountArg returns the account named in args, or the account of the key
// keyName in the home's keystore.
func accountArg(rf *Flags, args []string, keyName string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	sk, err := identity.Load(keyPath(rf.Home, keyName, ""))
	if err != nil {
		return "", errors.Join(err, errors.New("name an account or a key (--key-name)"))
	}
	return identity.PeerID(sk).String(), nil
}

func newAccountCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Show accounts on the settlement chain"}
	var apiURL, keyName string
	var asJSON bool
	show := &cobra.Command{
		Use:     "show [ACCOUNT]",
		Short:   "Show an account's balances, nonce and session keys, and its staking discounts (default: your key's)",
		Example: "  fomo account show --key-name alice\n  fomo account show 12D3KooW...",
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
			a, err := c.Account(cmd.Context(), id)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), a)
			}
			if err := writeAccount(cmd.OutOrStdout(), a); err != nil {
				return err
			}
			return writeDiscounts(cmd.Context(), cmd.OutOrStdout(), c, id)
		},
	}
	show.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	show.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON (amounts in base units, without the discounts)")
	show.Flags().StringVar(&keyName, "key-name", "user", "your key: HOME/keys/NAME.key")
	cmd.AddCommand(show)
	return cmd
}
