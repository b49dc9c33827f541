package main

import (
	"fmt"
	"os"

	"github.com/fomonet/fomo/configs"
	"github.com/spf13/cobra"
)

func newConfigCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or check configuration",
	}
	cf := &configFlags{}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective config (defaults, file, FOMO_* env and --set applied)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(rf.Home, cf.file, cf.set)
			if err != nil {
				return err
			}
			b, err := configs.Encode(cfg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cf.register(show)
	validate := &cobra.Command{
		Use:     "validate FILE",
		Short:   "Check a config file; every problem is reported with its key",
		Example: "  fomo config validate ~/.fomo/config.toml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := configs.Load(configs.Sources{File: args[0], Env: os.Environ()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(show, validate)
	return cmd
}
