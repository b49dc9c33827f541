package pool

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/p2ptest"
	"github.com/fomonet/fomo/settle/receipt"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// batchedPool is a pool that validates gossip in batches of at most max
// receipts, waiting at most delay.
func batchedPool(t *testing.T, max int, delay time.Duration, cfg Config) *Pool {
	t.Helper()
	cfg.VerifyBatch = ReceiptBatchVerifier(receipt.Checker{NetworkID: testNet})
	cfg.GossipBatch = BatchWindow{MaxReceipts: max, MaxDelay: delay, Workers: 1}
	return newLocalPool(t, cfg)
}

// submit has p validate each of msgs in its own goroutine, as pubsub's
// asynchronous validation does, and returns the channels of their
// verdicts.
func submit(p *Pool, from peer.ID, msgs ...[]byte) []chan pubsub.ValidationResult {
	out := make([]chan pubsub.ValidationResult, len(msgs))
	for i, m := range msgs {
		out[i] = make(chan pubsub.ValidationResult, 1)
		go func() { out[i] <- p.validateBatched(context.Background(), from, gossip(m)) }()
	}
	return out
}

// decided returns the verdicts given so far, -1 for those still waiting.
func decided(chs []chan pubsub.ValidationResult) []pubsub.ValidationResult {
	out := make([]pubsub.ValidationResult, len(chs))
	for i, ch := range chs {
		select {
		case v := <-ch:
			out[i] = v
			ch <- v
		default:
			out[i] = -1
		}
	}
	return out
}

func wantVerdicts(t *testing.T, what string, got []pubsub.ValidationResult, want ...pubsub.ValidationResult) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: verdicts %v, want %v", what, got, want)
		}
	}
}

// TestGossipBatchWindow: gossiped receipts wait for their batch at most
// the window's delay, a full batch goes at once, and each receipt of a
// batch gets the verdict it gets alone.
func TestGossipBatchWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var accepted []Entry
		p := batchedPool(t, 4, 50*time.Millisecond, Config{OnAccept: func(e Entry) { accepted = append(accepted, e) }})
		acct, _ := testkeys.New(t)
		node, _ := testkeys.New(t)
		other, _ := testkeys.New(t)
		_, from := testkeys.New(t)
		seq := uint64(0)
		next := func() []byte {
			seq++
			return signReceipt(t, signAuth(t, acct, "m", seq, 10), node, 1, 1)
		}
		const A, I, R = pubsub.ValidationAccept, pubsub.ValidationIgnore, pubsub.ValidationReject
		const waiting = pubsub.ValidationResult(-1)

		// Three receipts: not a full batch, so they wait the delay.
		start := time.Now()
		chs := submit(p, from, next(), next(), next())
		synctest.Wait()
		wantVerdicts(t, "before the delay", decided(chs), waiting, waiting, waiting)
		time.Sleep(50*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		wantVerdicts(t, "just before the delay", decided(chs), waiting, waiting, waiting)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantVerdicts(t, "at the delay", decided(chs), A, A, A)
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("decided after %v", d)
		}

		// Four: a full batch goes at once.
		start = time.Now()
		chs = submit(p, from, next(), next(), next(), next())
		synctest.Wait()
		wantVerdicts(t, "a full batch", decided(chs), A, A, A, A)
		if d := time.Since(start); d != 0 {
			t.Fatalf("a full batch waited %v", d)
		}

		// One batch mixing a valid receipt, a forged one, the same
		// receipt twice, and a second receipt for a held authorization.
		good, twice := next(), next()
		held := signAuth(t, acct, "m", 1000, 10)
		chs = submit(p, from, signReceipt(t, held, node, 1, 1))
		synctest.Wait()
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		wantVerdicts(t, "held", decided(chs), A)
		var evidence []Entry
		p.cfg.OnEvidence = func(e Entry) { evidence = append(evidence, e) }
		mixed := [][]byte{good, tamper(next()), twice, twice}
		chs = submit(p, from, mixed...)
		synctest.Wait()
		got := decided(chs)
		wantVerdicts(t, "mixed", got[:2], A, R)
		if !(got[2] == A && got[3] == I || got[2] == I && got[3] == A) {
			t.Fatalf("the same receipt twice: verdicts %v", got[2:])
		}
		chs = submit(p, from, signReceipt(t, held, other, 1, 1))
		synctest.Wait()
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		wantVerdicts(t, "conflict", decided(chs), I)
		if len(evidence) != 1 {
			t.Fatalf("%d receipts kept as evidence, want 1", len(evidence))
		}
		st := p.Stats()
		if st.Accepted != 10 || st.Rejected[string(receipt.ReasonBadNodeSignature)] != 1 ||
			st.Ignored[ReasonDuplicate] != 1 || st.Ignored[ReasonConflict] != 1 {
			t.Fatalf("stats %+v", st)
		}
		if len(accepted) != 10 {
			t.Fatalf("%d receipts accepted, want 10", len(accepted))
		}

		// Waiting receipts are decided when the pool closes.
		chs = submit(p, from, next(), next())
		synctest.Wait()
		wantVerdicts(t, "before closing", decided(chs), waiting, waiting)
		p.Close()
		synctest.Wait()
		wantVerdicts(t, "closing", decided(chs), I, I)
		chs = submit(p, from, next())
		synctest.Wait()
		wantVerdicts(t, "closed", decided(chs), I)
	})
}

// TestGossipBatchAllParked: when the validator runs in a bounded set of
// workers (the router's, WorkersHost), a batch closes as soon as every
// worker waits in one, rather than after the window: no receipt can join
// it then.
func TestGossipBatchAllParked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := batchedPool(t, 8, time.Hour, Config{})
		p.batcher.setValidators(3)
		acct, _ := testkeys.New(t)
		node, _ := testkeys.New(t)
		_, from := testkeys.New(t)
		seq := uint64(0)
		next := func() []byte {
			seq++
			return signReceipt(t, signAuth(t, acct, "m", seq, 10), node, 1, 1)
		}
		const A = pubsub.ValidationAccept
		const waiting = pubsub.ValidationResult(-1)

		// Two of three workers wait: the batch waits for the third.
		chs := submit(p, from, next(), next())
		synctest.Wait()
		wantVerdicts(t, "two of three waiting", decided(chs), waiting, waiting)
		// The third joins: every worker waits, the batch goes at once.
		start := time.Now()
		chs = append(chs, submit(p, from, next())...)
		synctest.Wait()
		wantVerdicts(t, "all waiting", decided(chs), A, A, A)
		if d := time.Since(start); d != 0 {
			t.Fatalf("the batch waited %v", d)
		}
		// Decided receipts no longer count as waiting: the next
		// receipts wait the window again until all three wait.
		chs = submit(p, from, next())
		synctest.Wait()
		wantVerdicts(t, "one waiting", decided(chs), waiting)
		time.Sleep(time.Hour)
		synctest.Wait()
		wantVerdicts(t, "after the window", decided(chs), A)
		// A receipt decided before its batch (a duplicate) never waits.
		dup := next()
		chs = submit(p, from, dup, next(), next())
		synctest.Wait()
		wantVerdicts(t, "all waiting again", decided(chs), A, A, A)
		chs = submit(p, from, dup)
		synctest.Wait()
		wantVerdicts(t, "duplicate", decided(chs), pubsub.ValidationIgnore)
		if st := p.Stats(); st.Accepted != 7 || st.Ignored[ReasonDuplicate] != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestGossipBatchPersists: what a batch accepts is in the datastore once
// the pool flushes, as validate's receipts are.
func TestGossipBatchPersists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := batchedPool(t, 8, time.Millisecond, Config{})
		acct, _ := testkeys.New(t)
		node, _ := testkeys.New(t)
		_, from := testkeys.New(t)
		var envs [][]byte
		for i := range 8 {
			envs = append(envs, signReceipt(t, signAuth(t, acct, "m", uint64(i+1), 10), node, 1, 1))
		}
		chs := submit(p, from, envs...)
		synctest.Wait()
		for i, v := range decided(chs) {
			if v != pubsub.ValidationAccept {
				t.Fatalf("receipt %d: verdict %v", i, v)
			}
		}
		ctx := context.Background()
		if err := p.flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, env := range envs {
			id := ID(receipt.ID(authorizationOf(t, env)))
			if ok, err := p.Has(ctx, id); err != nil || !ok {
				t.Fatalf("receipt %s not stored: %v", id, err)
			}
		}
		if got := p.Pending(peer.ID(mustAccount(t, envs[0]))); got != 8 {
			t.Fatalf("pending %d, want 8", got)
		}
	})
}

// mustAccount returns the paying account of a receipt envelope.
func mustAccount(t *testing.T, env []byte) peer.ID {
	t.Helper()
	sr, err := receipt.OpenReceipt(env)
	if err != nil {
		t.Fatal(err)
	}
	return sr.Authorization.Authorization.Account
}

// TestNetworkBatched runs three nodes on loopback whose pools validate
// gossip in batches; a peer that runs no pool publishes receipts (one of
// them forged) in bursts, and every node accepts each valid one and
// rejects the forged one. It logs the rate at which all nodes admitted
// them.
func TestNetworkBatched(t *testing.T) { testNetworkBatched(t, true) }

// TestNetworkBatchedAsync is TestNetworkBatched on hosts that do not
// report their routers' validation workers (not a WorkersHost): the
// validator runs asynchronously, in a goroutine pubsub starts per
// message.
func TestNetworkBatchedAsync(t *testing.T) { testNetworkBatched(t, false) }

// plainHost hides every method of its host but Host's.
type plainHost struct{ Host }

// testNetworkBatched runs TestNetworkBatched with the pools' validator
// inline in the routers' workers or asynchronous.
func testNetworkBatched(t *testing.T, inline bool) {
	const n, count = 3, 300
	ctx := context.Background()
	hosts := p2ptest.NewHosts(t, n, p2ptest.WithTopology(p2ptest.FullMesh))
	accepted := make([]chan Entry, n)
	pools := make([]*Pool, n)
	for i, h := range hosts {
		acc := make(chan Entry, count)
		accepted[i] = acc
		var host Host = h
		if !inline {
			host = plainHost{h}
		}
		p, err := New(Config{
			Datastore: openPebble(t, t.TempDir()), Host: host, Verify: testVerify,
			VerifyBatch: ReceiptBatchVerifier(receipt.Checker{NetworkID: testNet}),
			GossipBatch: BatchWindow{MaxReceipts: 16, MaxDelay: 5 * time.Millisecond},
			OnAccept:    func(e Entry) { acc <- e },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		pools[i] = p
	}
	// The hosts' routers have p2p.ValidateWorkers workers: the pools
	// validate inline in them when the host says so (WorkersHost).
	want := 0 // unbounded: asynchronous
	if inline {
		want = p2p.ValidateWorkers
	}
	for i, p := range pools {
		if got := p.batcher.validators; got != want {
			t.Fatalf("node %d: the validator runs in %d workers, want %d", i, got, want)
		}
	}
	waitTopicPeers(t, hosts, n-1)
	_, top := joinRogue(t, ctx, hosts)
	acctKey, _ := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	envs := make([][]byte, count)
	for i := range envs {
		envs[i] = signReceipt(t, signAuth(t, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1)
	}
	forged := tamper(signReceipt(t, signAuth(t, acctKey, "m", count+1, 10), nodeKey, 1, 1))
	// In bursts of 16 (a batch), each once the previous one arrived
	// everywhere: pubsub drops what overflows its queues (32 messages
	// per peer), and this test is about verdicts, not throughput.
	const burst = 16
	deadline := time.After(60 * time.Second)
	start := time.Now()
	for i := 0; i < count; i += burst {
		if i == 4*burst {
			if err := top.Publish(ctx, forged); err != nil {
				t.Fatal(err)
			}
		}
		end := min(i+burst, count)
		for _, env := range envs[i:end] {
			if err := top.Publish(ctx, env); err != nil {
				t.Fatal(err)
			}
		}
		for k := range pools {
			for range end - i {
				select {
				case <-accepted[k]:
				case <-deadline:
					t.Fatalf("node %d: %+v", k, pools[k].Stats())
				}
			}
		}
	}
	elapsed := time.Since(start)
	for i, p := range pools {
		poll(t, 10*time.Second, func() bool {
			return p.Stats().Rejected[string(receipt.ReasonBadNodeSignature)] == 1
		}, fmt.Sprintf("node %d did not reject the forged receipt: %+v", i, p.Stats()))
		if st := p.Stats(); st.Accepted != count {
			t.Fatalf("node %d: %+v", i, st)
		}
	}
	t.Logf("%d receipts admitted by %d nodes in %v (%.0f receipts/s per node, GOMAXPROCS %d shared by all)",
		count, n, elapsed, count/elapsed.Seconds(), runtime.GOMAXPROCS(0))
}
