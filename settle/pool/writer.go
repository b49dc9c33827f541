package pool

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// maxBatchKeys bounds the keys of one group commit.
const maxBatchKeys = 8192

// kv is one datastore write.
type kv struct {
	k ds.Key
	v []byte
}

// write is a unit of the writer's work: keys to put, the in-flight ids
// they make durable, and, when someone waits, the channel that gets the
// commit's result. A write without keys is a barrier (flush).
type write struct {
	kvs     []kv
	ids     []ID
	digests [][32]byte
	done    chan error
}

// writer commits the queued writes, as many as are waiting in one batch:
// one sync of the write-ahead log is shared by all of them. It runs until
// stopWriter is closed and the queue is empty.
func (p *Pool) writer() {
	defer close(p.writerDone)
	for {
		var first write
		select {
		case first = <-p.writes:
		case <-p.stopWriter:
			for {
				select {
				case w := <-p.writes:
					p.commit([]write{w})
				default:
					return
				}
			}
		}
		batch, n := []write{first}, len(first.kvs)
	collect:
		for n < maxBatchKeys {
			select {
			case w := <-p.writes:
				batch = append(batch, w)
				n += len(w.kvs)
			default:
				break collect
			}
		}
		p.commit(batch)
	}
}

// commit writes batch in one datastore batch, then clears its ids from the
// in-flight set and tells the waiters. A failed commit is logged: the
// receipts are lost from this node (their pending spend stays counted,
// which errs on the side of refusing).
func (p *Pool) commit(batch []write) {
	err := p.commitKVs(batch)
	if err != nil {
		p.log.Error("persisting receipts failed", "count", len(batch), "err", err)
	}
	p.flightMu.Lock()
	for _, w := range batch {
		for _, id := range w.ids {
			delete(p.flight, id)
			if err != nil {
				delete(p.knownIDs, id)
			}
		}
		for _, d := range w.digests {
			delete(p.flightDigests, d)
			if err != nil {
				delete(p.knownDigests, d)
			}
		}
	}
	p.flightMu.Unlock()
	for _, w := range batch {
		if w.done != nil {
			w.done <- err
		}
	}
}

func (p *Pool) commitKVs(batch []write) error {
	n := 0
	for _, w := range batch {
		n += len(w.kvs)
	}
	if n == 0 {
		return nil
	}
	ctx := context.Background()
	b, err := p.store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	// In key order: pebble inserts each key into its memtable starting
	// from where the previous one went, so ordered keys are found with
	// fewer comparisons. A key written twice keeps its last value: ties
	// keep their order.
	type put struct {
		kv
		seq int
	}
	puts := make([]put, 0, n)
	for _, w := range batch {
		for _, x := range w.kvs {
			puts = append(puts, put{x, len(puts)})
		}
	}
	slices.SortFunc(puts, func(a, b put) int {
		if c := strings.Compare(a.k.String(), b.k.String()); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, x := range puts {
		if err := b.Put(ctx, x.k, x.v); err != nil {
			return fmt.Errorf("pool: %w", err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("pool: committing receipts: %w", err)
	}
	return nil
}

// enqueue hands w to the writer; p.mu is held and the pool is open, so the
// writer is running. It may block while the queue is full: the writer
// never takes p.mu.
func (p *Pool) enqueue(w write) { p.writes <- w }

// flush waits until every write queued before it is committed.
func (p *Pool) flush(ctx context.Context) error {
	done := make(chan error, 1)
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil // Close flushed everything
	}
	p.enqueue(write{done: done})
	p.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seenDigest reports whether the pool holds, or is writing, the envelope
// with this digest (as a receipt or as evidence).
func (p *Pool) seenDigest(ctx context.Context, d [32]byte) (bool, error) {
	p.flightMu.Lock()
	_, ok := p.flightDigests[d]
	_, known := p.knownDigests[d]
	p.flightMu.Unlock()
	return ok || known, nil
}

// wait waits for a write's commit.
func wait(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loadKnown fills the sets of known ids (with their epochs) and digests
// from the datastore, and sums the unsettled charges per account and
// session key: one pass over the entries, keys only over the evidence.
func (p *Pool) loadKnown(ctx context.Context) error {
	res, err := p.store.Query(ctx, dsq.Query{Prefix: p.keys.entries()})
	if err != nil {
		return fmt.Errorf("pool: reading receipts: %w", err)
	}
	for r := range res.Next() {
		if r.Error != nil {
			res.Close()
			return fmt.Errorf("pool: reading receipts: %w", r.Error)
		}
		e, err := decodeEntry(r.Value)
		if err != nil {
			p.log.Warn("skipping corrupt receipt entry", "key", hex.EncodeToString([]byte(r.Key)), "err", err)
			continue
		}
		p.knownIDs[e.ID] = e.Epoch
		p.knownDigests[e.Digest] = struct{}{}
		if !e.Settled {
			p.pend(e)
		}
	}
	res.Close()
	res, err = p.store.Query(ctx, dsq.Query{Prefix: p.keys.prefix + "/e", KeysOnly: true})
	if err != nil {
		return fmt.Errorf("pool: reading evidence: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("pool: reading evidence: %w", r.Error)
		}
		b, err := hex.DecodeString(path.Base(r.Key))
		if err != nil || len(b) != 32 {
			continue
		}
		p.knownDigests[[32]byte(b)] = struct{}{}
	}
	return nil
}
