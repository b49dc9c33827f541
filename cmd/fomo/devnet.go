package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/synth"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
)

type devnetFlags struct {
	nodes       int
	serveOn     int
	dir         string
	startTTL    time.Duration
	set         []string
	noModel     bool
	modelPreset string
	modelType   string
	noChain     bool
	epoch       time.Duration
	traffic     time.Duration
	block       time.Duration
	keepGoing   bool
}

func newDevnetCmd() *cobra.Command {
	f := &devnetFlags{}
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local network of nodes, one process each, until interrupted",
		Long: `devnet starts N "fomo node" processes on this machine, each with its home in
DIR/node<i> (a temporary directory when --dir is not given). Node 0 is the
bootstrap peer of the others. Every node's API and libp2p listen on free
loopback ports; devnet prints one line per node:

  node<i> api=http://127.0.0.1:<port> peer=<peer id> pid=<process id>

Unless --no-model is given, devnet generates a synthetic GGUF model (random
weights, real tokenizer) into DIR/models on first use and serves it with the
built-in engine on the first --serve-on nodes. devnet rewrites each node's
config.toml on every run.

Each node logs to DIR/node<i>/node.log. Interrupt (Ctrl-C) stops every node.`,
		Example: "  fomo devnet --nodes 3\n  fomo devnet --nodes 2 --dir ./.devnet",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevnet(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().IntVar(&f.nodes, "nodes", 1, "number of nodes")
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory for the nodes' homes (default: a new temporary directory)")
	cmd.Flags().DurationVar(&f.startTTL, "start-timeout", 60*time.Second, "how long each node may take to start")
	cmd.Flags().StringArrayVar(&f.set, "set", nil, "config override passed to every node (repeatable)")
	cmd.Flags().IntVar(&f.serveOn, "serve-on", -1, "run the built-in model on the first K nodes only (default: all)")
	cmd.Flags().BoolVar(&f.noModel, "no-model", false, "serve no model")
	cmd.Flags().StringVar(&f.modelPreset, "model-preset", "small", "synthetic model shape for the built-in engine")
	cmd.Flags().StringVar(&f.modelType, "model-type", "q8_0", "synthetic model weight type")
	cmd.Flags().BoolVar(&f.noChain, "no-chain", false, "run no settlement chain: accounts come from DIR/accounts.toml")
	cmd.Flags().DurationVar(&f.epoch, "epoch", 20*time.Second, "settlement epoch length")
	cmd.Flags().DurationVar(&f.block, "block-interval", 500*time.Millisecond, "pause after each block")
	cmd.Flags().BoolVar(&f.keepGoing, "keep-going", false, "keep running when a node exits (it can be restarted by hand)")
	cmd.Flags().DurationVar(&f.traffic, "traffic", 2*time.Second, "send a request through the nodes in turn this often (0: none)")
	return cmd
}

type devnode struct {
	name   string
	home   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	api    string
	peer   string
	addrs  []string
	models []string // served by this node's own runtimes
}

func runDevnet(ctx context.Context, out io.Writer, f *devnetFlags) error {
	if f.nodes < 1 {
		return errors.New("--nodes must be at least 1")
	}
	dir := f.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fomo-devnet-")
		if err != nil {
			return err
		}
		dir = d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "devnet: %d node(s) in %s\n", f.nodes, dir)
	serveOn := f.serveOn
	if serveOn < 0 || serveOn > f.nodes {
		serveOn = f.nodes
	}
	runtimeBlock, modelName, modelPath := "", "", ""
	if !f.noModel && serveOn > 0 {
		var err error
		if runtimeBlock, modelName, modelPath, err = devnetModel(out, dir, f.modelPreset, f.modelType); err != nil {
			return err
		}
	}

	user, err := devnetAccounts(out, dir, !f.noChain)
	if err != nil {
		return err
	}
	var manifest []byte
	if modelName != "" {
		if manifest, err = devnetManifest(dir, modelName, modelPath, f.modelPreset); err != nil {
			return err
		}
	}
	var chainSets []string
	if !f.noChain {
		ids, err := devnetNodeKeys(dir, f.nodes)
		if err != nil {
			return err
		}
		c := devnetChain{epoch: f.epoch, nodes: ids, user: user.id, session: user.session, issuer: user.issuer}
		if modelName != "" {
			c.model, c.manifest = modelName, manifest
			for i := range serveOn {
				c.serving = append(c.serving, ids[i].String())
			}
		}
		path, g, err := writeDevnetGenesis(dir, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "devnet: network %s (genesis %s), %d validators, epochs of %s\n", g.ID(), path, len(ids), f.epoch)
		chainSets = []string{"p2p.network=" + path, "chain.enabled=true", "chain.listen=tcp://127.0.0.1:0",
			"chain.block_interval=" + f.block.String()}
	}

	var nodes []*devnode
	stopAll := func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.stop(30 * time.Second) })
		}
		wg.Wait()
	}
	defer stopAll()

	var bootstrap string
	var chainPeers []string
	for i := range f.nodes {
		n := &devnode{name: fmt.Sprintf("node%d", i), home: filepath.Join(dir, fmt.Sprintf("node%d", i))}
		sets := []string{
			"api.listen=127.0.0.1:0",
			"p2p.listen=/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1",
			"auth.open_access_key=" + user.apiKey,
		}
		if f.noChain {
			sets = append(sets, "auth.accounts="+user.registry)
		}
		sets = append(sets, chainSets...)
		if bootstrap != "" {
			sets = append(sets, "p2p.bootstrap="+bootstrap)
		}
		if len(chainPeers) > 0 {
			sets = append(sets, "chain.peers="+strings.Join(chainPeers, ","))
		}
		sets = append(sets, f.set...)
		block := ""
		if i < serveOn {
			block = runtimeBlock
		}
		if err := n.start(ctx, self, sets, block); err != nil {
			return err
		}
		nodes = append(nodes, n)
		if err := n.waitReady(ctx, f.startTTL); err != nil {
			return err
		}
		if i == 0 && len(n.addrs) > 0 {
			bootstrap = n.addrs[0]
		}
		if !f.noChain {
			var st struct {
				P2PAddress string `json:"p2p_address"`
			}
			if err := apiDo(ctx, http.MethodGet, n.api+"/api/v1/chain", nil, &st); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			chainPeers = append(chainPeers, st.P2PAddress)
		}
		fmt.Fprintf(out, "%s api=%s peer=%s pid=%d\n", n.name, n.api, n.peer, n.cmd.Process.Pid)
		if len(n.models) > 0 {
			fmt.Fprintf(out, "%s serves %s\n", n.name, strings.Join(n.models, ", "))
		} else if runtimeBlock == "" && i == 0 {
			fmt.Fprintf(out, "%s serves no model: add a [[runtime]] block to %s (see the examples in it) and restart\n",
				n.name, filepath.Join(n.home, ConfigFile))
		}
	}
	if modelName != "" && (len(nodes) > 1 || !f.noChain) {
		if err := devnetAnnounce(ctx, out, nodes[0].api, modelName, manifest); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "devnet running; logs in %s/node*/node.log; press Ctrl-C to stop\n", dir)
	bg, stopBg := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	defer func() { stopBg(); bgWG.Wait() }()
	if modelName != "" && f.traffic > 0 {
		var apis []string
		for _, n := range nodes {
			apis = append(apis, n.api)
		}
		bgWG.Go(func() { sendTraffic(bg, apis, user.apiKey, modelName, f.traffic) })
	}
	if !f.noChain {
		bgWG.Go(func() { printEpochs(bg, out, nodes[0].api) })
	}

	exited := make(chan *devnode, len(nodes))
	for _, n := range nodes {
		go func() { <-n.exited; exited <- n }()
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "devnet: stopping nodes")
			stopAll()
			return nil
		case n := <-exited:
			if !f.keepGoing {
				return fmt.Errorf("%s exited unexpectedly (%v); last log lines:\n%s", n.name, n.err, tailFile(filepath.Join(n.home, "node.log"), 20))
			}
			fmt.Fprintf(out, "devnet: %s exited (%v); the others keep going\n", n.name, n.err)
		}
	}
}

func (n *devnode) start(ctx context.Context, self string, sets []string, runtimeBlock string) error {
	if err := os.MkdirAll(n.home, 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.home, ConfigFile)
	if err := os.WriteFile(cfgPath, []byte(configs.Template+runtimeBlock), 0o600); err != nil {
		return err
	}
	os.Remove(filepath.Join(n.home, node.APIAddrFile))
	logf, err := os.OpenFile(filepath.Join(n.home, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"node", "--home", n.home}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	n.cmd = exec.Command(self, args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.Env = withoutFomoHome(os.Environ())
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		n.err = n.cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	return nil
}

func withoutFomoHome(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "FOMO_HOME=") {
			out = append(out, e)
		}
	}
	return out
}

func (n *devnode) waitReady(ctx context.Context, ttl time.Duration) error {
	deadline := time.NewTimer(ttl)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(n.home, node.APIAddrFile)); err == nil {
			n.api = "http://" + strings.TrimSpace(string(b))
			var st struct {
				PeerID      string   `json:"peer_id"`
				ListenAddrs []string `json:"listen_addrs"`
				Models      []struct {
					ID string `json:"id"`
				} `json:"models"`
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := apiDo(sctx, http.MethodGet, n.api+"/api/v1/status", nil, &st)
			cancel()
			if err == nil {
				n.peer, n.addrs = st.PeerID, st.ListenAddrs
				for _, m := range st.Models {
					n.models = append(n.models, m.ID)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.exited:
			return fmt.Errorf("%s exited during start (%v); last log lines:\n%s", n.name, n.err, tailFile(filepath.Join(n.home, "node.log"), 20))
		case <-deadline.C:
			return fmt.Errorf("%s did not start within %s; last log lines:\n%s", n.name, ttl, tailFile(filepath.Join(n.home, "node.log"), 20))
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits, then kills the process group.
func (n *devnode) stop(timeout time.Duration) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// devnetModel generates the devnet's synthetic model if it is not there yet
// and returns the [[runtime]] block that serves it, its name and its path.
func devnetModel(out io.Writer, dir, preset, typ string) (block, name, path string, err error) {
	t, err := parseGGUFType(typ)
	if err != nil {
		return "", "", "", err
	}
	name = fmt.Sprintf("synth-%s-%s", preset, strings.ToLower(t.String()))
	path = filepath.Join(dir, "models", name+".gguf")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "devnet: generating %s (synthetic weights, real tokenizer)\n", path)
		if err := writeSynth(synth.Options{Preset: preset, Type: t, Seed: 1, Name: name}, path); err != nil {
			return "", "", "", fmt.Errorf("generating the devnet model: %w", err)
		}
	} else if err != nil {
		return "", "", "", err
	}
	block = fmt.Sprintf("\n# Written by fomo devnet: the built-in engine serving a synthetic model.\n[[runtime]]\nname = %q\nkind = \"engine\"\nmodel = %q\n", name, path)
	return block, name, path, nil
}

// devnetManifest signs the manifest of the devnet's model with the
// devnet's issuer key (DIR/keys/issuer.key).
func devnetManifest(dir, name, path, preset string) ([]byte, error) {
	issuer, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return nil, err
	}
	sum, size, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	p := synth.Presets[preset]
	return models.Sign(models.Manifest{
		Name: name, Seq: 1, Architecture: "llama", Quantization: strings.TrimPrefix(name, "synth-"+preset+"-"),
		ContextLength: uint64(max(p.Context, 1)), Tier: "small", ChatTemplate: "chatml",
		InputPrice: devnetInputPrice, OutputPrice: devnetOutputPrice,
		Weights:     models.Weights{SHA256: sum, Size: size},
		Description: "synthetic " + preset + " model for the devnet: random weights, real tokenizer",
	}, issuer)
}

// devnetAnnounce publishes the model's manifest through node0, as an
// issuer would with `fomo model announce`.
func devnetAnnounce(ctx context.Context, out io.Writer, api, name string, env []byte) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info node.ManifestInfo
		err := apiDo(ctx, http.MethodPost, api+"/api/v1/manifests", env, &info)
		if err == nil {
			fmt.Fprintf(out, "devnet: announced %s (issuer %s)\n", name, info.Manifest.Issuer)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("announcing the devnet model: %w", err)
		}
		time.Sleep(200 * time.Millisecond) // until node0's DHT has peers
	}
}

// Prices of the devnet model, usd base units per 1M tokens (5 and 15 usd).
const (
	devnetInputPrice  = 5_000_000
	devnetOutputPrice = 15_000_000
)

// devnetUser is the devnet's funded demo account.
type devnetUser struct {
	registry string // the local account registry (without a chain)
	apiKey   string // the session key, as an API key
	id       peer.ID
	session  peer.ID
	issuer   peer.ID
}

// devnetAccounts creates the demo user's key (DIR/keys/user.key) and a
// session key for it (DIR/keys/user-session.key), and writes the local
// account registry (DIR/accounts.toml) that gives the user 1,000 usd of
// credit. Every node lets requests without an API key spend it.
func devnetAccounts(out io.Writer, dir string, onChain bool) (devnetUser, error) {
	userKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "user.key"))
	if err != nil {
		return devnetUser{}, err
	}
	sessKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "user-session.key"))
	if err != nil {
		return devnetUser{}, err
	}
	apiKey, err := receipt.EncodeSessionKey(sessKey)
	if err != nil {
		return devnetUser{}, err
	}
	issuerKey, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return devnetUser{}, err
	}
	user, sess := identity.PeerID(userKey), identity.PeerID(sessKey)
	u := devnetUser{apiKey: apiKey, id: user, session: sess, issuer: identity.PeerID(issuerKey)}
	where := "the chain's genesis"
	if !onChain {
		where = "DIR/accounts.toml"
	}
	f := node.AccountsFile{Account: []node.RegistryAccount{{ID: user.String(), Credit: 1000e6, SessionKeys: []string{sess.String()}}}}
	b, err := f.Encode()
	if err != nil {
		return devnetUser{}, err
	}
	u.registry = filepath.Join(dir, "accounts.toml")
	if err := os.WriteFile(u.registry, b, 0o600); err != nil {
		return devnetUser{}, err
	}
	fmt.Fprintf(out, "devnet: demo user %s with 1000 usd of credit in %s; API key %s (requests without a key are paid from it too)\n",
		user, where, apiKey)
	return u, nil
}
