package p2p_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/p2p/p2ptest"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10 ms until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestNamesMatchNetworks: the host's names are those of configs/networks,
// and the default network is the devnet.
func TestNamesMatchNetworks(t *testing.T) {
	dev := networks.Devnet().ID()
	if p2p.DefaultNetworkID != dev {
		t.Fatalf("DefaultNetworkID %s, devnet id %s", p2p.DefaultNetworkID, dev)
	}
	if p2p.ProtocolID(dev, "infer", "1.0.0") != networks.ProtocolID(dev, "infer", "1.0.0") ||
		p2p.Topic(dev, "capacity") != networks.Topic(dev, "capacity") ||
		p2p.DHTPrefix(dev) != networks.Prefix(dev) {
		t.Fatal("p2p and networks disagree on names")
	}
	h := p2ptest.NewHost(t, p2ptest.Config(""), nil)
	if h.NetworkID() != dev || string(h.ProtocolID("infer", "1.0.0")) != "/fomo/"+dev+"/infer/1.0.0" ||
		h.Topic("capacity") != "fomo/"+dev+"/capacity/1" {
		t.Fatalf("host names: %s %s %s", h.NetworkID(), h.ProtocolID("infer", "1.0.0"), h.Topic("capacity"))
	}
	kad := protocol.ID("/fomo/" + dev + "/kad/1.0.0")
	if !slices.Contains(h.Mux().Protocols(), kad) {
		t.Fatalf("host does not speak %s: %v", kad, h.Mux().Protocols())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*p2p.Config)
		want string
	}{
		{"reachability", func(c *p2p.Config) { c.ForceReachability = "maybe" }, "force_reachability"},
		{"dht mode", func(c *p2p.Config) { c.DHTMode = "sometimes" }, "dht mode"},
		{"relay without p2p", func(c *p2p.Config) { c.StaticRelays = []string{"/ip4/1.2.3.4/tcp/1"} }, "static_relays[0]"},
		{"bootstrap garbage", func(c *p2p.Config) { c.Bootstrap = []string{"nope"} }, "bootstrap[0]"},
		{"network id", func(c *p2p.Config) { c.NetworkID = "a/b" }, "network id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p2ptest.Config("")
			tc.edit(&cfg)
			_, err := p2p.New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestPeersLatencyTransport: Peers reports ping latency and the transport
// of each connection.
func TestPeersLatencyTransport(t *testing.T) {
	cfg := p2ptest.Config("")
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	a := p2ptest.NewHost(t, cfg, nil)
	cfg.Datastore = nil
	b := p2ptest.NewHost(t, cfg, nil)
	c := p2ptest.NewHost(t, cfg, nil)
	ctx := ctxT(t, 60*time.Second)
	for _, tc := range []struct {
		h     *p2p.Host
		proto string
	}{{b, "tcp"}, {c, "quic-v1"}} {
		var addrs []string
		for _, m := range tc.h.Addrs() {
			if strings.Contains(m.String(), "/"+tc.proto) {
				addrs = append(addrs, m.String()+"/p2p/"+tc.h.ID().String())
			}
		}
		ais, err := p2p.ParsePeers("test", addrs[:1])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Connect(ctx, ais[0]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, ctx, "latency of both peers", func() bool {
		ps := a.Peers()
		return len(ps) == 2 && ps[0].LatencyMS > 0 && ps[1].LatencyMS > 0
	})
	want := map[string]string{b.ID().String(): "tcp", c.ID().String(): "quic"}
	for _, p := range a.Peers() {
		if p.Transport != want[p.ID] {
			t.Errorf("peer %s transport %q, want %q", p.ID, p.Transport, want[p.ID])
		}
		if p.Direction != "outbound" || p.Latency == "" || len(p.Addrs) == 0 {
			t.Errorf("peer %+v", p)
		}
	}
}

func TestStatusAndReachability(t *testing.T) {
	cfg := p2ptest.Config("")
	cfg.ForceReachability = p2p.ReachabilityPublic
	h := p2ptest.NewHost(t, cfg, nil)
	ctx := ctxT(t, 60*time.Second)
	eventually(t, ctx, "public reachability", func() bool { return h.Reachability() == p2p.ReachabilityPublic })
	other := p2ptest.NewHost(t, p2ptest.Config(""), nil)
	if err := p2ptest.Connect(ctx, []*p2p.Host{h, other}, p2ptest.FullMesh); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "dht peer", func() bool { return h.Status().DHTPeers == 1 })
	st := h.Status()
	if st.PeerID != h.ID().String() || st.NetworkID != p2p.DefaultNetworkID || st.Reachability != "public" ||
		len(st.Listen) == 0 || len(st.Advertised) == 0 || st.Peers != 1 {
		t.Fatalf("status %+v", st)
	}
	if !slices.ContainsFunc(st.Listen, func(a string) bool { return strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") }) {
		t.Fatalf("listen %v", st.Listen)
	}
	if h2 := p2ptest.NewHost(t, p2ptest.Config(""), nil); h2.Reachability() != p2p.ReachabilityUnknown {
		t.Fatalf("fresh loopback host reachability %q, want unknown", h2.Reachability())
	}
}

// TestNATOptionsAndRelay: a NATed host (reachability forced private) with
// AutoNAT, hole punching and port mapping on reserves a circuit address
// through a static relay that runs the relay service, and a third host
// reaches it through that address.
func TestNATOptionsAndRelay(t *testing.T) {
	rcfg := p2ptest.Config("")
	rcfg.EnableRelayService = true
	rcfg.ForceReachability = p2p.ReachabilityPublic
	relay := p2ptest.NewHost(t, rcfg, nil)

	ncfg := p2ptest.Config("")
	ncfg.AutoNAT, ncfg.HolePunching, ncfg.NATPortMap = true, true, true
	ncfg.ForceReachability = p2p.ReachabilityPrivate
	ncfg.StaticRelays = relay.ListenAddrs()
	natted := p2ptest.NewHost(t, ncfg, nil)

	ctx := ctxT(t, 60*time.Second)
	// Auto-relay reserves a slot at the relay. It advertises no circuit
	// address for a loopback relay (only public or private ranges), so dial
	// the circuit address directly until the reservation is in place.
	circuit := relay.ListenAddrs()[0] + "/p2p-circuit/p2p/" + natted.ID().String()
	ais, err := p2p.ParsePeers("circuit", []string{circuit})
	if err != nil {
		t.Fatal(err)
	}
	client := p2ptest.NewHost(t, p2ptest.Config(""), nil)
	eventually(t, ctx, "a relayed connection", func() bool {
		client.Network().(*swarm.Swarm).Backoff().Clear(natted.ID())
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return client.Connect(actx, ais[0]) == nil
	})
	// The client knew only the circuit address, so reaching the NATed host
	// proves the relay path. DCUtR may then upgrade the relayed connection
	// to a direct one (both run hole punching), so either transport is fine.
	i := slices.IndexFunc(client.Peers(), func(p p2p.PeerInfo) bool { return p.ID == natted.ID().String() })
	if i < 0 {
		t.Fatalf("client peers %+v: not connected to the NATed host", client.Peers())
	}
	t.Logf("client reached the NATed host over %s", client.Peers()[i].Transport)
}

// TestServiceScope: a handler attaches its stream to a fomo service.
func TestServiceScope(t *testing.T) {
	hosts := p2ptest.NewHosts(t, 2)
	pid := hosts[1].ProtocolID("echo", "1.0.0")
	got := make(chan string, 1)
	hosts[1].SetStreamHandler(pid, func(s network.Stream) {
		defer s.Close()
		if err := p2p.SetService(s, p2p.ServiceInfer); err != nil {
			s.Reset()
			got <- "error: " + err.Error()
			return
		}
		got <- s.Scope().(network.StreamManagementScope).ServiceScope().Name()
	})
	ctx := ctxT(t, 60*time.Second)
	s, err := hosts[0].NewStream(ctx, hosts[1].ID(), pid)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-got:
		if name != p2p.ServiceInfer {
			t.Fatalf("service %q", name)
		}
	case <-ctx.Done():
		t.Fatal("handler not called")
	}
	l := p2p.Limits()
	if l.ToPartialLimitConfig().Service[p2p.ServiceInfer].Streams == 0 {
		t.Fatal("no limits for the infer service")
	}
}

// TestGossipSub: a message published on one of 10 hosts reaches all; the
// same payload published again by another host is one message (content
// id), and a validator's Reject stops a message.
func TestGossipSub(t *testing.T) {
	hosts := p2ptest.NewHosts(t, 10)
	ctx := ctxT(t, 60*time.Second)
	subs := make([]*pubsub.Subscription, len(hosts))
	for i, h := range hosts {
		if err := h.PubSub().RegisterTopicValidator(h.Topic("capacity"),
			func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
				if bytes.HasPrefix(m.Data, []byte("bad")) {
					return pubsub.ValidationReject
				}
				return pubsub.ValidationAccept
			}); err != nil {
			t.Fatal(err)
		}
		top, err := h.JoinTopic("capacity")
		if err != nil {
			t.Fatal(err)
		}
		if again, err := h.JoinTopic("capacity"); err != nil || again != top {
			t.Fatalf("second JoinTopic: %v", err)
		}
		if err := top.SetScoreParams(p2p.TopicScoreParams()); err != nil {
			t.Fatal(err)
		}
		if subs[i], err = top.Subscribe(); err != nil {
			t.Fatal(err)
		}
	}
	top0, _ := hosts[0].JoinTopic("capacity")
	eventually(t, ctx, "mesh", func() bool { return len(top0.ListPeers()) >= 5 })
	if err := top0.Publish(ctx, []byte("bad advert")); err == nil {
		t.Fatal("a message the validator rejects was published")
	}
	msg := []byte("advert 1")
	if err := top0.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if !bytes.Equal(m.Data, msg) {
			t.Fatalf("host %d got %q first, want %q", i, m.Data, msg)
		}
		if sum := sha256.Sum256(msg); m.ID != string(sum[:]) {
			t.Fatalf("message id is not sha256 of the data")
		}
	}
	// Host 5 publishes the same bytes: same id, already seen, not
	// delivered again; the next distinct message is.
	top5, _ := hosts[5].JoinTopic("capacity")
	if err := top5.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	next := []byte("advert 2")
	if err := top5.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if i == 5 {
			continue // its own duplicate publish is rejected locally
		}
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if !bytes.Equal(m.Data, next) {
			t.Fatalf("host %d got %q, want %q (duplicate delivered?)", i, m.Data, next)
		}
	}
}

// TestBootstrapFillsDHT: hosts that know only one bootstrap peer (as in a
// devnet) fill their routing tables through it, and content provided on one
// is found from another.
func TestBootstrapFillsDHT(t *testing.T) {
	boot := p2ptest.NewHost(t, p2ptest.Config(""), nil)
	hosts := []*p2p.Host{boot}
	for range 7 {
		cfg := p2ptest.Config("")
		cfg.Bootstrap = boot.ListenAddrs()
		hosts = append(hosts, p2ptest.NewHost(t, cfg, nil))
	}
	ctx := ctxT(t, 60*time.Second)
	eventually(t, ctx, "routing tables to fill", func() bool {
		for _, h := range hosts[1:] {
			if h.DHT().RoutingTable().Size() < 3 {
				return false
			}
		}
		return true
	})
	c := models.CID("bootstrap-test")
	if err := hosts[7].DHT().Provide(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	ais, err := hosts[3].DHT().FindProviders(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ais) != 1 || ais[0].ID != hosts[7].ID() {
		t.Fatalf("providers %v, want host 7", ais)
	}
}

// TestCloseEndsGoroutines: closing hosts ends what they started (DHT,
// gossipsub, ping, bootstrap and relay watchers).
func TestCloseEndsGoroutines(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	start := func() *p2p.Host {
		cfg := p2ptest.Config("")
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
		h, err := p2p.New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// Warm up package-level goroutines (QUIC reuse, netroute) first.
	warm := start()
	warm.Close()
	runtime.GC()
	base := runtime.NumGoroutine()
	a, b := start(), start()
	if err := p2ptest.Connect(ctx, []*p2p.Host{a, b}, p2ptest.FullMesh); err != nil {
		t.Fatal(err)
	}
	if _, err := a.JoinTopic("capacity"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}
