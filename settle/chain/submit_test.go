package chain

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
)

// fakeChain is the chain as the submitter sees it: a height, the ids
// included, the account's nonce, and the txs broadcast to it.
type fakeChain struct {
	mu       sync.Mutex
	height   int64
	included map[[32]byte]bool
	nonce    uint64
	refuse   bool
	sent     [][][]byte // envelopes of each SubmitReceipts tx
	nonces   []uint64
}

func (c *fakeChain) Height() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.height }

func (c *fakeChain) ReceiptIncluded(_ context.Context, id [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.included[id]
}

func (c *fakeChain) Account(context.Context, string) (ledger.Account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ledger.Account{Nonce: c.nonce}, nil
}

func (c *fakeChain) BroadcastTx(_ context.Context, b []byte) (uint32, string, error) {
	t, err := tx.Open(b)
	if err != nil {
		return 0, "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return 3, "bad nonce", nil
	}
	body, ok := t.Tx.Body.(tx.SubmitReceipts)
	if !ok {
		return 0, "", errors.New("not a SubmitReceipts")
	}
	c.sent = append(c.sent, body.Envelopes)
	c.nonces = append(c.nonces, t.Tx.Nonce)
	return 0, "", nil
}

func (c *fakeChain) sentEnvelopes() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, b := range c.sent {
		out = append(out, b...)
	}
	return out
}

// memStore is a receipt store in memory; a receipt's id is the SHA-256 of
// its envelope here.
type memStore struct {
	mu      sync.Mutex
	envs    map[[32]byte][]byte
	settled map[[32]byte]bool
	fail    int // Envelope calls that fail before the store answers again
}

func newMemStore() *memStore {
	return &memStore{envs: map[[32]byte][]byte{}, settled: map[[32]byte]bool{}}
}

func (m *memStore) put(env string) [32]byte {
	id := sha256.Sum256([]byte(env))
	m.mu.Lock()
	m.envs[id] = []byte(env)
	m.mu.Unlock()
	return id
}

func (m *memStore) Envelope(_ context.Context, id [32]byte) ([]byte, bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return nil, false, false, errors.New("store unavailable")
	}
	e, ok := m.envs[id]
	return e, m.settled[id], ok, nil
}

func (m *memStore) MarkSettled(_ context.Context, ids [][32]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		m.settled[id] = true
	}
	return nil
}

func (m *memStore) Unsettled(_ context.Context, fn func([32]byte) bool) error {
	m.mu.Lock()
	var ids [][32]byte
	for id := range m.envs {
		if !m.settled[id] {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		if !fn(id) {
			break
		}
	}
	return nil
}

func (m *memStore) isSettled(id [32]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settled[id]
}

func newTestSubmitter(t *testing.T, c *fakeChain, store ReceiptStore) *Submitter {
	t.Helper()
	sk, _ := testkeys.New(t)
	s, err := NewSubmitter(c, c, sk)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, store) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// block advances the fake chain one block and tells the submitter.
func (c *fakeChain) block(s *Submitter, included ...[32]byte) {
	c.mu.Lock()
	c.height++
	h := c.height
	for _, id := range included {
		c.included[id] = true
	}
	c.mu.Unlock()
	s.OnBlock(BlockInfo{Height: h, Included: included})
}

// TestSubmitterOwnReceiptsNextBlock: the node's own receipts go out with
// the next block, once, at consecutive nonces; included ones are settled.
func TestSubmitterOwnReceiptsNextBlock(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}, nonce: 7}
	store := newMemStore()
	s := newTestSubmitter(t, c, store)
	a, b := store.put("a"), store.put("b")
	s.Add(a, []byte("a"), true)
	s.Add(b, []byte("b"), true)
	c.block(s)
	testwait.For(t, "the first submission", 10*time.Second, func() bool { return len(c.sentEnvelopes()) == 2 })
	c.block(s, a, b)
	testwait.For(t, "settled", 10*time.Second, func() bool { return store.isSettled(a) && store.isSettled(b) })
	c.block(s)
	c.block(s)
	c.block(s)
	c.block(s)
	testwait.For(t, "block 6 handled", 10*time.Second, func() bool { return s.Stats().Height == 6 })
	if got := c.sentEnvelopes(); len(got) != 2 {
		t.Fatalf("submitted %d envelopes, want 2 once", len(got))
	}
	if c.nonces[0] != 8 {
		t.Fatalf("first nonce %d, want 8", c.nonces[0])
	}
	if st := s.Stats(); st.Submitted != 2 || st.Resubmitted != 0 || st.TxsSent != 1 || st.Included != 2 || st.Height != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSubmitterResubmitsOverdue: a receipt heard by gossip is submitted
// when still not included ResubmitAfter blocks after it was seen, and not
// before.
func TestSubmitterResubmitsOverdue(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}}
	store := newMemStore()
	s := newTestSubmitter(t, c, store)
	id := store.put("gossiped")
	s.Add(id, []byte("gossiped"), false)
	for range ResubmitAfter - 1 {
		c.block(s)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(c.sentEnvelopes()); n != 0 {
		t.Fatalf("submitted %d before it was overdue", n)
	}
	c.block(s)
	testwait.For(t, "the overdue receipt submitted", 10*time.Second, func() bool { return len(c.sentEnvelopes()) == 1 })
}

// TestSubmitterRetriesAfterStoreError: an overdue receipt the store fails
// to read is kept and submitted once the store answers again.
func TestSubmitterRetriesAfterStoreError(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}}
	store := newMemStore()
	s := newTestSubmitter(t, c, store)
	id := store.put("gossiped")
	s.Add(id, []byte("gossiped"), false)
	store.mu.Lock()
	store.fail = 1
	store.mu.Unlock()
	for range ResubmitAfter {
		c.block(s)
	}
	testwait.For(t, "the failed read", 10*time.Second, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.fail == 0
	})
	c.block(s)
	testwait.For(t, "the receipt submitted after the store recovered", 10*time.Second, func() bool { return len(c.sentEnvelopes()) == 1 })
}

// TestSubmitterTakesUpUnsettledAtStart: what the store holds unsettled
// when the submitter starts is submitted with the first block; a receipt
// already included (its block event lost) is settled, not submitted.
func TestSubmitterTakesUpUnsettledAtStart(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}, height: 10}
	store := newMemStore()
	store.put("held across a crash")
	done := store.put("included before the crash")
	c.included[done] = true
	s := newTestSubmitter(t, c, store)
	c.block(s)
	testwait.For(t, "the held receipt submitted", 10*time.Second, func() bool {
		return slices.ContainsFunc(c.sentEnvelopes(), func(e []byte) bool { return string(e) == "held across a crash" })
	})
	testwait.For(t, "the included one settled", 10*time.Second, func() bool { return store.isSettled(done) })
	if len(c.sentEnvelopes()) != 1 {
		t.Fatalf("submitted %d envelopes, want only the held one", len(c.sentEnvelopes()))
	}
}

// TestSubmitterEventsInOrder: many block events queued while the
// submitter is busy are all handled: refused receipts are settled too.
func TestSubmitterEventsInOrder(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}}
	store := newMemStore()
	sk, _ := testkeys.New(t)
	s, err := NewSubmitter(c, c, sk)
	if err != nil {
		t.Fatal(err)
	}
	var ids [][32]byte
	for i := range 500 {
		id := store.put(string(rune('a'+i%26)) + string(rune(i)))
		ids = append(ids, id)
		s.OnBlock(BlockInfo{Height: int64(i + 1), Refused: map[[32]byte]ledger.Code{id: ledger.CodeBadCharge}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, store)
	testwait.For(t, "every refused receipt settled", 10*time.Second, func() bool {
		return !slices.ContainsFunc(ids, func(id [32]byte) bool { return !store.isSettled(id) })
	})
	if st := s.Stats(); st.Refused[ledger.CodeBadCharge] != 500 || st.Height != 500 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSubmitterRereadsNonceAfterRefusal: a tx refused in CheckTx makes the
// next one read the account's nonce from the chain again.
func TestSubmitterRereadsNonceAfterRefusal(t *testing.T) {
	c := &fakeChain{included: map[[32]byte]bool{}, nonce: 3, refuse: true}
	store := newMemStore()
	s := newTestSubmitter(t, c, store)
	s.Add(store.put("x"), []byte("x"), true)
	c.block(s)
	time.Sleep(20 * time.Millisecond)
	c.mu.Lock()
	c.refuse, c.nonce = false, 9
	c.mu.Unlock()
	c.block(s) // not overdue yet: waits ResubmitAfter blocks
	c.block(s)
	c.block(s)
	c.block(s)
	testwait.For(t, "the resubmission", 10*time.Second, func() bool { return len(c.sentEnvelopes()) == 1 })
	if c.nonces[0] != 10 {
		t.Fatalf("nonce %d after a refusal, want the chain's 9 + 1", c.nonces[0])
	}
}
