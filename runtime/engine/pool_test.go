package engine

import (
	"sync/atomic"
	"testing"
)

// TestPoolRun checks that run covers [0, n) once, in chunks of at most
// chunk items (one range on one thread), and that the worker indexes stay in [0, threads) with no two
// calls under one index at the same time (what per-worker scratch needs).
func TestPoolRun(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 5} {
		p := newPool(threads)
		for _, c := range []struct{ n, chunk int }{{0, 1}, {1, 1}, {7, 3}, {1000, 1}, {1000, 64}} {
			seen := make([]atomic.Int32, c.n)
			busy := make([]atomic.Int32, threads)
			var bad atomic.Int32
			p.run(c.n, c.chunk, func(worker, lo, hi int) {
				if worker < 0 || worker >= threads || (threads > 1 && hi-lo > c.chunk) || lo >= hi {
					bad.Add(1)
					return
				}
				if busy[worker].Add(1) != 1 {
					bad.Add(1)
				}
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
				busy[worker].Add(-1)
			})
			if bad.Load() != 0 {
				t.Errorf("threads %d n %d chunk %d: %d calls with a bad range or a shared worker index", threads, c.n, c.chunk, bad.Load())
			}
			for i := range seen {
				if v := seen[i].Load(); v != 1 {
					t.Fatalf("threads %d n %d chunk %d: item %d done %d times", threads, c.n, c.chunk, i, v)
				}
			}
		}
		p.close()
	}
}

// TestPoolRunAllocs checks that a loop allocates nothing once the pool
// has a task to reuse, when its function value is made once.
func TestPoolRunAllocs(t *testing.T) {
	for _, threads := range []int{1, 2, 4} {
		p := newPool(threads)
		var sum atomic.Int64
		fn := func(_, lo, hi int) { sum.Add(int64(hi - lo)) }
		p.run(64, 4, fn)
		if a := testing.AllocsPerRun(100, func() { p.run(64, 4, fn) }); a != 0 {
			t.Errorf("threads %d: %v allocations per run, want 0", threads, a)
		}
		if got := sum.Load(); got != 64*102 {
			t.Errorf("threads %d: %d items done, want %d", threads, got, 64*102)
		}
		p.close()
	}
}
