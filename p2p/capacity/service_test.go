package capacity

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testclock"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/p2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

const testTopic = "fomo/test/capacity/1"

// network starts n mocknet hosts, fully connected, each with GossipSub.
func network(t *testing.T, n int) ([]host.Host, []*pubsub.PubSub) {
	t.Helper()
	// The routers start before the hosts connect, as on a node: a router
	// that sees a connection before the peer's router exists opens no
	// stream to it, and its messages to that peer are dropped.
	mn, err := mocknet.FullMeshLinked(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hosts := mn.Hosts()
	pss := make([]*pubsub.PubSub, n)
	for i, h := range hosts {
		ps, err := pubsub.NewGossipSub(ctx, h, p2p.GossipSubOptions("testnet", 0, nil)...)
		if err != nil {
			t.Fatal(err)
		}
		pss[i] = ps
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	return hosts, pss
}

func contentFor(i int) AdvertContent {
	return AdvertContent{
		Models: []ModelCapacity{{Name: fmt.Sprintf("model-%d", i%3), QueueDepth: uint32(i), TokensPerSecondMilli: 1000 * uint64(i+1)}},
		GPU:    GPUSummary{Count: 1, Name: "test", MemoryTotalBytes: 10, MemoryFreeBytes: 5},
	}
}

func startServices(t *testing.T, hosts []host.Host, pss []*pubsub.PubSub, opts ...Option) []*Service {
	t.Helper()
	svcs := make([]*Service, len(hosts))
	for i, h := range hosts {
		content := contentFor(i)
		s, err := New(h, pss[i], testTopic, SourceFunc(func() AdvertContent { return content }), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		svcs[i] = s
	}
	return svcs
}

func TestAdvertsReachAllNodes(t *testing.T) {
	const n = 10
	hosts, pss := network(t, n)
	svcs := startServices(t, hosts, pss, WithInterval(time.Second))
	testwait.For(t, "every node to hold every advert", 40*time.Second, func() bool {
		for _, s := range svcs {
			if len(s.All()) != n {
				return false
			}
		}
		return true
	})
	for i, s := range svcs {
		for j, h := range hosts {
			a, ok := s.Get(h.ID())
			if !ok || a.Models[0].Name != fmt.Sprintf("model-%d", j%3) || a.Models[0].QueueDepth != uint32(j) {
				t.Fatalf("node %d holds %+v for node %d", i, a, j)
			}
		}
		// model-0 is served by nodes 0, 3, 6 and 9.
		fresh := s.Fresh("model-0")
		if len(fresh) != 4 {
			t.Fatalf("node %d: Fresh(model-0) = %d adverts, want 4", i, len(fresh))
		}
		if got := s.Models(); len(got) != 3 {
			t.Fatalf("node %d: Models() = %v", i, got)
		}
		if st := s.Stats(); st.Rejected != 0 {
			t.Fatalf("node %d rejected %d honest adverts", i, st.Rejected)
		}
	}
}

// rawTopic joins the topic on ps without a Service (and so without its
// validator): a peer that publishes whatever it likes.
func rawTopic(t *testing.T, ps *pubsub.PubSub) *pubsub.Topic {
	t.Helper()
	topic, err := ps.Join(testTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topic.Close() })
	return topic
}

func publishRaw(t *testing.T, topic *pubsub.Topic, data []byte) {
	t.Helper()
	if err := topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

func signFor(t *testing.T, h host.Host, a Advert) []byte {
	t.Helper()
	data, err := Sign(a, h.Peerstore().PrivKey(h.ID()))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestStaleAndFutureAdverts(t *testing.T) {
	hosts, pss := network(t, 3)
	clk := testclock.New(time.Now())
	recv := startServices(t, hosts[:2], pss[:2], WithInterval(0), WithClock(clk.Now))
	raw := rawTopic(t, pss[2])
	testwait.For(t, "the publisher to see both subscribers", 10*time.Second, func() bool { return len(raw.ListPeers()) == 2 })
	pub := hosts[2]

	// A fresh advert arrives, then goes stale as the clock moves on.
	publishRaw(t, raw, signFor(t, pub, Advert{Peer: pub.ID(), AdvertContent: contentFor(2), Time: clk.Now()}))
	testwait.For(t, "fresh advert delivered", 10*time.Second, func() bool {
		return len(recv[0].Fresh("model-2")) == 1 && len(recv[1].Fresh("model-2")) == 1
	})
	clk.Advance(16 * time.Second)
	for i, s := range recv {
		if got := s.Fresh("model-2"); len(got) != 0 {
			t.Fatalf("node %d: stale advert still fresh: %+v", i, got)
		}
	}

	tests := []struct {
		name string
		at   time.Duration
	}{
		{"20 s old", -20 * time.Second},
		{"one minute ahead", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := []Stats{recv[0].Stats(), recv[1].Stats()}
			publishRaw(t, raw, signFor(t, pub, Advert{Peer: pub.ID(), AdvertContent: contentFor(2), Time: clk.Now().Add(tt.at)}))
			testwait.For(t, "the advert to be ignored", 10*time.Second, func() bool {
				return recv[0].Stats().Ignored > before[0].Ignored && recv[1].Stats().Ignored > before[1].Ignored
			})
			for i, s := range recv {
				if got := s.Fresh("model-2"); len(got) != 0 {
					t.Fatalf("node %d stored an ignored advert: %+v", i, got)
				}
				if st := s.Stats(); st.Rejected != before[i].Rejected || st.Accepted != before[i].Accepted {
					t.Fatalf("node %d: stats %+v, before %+v", i, st, before[i])
				}
			}
		})
	}
}

func TestForgedAdvertsRejected(t *testing.T) {
	hosts, pss := network(t, 4)
	svcs := startServices(t, hosts[:3], pss[:3], WithInterval(0))
	raw := rawTopic(t, pss[3])
	testwait.For(t, "the attacker to see the subscribers", 10*time.Second, func() bool { return len(raw.ListPeers()) == 3 })
	attacker, victim := hosts[3], hosts[0]
	now := time.Now()

	genuine := signFor(t, victim, Advert{Peer: victim.ID(), AdvertContent: contentFor(0), Time: now})
	claimVictim := testkeys.Seal(t, &advertRecord{msg: *toPB(Advert{Peer: victim.ID(), AdvertContent: contentFor(3), Time: now})},
		attacker.Peerstore().PrivKey(attacker.ID()))
	own := signFor(t, attacker, Advert{Peer: attacker.ID(), AdvertContent: contentFor(3), Time: now})
	tampered := append([]byte(nil), own...)
	tampered[len(tampered)-70] ^= 0x40

	forgeries := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("hello")},
		{"claims another peer", claimVictim},
		{"tampered", tampered},
	}
	for _, f := range forgeries {
		publishRaw(t, raw, f.data)
	}
	// Messages have no author: the victim's genuine advert, published by
	// the attacker, is the victim's advert and no forgery.
	publishRaw(t, raw, genuine)
	testwait.For(t, "every forgery rejected on every node", 10*time.Second, func() bool {
		for _, s := range svcs[1:] {
			if s.Stats().Rejected < uint64(len(forgeries)) {
				return false
			}
		}
		return true
	})
	testwait.For(t, "the genuine advert accepted", 10*time.Second, func() bool {
		for _, s := range svcs[1:] {
			if s.Stats().Accepted < 1 {
				return false
			}
		}
		return true
	})
	for i, s := range svcs {
		if st := s.Stats(); st.Accepted > 1 || st.Rejected > uint64(len(forgeries)) {
			t.Fatalf("node %d accepted a forgery or rejected the genuine advert: %+v", i, st)
		}
		if a, ok := s.Get(victim.ID()); ok && !reflect.DeepEqual(a.AdvertContent, contentFor(0)) {
			t.Fatalf("node %d stored a forged advert for the victim: %+v", i, a)
		}
		if a, ok := s.Get(attacker.ID()); ok {
			t.Fatalf("node %d stored the tampered advert: %+v", i, a)
		}
	}
}

func TestFreshnessAndPruning(t *testing.T) {
	hosts, pss := network(t, 1)
	clk := testclock.New(time.Now())
	s := startServices(t, hosts, pss, WithInterval(0), WithClock(clk.Now))[0]
	_, p1 := testkeys.New(t)
	_, p2 := testkeys.New(t)
	m := []ModelCapacity{{Name: "m"}}
	base := clk.Now()
	s.put(Advert{Peer: p1, AdvertContent: AdvertContent{Models: m}, Time: base.Add(-10 * time.Second)})
	s.put(Advert{Peer: p2, AdvertContent: AdvertContent{Models: m}, Time: base.Add(-14 * time.Second)})
	// An older advert never replaces a newer one.
	if s.put(Advert{Peer: p1, Time: base.Add(-12 * time.Second)}) {
		t.Fatal("an older advert replaced a newer one")
	}
	if got := s.Fresh("m"); len(got) != 2 || got[0].Peer > got[1].Peer {
		t.Fatalf("Fresh = %+v, want both peers sorted", got)
	}
	if got := s.Fresh("other"); len(got) != 0 {
		t.Fatalf("Fresh(other) = %+v", got)
	}
	clk.Advance(2 * time.Second) // p2's advert is now 16 s old
	if got := s.Fresh("m"); len(got) != 1 || got[0].Peer != p1 {
		t.Fatalf("Fresh after 2 s = %+v, want p1 only", got)
	}
	s.prune()
	if _, ok := s.Get(p2); ok {
		t.Fatal("prune kept a stale advert")
	}
	if _, ok := s.Get(p1); !ok {
		t.Fatal("prune dropped a fresh advert")
	}
}

func TestNewChecksKey(t *testing.T) {
	hosts, pss := network(t, 1)
	sk, _ := testkeys.New(t)
	if _, err := New(hosts[0], pss[0], testTopic, SourceFunc(func() AdvertContent { return AdvertContent{} }), WithKey(sk)); err == nil {
		t.Fatal("New accepted a key that is not the host's")
	}
	if _, err := New(hosts[0], pss[0], testTopic, nil); err == nil {
		t.Fatal("New accepted a nil source")
	}
	s, err := New(hosts[0], pss[0], testTopic, SourceFunc(func() AdvertContent { return AdvertContent{} }))
	if err != nil {
		t.Fatalf("New after failed attempts: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
