package pool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/p2ptest"
	"github.com/fomonet/fomo/settle/receipt"
)

// loopbackWindow is how many receipts BenchmarkGossipLoopback keeps in
// flight: under GossipSub's per-peer outbound queue (32 messages), which
// drops what does not fit.
const loopbackWindow = 30

// BenchmarkGossipLoopback admits receipts through the real pubsub path: a
// publishing host publishes b.N receipts on the receipts topic and the
// receiving host's pool (the batch window's defaults, pebble) validates
// and stores them. Both hosts are real (loopback TCP, TLS, yamux, the
// network's GossipSub options) and run in this process, so the CPU per
// receipt counts both sides: the publisher's publishing and sending, the
// receiver's reading, GossipSub's work and the pool's. At most
// loopbackWindow receipts are in flight, so batches stay small.
func BenchmarkGossipLoopback(b *testing.B) {
	hosts := p2ptest.NewHosts(b, 2)
	db := openPebble(b, b.TempDir())
	b.Cleanup(func() { db.Close() })
	var accepted atomic.Int64
	tick := make(chan struct{}, 1)
	p, err := New(Config{
		Datastore: db, Host: hosts[1], Verify: testVerify,
		VerifyBatch:      ReceiptBatchVerifier(receipt.Checker{NetworkID: testNet}),
		TopicScoreParams: p2p.TopicScoreParams(),
		OnAccept: func(Entry) {
			accepted.Add(1)
			select {
			case tick <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	top, err := hosts[0].JoinTopic(TopicName)
	if err != nil {
		b.Fatal(err)
	}
	acctKey, _ := testkeys.New(b)
	nodeKey, _ := testkeys.New(b)
	seq := uint64(0)
	next := func() []byte {
		seq++
		return signReceipt(b, signAuth(b, acctKey, "m", seq, 10), nodeKey, 1, 1)
	}
	ctx := context.Background()
	// The first messages can go out before the routers' streams are up:
	// publish until one arrives.
	deadline := time.Now().Add(20 * time.Second)
	for accepted.Load() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no receipt arrived")
		}
		if err := top.Publish(ctx, next()); err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	envs := make([][]byte, b.N)
	for i := range envs {
		envs[i] = next()
	}
	base := accepted.Load()
	cpu := startCPU()
	b.ResetTimer()
	for i, env := range envs {
		for int64(i)-(accepted.Load()-base) >= loopbackWindow {
			waitAccepted(b, tick, i, accepted.Load()-base)
		}
		if err := top.Publish(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
	for accepted.Load()-base < int64(b.N) {
		waitAccepted(b, tick, b.N, accepted.Load()-base)
	}
	b.StopTimer()
	reportReceipts(b, b.N, cpu)
}

// wait waits for the next accepted receipt; a receipt GossipSub dropped
// would leave the benchmark waiting, so it gives up after 10 s.
func waitAccepted(b *testing.B, tick <-chan struct{}, published int, accepted int64) {
	select {
	case <-tick:
	case <-time.After(10 * time.Second):
		b.Fatalf("stalled: %d of %d published, %d accepted", published, b.N, accepted)
	}
}
