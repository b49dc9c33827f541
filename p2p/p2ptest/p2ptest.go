// Package p2ptest builds networks of real p2p.Hosts on loopback for tests:
// n hosts listening on 127.0.0.1 (TCP), connected in a chosen topology, with
// their DHT routing tables filled, and closed when the test ends.
package p2ptest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/store"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topology says which hosts NewHosts connects.
type Topology int

const (
	// FullMesh connects every pair of hosts.
	FullMesh Topology = iota
	// Ring connects host i to host i+1 (and the last to the first).
	Ring
	// Star connects host 0 to every other host.
	Star
	// None connects nothing.
	None
)

// Option configures NewHosts. Without options NewHosts builds a full mesh
// on the default network.
type Option func(*options)

type options struct {
	topology  Topology
	networkID string
	config    func(i int, cfg *p2p.Config)
	keys      []crypto.PrivKey
	timeout   time.Duration
}

func defaultOptions() options {
	return options{topology: FullMesh, timeout: 60 * time.Second}
}

// WithTopology sets how the hosts are connected (default FullMesh).
func WithTopology(top Topology) Option {
	return func(o *options) { o.topology = top }
}

// WithNetworkID sets the hosts' network (default p2p.DefaultNetworkID).
func WithNetworkID(id string) Option {
	return func(o *options) { o.networkID = id }
}

// WithConfig adjusts host i's configuration before it starts (validators,
// DHT mode, datastore…).
func WithConfig(f func(i int, cfg *p2p.Config)) Option {
	return func(o *options) { o.config = f }
}

// WithKeys gives host i the key keys[i] (if present); the others get a
// fresh random key.
func WithKeys(keys ...crypto.PrivKey) Option {
	return func(o *options) { o.keys = keys }
}

// WithTimeout bounds connecting and filling routing tables (default 60 s);
// d <= 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// Config returns the test configuration of host i: loopback TCP on a free
// port, no NAT traversal, an in-memory datastore.
func Config(netID string) p2p.Config {
	return p2p.Config{
		NetworkID: netID,
		Listen:    []string{"/ip4/127.0.0.1/tcp/0"},
		ConnLow:   100,
		ConnHigh:  400,
		Datastore: store.NewMemory(),
		DHTMode:   p2p.DHTServer,
	}
}

// NewHost starts one host with cfg and closes it when the test ends.
func NewHost(t testing.TB, cfg p2p.Config, sk crypto.PrivKey) *p2p.Host {
	t.Helper()
	if sk == nil {
		var err error
		sk, _, err = crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	h, err := p2p.New(cfg, sk, nil)
	if err != nil {
		t.Fatalf("p2ptest: starting host: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// NewHosts starts n hosts, connects them in the topology WithTopology sets
// and waits until every host's DHT routing table holds its direct
// neighbours. The hosts are closed when the test ends.
func NewHosts(t testing.TB, n int, opts ...Option) []*p2p.Host {
	t.Helper()
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	hosts := make([]*p2p.Host, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		cfg := Config(o.networkID)
		if o.config != nil {
			o.config(i, &cfg)
		}
		var sk crypto.PrivKey
		if i < len(o.keys) {
			sk = o.keys[i]
		}
		wg.Go(func() {
			if sk == nil {
				var err error
				if sk, _, err = crypto.GenerateEd25519Key(nil); err != nil {
					errs[i] = err
					return
				}
			}
			hosts[i], errs[i] = p2p.New(cfg, sk, nil)
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		var cw sync.WaitGroup
		for _, h := range hosts {
			if h != nil {
				cw.Go(func() { h.Close() })
			}
		}
		cw.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("p2ptest: starting host %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := Connect(ctx, hosts, o.topology); err != nil {
		t.Fatalf("p2ptest: %v", err)
	}
	if err := WaitRouting(ctx, hosts, o.topology); err != nil {
		t.Fatalf("p2ptest: %v", err)
	}
	return hosts
}

// Edges returns the pairs (i, j), i < j, that topology connects among n
// hosts.
func Edges(n int, top Topology) [][2]int {
	var out [][2]int
	switch top {
	case FullMesh:
		for i := range n {
			for j := i + 1; j < n; j++ {
				out = append(out, [2]int{i, j})
			}
		}
	case Ring:
		for i := range n {
			j := (i + 1) % n
			if n > 2 || i < j {
				out = append(out, [2]int{min(i, j), max(i, j)})
			}
		}
	case Star:
		for j := 1; j < n; j++ {
			out = append(out, [2]int{0, j})
		}
	}
	return out
}

// Connect dials the topology's edges.
func Connect(ctx context.Context, hosts []*p2p.Host, top Topology) error {
	edges := Edges(len(hosts), top)
	errs := make([]error, len(edges))
	// The dial may take until ctx ends (a loaded machine, the race
	// detector), not just libp2p's default 15 s; a few dials at a time keep
	// handshakes from starving each other.
	dctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		dctx = network.WithDialPeerTimeout(ctx, time.Until(dl))
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for k, e := range edges {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			a, b := hosts[e[0]], hosts[e[1]]
			if err := a.Connect(dctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
				errs[k] = fmt.Errorf("connecting host %d to %d: %w", e[0], e[1], err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// WaitRouting waits until each host's DHT routing table holds at least its
// neighbours in the topology (DHT servers only are counted by the DHT).
func WaitRouting(ctx context.Context, hosts []*p2p.Host, top Topology) error {
	want := make([]int, len(hosts))
	for _, e := range Edges(len(hosts), top) {
		want[e[0]]++
		want[e[1]]++
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for i, h := range hosts {
			if h.DHT().RoutingTable().Size() < want[i] {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			var sizes []int
			for _, h := range hosts {
				sizes = append(sizes, h.DHT().RoutingTable().Size())
			}
			return fmt.Errorf("routing tables not filled: sizes %v, want %v", sizes, want)
		case <-tick.C:
		}
	}
}
