package pool

import (
	"context"
	"runtime"
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
	// res receives the verdict; it has room for it.
	res chan pubsub.ValidationResult
}

// batcher gathers the receipts of the topic validator into batches and
// hands them to its workers.
type batcher struct {
	win     BatchWindow
	in      chan *batchItem
	batches chan []*batchItem
	stop    chan struct{}
	done    chan struct{}
}

// startBatcher starts the collector and the workers of the gossip batch
// window; stopBatcher ends them.
func (p *Pool) startBatcher(win BatchWindow) {
	b := &batcher{
		win: win, in: make(chan *batchItem, 4*win.MaxReceipts), batches: make(chan []*batchItem),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	p.batcher = b
	workers := make(chan struct{}, win.Workers)
	go func() {
		defer close(b.done)
		defer func() {
			for range win.Workers {
				workers <- struct{}{}
			}
		}()
		go func() {
			defer close(b.batches)
			b.collect()
		}()
		for batch := range b.batches {
			workers <- struct{}{}
			go func() {
				defer func() { <-workers }()
				p.admitGossip(batch)
			}()
		}
	}()
}

// stopBatcher verifies what is waiting and waits for the workers.
func (p *Pool) stopBatcher() {
	if p.batcher == nil {
		return
	}
	close(p.batcher.stop)
	<-p.batcher.done
}

// collect gathers items into batches: a batch goes to the workers when it
// is full or MaxDelay after its first item arrived.
func (b *batcher) collect() {
	var pending []*batchItem
	var timer *time.Timer
	var expired <-chan time.Time
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, expired = nil, nil
		}
		if len(pending) > 0 {
			b.batches <- pending
			pending = nil
		}
	}
	for {
		select {
		case it := <-b.in:
			pending = append(pending, it)
			if len(pending) == 1 {
				timer = time.NewTimer(b.win.MaxDelay)
				expired = timer.C
			}
			if len(pending) >= b.win.MaxReceipts {
				flush()
			}
		case <-expired:
			flush()
		case <-b.stop:
			for {
				select {
				case it := <-b.in:
					pending = append(pending, it)
				default:
					flush()
					return
				}
			}
		}
	}
}

// validateBatched is the topic validator when receipts are verified in
// batches: what precheck does not decide waits for its batch's verdict.
func (p *Pool) validateBatched(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	data := m.GetData()
	digest, res, decided := p.precheck(ctx, from, data)
	if decided {
		return res
	}
	it := &batchItem{from: from, data: data, digest: digest, res: make(chan pubsub.ValidationResult, 1)}
	select {
	case p.batcher.in <- it:
	case <-p.batcher.stop:
		return p.stats.ignore(ReasonClosed)
	case <-ctx.Done():
		return p.stats.ignore(ReasonClosed)
	}
	select {
	case res := <-it.res:
		return res
	case <-ctx.Done():
		// The batch still decides, and counts, the receipt; the
		// message is no longer waited for.
		return pubsub.ValidationIgnore
	case <-p.batcher.done:
		select {
		case res := <-it.res:
			return res
		default: // arrived after the last batch
			return p.stats.ignore(ReasonClosed)
		}
	}
}

// admitGossip verifies a batch of gossiped receipts together and stores
// the valid ones in one write, not waited for (as validate does not wait),
// then gives each its verdict.
func (p *Pool) admitGossip(batch []*batchItem) {
	ctx := p.ctx
	envs := make([][]byte, len(batch))
	for i, it := range batch {
		envs[i] = it.data
	}
	rs, verrs := p.cfg.VerifyBatch(ctx, envs)
	entries := make([]Entry, len(batch))
	errs := make([]error, len(batch))
	var w write
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
	for i, it := range batch {
		if verrs[i] != nil {
			it.res <- p.verifyVerdict(it.from, verrs[i])
			continue
		}
		it.res <- p.putVerdict(it.from, rs[i], entries[i], errs[i])
	}
}
