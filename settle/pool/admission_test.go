package pool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testclock"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/p2ptest"
	rpb "github.com/fomonet/fomo/settle/receipt/pb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// fakeRegistry is a model registry: model → list prices and serving nodes.
type fakeRegistry struct {
	mu     sync.Mutex
	prices map[string][2]uint64
	nodes  map[string]map[peer.ID]bool
	err    error
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{prices: map[string][2]uint64{}, nodes: map[string]map[peer.ID]bool{}}
}

// register registers model at the given prices, served by nodes.
func (r *fakeRegistry) register(model string, in, out uint64, nodes ...peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prices[model] = [2]uint64{in, out}
	r.nodes[model] = map[peer.ID]bool{}
	for _, n := range nodes {
		r.nodes[model][n] = true
	}
}

func (r *fakeRegistry) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeRegistry) Prices(_ context.Context, model string) (uint64, uint64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, 0, false, r.err
	}
	p, ok := r.prices[model]
	return p[0], p[1], ok, nil
}

func (r *fakeRegistry) Serves(_ context.Context, node peer.ID, model string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return false, r.err
	}
	return r.nodes[model][node], nil
}

var _ Registry = (*fakeRegistry)(nil)

// The test authorizations quote 1,000,000 / 0 (helpers_test.go).
const testIn, testOut = 1_000_000, 0

// TestAdmissionRegistry checks the verdict of each registry rule on a
// gossiped receipt, and that a refused receipt is not stored.
func TestAdmissionRegistry(t *testing.T) {
	ctx := context.Background()
	acctKey, _ := testkeys.New(t)
	nodeKey, node := testkeys.New(t)
	strangerKey, _ := testkeys.New(t)
	_, forwarder := testkeys.New(t)

	reg := newFakeRegistry()
	reg.register("m", testIn, testOut, node)
	reg.register("dear", 2*testIn, testOut, node)
	p := newLocalPool(t, Config{Admission: &Admission{Registry: reg}})

	issued := uint64(1000)
	receiptOf := func(model string, signer bool) []byte {
		issued++
		k := nodeKey
		if !signer {
			k = strangerKey
		}
		return signReceipt(t, signAuth(t, acctKey, model, issued, 10), k, 5, 1)
	}
	cases := []struct {
		name   string
		data   []byte
		err    error
		want   pubsub.ValidationResult
		reason string
	}{
		{"registered node at the registry price", receiptOf("m", true), nil, pubsub.ValidationAccept, ""},
		{"unregistered node", receiptOf("m", false), nil, pubsub.ValidationReject, ReasonNotServing},
		{"unregistered model", receiptOf("invented", true), nil, pubsub.ValidationReject, ReasonModelNotRegistered},
		{"registered node at another price", receiptOf("dear", true), nil, pubsub.ValidationReject, ReasonPriceNotAllowed},
		{"forged signature of a registered node", tamper(receiptOf("m", true)), nil, pubsub.ValidationReject, "bad_node_signature"},
		{"garbage", []byte("not an envelope"), nil, pubsub.ValidationReject, ReasonMalformed},
		{"registry behind", receiptOf("m", false), fmt.Errorf("syncing: %w", ErrRegistryBehind), pubsub.ValidationAccept, ""},
		{"registry unreadable", receiptOf("m", false), errors.New("read failed"), pubsub.ValidationIgnore, ReasonRegistryUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg.setErr(tc.err)
			defer reg.setErr(nil)
			checkVerdict(t, ctx, p, forwarder, tc.data, tc.want, tc.reason)
			if tc.want != pubsub.ValidationAccept && len(tc.data) > 0 {
				if held, _ := p.Has(ctx, idOf(t, tc.data)); held {
					t.Fatal("a refused receipt was stored")
				}
			}
		})
	}
}

// idOf is the receipt id of an envelope, signatures unchecked (garbage
// has none).
func idOf(t *testing.T, env []byte) ID {
	t.Helper()
	var re recordpb.Envelope
	var r rpb.Receipt
	if proto.Unmarshal(env, &re) != nil || proto.Unmarshal(re.GetPayload(), &r) != nil || len(r.GetAuthorization()) == 0 {
		return ID{}
	}
	return ID(sha256.Sum256(r.GetAuthorization()))
}

// floorPrice is a discount rule: any price between a floor and the list.
type floorPrice struct{ floorIn uint64 }

func (f floorPrice) Allowed(_ context.Context, q Quote) (bool, error) {
	return q.InputPrice >= f.floorIn && q.InputPrice <= q.ListInput && q.OutputPrice <= q.ListOutput, nil
}

// TestAdmissionPriceRule: the price rule is pluggable; a discount rule
// admits a quote below the list price that the default rule rejects.
func TestAdmissionPriceRule(t *testing.T) {
	ctx := context.Background()
	acctKey, _ := testkeys.New(t)
	nodeKey, node := testkeys.New(t)
	_, forwarder := testkeys.New(t)
	reg := newFakeRegistry()
	reg.register("m", 2*testIn, testOut, node)

	def := newLocalPool(t, Config{Admission: &Admission{Registry: reg}})
	disc := newLocalPool(t, Config{Admission: &Admission{Registry: reg, Price: floorPrice{floorIn: testIn}}})
	env := signReceipt(t, signAuth(t, acctKey, "m", 1000, 10), nodeKey, 5, 1)
	if got := def.validate(ctx, forwarder, gossip(env)); got != pubsub.ValidationReject {
		t.Fatalf("list-price rule: %v", got)
	}
	if got := disc.validate(ctx, forwarder, gossip(env)); got != pubsub.ValidationAccept {
		t.Fatalf("discount rule: %v", got)
	}
	q, ok := quoteOf(env)
	if !ok || q.Node != node || q.Model != "m" || q.InputPrice != testIn || q.OutputPrice != testOut || q.IssuedAtMs != 1000 {
		t.Fatalf("quote %+v %v", q, ok)
	}
}

// TestAdmissionRateLimit: each forwarding peer has its own bucket; the
// excess is Ignored, counted and not stored; the bucket refills with the
// clock; duplicates and the node's own messages spend nothing.
func TestAdmissionRateLimit(t *testing.T) {
	ctx := context.Background()
	acctKey, _ := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	_, a := testkeys.New(t)
	_, b := testkeys.New(t)
	clock := testclock.New(time.Unix(1_700_000_000, 0))
	p := newLocalPool(t, Config{Admission: &Admission{Rate: 10, Burst: 5, Now: clock.Now}})

	issued := uint64(0)
	next := func() []byte {
		issued++
		return signReceipt(t, signAuth(t, acctKey, "m", issued, 10), nodeKey, 1, 1)
	}
	send := func(from peer.ID, n int) (accepted, limited int) {
		for range n {
			env := next()
			switch got := p.validate(ctx, from, gossip(env)); got {
			case pubsub.ValidationAccept:
				accepted++
			case pubsub.ValidationIgnore:
				limited++
				if held, _ := p.Has(ctx, idOf(t, env)); held {
					t.Fatal("a rate-limited receipt was stored")
				}
			default:
				t.Fatalf("verdict %v", got)
			}
		}
		return accepted, limited
	}
	if acc, lim := send(a, 8); acc != 5 || lim != 3 {
		t.Fatalf("burst of 8 from a: %d accepted, %d limited; want 5, 3", acc, lim)
	}
	if got := p.Stats().Ignored[ReasonRateLimited]; got != 3 {
		t.Fatalf("stats: %d rate-limited, want 3", got)
	}
	if acc, lim := send(b, 5); acc != 5 || lim != 0 {
		t.Fatalf("peer b, its own bucket: %d accepted, %d limited", acc, lim)
	}

	// A duplicate is refused as such and spends no token.
	held := next()
	if _, err := p.Add(ctx, held); err != nil {
		t.Fatal(err)
	}
	if got := p.validate(ctx, a, gossip(held)); got != pubsub.ValidationIgnore || p.Stats().Ignored[ReasonDuplicate] != 1 {
		t.Fatalf("duplicate from an empty bucket: %v, %v", got, p.Stats().Ignored)
	}

	clock.Advance(250 * time.Millisecond) // 2.5 tokens
	if acc, lim := send(a, 3); acc != 2 || lim != 1 {
		t.Fatalf("after 250 ms: %d accepted, %d limited; want 2, 1", acc, lim)
	}
	clock.Advance(time.Hour) // refilled to the burst, no more
	if acc, lim := send(a, 6); acc != 5 || lim != 1 {
		t.Fatalf("after an hour: %d accepted, %d limited; want 5, 1", acc, lim)
	}
	if got := p.Stats().Ignored[ReasonRateLimited]; got != 5 {
		t.Fatalf("stats: %d rate-limited, want 5", got)
	}
}

// TestAdmissionDefaultBurst: a peer forwarding an honest burst within the
// default bound loses nothing.
func TestAdmissionDefaultBurst(t *testing.T) {
	ctx := context.Background()
	acctKey, _ := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	_, from := testkeys.New(t)
	clock := testclock.New(time.Unix(1_700_000_000, 0))
	p := newLocalPool(t, Config{Admission: &Admission{Now: clock.Now}})
	for i := range 500 {
		env := signReceipt(t, signAuth(t, acctKey, "m", uint64(i+1), 10), nodeKey, 1, 1)
		if got := p.validate(ctx, from, gossip(env)); got != pubsub.ValidationAccept {
			t.Fatalf("receipt %d of a burst: %v", i, got)
		}
	}
}

// TestAdmissionBucketsSwept: the buckets of peers gone quiet are dropped.
func TestAdmissionBucketsSwept(t *testing.T) {
	clock := testclock.New(time.Unix(1_700_000_000, 0))
	a := &Admission{Rate: 100, Burst: 10, Now: clock.Now}
	for range 3 * sweepEvery {
		_, id := testkeys.New(t)
		a.take(id)
	}
	clock.Advance(time.Second) // every bucket is full again
	_, busy := testkeys.New(t)
	for range sweepEvery {
		a.take(busy)
	}
	a.mu.Lock()
	n := len(a.buckets)
	a.mu.Unlock()
	if n > 1 {
		t.Fatalf("%d buckets kept, want at most 1", n)
	}
}

// TestAdmissionLocalAdd: the node's own receipt that breaks the registry
// is kept (the client holds it), logged as an error, and not refused.
func TestAdmissionLocalAdd(t *testing.T) {
	ctx := context.Background()
	acctKey, _ := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	var logs bytes.Buffer
	p := newLocalPool(t, Config{
		Admission: &Admission{Registry: newFakeRegistry()},
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	e, err := p.Add(ctx, signReceipt(t, signAuth(t, acctKey, "m", 1000, 10), nodeKey, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := p.Get(ctx, e.ID); err != nil || !ok || !got.Local {
		t.Fatalf("the receipt was not kept: %+v %v %v", got, ok, err)
	}
	if !bytes.Contains(logs.Bytes(), []byte(ReasonModelNotRegistered)) {
		t.Fatalf("no error logged: %q", logs.String())
	}
}

// admittedNode is a network node whose pool applies an Admission.
type admittedNode struct {
	h        *p2p.Host
	pool     *Pool
	accepted chan Entry
}

// TestNetworkAdmission runs four registered nodes and a peer with an
// unregistered key that floods the topic with receipts it signed itself:
// every node rejects them and stores none, the flooder's score falls until
// the nodes drop what it sends (even a valid receipt it relays), and
// honest receipts still reach every node.
func TestNetworkAdmission(t *testing.T) {
	const n = 4
	ctx := context.Background()
	hosts := p2ptest.NewHosts(t, n, p2ptest.WithTopology(p2ptest.FullMesh))
	reg := newFakeRegistry()
	ids := make([]peer.ID, n)
	for i, h := range hosts {
		ids[i] = h.ID()
	}
	reg.register("m", testIn, testOut, ids...)
	nodes := make([]*admittedNode, n)
	for i, h := range hosts {
		acc := make(chan Entry, 256)
		db := openPebble(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		p := newLocalPool(t, Config{
			Datastore: db, Host: h, OnAccept: func(e Entry) { acc <- e },
			TopicScoreParams: p2p.TopicScoreParams(), Admission: &Admission{Registry: reg},
		})
		nodes[i] = &admittedNode{h: h, pool: p, accepted: acc}
	}
	waitTopicPeers(t, hosts, n-1)
	acctKey, _ := testkeys.New(t)
	issued := uint64(0)
	honest := func(i int) Entry {
		t.Helper()
		issued++
		env := signReceipt(t, signAuth(t, acctKey, "m", issued, 10), hosts[i].Peerstore().PrivKey(hosts[i].ID()), 1, 1)
		e, err := nodes[i].pool.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	held := func(id ID) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for i, nd := range nodes {
			waitFor(t, nd.accepted, id, deadline, fmt.Sprintf("node %d", i))
		}
	}
	held(honest(0).ID)

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rogue, top := joinRogue(t, cctx, hosts)
	rogueKey := rogue.Peerstore().PrivKey(rogue.ID())

	const flood = 12
	var flooded []ID
	for range flood {
		issued++
		env := signReceipt(t, signAuth(t, acctKey, "m", issued, 10), rogueKey, 1, 1)
		flooded = append(flooded, idOf(t, env))
		if err := top.Publish(cctx, env); err != nil {
			t.Fatal(err)
		}
	}
	// GossipSub drops everything a peer sends once its score is below the
	// graylist threshold (-2500): six rejections (-100 × 6²) at most.
	poll(t, 20*time.Second, func() bool {
		for _, nd := range nodes {
			if nd.pool.Stats().Rejected[ReasonNotServing] < 6 {
				return false
			}
		}
		return true
	}, "the flood was not rejected by every node")
	held(honest(1).ID)
	for i, nd := range nodes {
		for _, id := range flooded {
			if ok, _ := nd.pool.Has(ctx, id); ok {
				t.Fatalf("node %d stored a flooded receipt", i)
			}
		}
	}

	// The flooder relays a valid receipt of node 2: nobody takes it from
	// it any more, while the same bytes from node 2 itself reach everyone.
	issued++
	valid := signReceipt(t, signAuth(t, acctKey, "m", issued, 10), hosts[2].Peerstore().PrivKey(hosts[2].ID()), 1, 1)
	if err := top.Publish(cctx, valid); err != nil {
		t.Fatal(err)
	}
	held(honest(3).ID)
	for i, nd := range nodes {
		if ok, _ := nd.pool.Has(ctx, idOf(t, valid)); ok {
			t.Fatalf("node %d took a receipt from the graylisted flooder", i)
		}
	}
	e, err := nodes[2].pool.Add(ctx, valid)
	if err != nil {
		t.Fatal(err)
	}
	held(e.ID)
}
