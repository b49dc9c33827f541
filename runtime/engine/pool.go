package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool runs data-parallel loops on a fixed set of worker goroutines. The
// caller's goroutine takes part, so a pool of n threads starts n-1 workers.
// Work is handed out in chunks through an atomic counter; which goroutine
// computes a chunk does not affect its result. Each goroutine taking part in
// a loop has its own index in [0, threads), so that loops can keep scratch
// per worker.
type pool struct {
	threads int
	tasks   chan *task
	free    sync.Pool // *task, for reuse once every holder is done
	wg      sync.WaitGroup
	once    sync.Once
}

type task struct {
	fn      func(worker, lo, hi int)
	n       int
	chunk   int
	next    atomic.Int64
	workers atomic.Int32   // worker indexes handed out; the caller is 0
	done    sync.WaitGroup // one count per chunk
	refs    atomic.Int32   // the caller and each helper it was sent to
}

// release drops one holder's reference to t and recycles t when it was
// the last: a helper may still hold a task whose chunks are all done.
func (p *pool) release(t *task) {
	if t.refs.Add(-1) == 0 {
		t.fn = nil
		p.free.Put(t)
	}
}

// newPool starts a pool of threads threads (< 1 means 1, and more than
// the number of CPUs is allowed).
func newPool(threads int) *pool {
	if threads < 1 {
		threads = 1
	}
	p := &pool{threads: threads, tasks: make(chan *task, threads)}
	for i := 1; i < threads; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for t := range p.tasks {
				t.work(int(t.workers.Add(1)))
				p.release(t)
			}
		}()
	}
	return p
}

// defaultThreads is the thread count used when the config names none.
func defaultThreads() int { return runtime.NumCPU() }

func (t *task) work(worker int) {
	for {
		lo := int(t.next.Add(int64(t.chunk))) - t.chunk
		if lo >= t.n {
			return
		}
		t.fn(worker, lo, min(lo+t.chunk, t.n))
		t.done.Done()
	}
}

// run calls fn over [0, n) split into ranges of at most chunk items (one
// range when the pool has one thread or n fits one chunk) and returns when
// all are done. worker is the index in [0, p.threads) of the
// goroutine making the call; no two calls with the same index run at once
// within one run.
func (p *pool) run(n, chunk int, fn func(worker, lo, hi int)) {
	if chunk < 1 {
		chunk = 1
	}
	chunks := (n + chunk - 1) / chunk
	if p.threads == 1 || chunks <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	// The caller waits for the chunks, not for the helpers: a helper that
	// gets to the task only after the caller has taken every chunk (its
	// core busy elsewhere) finds nothing left and does not delay the loop.
	t, _ := p.free.Get().(*task)
	if t == nil {
		t = new(task)
	}
	helpers := min(p.threads-1, chunks-1)
	t.fn, t.n, t.chunk = fn, n, chunk
	t.next.Store(0)
	t.workers.Store(0)
	t.refs.Store(int32(helpers + 1))
	t.done.Add(chunks)
	for range helpers {
		p.tasks <- t
	}
	t.work(0)
	t.done.Wait()
	p.release(t)
}

// close stops the workers and waits for them.
func (p *pool) close() {
	p.once.Do(func() {
		close(p.tasks)
		p.wg.Wait()
	})
}
