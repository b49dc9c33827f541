package cli

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fomonet/fomo/node/identity"
	"github.com/spf13/cobra"
)

func newKeyCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Create and show Ed25519 keys (node identities and accounts)",
		Long: `Keys are Ed25519. A key's libp2p peer ID (12D3KooW…) is its account address.
Keys live in HOME/keys/NAME.key with mode 0600; the node's own key is "node".`,
	}
	var name, file string
	newCmd := &cobra.Command{
		Use:     "new",
		Short:   "Create a new key (never overwrites)",
		Example: "  fomo key new --name alice\n  fomo key new --file /secure/issuer.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := keyPath(rf.Home, name, file)
			sk, err := identity.Generate()
			if err != nil {
				return err
			}
			if err := identity.Save(p, sk); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key:     %s\npeer id: %s\n", p, identity.PeerID(sk))
			return nil
		},
	}
	showCmd := &cobra.Command{
		Use:     "show",
		Short:   "Show a key's peer ID and public key",
		Example: "  fomo key show            # the node key\n  fomo key show --name alice",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := keyPath(rf.Home, name, file)
			sk, err := identity.Load(p)
			if err != nil {
				return err
			}
			raw, err := sk.GetPublic().Raw()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key:        %s\npeer id:    %s\ntype:       %s\npublic key: %s\n",
				p, identity.PeerID(sk), strings.ToLower(sk.Type().String()), hex.EncodeToString(raw))
			return nil
		},
	}
	for _, c := range []*cobra.Command{newCmd, showCmd} {
		c.Flags().StringVar(&name, "name", "node", "key name: HOME/keys/NAME.key")
		c.Flags().StringVar(&file, "file", "", "key file path (overrides --name)")
	}
	cmd.AddCommand(newCmd, showCmd)
	cmd.AddCommand(newKeyChainCmds(rf)...)
	return cmd
}

// keyPath is the key file named by --key, or else the key NAME in the
// home's keystore (HOME/keys/NAME.key).
func keyPath(home, name, file string) string {
	if file != "" {
		return file
	}
	return filepath.Join(home, "keys", name+".key")
}
