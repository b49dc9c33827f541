package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fomonet/fomo/cmd/fomo/internal/cli"
	"github.com/fomonet/fomo/node"
	"github.com/spf13/cobra"
)

type configFlags struct {
	file string
	set  []string
}

func (cf *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&cf.file, "config", "", "config file (default HOME/config.toml if it exists)")
	cmd.Flags().StringArrayVar(&cf.set, "set", nil, "override a config key, e.g. --set api.listen=127.0.0.1:9090 (repeatable)")
}

func newNodeCmd(rf *rootFlags) *cobra.Command {
	cf := &configFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node",
		Long: `node runs a fomo node: the OpenAI-compatible API, GPU monitoring, the model
runtimes from the config's [[runtime]] blocks, and the libp2p host.

The config is layered: defaults, then the config file, then FOMO_* environment
variables, then --set flags. An unknown key or a bad value stops start-up with
a message naming the key. The first SIGINT or SIGTERM shuts down gracefully; a
second exits at once.`,
		Example: `  fomo node --home ~/.fomo
  fomo node --home ~/.fomo --set api.listen=0.0.0.0:8080 --set node.log_format=json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, file, err := loadConfig(rf.Home, cf.file, cf.set)
			if err != nil {
				return err
			}
			log := newLogger(os.Stderr, cfg.Node.LogLevel, cfg.Node.LogFormat)
			if file != "" {
				log.Info("config loaded", "file", file)
			} else {
				log.Info("no config file; using defaults", "home", rf.Home)
			}
			n, err := node.New(cfg, rf.Home, node.WithLogger(log))
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := n.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			// Stop gets its own budget: every part's timeout plus the stream grace.
			budget := cfg.Node.StreamGrace.D() + 8*cfg.Node.ShutdownTimeout.D()
			sctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			t0 := time.Now()
			if err := n.Stop(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Debug("shutdown complete", "took", time.Since(t0))
			return nil
		},
	}
	cf.register(cmd)
	cmd.AddCommand(cli.NodeCommands(rf)...)
	return cmd
}
