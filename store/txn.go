package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// NewTransaction starts a transaction.
//
// A read-write transaction buffers its writes in a pebble indexed batch:
// its reads see its own writes layered over the live database, and Commit
// applies the writes atomically and syncs them to disk. It is not isolated:
// its reads also see writes committed by others after it started, and Commit
// does not detect conflicting writes (the last commit wins).
//
// A read-only transaction reads from a pebble snapshot taken when it starts,
// so all its reads see one consistent state; its writes return [ErrReadOnly].
//
// Every transaction must end with Commit or Discard, which release its
// batch or snapshot and close its open query results. Discard after Commit
// does nothing. A transaction's methods are safe for concurrent use.
func (s *Pebble) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	t := &txn{s: s, readOnly: readOnly, queries: make(map[*queryIter]struct{})}
	if readOnly {
		t.snap = s.db.NewSnapshot()
	} else {
		t.batch = s.db.NewIndexedBatch()
	}
	s.track(t)
	return t, nil
}

// txn is a ds.Txn over a pebble indexed batch or snapshot.
type txn struct {
	s        *Pebble
	readOnly bool

	// mu guards the fields below, the batch contents and the transaction's
	// query iterators, which share it.
	mu      sync.Mutex
	batch   *pebble.Batch    // read-write transactions
	snap    *pebble.Snapshot // read-only transactions
	reason  error            // non-nil once finished: what later calls return
	queries map[*queryIter]struct{}
}

var _ ds.Txn = (*txn)(nil)

// view is where the transaction reads from.
type view interface {
	getter
	iterOpener
}

func (t *txn) view() view {
	if t.readOnly {
		return t.snap
	}
	return t.batch
}

// begin locks t and the store for an operation. On success the caller must
// call t.end.
func (t *txn) begin() error {
	t.mu.Lock()
	if t.reason != nil {
		t.mu.Unlock()
		return t.reason
	}
	if err := t.s.rlock(); err != nil {
		t.mu.Unlock()
		return err
	}
	return nil
}

func (t *txn) end() {
	t.s.mu.RUnlock()
	t.mu.Unlock()
}

func (t *txn) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	defer t.end()
	return get(t.view(), key)
}

func (t *txn) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := t.begin(); err != nil {
		return false, err
	}
	defer t.end()
	return has(t.view(), key)
}

func (t *txn) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := t.begin(); err != nil {
		return -1, err
	}
	defer t.end()
	return size(t.view(), key)
}

// Query runs q over the transaction's view: for a read-write transaction,
// its writes made before the call layered over the database.
func (t *txn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	defer t.end()
	qi := &queryIter{mu: &t.mu}
	qi.untrack = func() {
		delete(t.queries, qi)
		t.s.untrack(qi)
	}
	res, err := runQuery(ctx, q, t.view(), qi)
	if err != nil {
		return nil, err
	}
	t.queries[qi] = struct{}{}
	t.s.track(qi)
	return res, nil
}

func (t *txn) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := t.begin(); err != nil {
		return err
	}
	defer t.end()
	if t.readOnly || t.s.readOnly {
		return ErrReadOnly
	}
	return t.batch.Set(key.Bytes(), value, nil)
}

func (t *txn) Delete(ctx context.Context, key ds.Key) error {
	if err := t.begin(); err != nil {
		return err
	}
	defer t.end()
	if t.readOnly || t.s.readOnly {
		return ErrReadOnly
	}
	return t.batch.Delete(key.Bytes(), nil)
}

// Commit applies the transaction's writes atomically and syncs them.
func (t *txn) Commit(ctx context.Context) error {
	if err := t.begin(); err != nil {
		return err
	}
	defer t.end()
	var err error
	if !t.readOnly && !t.batch.Empty() {
		// Open iterators read the batch; close them before it is applied.
		t.releaseQueriesLocked(ErrTxnDone)
		if err = t.batch.Commit(pebble.Sync); err != nil {
			err = fmt.Errorf("store: commit transaction: %w", err)
		}
	}
	t.finishLocked(ErrTxnDone)
	return err
}

// Discard drops the transaction's writes. It does nothing after Commit.
func (t *txn) Discard(ctx context.Context) {
	if err := t.begin(); err != nil {
		return // finished already, or the store's Close releases it
	}
	defer t.end()
	t.finishLocked(ErrTxnDone)
}

// release implements releaser; the store calls it on Close.
func (t *txn) release(reason error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reason != nil {
		return
	}
	t.finishLocked(reason)
}

// finishLocked closes the queries, batch and snapshot; later calls return
// reason. t.mu must be held and the database must still be open.
func (t *txn) finishLocked(reason error) {
	t.releaseQueriesLocked(reason)
	if t.batch != nil {
		_ = t.batch.Close()
		t.batch = nil
	}
	if t.snap != nil {
		_ = t.snap.Close()
		t.snap = nil
	}
	t.reason = reason
	t.s.untrack(t)
}

func (t *txn) releaseQueriesLocked(reason error) {
	for qi := range t.queries {
		_ = qi.releaseLocked(reason) // removes qi from t.queries
	}
}
