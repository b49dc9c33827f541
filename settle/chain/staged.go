package chain

import (
	"context"
	"sync"

	ds "github.com/ipfs/go-datastore"
)

// staged is the application's datastore: writes (batched or not) are held
// in memory until flush. The ledger writes a block's state at the end of
// FinalizeBlock; the application makes it durable only in Commit, after
// CometBFT has saved the block's results, so that a crash in between
// leaves the state of the last committed block and CometBFT replays the
// block on restart. Reads see the last flushed state.
type staged struct {
	ds.Batching
	mu  sync.Mutex
	ops []stagedOp
}

type stagedOp struct {
	key ds.Key
	val []byte // nil: delete
}

func (s *staged) Put(_ context.Context, k ds.Key, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, stagedOp{k, append([]byte{}, v...)})
	return nil
}

func (s *staged) Delete(_ context.Context, k ds.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, stagedOp{key: k})
	return nil
}

func (s *staged) Batch(context.Context) (ds.Batch, error) { return &stagedBatch{s: s}, nil }

// flush writes the held operations in one batch of the underlying store.
func (s *staged) flush(ctx context.Context) error {
	s.mu.Lock()
	ops := s.ops
	s.ops = nil
	s.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	b, err := s.Batching.Batch(ctx)
	if err != nil {
		return err
	}
	for _, o := range ops {
		if o.val == nil {
			err = b.Delete(ctx, o.key)
		} else {
			err = b.Put(ctx, o.key, o.val)
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

// discard drops the held operations.
func (s *staged) discard() {
	s.mu.Lock()
	s.ops = nil
	s.mu.Unlock()
}

type stagedBatch struct {
	s   *staged
	ops []stagedOp
}

func (b *stagedBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.ops = append(b.ops, stagedOp{k, append([]byte{}, v...)})
	return nil
}

func (b *stagedBatch) Delete(_ context.Context, k ds.Key) error {
	b.ops = append(b.ops, stagedOp{key: k})
	return nil
}

func (b *stagedBatch) Commit(context.Context) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.s.ops = append(b.s.ops, b.ops...)
	b.ops = nil
	return nil
}
