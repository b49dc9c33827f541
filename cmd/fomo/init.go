package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/spf13/cobra"
)

func newInitCmd(rf *rootFlags) *cobra.Command {
	var force, personal bool
	var credit string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a home directory with a commented config and a new node key",
		Long: `init writes HOME/config.toml (every setting with its default, commented) and a
new Ed25519 node key at HOME/keys/node.key (mode 0600). The key's peer ID is the
node's identity and account. An existing key is never overwritten.

With --personal, init also sets the node up to serve its owner's own apps
without a settlement chain: an owner account key (HOME/keys/owner.key), a
session key of it (HOME/keys/owner-session.key), and the local account
registry HOME/accounts.toml that gives the account --credit and lets the
session key sign for it (auth.accounts in config.toml names it). It prints
the session key as an API key (fomo_sk_…) to give an app:
Authorization: Bearer fomo_sk_….`,
		Example: "  fomo init --home ~/.fomo\n  fomo init --personal --home ~/.fomo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home := rf.Home
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			cfgPath := filepath.Join(home, ConfigFile)
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(cfgPath, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists; use --force to overwrite the config (the key is kept)", cfgPath)
			}
			if err != nil {
				return err
			}
			tmpl := configs.Template
			if personal {
				const unset = "\naccounts = \"\"\n"
				if !strings.Contains(tmpl, unset) {
					f.Close()
					return errors.New("--personal: the config template has no auth.accounts line to set")
				}
				tmpl = strings.Replace(tmpl, unset, "\naccounts = \""+personalAccounts+"\"\n", 1)
			}
			if _, err := f.WriteString(tmpl); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			cfg := configs.Default()
			keyPath := filepath.Join(home, cfg.Node.KeyFile)
			sk, created, err := identity.LoadOrCreate(keyPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "config:  %s\n", cfgPath)
			verb := "created"
			if !created {
				verb = "kept existing"
			}
			fmt.Fprintf(out, "key:     %s (%s)\n", keyPath, verb)
			fmt.Fprintf(out, "peer id: %s\n", identity.PeerID(sk))
			if personal {
				v, err := econ.ParseAmount(credit)
				if err != nil {
					return fmt.Errorf("--credit: %w", err)
				}
				if err := initPersonal(out, home, v); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "\nstart the node with: fomo node --home %s\n", home)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config.toml")
	cmd.Flags().BoolVar(&personal, "personal", false, "also create an owner account, a session key and the local account registry, and print the API key for your apps")
	cmd.Flags().StringVar(&credit, "credit", "1000", "with --personal: the owner account's credit in usd")
	return cmd
}

// personalAccounts is the local account registry init --personal writes,
// relative to the home (the data dir).
const personalAccounts = "accounts.toml"

// initPersonal creates the owner's account key and a session key in
// home/keys, and the registry home/accounts.toml that credits the account
// with credit (usd base units) and lets the session key sign for it; it
// prints the API key. An existing registry is kept: the owner's entry is
// added or its session key and credit updated.
func initPersonal(out io.Writer, home string, credit uint64) error {
	owner, _, err := identity.LoadOrCreate(filepath.Join(home, "keys", "owner.key"))
	if err != nil {
		return err
	}
	sess, _, err := identity.LoadOrCreate(filepath.Join(home, "keys", "owner-session.key"))
	if err != nil {
		return err
	}
	ownerID, sessID := identity.PeerID(owner).String(), identity.PeerID(sess).String()
	path := filepath.Join(home, personalAccounts)
	var f meter.AccountsFile
	if _, err := toml.DecodeFile(path, &f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, err)
	}
	i := slices.IndexFunc(f.Account, func(a meter.RegistryAccount) bool { return a.ID == ownerID })
	if i < 0 {
		f.Account = append(f.Account, meter.RegistryAccount{ID: ownerID})
		i = len(f.Account) - 1
	}
	f.Account[i].Credit = credit
	if !slices.Contains(f.Account[i].SessionKeys, sessID) {
		f.Account[i].SessionKeys = append(f.Account[i].SessionKeys, sessID)
	}
	b, err := f.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	apiKey, err := receipt.EncodeSessionKey(sess)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "account: %s (HOME/keys/owner.key), credit %s usd\n", ownerID, econ.FormatAmount(credit))
	fmt.Fprintf(out, "session: %s (HOME/keys/owner-session.key)\n", sessID)
	fmt.Fprintf(out, "registry: %s (auth.accounts)\n", path)
	fmt.Fprintf(out, "\nAPI key for your apps (keep it secret; it spends the account's credit):\n  %s\n", apiKey)
	fmt.Fprintf(out, "use it as: Authorization: Bearer %s\n", apiKey)
	return nil
}
