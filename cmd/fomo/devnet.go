package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node"
	nodeapi "github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/synth"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
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
built-in engine on the first --serve-on nodes. devnet rewrites each node's
config.toml on every run, keeping its ports while they are free. A run over
an existing DIR reuses its network (DIR/genesis.toml, the keys and the
chain) when the flags describe the same genesis; otherwise it writes a new
genesis and clears the nodes' chain state, and says so.

Each node logs to DIR/node<i>/node.log. Interrupt (Ctrl-C) stops every node.`,
		Example: "  fomo devnet\n  fomo devnet --nodes 2 --dir ./.devnet",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevnet(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().IntVar(&f.nodes, "nodes", 4, "number of nodes (4 validators survive one fault)")
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
	ids, err := devnetNodeKeys(dir, f.nodes)
	if err != nil {
		return err
	}
	homes := make([]string, f.nodes)
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
	}
	ports, err := devnetAssignPorts(out, homes)
	if err != nil {
		return err
	}
	nc := devnetNodeConfig{user: user, runtime: runtimeBlock, serveOn: serveOn, ids: ids, ports: ports, set: f.set}
	if !f.noChain {
		c := devnetChain{epoch: f.epoch, nodes: ids, user: user.id, session: user.session, issuer: user.issuer}
		if modelName != "" {
			c.model, c.manifest = modelName, manifest
			for i := range serveOn {
				c.serving = append(c.serving, ids[i].String())
			}
		}
		path, g, reused, err := writeDevnetGenesis(dir, c)
		if err != nil {
			return err
		}
		if reused {
			fmt.Fprintf(out, "devnet: reusing network %s (genesis %s): %d validators, epochs of %s\n", g.ID(), path, len(ids), f.epoch)
		} else {
			fmt.Fprintf(out, "devnet: network %s (genesis %s), %d validators, epochs of %s\n", g.ID(), path, len(ids), f.epoch)
			if err := clearDevnetChain(out, homes); err != nil {
				return err
			}
		}
		nc.genesis, nc.block = path, f.block
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

	for i := range f.nodes {
		n := &devnode{name: fmt.Sprintf("node%d", i), home: homes[i]}
		cfg, err := nc.build(i)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if err := n.start(ctx, self, cfg); err != nil {
			return err
		}
		nodes = append(nodes, n)
		if err := n.waitReady(ctx, f.startTTL); err != nil {
			return err
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

// start writes the node's config.toml and starts "fomo node --home HOME",
// which reads everything from it: the same command restarts the node by hand.
func (n *devnode) start(ctx context.Context, self string, cfg []byte) error {
	if err := os.MkdirAll(n.home, 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.home, ConfigFile)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	os.Remove(filepath.Join(n.home, node.APIAddrFile))
	logf, err := os.OpenFile(filepath.Join(n.home, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n.cmd = exec.Command(self, "node", "--home", n.home)
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
		var info nodeapi.ManifestInfo
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
	f := meter.AccountsFile{Account: []meter.RegistryAccount{{ID: user.String(), Credit: 1000e6, SessionKeys: []string{sess.String()}}}}
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

// devnetPorts are the loopback ports a devnet node listens on: its API, its
// libp2p TCP and QUIC (one number, TCP and UDP) and CometBFT's peer port.
// devnet picks them on the node's first start and keeps them in its
// config.toml, so that the node, restarted by another run or by hand
// (fomo node --home DIR/node<i>), listens where its peers' bootstrap and
// chain peer addresses point.
type devnetPorts struct {
	API, P2P, Chain int
}

// devnetPortsOf reads the ports in the config.toml of home; a port it
// does not find is 0.
func devnetPortsOf(home string) devnetPorts {
	var p devnetPorts
	b, err := os.ReadFile(filepath.Join(home, ConfigFile))
	if err != nil {
		return p
	}
	cfg, err := configs.Decode(b)
	if err != nil {
		return p
	}
	port := func(hostport string) int {
		_, s, err := net.SplitHostPort(hostport)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	p.API = port(cfg.API.Listen)
	p.Chain = port(strings.TrimPrefix(cfg.Chain.Listen, "tcp://"))
	for _, a := range cfg.P2P.Listen {
		if m, err := multiaddr.NewMultiaddr(a); err == nil {
			if v, err := m.ValueForProtocol(multiaddr.P_TCP); err == nil {
				p.P2P, _ = strconv.Atoi(v)
				break
			}
		}
	}
	return p
}

// devnetAssignPorts gives each node the ports its config.toml already
// holds while they are free, and free ones otherwise, and says which.
func devnetAssignPorts(out io.Writer, homes []string) ([]devnetPorts, error) {
	taken := map[int]bool{}
	ports := make([]devnetPorts, len(homes))
	var kept, picked []string
	for i, home := range homes {
		old := devnetPortsOf(home)
		p := old
		changed := false
		for _, f := range []struct {
			port *int
			udp  bool
		}{{&p.API, false}, {&p.P2P, true}, {&p.Chain, false}} {
			if *f.port > 0 && !taken[*f.port] && portFree(*f.port, f.udp) {
				taken[*f.port] = true
				continue
			}
			n, err := pickFreePort(taken, f.udp)
			if err != nil {
				return nil, err
			}
			*f.port, changed = n, true
		}
		ports[i] = p
		name := filepath.Base(home)
		switch {
		case !changed:
			kept = append(kept, name)
		case old != devnetPorts{}:
			picked = append(picked, fmt.Sprintf("%s (its ports %d/%d/%d were busy)", name, old.API, old.P2P, old.Chain))
		default:
			picked = append(picked, name)
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(out, "devnet: %s keep their ports from config.toml\n", strings.Join(kept, ", "))
	}
	if len(picked) > 0 {
		fmt.Fprintf(out, "devnet: new ports, kept in config.toml for restarts: %s\n", strings.Join(picked, ", "))
	}
	return ports, nil
}

// pickFreePort returns a loopback port free for TCP (and UDP too with udp)
// that is not in taken, and adds it there. It draws below the kernel's
// ephemeral range when it can, where no outgoing connection takes the port
// while its node is down; otherwise it asks the kernel for one.
func pickFreePort(taken map[int]bool, udp bool) (int, error) {
	const low = 10000
	if high := ephemeralLow(); high-low >= 1000 {
		for range 200 {
			p := low + rand.IntN(high-low)
			if !taken[p] && portFree(p, udp) {
				taken[p] = true
				return p, nil
			}
		}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !taken[p] && (!udp || portFree(p, true)) {
			taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("devnet: no free loopback port")
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// portFree reports whether the loopback TCP port (and UDP port, with udp)
// can be bound now.
func portFree(p int, udp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	if udp {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// devnetNodeConfig is what goes into every devnet node's config.toml.
type devnetNodeConfig struct {
	user    devnetUser
	runtime string // [[runtime]] block of the serving nodes
	serveOn int
	ids     []peer.ID
	ports   []devnetPorts
	genesis string        // the network's genesis file; "" without the chain
	block   time.Duration // chain.block_interval
	set     []string      // --set overrides, applied last
}

// build returns node i's config.toml: the defaults, its fixed ports, every
// other node as a libp2p bootstrap peer and CometBFT persistent peer, the
// devnet's account settings and network, the runtime block on serving
// nodes, then the --set overrides. The file holds the whole effective
// config, so "fomo node --home DIR/node<i>" runs the node as devnet does.
func (c devnetNodeConfig) build(i int) ([]byte, error) {
	tmpl := configs.Template
	if i < c.serveOn {
		tmpl += c.runtime
	}
	cfg, err := configs.Decode([]byte(tmpl))
	if err != nil {
		return nil, err
	}
	p := c.ports[i]
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", p.API)
	cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.P2P), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", p.P2P)}
	cfg.Auth.OpenAccessKey = c.user.apiKey
	if c.genesis == "" {
		cfg.Auth.Accounts = c.user.registry
	} else {
		cfg.P2P.Network = c.genesis
		cfg.Chain.Enabled = true
		cfg.Chain.Listen = fmt.Sprintf("tcp://127.0.0.1:%d", p.Chain)
		cfg.Chain.BlockInterval = configs.Duration(c.block)
	}
	for j, id := range c.ids {
		if j == i {
			continue
		}
		q := c.ports[j]
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", q.P2P, id))
		if c.genesis != "" {
			pub, err := id.ExtractPublicKey()
			if err != nil {
				return nil, err
			}
			nid, err := consensus.NodeID(pub)
			if err != nil {
				return nil, err
			}
			cfg.Chain.Peers = append(cfg.Chain.Peers, fmt.Sprintf("%s@127.0.0.1:%d", nid, q.Chain))
		}
	}
	for _, kv := range c.set {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		if err := configs.SetKey(&cfg, strings.TrimSpace(key), val); err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := configs.Encode(cfg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by fomo devnet, which rewrites it on every run (keeping the ports\n" +
		"# while they are free). The whole effective config: restart this node alone\n" +
		"# with fomo node --home <this directory>.\n\n")
	buf.Write(b)
	if k := strings.Index(configs.Template, "# Model runtimes."); k >= 0 {
		buf.WriteString("\n" + configs.Template[k:])
	}
	return buf.Bytes(), nil
}
