package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// writeFirstLayout writes entry e and its keys as the first key layout
// did: six keys, ids in hex, peer IDs in base58.
func writeFirstLayout(t *testing.T, db ds.Batching, e Entry) {
	t.Helper()
	ctx := context.Background()
	epoch, id := epochHex(e.Epoch), hex.EncodeToString(e.ID[:])
	pos := "/" + epoch + "/" + id
	model := "_"
	if e.Model != "" {
		model = hex.EncodeToString([]byte(e.Model))
	}
	for k, v := range map[string][]byte{
		"/pool/r" + pos: encodeEntry(e),
		"/pool/i/" + id: []byte(epoch),
		"/pool/h/" + hex.EncodeToString(e.Digest[:]): e.ID[:],
		"/pool/a/" + e.Account.String() + pos:        {},
		"/pool/n/" + e.Node.String() + pos:           {},
		"/pool/m/" + model + pos:                     {},
	} {
		if err := db.Put(ctx, ds.RawKey(k), v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateFirstLayout opens a pool written in the first key layout: it
// is rewritten in the current one, and every receipt, index, evidence,
// pending spend and de-duplication survives.
func TestMigrateFirstLayout(t *testing.T) {
	ctx := context.Background()
	db := openPebble(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	accts := make([]crypto.PrivKey, 2)
	nodes := make([]crypto.PrivKey, 2)
	for i := range 2 {
		accts[i], _ = testkeys.New(t)
		nodes[i], _ = testkeys.New(t)
	}
	models := []string{"m", "llama-3.1-8b"}
	epochOf := func(ms uint64) uint64 { return ms / 1000 }
	var held []Entry
	var envs [][]byte
	for i := range 24 {
		auth := signAuth(t, accts[i%2], models[i/2%2], uint64(1000*(i%3)+i+1), 10)
		env := signReceipt(t, auth, nodes[i/4%2], uint64(i%5+1), 1)
		r, err := testVerify(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Receipt: r, Digest: sha256.Sum256(env), Epoch: epochOf(r.IssuedAtMs),
			SeenAtMs: int64(i), Settled: i%7 == 0, Envelope: env}
		writeFirstLayout(t, db, e)
		held, envs = append(held, e), append(envs, env)
	}
	// Evidence against the node of the first receipt, with its digest.
	conflict := signReceipt(t, authorizationOf(t, envs[0]), nodes[1], 9, 1)
	cr, err := testVerify(ctx, conflict)
	if err != nil {
		t.Fatal(err)
	}
	ev := Entry{Receipt: cr, Digest: sha256.Sum256(conflict), Epoch: held[0].Epoch, Envelope: conflict}
	for k, v := range map[string][]byte{
		"/pool/e/" + ev.ID.String() + "/" + hex.EncodeToString(ev.Digest[:]): encodeEntry(ev),
		"/pool/h/" + hex.EncodeToString(ev.Digest[:]):                        ev.ID[:],
	} {
		if err := db.Put(ctx, ds.RawKey(k), v); err != nil {
			t.Fatal(err)
		}
	}

	for round := range 2 { // migrated, then opened again
		if round == 1 {
			// Written by a node downgraded in between: migrated too.
			auth := signAuth(t, accts[0], "m", 2500, 10)
			env := signReceipt(t, auth, nodes[0], 3, 1)
			r, err := testVerify(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			e := Entry{Receipt: r, Digest: sha256.Sum256(env), Epoch: epochOf(r.IssuedAtMs), Envelope: env}
			writeFirstLayout(t, db, e)
			held, envs = append(held, e), append(envs, env)
		}
		p, err := New(Config{Datastore: db, Verify: testVerify, EpochOf: epochOf})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkHeld(t, p, held, ev)
		for _, kind := range legacyKinds {
			res, err := db.Query(ctx, dsq.Query{Prefix: "/pool/" + kind, KeysOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if rest, _ := res.Rest(); len(rest) > 0 {
				t.Fatalf("round %d: %d keys of the first layout left under %s", round, len(rest), kind)
			}
		}
		if v, err := db.Get(ctx, ds.RawKey("/pool/v")); err != nil || string(v) != layoutVersion {
			t.Fatalf("round %d: layout version %q %v", round, v, err)
		}
		_, from := testkeys.New(t)
		for _, env := range [][]byte{envs[3], conflict} {
			if got := p.validate(ctx, from, gossip(env)); got != pubsub.ValidationIgnore {
				t.Fatalf("round %d: a held envelope gossiped again: %v", round, got)
			}
		}
		if got := p.Stats().Ignored[ReasonDuplicate]; got != 2 {
			t.Fatalf("round %d: duplicates %d", round, got)
		}
		p.Close()
	}
}

// checkHeld checks that p holds exactly held, finds them by every index in
// (epoch, id) order, counts their pending spend and holds the evidence ev.
func checkHeld(t *testing.T, p *Pool, held []Entry, ev Entry) {
	t.Helper()
	ctx := context.Background()
	byPos := func(a, b Entry) int {
		if a.Epoch != b.Epoch {
			return int(a.Epoch) - int(b.Epoch)
		}
		return slices.Compare(a.ID[:], b.ID[:])
	}
	pending := map[string]uint64{}
	for _, e := range held {
		got, ok, err := p.Get(ctx, e.ID)
		if err != nil || !ok || got.Digest != e.Digest || got.Settled != e.Settled {
			t.Fatalf("Get %s: %v %v", e.ID, ok, err)
		}
		if ok, err := p.Has(ctx, e.ID); err != nil || !ok {
			t.Fatalf("Has %s: %v %v", e.ID, ok, err)
		}
		if !e.Settled {
			pending[string(e.Account)] += e.Charge
		}
	}
	for a, want := range pending {
		if got := p.Pending(peer.ID(a)); got != want {
			t.Fatalf("pending of %s: %d, want %d", a, got, want)
		}
	}
	one := uint64(1)
	filters := []Filter{{}, {Epoch: &one}}
	for _, e := range held[:4] {
		filters = append(filters, Filter{Account: e.Account}, Filter{Node: e.Node}, Filter{Model: e.Model},
			Filter{Account: e.Account, Epoch: &one}, Filter{Model: e.Model, Epoch: &e.Epoch})
	}
	for _, f := range filters {
		var want []Entry
		for _, e := range held {
			if f.match(e) {
				want = append(want, e)
			}
		}
		slices.SortFunc(want, byPos)
		var got []Entry
		f.Limit = 3
		for {
			page, next, err := p.List(ctx, f)
			if err != nil {
				t.Fatalf("List %+v: %v", f, err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			f.After = next
		}
		if len(got) != len(want) {
			t.Fatalf("List %+v: %d receipts, want %d", f, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("List %+v: receipt %d is %s, want %s", f, i, got[i].ID, want[i].ID)
			}
		}
	}
	evs, err := p.Evidence(ctx, ev.ID)
	if err != nil || len(evs) != 1 || evs[0].Digest != ev.Digest {
		t.Fatalf("Evidence: %d %v", len(evs), err)
	}
}

// TestMigrateResumes: a migration interrupted after its first chunk
// finishes at the next open, and a corrupt entry of the first layout is
// dropped without stopping it.
func TestMigrateResumes(t *testing.T) {
	ctx := context.Background()
	db := store.NewMemory()
	acct, _ := testkeys.New(t)
	node, _ := testkeys.New(t)
	var held []Entry
	for i := range migrateChunk + 10 {
		env := signReceipt(t, signAuth(t, acct, "m", uint64(i+1), 10), node, 1, 1)
		r, err := testVerify(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Receipt: r, Digest: sha256.Sum256(env), Envelope: env}
		writeFirstLayout(t, db, e)
		held = append(held, e)
	}
	if err := db.Put(ctx, ds.RawKey("/pool/r/0000000000000000/zz"), []byte("corrupt")); err != nil {
		t.Fatal(err)
	}
	// The first chunk only, as a node stopped during its migration.
	first := &Pool{store: db, keys: keys{"/pool"}, log: slog.New(slog.DiscardHandler)}
	if n, err := first.migrateEntries(ctx); err != nil || n != migrateChunk {
		t.Fatalf("first chunk: %d, %v", n, err)
	}
	if _, err := db.Get(ctx, ds.RawKey("/pool/v")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("version written by a partial migration: %v", err)
	}
	p := newLocalPool(t, Config{Datastore: db})
	for _, e := range held {
		if ok, err := p.Has(ctx, e.ID); err != nil || !ok {
			t.Fatalf("receipt %s lost: %v", e.ID, err)
		}
	}
	if got, want := p.Pending(held[0].Account), uint64(len(held)); got != want {
		t.Fatalf("pending %d, want %d", got, want)
	}
	page, _, err := p.List(ctx, Filter{Account: held[0].Account, Limit: MaxLimit})
	if err != nil || len(page) != MaxLimit {
		t.Fatalf("List: %d, %v", len(page), err)
	}
}
