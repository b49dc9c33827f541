package pool

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/p2ptest"
	"github.com/fomonet/fomo/store"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// testNode is one node of the test network: a real host, a pebble store
// on disk and a pool.
type testNode struct {
	h        *p2p.Host
	key      crypto.PrivKey
	dir      string
	db       *store.Pebble
	pool     *Pool
	accepted chan Entry
	evidence chan Entry
}

func (n *testNode) open(t *testing.T) {
	t.Helper()
	n.db = openPebble(t, n.dir)
	db := n.db
	t.Cleanup(func() { db.Close() })
	n.accepted = make(chan Entry, 256)
	n.evidence = make(chan Entry, 256)
	acc, ev := n.accepted, n.evidence
	p, err := New(Config{
		Datastore:        db,
		Host:             n.h,
		Verify:           testVerify,
		OnAccept:         func(e Entry) { acc <- e },
		OnEvidence:       func(e Entry) { ev <- e },
		TopicScoreParams: p2p.TopicScoreParams(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	n.pool = p
}

// restart closes the node's pool and store and opens them again from the
// same directory; the host keeps running.
func (n *testNode) restart(t *testing.T) {
	t.Helper()
	if err := n.pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.db.Close(); err != nil {
		t.Fatal(err)
	}
	n.open(t)
}

// waitFor reads ch until an entry with id arrives.
func waitFor(t *testing.T, ch <-chan Entry, id ID, deadline <-chan time.Time, what string) Entry {
	t.Helper()
	for {
		select {
		case e := <-ch:
			if e.ID == id {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: receipt %s did not arrive", what, id)
		}
	}
}

// waitHeld waits until every node reported id through
// OnAccept.
func waitHeld(t *testing.T, nodes []*testNode, id ID) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for i, n := range nodes {
		waitFor(t, n.accepted, id, deadline, fmt.Sprintf("node %d", i))
	}
}

// joinRogue starts a host that runs no pool, connects it to every host and
// joins it to the receipt topic; it returns once the topic reaches them all.
func joinRogue(t *testing.T, ctx context.Context, hosts []*p2p.Host) (*p2p.Host, *pubsub.Topic) {
	t.Helper()
	rogue := p2ptest.NewHost(t, p2ptest.Config(""), nil)
	if err := p2ptest.Connect(ctx, append([]*p2p.Host{rogue}, hosts...), p2ptest.Star); err != nil {
		t.Fatal(err)
	}
	top, err := rogue.JoinTopic(TopicName)
	if err != nil {
		t.Fatal(err)
	}
	waitTopicPeers(t, []*p2p.Host{rogue}, len(hosts))
	return rogue, top
}

// waitTopicPeers polls until each host sees want peers on the receipts
// topic: subscriptions travel between hosts on their own schedule.
func waitTopicPeers(t *testing.T, hosts []*p2p.Host, want int) {
	t.Helper()
	poll(t, 20*time.Second, func() bool {
		for _, h := range hosts {
			if len(h.PubSub().ListPeers(h.Topic(TopicName))) < want {
				return false
			}
		}
		return true
	}, fmt.Sprintf("hosts do not see %d peers on the receipts topic", want))
}

// TestNetwork runs ten nodes on loopback, each with its pool on its own
// pebble store, and checks gossip, pending spend across nodes, conflicting
// receipts, and de-duplication after a restart.
func TestNetwork(t *testing.T) {
	const n = 10
	ctx := context.Background()
	hosts := p2ptest.NewHosts(t, n, p2ptest.WithTopology(p2ptest.FullMesh))
	nodes := make([]*testNode, n)
	for i, h := range hosts {
		nodes[i] = &testNode{h: h, key: h.Peerstore().PrivKey(h.ID()), dir: t.TempDir()}
		nodes[i].open(t)
	}
	waitTopicPeers(t, hosts, n-1)

	acctKey, acct := testkeys.New(t)

	var first Entry
	t.Run("gossip", func(t *testing.T) {
		start := time.Now()
		env := signReceipt(t, signAuth(t, acctKey, "m", 1, 10), nodes[0].key, 10, 1)
		e, err := nodes[0].pool.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		waitHeld(t, nodes, e.ID)
		t.Logf("receipt held by %d nodes after %v", n, time.Since(start))
		for i, nd := range nodes {
			got, ok, err := nd.pool.Get(ctx, e.ID)
			if err != nil || !ok || got.Digest != e.Digest || got.Local != (i == 0) {
				t.Fatalf("node %d: %+v %v %v", i, got, ok, err)
			}
		}
		first = e
	})

	t.Run("pending spend across nodes", func(t *testing.T) {
		// The account has credit for 3 requests of max_charge 10 on top of
		// the receipt above; each request is served by another node.
		const maxCharge = 10
		balance := first.Charge + 3*maxCharge
		var ids []ID
		for k, i := range []int{2, 5, 8} {
			if err := nodes[i].pool.Admit(acct, balance, maxCharge); err != nil {
				t.Fatalf("request %d at node %d refused: %v", k+1, i, err)
			}
			env := signReceipt(t, signAuth(t, acctKey, "m", uint64(10+k), maxCharge), nodes[i].key, maxCharge, 1)
			e, err := nodes[i].pool.Add(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			waitHeld(t, nodes, e.ID)
			ids = append(ids, e.ID)
		}
		for i, nd := range nodes {
			if got := nd.pool.Pending(acct); got != balance {
				t.Fatalf("node %d: pending %d, want %d", i, got, balance)
			}
			err := nd.pool.Admit(acct, balance, maxCharge)
			var qe *QuotaError
			if !errors.As(err, &qe) || !errors.Is(err, ErrInsufficientQuota) || qe.Pending != balance {
				t.Fatalf("node %d: 4th request: %v", i, err)
			}
		}
		if err := nodes[9].pool.MarkSettled(ctx, ids[:1]); err != nil {
			t.Fatal(err)
		}
		if err := nodes[9].pool.Admit(acct, balance, maxCharge); err != nil {
			t.Fatalf("after settling one receipt: %v", err)
		}
	})

	t.Run("conflicting receipt", func(t *testing.T) {
		// The authorization node 0 was paid for is replayed at node 2,
		// which signs a second receipt for it.
		second := signReceipt(t, authorizationOf(t, first.Envelope), nodes[2].key, 7, 3)
		var ce *ConflictError
		if _, err := nodes[2].pool.Add(ctx, second); !errors.As(err, &ce) {
			t.Fatalf("node 2 accepted a second receipt: %v", err)
		}
		waitFor(t, nodes[2].evidence, first.ID, time.After(time.Second), "node 2 evidence")

		// A peer that runs no pool publishes it to every node.
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, top := joinRogue(t, cctx, hosts)
		if err := top.Publish(cctx, second); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(20 * time.Second)
		for i, nd := range nodes {
			if i == 2 {
				continue // it already holds the evidence: a duplicate now
			}
			waitFor(t, nd.evidence, first.ID, deadline, "evidence")
		}
		for i, nd := range nodes {
			held, ok, err := nd.pool.Get(ctx, first.ID)
			if err != nil || !ok || held.Digest != first.Digest {
				t.Fatalf("node %d: the held receipt changed: %+v %v", i, held, err)
			}
			ev, err := nd.pool.Evidence(ctx, first.ID)
			if err != nil || len(ev) != 1 || ev[0].Node != nodes[2].h.ID() || ev[0].Digest != sha256.Sum256(second) {
				t.Fatalf("node %d: evidence %+v, %v", i, ev, err)
			}
			if s := nd.pool.Stats(); i != 2 && s.Ignored[ReasonConflict] != 1 {
				t.Fatalf("node %d: stats %+v", i, s)
			}
		}
		if s := nodes[2].pool.Stats(); s.Ignored[ReasonConflict] != 0 {
			t.Fatalf("node 2: stats %+v", s)
		}

		// A forged receipt from the same peer is rejected everywhere. No
		// channel reports rejections: poll the counters.
		if err := top.Publish(cctx, tamper(signReceipt(t, signAuth(t, acctKey, "m", 99, 10), nodes[3].key, 1, 1))); err != nil {
			t.Fatal(err)
		}
		poll(t, 20*time.Second, func() bool {
			for _, nd := range nodes {
				if nd.pool.Stats().Rejected["bad_node_signature"] != 1 {
					return false
				}
			}
			return true
		}, "forged receipt not rejected by every node")
	})

	t.Run("restart keeps de-duplication", func(t *testing.T) {
		nd := nodes[5]
		pendingBefore := nd.pool.Pending(acct)
		nd.restart(t)
		if got := nd.pool.Pending(acct); got != pendingBefore {
			t.Fatalf("pending after restart %d, want %d", got, pendingBefore)
		}
		if _, err := nd.pool.Add(ctx, first.Envelope); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Add of a held receipt after restart: %v", err)
		}
		if got := nd.pool.validate(ctx, hosts[1].ID(), gossip(first.Envelope)); got != pubsub.ValidationIgnore {
			t.Fatalf("gossiped duplicate after restart: %v", got)
		}
		if s := nd.pool.Stats(); s.Ignored[ReasonDuplicate] != 1 {
			t.Fatalf("stats after restart: %+v", s)
		}
		if ev, err := nd.pool.Evidence(ctx, first.ID); err != nil || len(ev) != 1 {
			t.Fatalf("evidence after restart: %d, %v", len(ev), err)
		}
		// The restarted node is back in the topic.
		waitTopicPeers(t, hosts, n-1)
		env := signReceipt(t, signAuth(t, acctKey, "m", 50, 10), nodes[0].key, 1, 1)
		e, err := nodes[0].pool.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, nd.accepted, e.ID, time.After(20*time.Second), "restarted node")
	})
}

// poll checks cond every 20 ms until it holds or d passes.
func poll(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		<-tick.C
	}
}
