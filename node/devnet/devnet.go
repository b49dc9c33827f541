package devnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/configs/networks"
)

// configFile is a node's config file in its home.
const configFile = "config.toml"

// Devnet is a local network of fomo node processes.
type Devnet struct {
	n   int
	o   options
	dir string

	nodes   []*devnode
	exited  chan *devnode
	stopBg  context.CancelFunc
	bgWG    sync.WaitGroup
	started bool
}

// Node is a started devnet node.
type Node struct {
	Name   string   // node<i>
	Home   string   // DIR/node<i>
	API    string   // its HTTP API, http://127.0.0.1:<port>
	Peer   string   // its libp2p peer ID (also its validator and account)
	PID    int      // its process
	Models []string // models its own runtimes serve
}

// New returns a devnet of nodes nodes; Start starts it.
func New(nodes int, opts ...Option) (*Devnet, error) {
	if nodes < 1 {
		return nil, errors.New("devnet: at least one node")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.out == nil {
		return nil, errors.New("devnet: nil output")
	}
	return &Devnet{n: nodes, o: o}, nil
}

// Run starts a devnet of nodes nodes and runs it until ctx ends (nil) or,
// without KeepGoing, a node exits (an error); then it stops every node.
func Run(ctx context.Context, nodes int, opts ...Option) error {
	d, err := New(nodes, opts...)
	if err != nil {
		return err
	}
	defer d.Stop()
	if err := d.Start(ctx); err != nil {
		return err
	}
	return d.Wait(ctx)
}

// Dir is the devnet's directory, absolute (known once Start has begun).
func (d *Devnet) Dir() string { return d.dir }

// Nodes returns the nodes started so far, in order.
func (d *Devnet) Nodes() []Node {
	out := make([]Node, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, Node{Name: n.name, Home: n.home, API: n.api, Peer: n.peer,
			PID: n.cmd.Process.Pid, Models: append([]string(nil), n.models...)})
	}
	return out
}

// Start prepares the devnet's directory (keys, accounts, model, genesis,
// each node's config.toml), starts the nodes one by one, each once the
// previous one answers, announces the model, and starts the traffic and the
// printing of settled epochs. When it fails it stops the nodes it started.
// A Devnet starts once.
func (d *Devnet) Start(ctx context.Context) (err error) {
	if d.started {
		return errors.New("devnet: already started")
	}
	d.started = true
	defer func() {
		if err != nil {
			d.stopNodes()
		}
	}()
	o, out := d.o, d.o.out
	dir := o.dir
	if dir == "" {
		td, err := os.MkdirTemp("", "fomo-devnet-")
		if err != nil {
			return err
		}
		dir = td
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if o.fresh {
		removed, err := clearDir(dir)
		if err != nil {
			return err
		}
		if removed {
			fmt.Fprintf(out, "devnet: --fresh: removed the network in %s\n", dir)
		}
	}
	d.dir = dir
	self := o.binary
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "devnet: %d node(s) in %s\n", d.n, dir)
	serveOn := DefaultServeOn(d.n)
	if o.serveOnSet {
		serveOn = o.serveOn
	}
	if serveOn < 0 || serveOn > d.n {
		serveOn = d.n
	}
	runtimeBlock, modelName, modelPath := "", "", ""
	if !o.noModel && serveOn > 0 {
		if runtimeBlock, modelName, modelPath, err = makeModel(out, dir, o.modelPreset, o.modelType); err != nil {
			return err
		}
	}

	user, err := makeAccounts(out, dir, !o.noChain)
	if err != nil {
		return err
	}
	var manifest, idleManifest []byte
	idleName := ""
	if modelName != "" {
		if manifest, err = signManifest(dir, modelName, modelPath, o.modelPreset); err != nil {
			return err
		}
		idleName = modelName + idleSuffix
		if idleManifest, err = signManifest(dir, idleName, modelPath, o.modelPreset); err != nil {
			return err
		}
	}
	ids, err := nodeKeys(dir, d.n)
	if err != nil {
		return err
	}
	homes := make([]string, d.n)
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
	}
	ports, err := assignPorts(out, homes)
	if err != nil {
		return err
	}
	var gen *networks.Genesis
	nc := nodeConfig{user: user, runtime: runtimeBlock, serveOn: serveOn, ids: ids, ports: ports, set: o.set}
	if !o.noChain {
		c := chainSpec{epoch: o.epoch, unbonding: o.unbonding, nodes: ids, user: user.id, session: user.session, issuer: user.issuer, supporters: user.supporters}
		if modelName != "" {
			c.model, c.manifest = modelName, manifest
			c.idle, c.idleManifest = idleName, idleManifest
			for i := range serveOn {
				c.serving = append(c.serving, ids[i].String())
			}
		}
		path, g, reused, err := writeGenesis(dir, c)
		if err != nil {
			return err
		}
		gen = g
		if reused {
			fmt.Fprintf(out, "devnet: reusing network %s (genesis %s): %d validators, epochs of %s\n", g.ID(), path, len(ids), o.epoch)
		} else {
			fmt.Fprintf(out, "devnet: network %s (genesis %s), %d validators, epochs of %s\n", g.ID(), path, len(ids), o.epoch)
			if err := clearChain(out, homes); err != nil {
				return err
			}
		}
		nc.genesis, nc.block = path, o.blockInterval
	}

	for i := range d.n {
		n := &devnode{name: fmt.Sprintf("node%d", i), home: homes[i]}
		cfg, err := nc.build(i)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if err := n.start(self, cfg); err != nil {
			return err
		}
		d.nodes = append(d.nodes, n)
		if err := n.waitReady(ctx, o.startTimeout); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s api=%s peer=%s pid=%d\n", n.name, n.api, n.peer, n.cmd.Process.Pid)
		if len(n.models) > 0 {
			fmt.Fprintf(out, "%s serves %s\n", n.name, strings.Join(n.models, ", "))
		} else if runtimeBlock == "" && i == 0 {
			fmt.Fprintf(out, "%s serves no model: add a [[runtime]] block to %s (see the examples in it) and restart\n",
				n.name, filepath.Join(n.home, configFile))
		}
	}
	if modelName != "" && (len(d.nodes) > 1 || !o.noChain) {
		if err := announce(ctx, out, d.nodes[0].api, modelName, manifest); err != nil {
			return err
		}
	}
	envPath, err := writeEnv(dir, d.nodes[0].api)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "devnet: point the fomo commands at this network with: source %s\n", envPath)
	fmt.Fprintf(out, "devnet running; logs in %s/node*/node.log; press Ctrl-C to stop\n", dir)
	bg, stopBg := context.WithCancel(ctx)
	d.stopBg = stopBg
	if modelName != "" && o.traffic > 0 {
		var apis []string
		for _, n := range d.nodes {
			apis = append(apis, n.api)
		}
		d.bgWG.Go(func() { sendTraffic(bg, apis, user.apiKey, modelName, o.traffic) })
	}
	if !o.noChain {
		api := d.nodes[0].api
		if modelName != "" {
			d.bgWG.Go(func() { runOffering(bg, out, dir, api, modelName, gen) })
		}
		names := map[string]string{user.id.String(): "user", user.issuer.String(): "issuer"}
		for i, s := range user.supporters {
			names[s.String()] = fmt.Sprintf("supporter%d", i+1)
		}
		for i, id := range ids {
			names[id.String()] = fmt.Sprintf("node%d", i)
		}
		d.bgWG.Go(func() { printEpochs(bg, out, dir, api, names) })
	}

	d.exited = make(chan *devnode, len(d.nodes))
	for _, n := range d.nodes {
		go func() { <-n.exited; d.exited <- n }()
	}
	return nil
}

// Wait runs the started devnet until ctx ends, then stops its nodes and
// returns nil. A node that exits before is an error, unless KeepGoing was
// given: then the devnet says so and goes on with the others.
func (d *Devnet) Wait(ctx context.Context) error {
	if d.exited == nil {
		return errors.New("devnet: not started")
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.o.out, "devnet: stopping nodes")
			d.stopNodes()
			return nil
		case n := <-d.exited:
			if !d.o.keepGoing {
				return fmt.Errorf("%s exited unexpectedly (%v)%s", n.name, n.err, n.logTail(20))
			}
			fmt.Fprintf(d.o.out, "devnet: %s exited (%v); the others keep going\n", n.name, n.err)
		}
	}
}

// Stop stops the traffic and the epoch tables, then every node: SIGTERM,
// and SIGKILL to its process group after 30 s. It may be called more than
// once.
func (d *Devnet) Stop() {
	if d.stopBg != nil {
		d.stopBg()
		d.bgWG.Wait()
	}
	d.stopNodes()
}

func (d *Devnet) stopNodes() {
	var wg sync.WaitGroup
	for _, n := range d.nodes {
		wg.Go(func() { n.stop(30 * time.Second) })
	}
	wg.Wait()
}

// clearDir removes the network earlier devnet runs left in dir (genesis,
// keys, the nodes' homes), keeping the synthetic model files, which are
// the same for every network, and reports whether there was anything. It
// refuses a directory holding entries a devnet does not write, so that a
// mistyped --dir loses nothing.
func clearDir(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, e := range ents {
		if !devnetEntry(e.Name()) {
			return false, fmt.Errorf("devnet: --fresh: %s holds %q, which a devnet does not write: remove it by hand or pick another --dir", dir, e.Name())
		}
	}
	removed := false
	for _, e := range ents {
		if e.Name() == "models" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return false, err
		}
		removed = true
	}
	return removed, nil
}

// devnetEntry reports whether a devnet writes an entry of this name in
// its directory.
func devnetEntry(name string) bool {
	switch name {
	case "genesis.toml", "keys", "models", "accounts.toml", "env", "epochs.png":
		return true
	}
	rest, ok := strings.CutPrefix(name, "node")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
