package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fomonet/fomo/node"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
)

func newGatewayCmd(rf *rootFlags) *cobra.Command {
	cf := &configFlags{}
	var keyName, account string
	var bootstrap []string
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a light client: the OpenAI API on localhost, served by the network's providers",
		Long: `gateway joins the network with your own key and serves the OpenAI-compatible API
on localhost (api.listen, default 127.0.0.1:8080). It runs no model, watches no
GPU and stores nothing on disk: every request goes straight to a node that
serves the model, found through the DHT and the nodes' capacity adverts, over
the libp2p inference protocol.

The key is HOME/keys/NAME.key (--key-name, default "gateway"), created on
first use. It pays for every request that brings no session key of its own
(the placeholder keys of OpenAI SDKs included): as an account, or as a
session key of the account the genesis names for it, or --account names.
Peers to join come from p2p.bootstrap, the network's genesis, or
--bootstrap; the gateway refuses to start when they are on another network
than p2p.network.`,
		Example: `  fomo gateway --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...
  OPENAI_BASE_URL=http://127.0.0.1:8080/v1 your-openai-app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sets := []string{
				"gpu.enabled=false",
				"store.backend=memory",
				"p2p.dht_mode=client",
				"p2p.listen=/ip4/0.0.0.0/tcp/0,/ip4/0.0.0.0/udp/0/quic-v1",
				"node.key_file=" + filepath.Join("keys", keyName+".key"),
			}
			if len(bootstrap) > 0 {
				sets = append(sets, "p2p.bootstrap="+strings.Join(bootstrap, ","))
			}
			cfg, _, err := loadConfig(rf.Home, cf.file, append(sets, cf.set...))
			if err != nil {
				return err
			}
			if len(cfg.Runtime) > 0 {
				return fmt.Errorf("the gateway runs no model runtime; remove the [[runtime]] blocks or use fomo node")
			}
			opts := []node.Option{node.AsGateway()}
			if account != "" {
				id, err := peer.Decode(account)
				if err != nil {
					return fmt.Errorf("--account: %w", err)
				}
				opts = append(opts, node.WithAccount(id))
			}
			log := newLogger(os.Stderr, cfg.Node.LogLevel, cfg.Node.LogFormat).With("role", "gateway")
			n, err := node.New(cfg, rf.Home, append(opts, node.WithLogger(log))...)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := n.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gateway api=http://%s peer=%s\n", n.APIAddr(), n.ID())
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Node.StreamGrace.D()+4*cfg.Node.ShutdownTimeout.D())
			defer cancel()
			return n.Stop(sctx)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&keyName, "key-name", "gateway", "your key: HOME/keys/NAME.key (created if missing)")
	cmd.Flags().StringVar(&account, "account", "", "the account your key is a session key of, when the genesis does not say (a peer ID)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "peer to join, a multiaddr ending in /p2p/<id> (repeatable)")
	return cmd
}
