package devnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/internal/testbuf"
	"github.com/fomonet/fomo/node"
)

func TestMain(m *testing.M) { os.Exit(fomotest.Main(m)) }

// running is a started devnet whose Wait runs in the background.
type running struct {
	d      *Devnet
	out    *testbuf.Buffer
	cancel context.CancelFunc
	waited chan error
}

func startDevnet(t *testing.T, n int, opts ...Option) *running {
	t.Helper()
	r := &running{out: &testbuf.Buffer{}, waited: make(chan error, 1)}
	d, err := New(n, append(opts, WithOutput(r.out))...)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	t.Cleanup(d.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	// Start's context runs the devnet's traffic, epoch tables and offering
	// too: it ends with the test. Each node has WithStartTimeout to start.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("devnet output:\n%s", r.out)
		}
	})
	if err := d.Start(ctx); err != nil {
		t.Fatalf("devnet: %v\n%s", err, r.out)
	}
	go func() { r.waited <- d.Wait(ctx) }()
	return r
}

// stop ends the devnet as Ctrl-C does: Wait stops the nodes and returns nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.waited:
		if err != nil {
			t.Fatalf("devnet: %v\n%s", err, r.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("devnet did not stop within 60s:\n%s", r.out)
	}
	r.d.Stop()
}

// heightOf returns a node's chain height, -1 when it does not answer.
func heightOf(api string) int64 { return fomotest.Height(api, 30*time.Second) }

// nodeAddrs is where a node listens, as its API reports it.
type nodeAddrs struct {
	api, chain string
	p2p        []string
}

func addrsOf(t *testing.T, api string) (nodeAddrs, error) {
	t.Helper()
	var st struct {
		ListenAddrs []string `json:"listen_addrs"`
	}
	if err := fomotest.GetJSON(t.Context(), api+"/api/v1/status", &st, 10*time.Second); err != nil {
		return nodeAddrs{}, err
	}
	var ch struct {
		P2PAddress string `json:"p2p_address"`
	}
	if err := fomotest.GetJSON(t.Context(), api+"/api/v1/chain", &ch, 10*time.Second); err != nil {
		return nodeAddrs{}, err
	}
	slices.Sort(st.ListenAddrs)
	return nodeAddrs{api: api, chain: ch.P2PAddress, p2p: st.ListenAddrs}, nil
}

// peersOf returns a node's libp2p and CometBFT peer counts (-1 when it
// does not answer).
func peersOf(t *testing.T, api string) (p2p, chain int) {
	t.Helper()
	var st, ch struct {
		Peers int `json:"peers"`
	}
	st.Peers, ch.Peers = -1, -1
	_ = fomotest.GetJSON(t.Context(), api+"/api/v1/status", &st, 10*time.Second)
	_ = fomotest.GetJSON(t.Context(), api+"/api/v1/chain", &ch, 10*time.Second)
	return st.Peers, ch.Peers
}

// TestDevnetValidatorRestart runs the default devnet (four validators, no
// model): a validator killed with SIGKILL does not stop the chain; restarted
// by hand from its home alone (fomo node --home DIR/node3), it listens on
// the same API, libp2p and CometBFT addresses, finds its peers and catches
// up. A second devnet over the same directory reuses the network, its ports
// and its chain.
func TestDevnetValidatorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four nodes with the chain")
	}
	bin := fomotest.BuildBinary(t)
	dir := t.TempDir()
	opts := []Option{WithBinary(bin), WithDir(dir), WithoutModel(), KeepGoing(), WithEpoch(10 * time.Second),
		WithBlockInterval(200 * time.Millisecond), WithConfigSet("gpu.enabled=false")}
	p := startDevnet(t, DefaultNodes, opts...)
	nodes := p.d.Nodes()
	if len(nodes) != 4 || !strings.Contains(p.out.String(), "4 validators") {
		t.Fatalf("the default devnet is not four validators:\n%s", p.out)
	}
	fomotest.WaitFor(t, 30*time.Second, "height 3 on node0", func() bool { return heightOf(nodes[0].API) >= 3 })
	before, err := addrsOf(t, nodes[3].API)
	if err != nil {
		t.Fatal(err)
	}

	// kill -9 validator 3: three of four are more than 2/3, blocks go on.
	if err := syscall.Kill(nodes[3].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	fomotest.WaitFor(t, 10*time.Second, "devnet to see node3 exit", func() bool { return strings.Contains(p.out.String(), "node3 exited") })
	h0 := heightOf(nodes[0].API)
	fomotest.WaitFor(t, 30*time.Second, "blocks without validator 3", func() bool { return heightOf(nodes[1].API) >= h0+5 })

	// Restarted from its home alone: same addresses, peers, caught up.
	home := filepath.Join(dir, "node3")
	os.Remove(filepath.Join(home, node.APIAddrFile)) // left behind by the kill
	re := byHand(t, bin, home)
	defer func() {
		if t.Failed() {
			t.Logf("devnet:\n%s\nrestarted node3:\n%s", p.out, re.out)
		}
	}()
	if err := re.waitReady(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if re.api != nodes[3].API {
		t.Fatalf("node3's API moved from %s to %s", nodes[3].API, re.api)
	}
	after, err := addrsOf(t, nodes[3].API)
	if err != nil {
		t.Fatal(err)
	}
	if after.chain != before.chain || !slices.Equal(after.p2p, before.p2p) {
		t.Fatalf("node3's addresses moved:\nbefore %+v\nafter  %+v", before, after)
	}
	fomotest.WaitFor(t, 30*time.Second, "node3 with libp2p and chain peers", func() bool {
		p2p, chain := peersOf(t, nodes[3].API)
		return p2p > 0 && chain > 0
	})
	target := heightOf(nodes[0].API)
	fomotest.WaitFor(t, 60*time.Second, "node3 catching up", func() bool { return heightOf(nodes[3].API) > target })
	if got, want := fomotest.AppHashAt(nodes[3].API, target), fomotest.AppHashAt(nodes[0].API, target); got == "" || got != want {
		t.Fatalf("app hash after height %d: node3 %q, node0 %q", target, got, want)
	}

	// A second devnet over the same directory goes on with the same chain.
	re.stop(30 * time.Second)
	last := heightOf(nodes[0].API)
	p.stop(t)
	p2 := startDevnet(t, DefaultNodes, opts...)
	again := p2.d.Nodes()
	out := p2.out.String()
	if !strings.Contains(out, "reusing network") || !strings.Contains(out, "node0, node1, node2, node3 keep their ports") {
		t.Fatalf("the second devnet did not reuse the network and its ports:\n%s", out)
	}
	for i := range nodes {
		if again[i].API != nodes[i].API || again[i].Peer != nodes[i].Peer {
			t.Fatalf("node%d moved: %+v, then %+v", i, nodes[i], again[i])
		}
	}
	fomotest.WaitFor(t, 30*time.Second, fmt.Sprintf("the chain past height %d", last), func() bool {
		return heightOf(again[3].API) > last
	})
	p2.stop(t)
}

// handNode is a node started by hand: fomo node --home HOME.
type handNode struct {
	*devnode
	out *testbuf.Buffer
}

func byHand(t *testing.T, bin, home string) handNode {
	t.Helper()
	n := handNode{&devnode{name: "node3 (by hand)", home: home, exited: make(chan struct{})}, &testbuf.Buffer{}}
	n.cmd = exec.Command(bin, "node", "--home", home)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.Env = withoutFomoHome(os.Environ())
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { n.stop(30 * time.Second) })
	return n
}

// TestLogTailSkipsEarlierRuns: a node that fails to start is described by
// this run's lines only, its error first, not by an earlier run's.
func TestLogTailSkipsEarlierRuns(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "node.log")
	old := "time=1 level=INFO msg=\"old run\"\nfomo: an old error\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &devnode{name: "node0", home: home, logFrom: int64(len(old))}
	if got := n.logTail(20); !strings.Contains(got, "wrote nothing") || strings.Contains(got, "old") {
		t.Fatalf("a run that wrote nothing: %q", got)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "time=2 level=INFO msg=starting\nfomo: genesis.json is the genesis of chain \"a\", not of \"b\"\n")
	f.Close()
	got := n.logTail(20)
	if strings.Contains(got, "old") || !strings.HasPrefix(got, "\n  error: genesis.json is the genesis of chain \"a\", not of \"b\"\n") ||
		!strings.Contains(got, "msg=starting") {
		t.Fatalf("this run's tail: %q", got)
	}
}

// TestClearDir: --fresh removes the network devnet runs left, keeps the
// synthetic model, and refuses a directory holding anything else.
func TestClearDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"genesis.toml", "env", "keys/user.key", "node0/config.toml", "node12/node.log", "models/m.gguf"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if removed, err := clearDir(dir); err != nil || !removed {
		t.Fatalf("clearDir: %v, %v", removed, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "models" {
		t.Fatalf("left %v, want the models only", ents)
	}
	if removed, err := clearDir(filepath.Join(dir, "absent")); err != nil || removed {
		t.Fatalf("an absent directory: %v, %v", removed, err)
	}
	for _, name := range []string{"thesis.tex", "nodes", "node1a"} {
		if err := os.WriteFile(filepath.Join(dir, "genesis.toml"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := clearDir(dir); err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("a directory holding %s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "genesis.toml")); err != nil {
			t.Fatalf("a refused --fresh removed genesis.toml: %v", err)
		}
		os.Remove(filepath.Join(dir, name))
	}
}
