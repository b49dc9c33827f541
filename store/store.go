// Package store provides the node's go-datastore backends.
//
// The durable backend is [Pebble], a go-datastore adapter over a pebble v2
// database opened with [OpenPebble]. It implements [ds.Batching],
// [ds.PersistentDatastore] and [ds.TxnDatastore]. [NewMemory] returns a
// goroutine-safe in-memory datastore for tests.
//
// Keys are stored as the bytes of their go-datastore string form, so pebble's
// byte order is the key order of the datastore: a query ordered by key (or
// not ordered at all) streams straight from a pebble iterator and never holds
// the whole result set in memory.
package store

import (
	"errors"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// Errors returned by the pebble datastore.
var (
	// ErrClosed is returned by every operation on a [Pebble] datastore, and
	// on its batches, transactions and query results, once it is closed.
	ErrClosed = errors.New("store: closed")
	// ErrReadOnly is returned by writes to a datastore opened with
	// [WithReadOnly] and by writes to a read-only transaction.
	ErrReadOnly = errors.New("store: read-only")
	// ErrBatchDone is returned by a batch used after Commit.
	ErrBatchDone = errors.New("store: batch already committed")
	// ErrTxnDone is returned by a transaction used after Commit or Discard.
	ErrTxnDone = errors.New("store: transaction already committed or discarded")
)

// NewMemory returns an empty in-memory datastore that is safe for concurrent
// use. It is meant for tests; nothing survives the process.
func NewMemory() ds.Batching {
	return dssync.MutexWrap(ds.NewMapDatastore())
}
