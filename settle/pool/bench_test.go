package pool

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	voied25519 "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
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

// sigSet is 1,024 distinct Ed25519 keys, messages of a receipt's size and
// their signatures: the raw rate is measured on distinct signatures, as
// receipts bring them, not one signature checked again and again.
func sigSet(b *testing.B) (pubs [][]byte, msgs, sigs [][]byte) {
	for i := range 1024 {
		sk, _ := testkeys.New(b)
		msg := fmt.Appendf(nil, "fomo receipt benchmark message %04d, about the size of a signed receipt payload", i)
		msg = append(msg, make([]byte, 300)...)
		sig, err := sk.Sign(msg)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := sk.GetPublic().Raw()
		pubs, msgs, sigs = append(pubs, raw), append(msgs, msg), append(sigs, sig)
	}
	return pubs, msgs, sigs
}

// BenchmarkEd25519Verify is the raw signature check of the standard
// library, the bound of the pool's rate (two per receipt).
func BenchmarkEd25519Verify(b *testing.B) {
	pubs, msgs, sigs := sigSet(b)
	i := 0
	for b.Loop() {
		if !ed25519.Verify(pubs[i&1023], msgs[i&1023], sigs[i&1023]) {
			b.Fatal("verify failed")
		}
		i++
	}
}

// validateBench is a pool over db, a forwarding peer and b.N gossiped
// receipts, each of its own authorization, for the validator to accept.
func validateBench(b *testing.B, db ds.Batching) (*Pool, peer.ID, []*pubsub.Message) {
	p := newLocalPool(b, Config{Datastore: db})
	acctKey, _ := testkeys.New(b)
	nodeKey, _ := testkeys.New(b)
	_, from := testkeys.New(b)
	msgs := make([]*pubsub.Message, b.N)
	for i := range msgs {
		msgs[i] = gossip(signReceipt(b, signAuth(b, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1))
	}
	return p, from, msgs
}

// benchValidateParallel runs the validator on as many goroutines as
// GOMAXPROCS, as GossipSub's validation workers do.
func benchValidateParallel(b *testing.B, db ds.Batching) {
	ctx := context.Background()
	p, from, all := validateBench(b, db)
	msgs := make(chan *pubsub.Message, len(all))
	for _, m := range all {
		msgs <- m
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
	p, from, msgs := validateBench(b, db)
	b.ResetTimer()
	for i := range b.N {
		if got := p.validate(ctx, from, msgs[i]); got != pubsub.ValidationAccept {
			b.Fatalf("verdict %v", got)
		}
	}
}

// BenchmarkAdmitBatch is BenchmarkValidate for receipts admitted n at a
// time with AddBatch: the signatures of the batch checked together
// (receipt.VerifyBatch), then de-duplication and one group commit on
// pebble. All receipts are of one account and one node, as a node's
// receipts or a busy client's are; BenchmarkAdmitBatchManyKeys is the
// other end.
func BenchmarkAdmitBatch(b *testing.B) {
	for _, n := range []int{64, 256, 512, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchAdmitBatch(b, n, 1, 1) })
	}
}

// BenchmarkAdmitBatchManyKeys is BenchmarkAdmitBatch with receipts of
// 1,024 accounts served by 16 nodes, in turn: a batch shares few keys.
func BenchmarkAdmitBatchManyKeys(b *testing.B) {
	for _, n := range []int{256, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchAdmitBatch(b, n, 1024, 16) })
	}
}

// benchAdmitBatch admits b.N batches of n receipts of accounts and nodes
// keys, in turn.
func benchAdmitBatch(b *testing.B, n, accounts, nodes int) {
	db := openPebble(b, b.TempDir())
	b.Cleanup(func() { db.Close() })
	p := newLocalPool(b, Config{Datastore: db, VerifyBatch: ReceiptBatchVerifier(receipt.Checker{})})
	accts := make([]crypto.PrivKey, accounts)
	for i := range accts {
		accts[i], _ = testkeys.New(b)
	}
	nodeKeys := make([]crypto.PrivKey, nodes)
	for i := range nodeKeys {
		nodeKeys[i], _ = testkeys.New(b)
	}
	batches := make([][][]byte, b.N)
	seq := uint64(0)
	for i := range batches {
		for range n {
			seq++
			auth := signAuth(b, accts[int(seq)%accounts], "m", seq, 10)
			batches[i] = append(batches[i], signReceipt(b, auth, nodeKeys[int(seq)%nodes], 1, 1))
		}
	}
	ctx := context.Background()
	cpu := startCPU()
	b.ResetTimer()
	for i := range b.N {
		_, errs := p.AddBatch(ctx, batches[i])
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportReceipts(b, b.N*n, cpu)
}

// BenchmarkGossipBatched is what the topic validator does with gossiped
// receipts when it verifies them in batches (Config.GossipBatch's
// defaults): b.N receipts of one account and one node validated at once,
// each in its own goroutine as pubsub's asynchronous validation runs
// them, on pebble. The messages carry their ids (the router computes
// them, outside this benchmark), which the pool takes as digests.
func BenchmarkGossipBatched(b *testing.B) {
	p, from, msgs := gossipBench(b)
	ctx := context.Background()
	var wg sync.WaitGroup
	cpu := startCPU()
	b.ResetTimer()
	for _, m := range msgs {
		wg.Go(func() {
			if got := p.validateBatched(ctx, from, m); got != pubsub.ValidationAccept {
				b.Errorf("verdict %v", got)
			}
		})
	}
	wg.Wait()
	if err := p.flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportReceipts(b, b.N, cpu)
}

// gossipBench returns a batching pool on pebble, the peer the gossip
// benchmarks receive from and b.N gossiped receipts carrying the ids the
// router sets before validation (p2p.MessageID), which the pool takes as
// digests.
func gossipBench(b *testing.B) (*Pool, peer.ID, []*pubsub.Message) {
	db := openPebble(b, b.TempDir())
	b.Cleanup(func() { db.Close() })
	p := newLocalPool(b, Config{Datastore: db, VerifyBatch: ReceiptBatchVerifier(receipt.Checker{})})
	acctKey, _ := testkeys.New(b)
	nodeKey, _ := testkeys.New(b)
	_, from := testkeys.New(b)
	msgs := make([]*pubsub.Message, b.N)
	for i := range msgs {
		msgs[i] = gossip(signReceipt(b, signAuth(b, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1))
		id := sha256.Sum256(msgs[i].Data)
		msgs[i].ID = string(id[:])
	}
	p.contentIDs = true
	return p, from, msgs
}

// reportReceipts reports receipts per second of wall time and the
// process's CPU time per receipt since cpu started: on a loaded machine
// the wall time counts other processes' time too.
func reportReceipts(b *testing.B, receipts int, cpu cpuClock) {
	b.ReportMetric(float64(receipts)/b.Elapsed().Seconds(), "receipts/s")
	if used, ok := cpu.since(); ok {
		b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(receipts), "cpu-µs/receipt")
	}
}

// BenchmarkEd25519VerifyZIP215 is one raw signature check with the
// verifier receipts use (curve25519-voi, ZIP-215 rules).
func BenchmarkEd25519VerifyZIP215(b *testing.B) {
	pubs, msgs, sigs := sigSet(b)
	opts := &voied25519.Options{Verify: voied25519.VerifyOptionsZIP_215}
	i := 0
	cpu := startCPU()
	for b.Loop() {
		if !voied25519.VerifyWithOptions(pubs[i&1023], msgs[i&1023], sigs[i&1023], opts) {
			b.Fatal("verify failed")
		}
		i++
	}
	// The CPU time per signature, to compare with the admissions' CPU
	// time per receipt (the bound is two signatures per receipt).
	if used, ok := cpu.since(); ok {
		b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkGossipInline is BenchmarkGossipBatched with the validator run
// inline, as a router with p2p.ValidateWorkers validation workers runs it
// (WorkersHost): that many workers take the messages from a queue of
// pubsub's size (32) and each validates its message and waits for its
// batch, as pubsub's validateWorker does with an inline validator; no
// goroutine is started per message.
func BenchmarkGossipInline(b *testing.B) {
	p, from, msgs := gossipBench(b)
	p.batcher.setValidators(p2p.ValidateWorkers)
	ctx := context.Background()
	q := make(chan *pubsub.Message, 32)
	var workers sync.WaitGroup
	for range p2p.ValidateWorkers {
		workers.Go(func() {
			for m := range q {
				if got := p.validateBatched(ctx, from, m); got != pubsub.ValidationAccept {
					b.Errorf("verdict %v", got)
				}
			}
		})
	}
	cpu := startCPU()
	b.ResetTimer()
	for _, m := range msgs {
		q <- m
	}
	close(q)
	workers.Wait()
	if err := p.flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportReceipts(b, b.N, cpu)
}
