package pool

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/store"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func openPebble(t testing.TB, dir string) *store.Pebble {
	t.Helper()
	db, err := store.OpenPebble(dir, store.WithCacheSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newLocalPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if cfg.Datastore == nil {
		cfg.Datastore = store.NewMemory()
	}
	if cfg.Verify == nil {
		cfg.Verify = testVerify
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func gossip(data []byte) *pubsub.Message {
	return &pubsub.Message{Message: &pb.Message{Data: data}}
}

// checkVerdict has p validate data as forwarded by from, and checks the
// verdict and that it counted one more of it: accepted, or rejected or
// ignored for reason.
func checkVerdict(t *testing.T, ctx context.Context, p *Pool, from peer.ID, data []byte, want pubsub.ValidationResult, reason string) {
	t.Helper()
	before := p.Stats()
	if got := p.validate(ctx, from, gossip(data)); got != want {
		t.Fatalf("verdict %v, want %v (stats %+v)", got, want, p.Stats())
	}
	after := p.Stats()
	var b, a uint64
	switch want {
	case pubsub.ValidationAccept:
		b, a = before.Accepted, after.Accepted
	case pubsub.ValidationReject:
		b, a = before.Rejected[reason], after.Rejected[reason]
	case pubsub.ValidationIgnore:
		b, a = before.Ignored[reason], after.Ignored[reason]
	default:
		t.Fatalf("no counter for verdict %v", want)
	}
	if a != b+1 {
		t.Fatalf("counter of %v %q: %d -> %d (%+v)", want, reason, b, a, after)
	}
}

// TestValidatorVerdicts breaks one thing per case and checks the topic
// validator's verdict and the counter of its reason.
func TestValidatorVerdicts(t *testing.T) {
	ctx := context.Background()
	acctKey, acct := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	otherNode, _ := testkeys.New(t)
	_, forwarder := testkeys.New(t)

	const closedEpoch = 7
	p := newLocalPool(t, Config{
		EpochOf: func(ms uint64) uint64 { return ms / 1000 },
		Open:    func(e uint64) bool { return e != closedEpoch },
	})

	held := signAuth(t, acctKey, "m", 1000, 10)
	heldReceipt := signReceipt(t, held, nodeKey, 5, 1)
	if _, err := p.Add(ctx, heldReceipt); err != nil {
		t.Fatal(err)
	}
	fresh := signReceipt(t, signAuth(t, acctKey, "m", 1500, 10), nodeKey, 5, 1)

	cases := []struct {
		name   string
		data   []byte
		want   pubsub.ValidationResult
		reason string
	}{
		{"accepted", fresh, pubsub.ValidationAccept, ""},
		{"garbage", []byte("not an envelope"), pubsub.ValidationReject, ReasonMalformed},
		{"empty", nil, pubsub.ValidationReject, ReasonMalformed},
		{"bad node signature", tamper(signReceipt(t, signAuth(t, acctKey, "m", 1000, 10), nodeKey, 5, 1)),
			pubsub.ValidationReject, "bad_node_signature"},
		{"charge over max", signReceipt(t, signAuth(t, acctKey, "m", 1000, 10), nodeKey, 11, 1),
			pubsub.ValidationReject, "charge_over_max"},
		{"duplicate", heldReceipt, pubsub.ValidationIgnore, ReasonDuplicate},
		{"closed epoch", signReceipt(t, signAuth(t, acctKey, "m", closedEpoch*1000+5, 10), nodeKey, 5, 1),
			pubsub.ValidationIgnore, ReasonEpochClosed},
		{"conflict", signReceipt(t, held, otherNode, 5, 1), pubsub.ValidationIgnore, ReasonConflict},
		{"another conflict", signReceipt(t, held, otherNode, 5, 2), pubsub.ValidationIgnore, ReasonConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdict(t, ctx, p, forwarder, tc.data, tc.want, tc.reason)
		})
	}
	// The same conflicting envelope, seen again, is a plain duplicate.
	again := cases[len(cases)-1].data
	if got := p.validate(ctx, forwarder, gossip(again)); got != pubsub.ValidationIgnore || p.Stats().Ignored[ReasonDuplicate] != 2 {
		t.Fatalf("repeated conflict: %v, %v", got, p.Stats().Ignored)
	}
	id := ID(sha256.Sum256(held))
	ev, err := p.Evidence(ctx, id)
	if err != nil || len(ev) != 2 {
		t.Fatalf("evidence: %d entries, %v", len(ev), err)
	}
	if e, ok, _ := p.Get(ctx, id); !ok || e.Digest != sha256.Sum256(heldReceipt) {
		t.Fatalf("held receipt replaced by a conflicting one")
	}
	if got := p.Pending(acct); got != 10 {
		t.Fatalf("pending %d, want 10 (two receipts of 5; conflicts not counted)", got)
	}
}

// TestAddErrors checks Add's typed errors.
func TestAddErrors(t *testing.T) {
	ctx := context.Background()
	acctKey, acct := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	otherKey, other := testkeys.New(t)
	var evidence []Entry
	p := newLocalPool(t, Config{
		Open:       func(e uint64) bool { return e == 0 },
		EpochOf:    func(ms uint64) uint64 { return ms / 1000 },
		OnEvidence: func(e Entry) { evidence = append(evidence, e) },
	})
	auth := signAuth(t, acctKey, "m", 10, 10)
	first := signReceipt(t, auth, nodeKey, 4, 1)
	e, err := p.Add(ctx, first)
	if err != nil || e.Account != acct || e.Charge != 4 || !e.Local {
		t.Fatalf("Add: %+v, %v", e, err)
	}
	var de *DuplicateError
	if _, err := p.Add(ctx, first); !errors.As(err, &de) || !errors.Is(err, ErrDuplicate) || de.Entry.ID != e.ID {
		t.Fatalf("second Add: %v", err)
	}
	var ce *ConflictError
	if _, err := p.Add(ctx, signReceipt(t, auth, otherKey, 4, 2)); !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting Add: %v", err)
	}
	if ce.Conflict.Node != other || ce.Held.Node != e.Node || len(evidence) != 1 || evidence[0].Node != other {
		t.Fatalf("conflict %+v, evidence %v", ce, evidence)
	}
	var ee *EpochClosedError
	if _, err := p.Add(ctx, signReceipt(t, signAuth(t, acctKey, "m", 2500, 10), nodeKey, 1, 1)); !errors.As(err, &ee) || ee.Epoch != 2 {
		t.Fatalf("closed epoch: %v", err)
	}
	var ve *VerifyError
	if _, err := p.Add(ctx, tamper(first)); !errors.As(err, &ve) || ve.Reason != "bad_node_signature" {
		t.Fatalf("tampered: %v", err)
	}
	if got := p.Pending(acct); got != 4 {
		t.Fatalf("pending %d, want 4", got)
	}
	p.Close()
	p.Close()
	if _, err := p.Add(ctx, first); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
}

// TestAdmit checks the quota rule balance − pending − max_charge ≥ 0 at
// its edges, overflow included.
func TestAdmit(t *testing.T) {
	ctx := context.Background()
	acctKey, acct := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	p := newLocalPool(t, Config{})
	if _, err := p.Add(ctx, signReceipt(t, signAuth(t, acctKey, "m", 1, 100), nodeKey, 30, 1)); err != nil {
		t.Fatal(err)
	}
	_, stranger := testkeys.New(t)
	cases := []struct {
		name               string
		account            peer.ID
		balance, maxCharge uint64
		ok                 bool
	}{
		{"exact", acct, 100, 70, true},
		{"one over", acct, 100, 71, false},
		{"balance below pending", acct, 20, 0, false},
		{"max charge above balance", acct, 10, math.MaxUint64, false},
		{"huge balance", acct, math.MaxUint64, math.MaxUint64 - 30, true},
		{"huge balance one over", acct, math.MaxUint64, math.MaxUint64 - 29, false},
		{"no pending", stranger, 5, 5, true},
		{"zero", stranger, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Admit(tc.account, tc.balance, tc.maxCharge)
			if tc.ok != (err == nil) {
				t.Fatalf("Admit: %v, want ok=%v", err, tc.ok)
			}
			var qe *QuotaError
			if err != nil && (!errors.Is(err, ErrInsufficientQuota) || !errors.As(err, &qe) || qe.Pending != p.Pending(tc.account)) {
				t.Fatalf("Admit error %v is not a QuotaError", err)
			}
		})
	}
}

// TestSettleAndPrune checks that settled receipts stop counting, that the
// pending spend is rebuilt from the datastore, and that Prune drops old
// epochs.
func TestSettleAndPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openPebble(t, dir)
	acctKey, acct := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	cfg := Config{Datastore: db, EpochOf: func(ms uint64) uint64 { return ms / 1000 }}
	p := newLocalPool(t, cfg)
	var ids []ID
	for i := range 4 {
		e, err := p.Add(ctx, signReceipt(t, signAuth(t, acctKey, "m", uint64(i*1000+1), 10), nodeKey, 10, 1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if err := p.MarkSettled(ctx, []ID{ids[0], ids[0], {1}}); err != nil {
		t.Fatal(err)
	}
	if got := p.Pending(acct); got != 30 {
		t.Fatalf("pending after settling one: %d", got)
	}
	p.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Datastore = openPebble(t, dir)
	t.Cleanup(func() { cfg.Datastore.(*store.Pebble).Close() })
	p = newLocalPool(t, cfg)
	if got := p.Pending(acct); got != 30 {
		t.Fatalf("pending after reopening: %d", got)
	}
	if e, ok, err := p.Get(ctx, ids[0]); err != nil || !ok || !e.Settled {
		t.Fatalf("settled receipt: %+v %v %v", e, ok, err)
	}
	n, err := p.Prune(ctx, 2)
	if err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	if got := p.Pending(acct); got != 20 {
		t.Fatalf("pending after pruning: %d", got)
	}
	for i, id := range ids {
		if ok, err := p.Has(ctx, id); err != nil || ok != (i >= 2) {
			t.Fatalf("Has(%d) = %v, %v", i, ok, err)
		}
	}
	if all, _, err := p.List(ctx, Filter{Account: acct}); err != nil || len(all) != 2 {
		t.Fatalf("List after prune: %d, %v", len(all), err)
	}
}

// TestList pages through the pool with every filter and compares with the
// expected receipts in (epoch, id) order.
func TestList(t *testing.T) {
	ctx := context.Background()
	p := newLocalPool(t, Config{Datastore: openPebble(t, t.TempDir()), EpochOf: func(ms uint64) uint64 { return ms / 1000 }})
	t.Cleanup(func() { p.cfg.Datastore.(*store.Pebble).Close() })
	acctKeys := make([]crypto.PrivKey, 2)
	nodeKeys := make([]crypto.PrivKey, 3)
	for i := range acctKeys {
		acctKeys[i], _ = testkeys.New(t)
	}
	for i := range nodeKeys {
		nodeKeys[i], _ = testkeys.New(t)
	}
	models := []string{"alpha", "beta"}
	var all []Entry
	for i := range 30 {
		env := signReceipt(t, signAuth(t, acctKeys[i%2], models[(i/2)%2], uint64((i%3)*1000+i), 10), nodeKeys[(i/5)%3], 1, i)
		e, err := p.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b Entry) int { return compareCursor(Cursor(a), Cursor(b)) })
	epoch1 := uint64(1)
	filters := []struct {
		name string
		f    Filter
	}{
		{"all", Filter{}},
		{"account", Filter{Account: all[0].Account}},
		{"node", Filter{Node: all[0].Node}},
		{"model", Filter{Model: "beta"}},
		{"epoch", Filter{Epoch: &epoch1}},
		{"account and epoch", Filter{Account: all[0].Account, Epoch: &epoch1}},
		{"account node model", Filter{Account: all[0].Account, Node: all[0].Node, Model: all[0].Model}},
		{"unknown model", Filter{Model: "gamma"}},
	}
	for _, tc := range filters {
		for _, limit := range []int{1, 4, 7, 0} {
			var want []Entry
			for _, e := range all {
				if tc.f.match(e) {
					want = append(want, e)
				}
			}
			f := tc.f
			f.Limit = limit
			var got []Entry
			for pages := 0; ; pages++ {
				page, next, err := p.List(ctx, f)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if limit > 0 && len(page) > limit {
					t.Fatalf("%s: page of %d, limit %d", tc.name, len(page), limit)
				}
				got = append(got, page...)
				if next == "" {
					break
				}
				if pages > 40 {
					t.Fatalf("%s: paging does not end", tc.name)
				}
				f.After = next
			}
			if !slices.EqualFunc(got, want, func(a, b Entry) bool { return a.ID == b.ID }) {
				t.Fatalf("%s limit %d: got %d entries, want %d (or out of order)", tc.name, limit, len(got), len(want))
			}
		}
	}
	if _, _, err := p.List(ctx, Filter{After: "nonsense"}); err == nil {
		t.Fatal("List accepted a bad cursor")
	}
}

func compareCursor(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FuzzDecodeEntry feeds arbitrary bytes to the decoder of stored entries:
// it must never panic, and what it accepts must encode back to bytes that
// decode to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	acctKey, acct := testkeys.New(f)
	_, node := testkeys.New(f)
	env := signReceipt(f, signAuth(f, acctKey, "m", 1, 1), acctKey, 1, 1)
	e := Entry{Receipt: Receipt{ID: ID{1}, Account: acct, Node: node, Model: "m", IssuedAtMs: 5, Charge: 9},
		Digest: [32]byte{2}, Epoch: 3, SeenAtMs: time.Now().UnixMilli(), Local: true, Settled: true, Envelope: env}
	f.Add(encodeEntry(e))
	f.Add(encodeEntry(Entry{Receipt: Receipt{Account: acct, Node: node}, Envelope: []byte{0}}))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		again, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if again.ID != e.ID || again.Digest != e.Digest || again.Account != e.Account || again.Node != e.Node ||
			again.Model != e.Model || again.Epoch != e.Epoch || again.Charge != e.Charge || again.IssuedAtMs != e.IssuedAtMs ||
			again.SeenAtMs != e.SeenAtMs || again.Local != e.Local || again.Settled != e.Settled ||
			string(again.Envelope) != string(e.Envelope) {
			t.Fatalf("round trip changed the entry: %+v != %+v", again, e)
		}
	})
}

// TestVerifierFailure checks that a Verifier failing without a verdict (a
// local problem, not the message's) makes the validator ignore the
// message rather than penalise the forwarder.
func TestVerifierFailure(t *testing.T) {
	p := newLocalPool(t, Config{Verify: func(context.Context, []byte) (Receipt, error) {
		return Receipt{}, context.DeadlineExceeded
	}})
	_, from := testkeys.New(t)
	if got := p.validate(context.Background(), from, gossip([]byte("x"))); got != pubsub.ValidationIgnore {
		t.Fatalf("verdict %v", got)
	}
	if s := p.Stats(); s.Ignored[ReasonVerifyFailed] != 1 || len(s.Rejected) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestReserve checks that reservations of requests in progress count
// against the account until released.
func TestReserve(t *testing.T) {
	ctx := context.Background()
	acctKey, acct := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	p := newLocalPool(t, Config{})
	const balance, maxCharge = 30, 10
	var releases []func()
	for range 3 {
		release, err := p.Reserve(acct, balance, maxCharge)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	if _, err := p.Reserve(acct, balance, maxCharge); !errors.Is(err, ErrInsufficientQuota) {
		t.Fatalf("4th concurrent request: %v", err)
	}
	if err := p.Admit(acct, balance, maxCharge); !errors.Is(err, ErrInsufficientQuota) {
		t.Fatalf("Admit while 3 are reserved: %v", err)
	}
	// The first request completes charging 4: its receipt replaces its
	// reservation.
	if _, err := p.Add(ctx, signReceipt(t, signAuth(t, acctKey, "m", 1, maxCharge), nodeKey, 4, 1)); err != nil {
		t.Fatal(err)
	}
	releases[0]()
	releases[0]()
	if err := p.Admit(acct, balance, maxCharge-4); err != nil {
		t.Fatalf("after one request charged 4: %v", err)
	}
	if err := p.Admit(acct, balance, maxCharge-3); !errors.Is(err, ErrInsufficientQuota) {
		t.Fatalf("one unit over: %v", err)
	}
	releases[1]()
	releases[2]()
	if got := p.Pending(acct); got != 4 {
		t.Fatalf("pending %d", got)
	}
	if err := p.Admit(acct, balance, balance-4); err != nil {
		t.Fatal(err)
	}
}
