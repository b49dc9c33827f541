package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/node/devnet"
	"github.com/spf13/cobra"
)

type devnetFlags struct {
	nodes       int
	serveOn     int
	serveOnSet  bool
	dir         string
	startTTL    time.Duration
	set         []string
	noModel     bool
	modelPreset string
	modelType   string
	noChain     bool
	epoch       time.Duration
	traffic     time.Duration
	unbonding   uint32
	unbondSet   bool
	block       time.Duration
	keepGoing   bool
	fresh       bool
}

func newDevnetCmd() *cobra.Command {
	f := &devnetFlags{}
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of nodes, one process each, until interrupted",
		Long: `devnet starts N "fomo node" processes on this machine, each with its home in
DIR/node<i> (a temporary directory when --dir is not given). With the chain,
the nodes are its validators: the default of 4 keeps making blocks with one
of them down (more than 2/3 of the voting power), 3 do not.

On a node's first start devnet picks free loopback ports for its API,
libp2p and CometBFT and keeps them in DIR/node<i>/config.toml, with every
other node as a libp2p bootstrap peer and CometBFT persistent peer, so that
a node restarted by hand (fomo node --home DIR/node<i>) or by another run
listens where its peers look for it. devnet prints one line per node:

  node<i> api=http://127.0.0.1:<port> peer=<peer id> pid=<process id>

Unless --no-model is given, devnet generates a synthetic GGUF model (random
weights, real tokenizer) into DIR/models on first use and serves it with the
built-in engine on the first --serve-on nodes: by default half of them (at
least one), so that the requests the traffic sends through the others are
forwarded and pay their entry node a routing fee. devnet rewrites each node's
config.toml on every run, keeping its ports while they are free. A run over
an existing DIR reuses its network (DIR/genesis.toml, the keys and the
chain) when the flags describe the same genesis; otherwise it writes a new
genesis and clears the nodes' chain state, and says so; --fresh starts a
new network whatever DIR holds from earlier runs.

With the chain and the model, devnet runs the model's offering (RMO): its
issuer launches it, two supporter accounts (DIR/keys/supporter<i>.key)
commit FLOCK on the bonding curve and the second commit sells the bucket
out, which graduates the offering and seeds the model's MT/FLOCK pool. A run
over a network that already did a step skips it. From then on each epoch
table shows the buybacks, the MT and FLOCK burned and the pools' prices
(docs/economics.md walks through one epoch).

Each node logs to DIR/node<i>/node.log. Interrupt (Ctrl-C) stops every node.`,
		Example: "  fomo devnet\n  fomo devnet --nodes 2 --dir ./.devnet",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.serveOnSet = cmd.Flags().Changed("serve-on")
			f.unbondSet = cmd.Flags().Changed("unbonding-epochs")
			return runDevnet(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().IntVar(&f.nodes, "nodes", devnet.DefaultNodes, "number of nodes (4 validators survive one fault)")
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory for the nodes' homes (default: a new temporary directory)")
	cmd.Flags().DurationVar(&f.startTTL, "start-timeout", devnet.DefaultStartTimeout, "how long each node may take to start")
	cmd.Flags().StringArrayVar(&f.set, "set", nil, "config override passed to every node (repeatable)")
	cmd.Flags().IntVar(&f.serveOn, "serve-on", 0, "run the built-in model on the first K nodes only (default: half of the nodes, at least one; -1: all)")
	cmd.Flags().BoolVar(&f.noModel, "no-model", false, "serve no model")
	cmd.Flags().StringVar(&f.modelPreset, "model-preset", devnet.DefaultModelPreset, "synthetic model shape for the built-in engine")
	cmd.Flags().StringVar(&f.modelType, "model-type", devnet.DefaultModelType, "synthetic model weight type")
	cmd.Flags().BoolVar(&f.noChain, "no-chain", false, "run no settlement chain: accounts come from DIR/accounts.toml")
	cmd.Flags().DurationVar(&f.epoch, "epoch", devnet.DefaultEpoch, "settlement epoch length")
	cmd.Flags().DurationVar(&f.block, "block-interval", devnet.DefaultBlockInterval, "pause after each block")
	cmd.Flags().Uint32Var(&f.unbonding, "unbonding-epochs", *networks.DefaultEconomics().UnbondingEpochs, "epochs an unstake takes before fomo stake claim pays it (unbonding_epochs of a new genesis)")
	cmd.Flags().BoolVar(&f.keepGoing, "keep-going", false, "keep running when a node exits (it can be restarted by hand)")
	cmd.Flags().BoolVar(&f.fresh, "fresh", false, "start a new network: remove what earlier runs left in --dir first")
	cmd.Flags().DurationVar(&f.traffic, "traffic", devnet.DefaultTraffic, "send a request through the nodes in turn this often (0: none)")
	return cmd
}

// runDevnet turns the flags into the devnet's options and runs it until
// ctx ends.
func runDevnet(ctx context.Context, out io.Writer, f *devnetFlags) error {
	if f.nodes < 1 {
		return errors.New("--nodes must be at least 1")
	}
	opts := []devnet.Option{
		devnet.WithDir(f.dir),
		devnet.WithOutput(out),
		devnet.WithStartTimeout(f.startTTL),
		devnet.WithConfigSet(f.set...),
		devnet.WithModel(f.modelPreset, f.modelType),
		devnet.WithEpoch(f.epoch),
		devnet.WithBlockInterval(f.block),
		devnet.WithTraffic(f.traffic),
	}
	if f.serveOnSet {
		opts = append(opts, devnet.WithServeOn(f.serveOn))
	}
	if f.unbondSet {
		opts = append(opts, devnet.WithUnbondingEpochs(f.unbonding))
	}
	if f.noModel {
		opts = append(opts, devnet.WithoutModel())
	}
	if f.noChain {
		opts = append(opts, devnet.WithoutChain())
	}
	if f.fresh {
		opts = append(opts, devnet.WithFresh())
	}
	if f.keepGoing {
		opts = append(opts, devnet.KeepGoing())
	}
	return devnet.Run(ctx, f.nodes, opts...)
}
