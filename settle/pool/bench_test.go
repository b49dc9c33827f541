package pool

import (
	"context"
	"testing"

	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// BenchmarkValidate measures what a node does per gossiped receipt: decode,
// two signature checks, de-duplication and persisting on pebble.
func BenchmarkValidate(b *testing.B) {
	b.Run("pebble", func(b *testing.B) {
		db := openPebble(b, b.TempDir())
		b.Cleanup(func() { db.Close() })
		benchValidate(b, db)
	})
	b.Run("pebble_parallel", func(b *testing.B) {
		db := openPebble(b, b.TempDir())
		b.Cleanup(func() { db.Close() })
		benchValidateParallel(b, db)
	})
	b.Run("memory", func(b *testing.B) { benchValidate(b, store.NewMemory()) })
}

// BenchmarkEd25519Verify is the raw signature check, the bound of the
// pool's rate (two per receipt).
func BenchmarkEd25519Verify(b *testing.B) {
	sk, _ := newKey(b)
	msg := []byte("fomo receipt benchmark message of some length, like a payload")
	sig, err := sk.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	pk := sk.GetPublic()
	for b.Loop() {
		if ok, err := pk.Verify(msg, sig); !ok || err != nil {
			b.Fatal("verify failed")
		}
	}
}

// benchValidateParallel runs the validator on as many goroutines as
// GOMAXPROCS, as GossipSub's validation workers do.
func benchValidateParallel(b *testing.B, db ds.Batching) {
	ctx := context.Background()
	p := newLocalPool(b, Config{Datastore: db})
	acctKey, _ := newKey(b)
	nodeKey, _ := newKey(b)
	_, from := newKey(b)
	msgs := make(chan *pubsub.Message, b.N)
	for i := range b.N {
		msgs <- gossip(signReceipt(b, signAuth(b, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1))
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got := p.validate(ctx, from, <-msgs); got != pubsub.ValidationAccept {
				b.Errorf("verdict %v", got)
				return
			}
		}
	})
}

func benchValidate(b *testing.B, db ds.Batching) {
	ctx := context.Background()
	p := newLocalPool(b, Config{Datastore: db})
	acctKey, _ := newKey(b)
	nodeKey, _ := newKey(b)
	_, from := newKey(b)
	msgs := make([]*pubsub.Message, b.N)
	for i := range msgs {
		msgs[i] = gossip(signReceipt(b, signAuth(b, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1))
	}
	b.ResetTimer()
	for i := range b.N {
		if got := p.validate(ctx, from, msgs[i]); got != pubsub.ValidationAccept {
			b.Fatalf("verdict %v", got)
		}
	}
}
