package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/crypto"
)

func keys(t *testing.T, n int) []crypto.PrivKey {
	t.Helper()
	var out []crypto.PrivKey
	for range n {
		sk, _ := testkeys.New(t)
		out = append(out, sk)
	}
	return out
}

func genesis(ks []crypto.PrivKey) Genesis {
	g := Genesis{ChainID: "fomo-test", GenesisTime: time.Now().Add(-time.Second).Truncate(time.Millisecond), InitialHeight: 1}
	for i, k := range ks {
		g.Validators = append(g.Validators, Validator{PubKey: k.GetPublic(), Power: 10, Name: fmt.Sprint("v", i)})
	}
	return g
}

var debugLog = os.Getenv("FOMO_TEST_DEBUG") != ""

func start(t *testing.T, home string, key crypto.PrivKey, g Genesis, app abcitypes.Application, peers []string) *Node {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if debugLog {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("home", filepath.Base(home))
	}
	n, err := Start(context.Background(), Config{Home: home, Key: key, Genesis: g, ListenAddr: "tcp://127.0.0.1:0",
		Peers: peers, BlockInterval: 100 * time.Millisecond, App: app, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

func waitHeight(t *testing.T, n *Node, h int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.Status().Height < h {
		if time.Now().After(deadline) {
			t.Fatalf("height %d after 30s, want %d", n.Status().Height, h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSingleValidator(t *testing.T) {
	ks := keys(t, 1)
	n := start(t, t.TempDir(), ks[0], genesis(ks), kvstore.NewInMemoryApplication(), nil)
	waitHeight(t, n, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := n.SubmitTx(ctx, []byte("fomo=yes"))
	if err != nil || res.Code != 0 || res.Height == 0 {
		t.Fatalf("SubmitTx: %+v %v", res, err)
	}
	v, err := n.Query(ctx, "/key", []byte("fomo"))
	if err != nil || string(v) != "yes" {
		t.Fatalf("query: %q %v", v, err)
	}
	id, _ := NodeID(ks[0].GetPublic())
	if n.Status().NodeID != id || n.P2PAddress()[:40] != id {
		t.Fatalf("node id %s, address %s, want %s", n.Status().NodeID, n.P2PAddress(), id)
	}
}

// TestFourValidators: four validators on loopback agree on every app hash;
// with one stopped the other three go on and still agree.
func TestFourValidators(t *testing.T) {
	ks := keys(t, 4)
	g := genesis(ks)
	dir := t.TempDir()
	var nodes []*Node
	var peers []string
	for i, k := range ks {
		n := start(t, filepath.Join(dir, fmt.Sprint(i)), k, g, kvstore.NewInMemoryApplication(), peers)
		nodes = append(nodes, n)
		peers = append(peers, n.P2PAddress())
	}
	for _, n := range nodes[:3] { // the first nodes learn the later ones
		n.AddPeers(peers...)
	}
	waitHeight(t, nodes[0], 3)
	ctx := context.Background()
	if res, err := nodes[1].SubmitTx(ctx, []byte("a=1")); err != nil || res.Code != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	h := nodes[0].Status().Height
	for _, n := range nodes {
		waitHeight(t, n, h)
	}
	if err := nodes[3].Stop(); err != nil {
		t.Fatal(err)
	}
	waitHeight(t, nodes[0], h+3)
	for _, n := range nodes[1:3] {
		waitHeight(t, n, h+3)
	}
	want := appHashAt(t, nodes[0], h+2)
	for _, n := range nodes[1:3] {
		if got := appHashAt(t, n, h+2); !bytes.Equal(got, want) {
			t.Fatalf("app hash at %d: %x, want %x", h+2, got, want)
		}
	}
	// A validator restarted over its home catching up with the others is
	// the black-box test's part (cmd/fomo TestChainFourValidators, with
	// processes): in one process, the peers of a stopped node keep its old
	// connection until their ping timeout and turn its new one away as a
	// duplicate.
}

// TestRestartReplays: a validator restarted over its home with an empty
// application gets every block replayed into it and goes on.
func TestRestartReplays(t *testing.T) {
	ks := keys(t, 1)
	g := genesis(ks)
	home := t.TempDir()
	n := start(t, home, ks[0], g, kvstore.NewInMemoryApplication(), nil)
	if res, err := n.SubmitTx(context.Background(), []byte("k=v")); err != nil || res.Code != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	waitHeight(t, n, 4)
	want := appHashAt(t, n, 3)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	back := start(t, home, ks[0], g, kvstore.NewInMemoryApplication(), nil)
	waitHeight(t, back, 6)
	if got := appHashAt(t, back, 3); !bytes.Equal(got, want) {
		t.Fatalf("app hash at 3 after the restart %x, want %x", got, want)
	}
	if v, err := back.Query(context.Background(), "/key", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("the replayed app lost k: %q %v", v, err)
	}
}

func appHashAt(t *testing.T, n *Node, h int64) []byte {
	t.Helper()
	hh := h + 1 // block h+1 carries the app hash after h
	waitHeight(t, n, hh)
	b, err := n.client.Block(context.Background(), &hh)
	if err != nil {
		t.Fatal(err)
	}
	return b.Block.AppHash
}

// TestHomeOfAnotherChain: a home initialised for one chain refuses
// another genesis, and accepts its own again.
func TestHomeOfAnotherChain(t *testing.T) {
	ks := keys(t, 1)
	home := t.TempDir()
	g := genesis(ks)
	n := start(t, home, ks[0], g, kvstore.NewInMemoryApplication(), nil)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	other := g
	other.ChainID = "fomo-other"
	if _, err := Start(context.Background(), Config{Home: home, Key: ks[0], Genesis: other, ListenAddr: "tcp://127.0.0.1:0",
		App: kvstore.NewInMemoryApplication()}); err == nil || !strings.Contains(err.Error(), "another network") {
		t.Fatalf("another chain's genesis: %v", err)
	}
}

// TestPeerRoundHeight reads a peer's height as CometBFT encodes its
// state: int64 as a JSON string.
func TestPeerRoundHeight(t *testing.T) {
	for state, want := range map[string]int64{
		`{"round_state":{"height":"42","round":0,"step":1},"stats":{"votes":"3"}}`: 42,
		`{"round_state":{"height":7}}`:                                             7,
		`{"round_state":{}}`:                                                       0,
	} {
		got, err := peerRoundHeight(json.RawMessage(state))
		if err != nil || got != want {
			t.Errorf("peerRoundHeight(%s) = %d, %v; want %d", state, got, err, want)
		}
	}
	for _, bad := range []string{`{"round_state":{"height":"x"}}`, `[`, `{"round_state":{"height":"9223372036854775808"}}`} {
		if _, err := peerRoundHeight(json.RawMessage(bad)); err == nil {
			t.Errorf("peerRoundHeight(%s): no error", bad)
		}
	}
}
