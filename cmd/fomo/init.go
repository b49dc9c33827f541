package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node/identity"
	"github.com/spf13/cobra"
)

func newInitCmd(rf *rootFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a home directory with a commented config and a new node key",
		Long: `init writes HOME/config.toml (every setting with its default, commented) and a
new Ed25519 node key at HOME/keys/node.key (mode 0600). The key's peer ID is the
node's identity and account. An existing key is never overwritten.`,
		Example: "  fomo init --home ~/.fomo",
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
			if _, err := f.WriteString(configs.Template); err != nil {
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
			fmt.Fprintf(out, "\nstart the node with: fomo node --home %s\n", home)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config.toml")
	return cmd
}
