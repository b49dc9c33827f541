package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/identity"
)

func newHost(t *testing.T, bootstrap ...string) *Host {
	t.Helper()
	sk, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{
		Listen:    []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap: bootstrap,
		ConnLow:   10, ConnHigh: 20,
	}, sk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestBootstrapConnects(t *testing.T) {
	a := newHost(t)
	if len(a.ListenAddrs()) < 2 {
		t.Fatalf("want tcp and quic listen addrs, got %v", a.ListenAddrs())
	}
	b := newHost(t, a.ListenAddrs()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(b.Peers()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("b never connected to its bootstrap peer")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := b.Peers()[0].ID; got != a.ID().String() {
		t.Fatalf("b connected to %s, want %s", got, a.ID())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestBadBootstrap(t *testing.T) {
	sk, _ := identity.Generate()
	if _, err := New(Config{Bootstrap: []string{"/ip4/1.2.3.4/tcp/1"}, ConnLow: 1, ConnHigh: 2}, sk, nil); err == nil {
		t.Fatal("bootstrap address without /p2p/ accepted")
	}
}
