package pool

import (
	"context"
	"runtime"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Defaults of the gossip batch window (Config.GossipBatch).
const (
	// DefaultBatchReceipts is the most receipts verified in one batch.
	DefaultBatchReceipts = 256
	// DefaultBatchDelay is the longest a gossiped receipt waits for its
	// batch to fill.
	DefaultBatchDelay = 10 * time.Millisecond
)

// BatchWindow is how the topic validator gathers gossiped receipts into
// batches (see Config.GossipBatch): a batch is verified and stored once
// it holds MaxReceipts receipts or MaxDelay after its first arrived,
// whichever comes first.
type BatchWindow struct {
	// MaxReceipts is the most receipts in a batch; 0 means
	// DefaultBatchReceipts, 1 turns batching off.
	MaxReceipts int
	// MaxDelay bounds the wait of a batch's first receipt; 0 means
	// DefaultBatchDelay.
	MaxDelay time.Duration
	// Workers is how many batches are verified at once; 0 means
	// GOMAXPROCS.
	Workers int
}

func (w BatchWindow) withDefaults() BatchWindow {
	if w.MaxReceipts == 0 {
		w.MaxReceipts = DefaultBatchReceipts
	}
	if w.MaxDelay <= 0 {
		w.MaxDelay = DefaultBatchDelay
	}
	if w.Workers <= 0 {
		w.Workers = runtime.GOMAXPROCS(0)
	}
	return w
}

// batchItem is a gossiped receipt waiting for its batch.
type batchItem struct {
	from   peer.ID
	data   []byte
	digest [32]byte
}

// gossipBatch is a batch of gossiped receipts: its validators wait for
// done to close, then read their verdicts from res.
type gossipBatch struct {
	items []batchItem
	res   []pubsub.ValidationResult
	done  chan struct{}
	timer *time.Timer
}

// batcher gathers the receipts of the topic validator into batches and
// hands them to its workers. The validators add their receipts to the
// open batch themselves: no goroutine or channel per receipt, one channel
// per batch, which every validator of the batch waits on.
type batcher struct {
	win     BatchWindow
	batches chan *gossipBatch
	done    chan struct{}

	mu      sync.Mutex
	cur     *gossipBatch // the open batch; nil when none
	stopped bool
	// validators is how many goroutines run the validator (the router's
	// validation workers, when it runs inline; see setValidators); 0
	// when unbounded (asynchronous validation).
	validators int
	// parked counts the receipts in batches not yet decided: the open
	// one, those waiting for a worker and those being verified. When it
	// reaches validators, no validator is left to add to the open batch,
	// which then closes at once rather than waiting out the window.
	parked int
	// sending counts the batches closed and not yet handed to the
	// workers.
	sending sync.WaitGroup
}

// startBatcher starts the workers of the gossip batch window; stopBatcher
// ends them.
func (p *Pool) startBatcher(win BatchWindow) {
	b := &batcher{win: win, batches: make(chan *gossipBatch), done: make(chan struct{})}
	p.batcher = b
	var workers sync.WaitGroup
	for range win.Workers {
		workers.Go(func() {
			for batch := range b.batches {
				p.admitGossip(batch)
			}
		})
	}
	go func() {
		workers.Wait()
		close(b.done)
	}()
}

// stopBatcher verifies what is waiting and waits for the workers.
func (p *Pool) stopBatcher() {
	b := p.batcher
	if b == nil {
		return
	}
	b.mu.Lock()
	b.stopped = true
	last := b.closeLocked()
	b.mu.Unlock()
	b.send(last)
	b.sending.Wait()
	close(b.batches)
	<-b.done
}

// setValidators bounds the goroutines that run the validator at n (the
// router's validation workers); it is called before the validator is
// registered.
func (b *batcher) setValidators(n int) {
	b.mu.Lock()
	b.validators = n
	b.mu.Unlock()
}

// decided ends the parking of a decided batch's receipts.
func (b *batcher) decided(batch *gossipBatch) {
	b.mu.Lock()
	b.parked -= len(batch.items)
	b.mu.Unlock()
}

// add adds it to the open batch, opening one if needed, and returns the
// batch and the receipt's place in it; ok is false once the batcher is
// stopped. It sends the batch to the workers when it is full, or when
// every validator waits in a batch.
func (b *batcher) add(it batchItem) (batch *gossipBatch, i int, ok bool) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil, 0, false
	}
	batch = b.cur
	if batch == nil {
		batch = &gossipBatch{items: make([]batchItem, 0, b.win.MaxReceipts), done: make(chan struct{})}
		b.cur = batch
		batch.timer = time.AfterFunc(b.win.MaxDelay, func() { b.expire(batch) })
	}
	i = len(batch.items)
	batch.items = append(batch.items, it)
	b.parked++
	var full *gossipBatch
	if len(batch.items) >= b.win.MaxReceipts || (b.validators > 0 && b.parked >= b.validators) {
		full = b.closeLocked()
	}
	b.mu.Unlock()
	b.send(full)
	return batch, i, true
}

// expire sends batch to the workers MaxDelay after it opened, unless it
// went already.
func (b *batcher) expire(batch *gossipBatch) {
	b.mu.Lock()
	var due *gossipBatch
	if b.cur == batch {
		due = b.closeLocked()
	}
	b.mu.Unlock()
	b.send(due)
}

// closeLocked detaches the open batch (nil when none) for send; b.mu is
// held.
func (b *batcher) closeLocked() *gossipBatch {
	batch := b.cur
	if batch == nil {
		return nil
	}
	b.cur = nil
	batch.timer.Stop()
	b.sending.Add(1)
	return batch
}

// send hands a batch closed by closeLocked to the workers; nil is no
// batch.
func (b *batcher) send(batch *gossipBatch) {
	if batch == nil {
		return
	}
	b.batches <- batch
	b.sending.Done()
}

// validateBatched is the topic validator when receipts are verified in
// batches: what precheck does not decide waits for its batch's verdict.
// It runs in the goroutine pubsub starts for an asynchronous validator,
// or inline in one of the router's validation workers (WorkersHost).
func (p *Pool) validateBatched(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	data := m.GetData()
	digest, res, decided := p.precheck(ctx, from, data, p.digestOf(m))
	if decided {
		return res
	}
	batch, i, ok := p.batcher.add(batchItem{from: from, data: data, digest: digest})
	if !ok {
		return p.stats.ignore(ReasonClosed)
	}
	select {
	case <-batch.done:
		return batch.res[i]
	case <-ctx.Done():
		// The batch still decides, and counts, the receipt; the
		// message is no longer waited for.
		return pubsub.ValidationIgnore
	}
}

// admitGossip verifies a batch of gossiped receipts together and stores
// the valid ones in one write, not waited for (as validate does not wait),
// then gives each its verdict.
func (p *Pool) admitGossip(gb *gossipBatch) {
	ctx := p.ctx
	batch := gb.items
	envs := make([][]byte, len(batch))
	for i, it := range batch {
		envs[i] = it.data
	}
	rs, verrs := p.cfg.VerifyBatch(ctx, envs)
	entries := make([]Entry, len(batch))
	errs := make([]error, len(batch))
	w := write{kvs: make([]kv, 0, 4*len(batch))}
	p.mu.Lock()
	for i, it := range batch {
		switch {
		case verrs[i] != nil:
		case p.closed.Load():
			errs[i] = ErrClosed
		default:
			entries[i], errs[i] = p.putLocked(ctx, rs[i], it.data, it.digest, false, &w)
		}
	}
	if len(w.kvs) > 0 {
		p.enqueue(w)
	}
	p.mu.Unlock()
	gb.res = make([]pubsub.ValidationResult, len(batch))
	for i, it := range batch {
		if verrs[i] != nil {
			gb.res[i] = p.verifyVerdict(it.from, verrs[i])
			continue
		}
		gb.res[i] = p.putVerdict(it.from, rs[i], entries[i], errs[i])
	}
	p.batcher.decided(gb)
	close(gb.done)
}
