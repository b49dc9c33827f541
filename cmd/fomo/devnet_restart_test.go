package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/node"
)

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
	if err := apiDo(t.Context(), http.MethodGet, api+"/api/v1/status", nil, &st); err != nil {
		return nodeAddrs{}, err
	}
	var ch struct {
		P2PAddress string `json:"p2p_address"`
	}
	if err := apiDo(t.Context(), http.MethodGet, api+"/api/v1/chain", nil, &ch); err != nil {
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
	_ = apiDo(t.Context(), http.MethodGet, api+"/api/v1/status", nil, &st)
	_ = apiDo(t.Context(), http.MethodGet, api+"/api/v1/chain", nil, &ch)
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
	dir := t.TempDir()
	args := []string{"devnet", "--dir", dir, "--no-model", "--keep-going", "--epoch", "10s",
		"--block-interval", "200ms", "--set", "gpu.enabled=false"}
	p := start(t, args...)
	nodes := waitDevnet(t, p, 4, 90*time.Second)
	if !strings.Contains(p.out.String(), "4 validators") {
		t.Fatalf("the default devnet is not four validators:\n%s", p.out)
	}
	waitFor(t, 30*time.Second, "height 3 on node0", func() bool { return chainOf(t, nodes[0].api).Height >= 3 })
	before, err := addrsOf(t, nodes[3].api)
	if err != nil {
		t.Fatal(err)
	}

	// kill -9 validator 3: three of four are more than 2/3, blocks go on.
	if err := syscall.Kill(nodes[3].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "devnet to see node3 exit", func() bool { return strings.Contains(p.out.String(), "node3 exited") })
	h0 := chainOf(t, nodes[0].api).Height
	waitFor(t, 30*time.Second, "blocks without validator 3", func() bool { return chainOf(t, nodes[1].api).Height >= h0+5 })

	// Restarted from its home alone: same addresses, peers, caught up.
	home := filepath.Join(dir, "node3")
	os.Remove(filepath.Join(home, node.APIAddrFile)) // left behind by the kill
	re := start(t, "node", "--home", home)
	defer func() {
		if t.Failed() {
			t.Logf("devnet:\n%s\nrestarted node3:\n%s", p.out, re.out)
		}
	}()
	b := waitFile(t, re, filepath.Join(home, node.APIAddrFile))
	if api := "http://" + strings.TrimSpace(b); api != nodes[3].api {
		t.Fatalf("node3's API moved from %s to %s", nodes[3].api, api)
	}
	var after nodeAddrs
	waitFor(t, 30*time.Second, "node3's status", func() bool {
		after, err = addrsOf(t, nodes[3].api)
		return err == nil
	})
	if after.chain != before.chain || !slices.Equal(after.p2p, before.p2p) {
		t.Fatalf("node3's addresses moved:\nbefore %+v\nafter  %+v", before, after)
	}
	waitFor(t, 30*time.Second, "node3 with libp2p and chain peers", func() bool {
		p2p, chain := peersOf(t, nodes[3].api)
		return p2p > 0 && chain > 0
	})
	target := chainOf(t, nodes[0].api).Height
	waitFor(t, 60*time.Second, "node3 catching up", func() bool { return chainOf(t, nodes[3].api).Height > target })
	if got, want := appHashAt(nodes[3].api, target), appHashAt(nodes[0].api, target); got == "" || got != want {
		t.Fatalf("app hash after height %d: node3 %q, node0 %q", target, got, want)
	}

	// A second devnet over the same directory goes on with the same chain.
	re.signal(t, syscall.SIGINT, 30*time.Second)
	last := chainOf(t, nodes[0].api).Height
	p.signal(t, syscall.SIGINT, 30*time.Second)
	p2 := start(t, args...)
	again := waitDevnet(t, p2, 4, 90*time.Second)
	out := p2.out.String()
	if !strings.Contains(out, "reusing network") || !strings.Contains(out, "node0, node1, node2, node3 keep their ports") {
		t.Fatalf("the second devnet did not reuse the network and its ports:\n%s", out)
	}
	for i := range nodes {
		if again[i].api != nodes[i].api || again[i].peer != nodes[i].peer {
			t.Fatalf("node%d moved: %+v, then %+v", i, nodes[i], again[i])
		}
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("the chain past height %d", last), func() bool {
		return chainOf(t, again[3].api).Height > last
	})
	p2.signal(t, syscall.SIGINT, 30*time.Second)
}
