package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fomonet/fomo/cmd/fomo/internal/cli"
	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node"
	"github.com/spf13/cobra"
)

// ConfigFile is the config file's name inside a home directory.
const ConfigFile = "config.toml"

// rootFlags are the root command's persistent flags.
type rootFlags = cli.Flags

func newRootCmd() *cobra.Command {
	rf := &rootFlags{}
	root := &cobra.Command{
		Use:   "fomo",
		Short: "fomo: a peer-to-peer inference network node",
		Long: `fomo runs a node of a peer-to-peer LLM inference network. A node watches its
GPUs through NVML and serves models behind an OpenAI-compatible API.

Start with:
  fomo init --home ~/.fomo     write a config and a node key
  fomo node --home ~/.fomo     run the node
  fomo devnet --nodes 3        run a local network of nodes`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       node.Version,
	}
	// --version and the version command print the same line.
	root.SetVersionTemplate(versionLine + "\n")
	root.PersistentFlags().StringVar(&rf.Home, "home", defaultHome(), "home directory: config.toml, keys and data (env FOMO_HOME)")
	// The commands that run a node, or prepare its home, live here; the
	// client commands come from package cli.
	root.AddCommand(
		newInitCmd(rf),
		newNodeCmd(rf),
		newConfigCmd(rf),
		newDevnetCmd(),
		newGatewayCmd(rf),
		newVersionCmd(),
	)
	root.AddCommand(cli.Commands(rf)...)
	return root
}

func defaultHome() string {
	if h := os.Getenv("FOMO_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".fomo")
	}
	return ".fomo"
}

// versionLine is what `fomo version` and `fomo --version` print.
var versionLine = "fomo " + node.Version

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine)
		},
	}
}

// loadConfig reads the effective config: defaults, the file (the --config
// flag, else HOME/config.toml when it exists), FOMO_* env, --set flags.
func loadConfig(home, file string, sets []string) (configs.Config, string, error) {
	if file == "" {
		p := filepath.Join(home, ConfigFile)
		if _, err := os.Stat(p); err == nil {
			file = p
		}
	}
	cfg, err := configs.Load(configs.Sources{File: file, Env: os.Environ(), Set: sets})
	return cfg, file, err
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
