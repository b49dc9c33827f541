package node

import (
	"context"
	"slices"
	"testing"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/protocol"
)

func TestFomoNetworks(t *testing.T) {
	protos := []protocol.ID{"/ipfs/id/1.0.0", "/fomo/b2/infer/1.0.0", "/fomo/a1/kad/1.0.0", "/fomo/a1/infer/1.0.0", "/fomo/", "/fomo//x", "/fomo/noslash"}
	if got := fomoNetworks(protos); !slices.Equal(got, []string{"a1", "b2"}) {
		t.Fatalf("fomoNetworks = %q, want [a1 b2]", got)
	}
	if got := fomoNetworks(nil); got != nil {
		t.Fatalf("fomoNetworks(nil) = %q", got)
	}
}

func TestGenesisAccounts(t *testing.T) {
	_, account := testkeys.New(t)
	_, session := testkeys.New(t)
	_, stranger := testkeys.New(t)
	g := &networks.Genesis{SessionKeys: []networks.SessionKey{
		{Account: account.String(), Key: session.String()},
		{Account: "not a peer id", Key: stranger.String()},
	}}
	a := newGenesisAccounts(g)
	if got, ok := a.AccountOf(context.Background(), session); !ok || got != account {
		t.Fatalf("AccountOf(session) = %s %v, want %s", got, ok, account)
	}
	if _, ok := a.AccountOf(context.Background(), stranger); ok {
		t.Fatal("a session key with a malformed account resolved")
	}
}
