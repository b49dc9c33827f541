package store

import (
	"context"
	"fmt"
	"path"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	dsq "github.com/ipfs/go-datastore/query"
)

// iterOpener is the iterator side shared by *pebble.DB, *pebble.Batch
// (indexed) and *pebble.Snapshot.
type iterOpener interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// prefixBounds returns the iterator bounds selecting the strict children of
// prefix, cleaned the way query.NaiveQueryApply cleans it: "/foo" selects
// "/foo/bar" but neither "/foo" nor "/foobar". Nil bounds select everything.
func prefixBounds(prefix string) (lower, upper []byte) {
	if prefix == "" {
		return nil, nil
	}
	if prefix[0] != '/' {
		prefix = "/" + prefix
	}
	prefix = path.Clean(prefix)
	if prefix == "/" {
		return nil, nil
	}
	// '0' is the byte after '/', so [p/, p0) holds exactly the keys
	// starting with p/.
	return []byte(prefix + "/"), []byte(prefix + "0")
}

// keyOrder reports whether orders is satisfied by walking keys in
// ascending (desc false) or descending order. Keys are unique, so only the
// first order matters when it is by key.
func keyOrder(orders []dsq.Order) (desc, ok bool) {
	if len(orders) == 0 {
		return false, true
	}
	switch orders[0].(type) {
	case dsq.OrderByKey, *dsq.OrderByKey:
		return false, true
	case dsq.OrderByKeyDescending, *dsq.OrderByKeyDescending:
		return true, true
	}
	return false, false
}

// runQuery executes q over an iterator from src, using qi for the
// iteration state; qi.mu and qi.untrack must be set.
//
// The prefix becomes iterator bounds and filters run as entries are read.
// When the order is by key (or absent) the iterator already yields the
// requested order, so offset and limit are applied while streaming and
// nothing is buffered. Any other order is handed to query.NaiveQueryApply,
// which sorts in memory. Filters and orders see values even for KeysOnly
// queries; KeysOnly only drops them from the results.
func runQuery(ctx context.Context, q dsq.Query, src iterOpener, qi *queryIter) (dsq.Results, error) {
	lower, upper := prefixBounds(q.Prefix)
	desc, native := keyOrder(q.Orders)
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	qi.it = it
	qi.ctx = ctx
	qi.filters = q.Filters
	qi.desc = desc
	qi.returnSizes = q.ReturnsSizes
	if native {
		qi.offset = q.Offset
		qi.limit = q.Limit
		qi.loadValue = !q.KeysOnly || len(q.Filters) > 0
		qi.stripValue = q.KeysOnly
		return dsq.ResultsFromIterator(q, dsq.Iterator{Next: qi.next, Close: qi.close}), nil
	}
	qi.loadValue = true
	base := dsq.ResultsFromIterator(q, dsq.Iterator{Next: qi.next, Close: qi.close})
	// NaiveQueryApply sorts as soon as it is called; defer it to the first
	// read so that Query itself does no work while its caller holds locks.
	var rest dsq.Results
	return dsq.ResultsFromIterator(q, dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			if rest == nil {
				rest = dsq.NaiveQueryApply(dsq.Query{Orders: q.Orders, Offset: q.Offset, Limit: q.Limit}, base)
			}
			r, ok := rest.NextSync()
			if q.KeysOnly {
				r.Value = nil
			}
			return r, ok
		},
		Close: func() error {
			if rest == nil {
				return base.Close()
			}
			return rest.Close()
		},
	}), nil
}

// queryIter streams the entries of one query from a pebble iterator.
type queryIter struct {
	// mu guards every field below and serializes use of it. Queries in a
	// read-write transaction share the transaction's mutex, because the
	// iterator reads the transaction's batch.
	mu *sync.Mutex
	// untrack removes the query from its owners' registries; it runs with
	// mu held.
	untrack func()

	it          *pebble.Iterator // nil once released
	reason      error            // reported once by next after a forced release
	done        bool
	started     bool
	ctx         context.Context
	filters     []dsq.Filter
	desc        bool
	loadValue   bool
	stripValue  bool
	returnSizes bool
	offset      int // entries still to skip
	limit       int // 0: no limit
	emitted     int
}

func (qi *queryIter) advance() bool {
	switch {
	case !qi.started:
		qi.started = true
		if qi.desc {
			return qi.it.Last()
		}
		return qi.it.First()
	case qi.desc:
		return qi.it.Prev()
	default:
		return qi.it.Next()
	}
}

// next implements dsq.Iterator.Next.
func (qi *queryIter) next() (dsq.Result, bool) {
	qi.mu.Lock()
	defer qi.mu.Unlock()
	if qi.done {
		return dsq.Result{}, false
	}
	if qi.it == nil {
		qi.done = true
		if qi.reason != nil {
			return dsq.Result{Error: qi.reason}, true
		}
		return dsq.Result{}, false
	}
	if qi.limit > 0 && qi.emitted >= qi.limit {
		qi.done = true
		return dsq.Result{}, false
	}
	for {
		if err := qi.ctx.Err(); err != nil {
			qi.done = true
			return dsq.Result{Error: err}, true
		}
		if !qi.advance() {
			qi.done = true
			if err := qi.it.Error(); err != nil {
				return dsq.Result{Error: fmt.Errorf("store: query: %w", err)}, true
			}
			return dsq.Result{}, false
		}
		e := dsq.Entry{Key: string(qi.it.Key()), Size: -1}
		if qi.loadValue {
			v, err := qi.it.ValueAndErr()
			if err != nil {
				qi.done = true
				return dsq.Result{Error: fmt.Errorf("store: query: read %s: %w", e.Key, err)}, true
			}
			e.Value = make([]byte, len(v))
			copy(e.Value, v)
			e.Size = len(v)
		} else if qi.returnSizes {
			lv := qi.it.LazyValue()
			e.Size = lv.Len()
		}
		if !passes(qi.filters, e) {
			continue
		}
		if qi.offset > 0 {
			qi.offset--
			continue
		}
		if qi.stripValue {
			e.Value = nil
		}
		qi.emitted++
		return dsq.Result{Entry: e}, true
	}
}

func passes(filters []dsq.Filter, e dsq.Entry) bool {
	for _, f := range filters {
		if !f.Filter(e) {
			return false
		}
	}
	return true
}

// close implements dsq.Iterator.Close; it may be called more than once.
func (qi *queryIter) close() error {
	qi.mu.Lock()
	defer qi.mu.Unlock()
	return qi.releaseLocked(nil)
}

// release implements releaser: it frees the iterator, and the next call to
// next reports reason.
func (qi *queryIter) release(reason error) {
	qi.mu.Lock()
	defer qi.mu.Unlock()
	_ = qi.releaseLocked(reason)
}

func (qi *queryIter) releaseLocked(reason error) error {
	if qi.it == nil {
		return nil
	}
	err := qi.it.Close()
	qi.it = nil
	qi.reason = reason
	qi.untrack()
	if err != nil {
		return fmt.Errorf("store: query: %w", err)
	}
	return nil
}
