package p2p_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/p2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestGossipUnsigned checks the network's GossipSub policy: messages go
// out unsigned and without author, reach their subscribers, and a payload
// the topic validator rejects is dropped and lowers its publisher's score;
// a router that signs (the policy before) is not understood.
func TestGossipUnsigned(t *testing.T) {
	mn, err := mocknet.FullMeshLinked(3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hosts := mn.Hosts()
	const topic = "fomo/testnet/probe/1"

	var mu sync.Mutex
	scores := map[peer.ID]float64{}
	inspect := pubsub.WithPeerScoreInspect(func(s map[peer.ID]float64) {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range s {
			scores[k] = v
		}
	}, 20*time.Millisecond)
	pub, err := pubsub.NewGossipSub(ctx, hosts[0], p2p.GossipSubOptions("testnet", 0, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := pubsub.NewGossipSub(ctx, hosts[1], append(p2p.GossipSubOptions("testnet", 0, nil), inspect)...)
	if err != nil {
		t.Fatal(err)
	}
	// The previous policy: strict signing, the same protocols.
	signing, err := pubsub.NewGossipSub(ctx, hosts[2],
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign), pubsub.WithMessageIdFn(p2p.MessageID),
		pubsub.WithGossipSubProtocols(p2p.GossipSubProtocols("testnet"),
			func(pubsub.GossipSubFeature, protocol.ID) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.RegisterTopicValidator(topic, func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if bytes.HasPrefix(m.GetData(), []byte("forged")) {
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	}); err != nil {
		t.Fatal(err)
	}
	st, err := sub.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetScoreParams(p2p.TopicScoreParams()); err != nil {
		t.Fatal(err)
	}
	s, err := st.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	topics := make([]*pubsub.Topic, 0, 2)
	for _, ps := range []*pubsub.PubSub{pub, signing} {
		tp, err := ps.Join(topic)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Subscribe(); err != nil {
			t.Fatal(err)
		}
		topics = append(topics, tp)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the subscriber to see both publishers", 10*time.Second, func() bool {
		return len(st.ListPeers()) == 2 && len(topics[0].ListPeers()) >= 1 && len(topics[1].ListPeers()) >= 1
	})

	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	// The first messages can go out before the routers' streams are up:
	// publish until one arrives.
	var m *pubsub.Message
	for i := 0; m == nil; i++ {
		if err := topics[0].Publish(ctx, fmt.Appendf(nil, "hello %d", i)); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(rctx, 100*time.Millisecond)
		m, _ = s.Next(wctx)
		wcancel()
		if rctx.Err() != nil {
			t.Fatal("no message arrived")
		}
	}
	if !bytes.HasPrefix(m.GetData(), []byte("hello")) || m.GetFrom() != "" || m.Signature != nil || m.Seqno != nil {
		t.Fatalf("received %q from %q, signature %x, seqno %x", m.GetData(), m.GetFrom(), m.Signature, m.Seqno)
	}
	if m.ReceivedFrom != hosts[0].ID() {
		t.Fatalf("received from %s, want %s", m.ReceivedFrom, hosts[0].ID())
	}
	if err := topics[1].Publish(ctx, []byte("signed")); err != nil {
		t.Fatal(err)
	}
	if err := topics[0].Publish(ctx, []byte("forged receipt")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the forger's score to fall", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return scores[hosts[0].ID()] < 0
	})
	if err := topics[0].Publish(ctx, []byte("last")); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := s.Next(rctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := string(m.GetData()); d == "last" {
			break
		} else if !strings.HasPrefix(d, "hello") {
			t.Fatalf("received %q", d)
		}
	}
}

// TestValidateWorkers: the network's routers run p2p.ValidateWorkers
// validation workers, so that many messages can wait in an inline topic
// validator at once (the receipt pool's waits there for its batch); the
// library's default, one worker per CPU, would hold all but a few in its
// queue.
func TestValidateWorkers(t *testing.T) {
	const waiting = 24 // under the publisher's per-peer queue (32)
	mn, err := mocknet.FullMeshLinked(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hosts := mn.Hosts()
	const topic = "fomo/testnet/probe/1"
	pub, err := pubsub.NewGossipSub(ctx, hosts[0], p2p.GossipSubOptions("testnet", 0, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := pubsub.NewGossipSub(ctx, hosts[1], p2p.GossipSubOptions("testnet", 0, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inValidator := 0
	release := make(chan struct{})
	validator := func(ctx context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if !bytes.HasPrefix(m.GetData(), []byte("wait")) {
			return pubsub.ValidationAccept
		}
		mu.Lock()
		inValidator++
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return pubsub.ValidationAccept
	}
	if err := sub.RegisterTopicValidator(topic, validator, pubsub.WithValidatorInline(true)); err != nil {
		t.Fatal(err)
	}
	st, err := sub.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := pub.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pt.Subscribe(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the routers to see each other", 10*time.Second, func() bool {
		return len(st.ListPeers()) == 1 && len(pt.ListPeers()) == 1
	})
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	// The first messages can go out before the routers' streams are up:
	// publish until one arrives.
	for i := 0; ; i++ {
		if err := pt.Publish(ctx, fmt.Appendf(nil, "hello %d", i)); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(rctx, 100*time.Millisecond)
		_, err := s.Next(wctx)
		wcancel()
		if err == nil {
			break
		}
		if rctx.Err() != nil {
			t.Fatal("no message arrived")
		}
	}
	for i := range waiting {
		if err := pt.Publish(ctx, fmt.Appendf(nil, "wait %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, fmt.Sprintf("%d messages to wait in the validator at once", waiting), 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inValidator == waiting
	})
	close(release)
	for got := 0; got < waiting; {
		m, err := s.Next(rctx)
		if err != nil {
			t.Fatalf("%d of %d messages delivered: %v", got, waiting, err)
		}
		if bytes.HasPrefix(m.GetData(), []byte("wait")) {
			got++
		}
	}
}
