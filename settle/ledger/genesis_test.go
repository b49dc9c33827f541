package ledger

import (
	"context"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

// TestGenesisRegistry: nodes, models and session keys registered at
// genesis are in the state, bonds count in the flock supply, and the
// genesis nodes are the validators.
func TestGenesisRegistry(t *testing.T) {
	g := testGenesis()
	g.Nodes = []GenesisNode{{ID: "v1", Bond: 10 * econ.Unit, Serves: []string{"m1"}}, {ID: "v2", Bond: 20 * econ.Unit}}
	g.Models = []GenesisModel{{Name: "m1", Issuer: "issuer", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000}}
	g.SessionKeys = []GenesisSessionKey{{Account: "alice", Key: "alice-laptop", SpendLimit: econ.Unit, ExpiresAtMs: t0 + 1e9}}
	g.PowerUnit, g.MaxValidators = econ.Unit, 10
	c := newChain(t, g)
	ctx := context.Background()
	if m, ok, err := c.l.Model(ctx, "m1"); err != nil || !ok || len(m.Nodes) != 1 || m.Nodes[0] != "v1" || m.Issuer != "issuer" {
		t.Fatalf("model %+v %v %v", m, ok, err)
	}
	if k, ok, err := c.l.SessionKey(ctx, "alice", "alice-laptop"); err != nil || !ok || k.SpendLimit != econ.Unit {
		t.Fatalf("session key %+v %v %v", k, ok, err)
	}
	if a, ok, err := c.l.KeyOwner(ctx, "alice-laptop"); err != nil || !ok || a != "alice" {
		t.Fatalf("key owner %q %v %v", a, ok, err)
	}
	vs, err := c.l.Validators(ctx)
	if err != nil || len(vs) != 2 || vs[0].Power+vs[1].Power != 30 {
		t.Fatalf("validators %+v %v", vs, err)
	}
	if err := c.l.CheckConservation(ctx); err != nil {
		t.Fatal(err)
	}
	// A receipt of the genesis model served by the genesis node settles.
	r := rcpt("g1", "alice", "alice-laptop", "v1", "", t0+1, 10, 10)
	res := c.block(2, c.tx("v1", SubmitReceipts{Receipts: []Receipt{r}}))
	if res.Txs[0].Code != OK || res.Txs[0].Receipts[0].Code != OK {
		t.Fatalf("%+v", res.Txs[0])
	}
	// A key belongs to one account: another cannot authorize alice's.
	c.must("n1", RegisterNode{Bond: econ.Unit})
	if r := c.block(1, c.tx("n1", AuthorizeKey{Key: "alice-laptop", SpendLimit: 1, ExpiresAtMs: t0 + 1e9})).Txs[0]; r.Code != CodeKeyExists {
		t.Fatalf("second owner: %+v", r)
	}
	c.must("alice", RevokeKey{Key: "alice-laptop"})
	if _, ok, _ := c.l.KeyOwner(ctx, "alice-laptop"); ok {
		t.Fatal("revoked key still has an owner")
	}
}

func TestGenesisRegistryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Genesis)
		want string
	}{
		{"zero bond", func(g *Genesis) { g.Nodes = []GenesisNode{{ID: "v1"}} }, "nodes[0]"},
		{"duplicate node", func(g *Genesis) { g.Nodes = []GenesisNode{{ID: "v1", Bond: 1}, {ID: "v1", Bond: 1}} }, "nodes[1]"},
		{"unknown served model", func(g *Genesis) { g.Nodes = []GenesisNode{{ID: "v1", Bond: 1, Serves: []string{"x"}}} }, `serves "x"`},
		{"unknown tier", func(g *Genesis) {
			g.Models = []GenesisModel{{Name: "m", Issuer: "i", ManifestSHA256: manifest, Tier: "huge"}}
		}, "unknown tier"},
		{"price below floor", func(g *Genesis) {
			g.Models = []GenesisModel{{Name: "m", Issuer: "i", ManifestSHA256: manifest, Tier: "small", InputPrice: 1, OutputPrice: 1}}
		}, "below the floors"},
		{"bad manifest hash", func(g *Genesis) {
			g.Models = []GenesisModel{{Name: "m", Issuer: "i", ManifestSHA256: "xyz", Tier: "small"}}
		}, "manifest_sha256"},
		{"key of two accounts", func(g *Genesis) {
			g.SessionKeys = []GenesisSessionKey{{Account: "a", Key: "k"}, {Account: "b", Key: "k"}}
		}, "two accounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGenesis()
			tc.edit(&g)
			_, err := New(context.Background(), store.NewMemory(), g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
