package consensus

import (
	"log/slog"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
)

// closeWait bounds how long closing the databases waits for the calls in
// flight (an iterator left open would otherwise hold Stop forever).
const closeWait = 10 * time.Second

// dbGroup guards the databases of one CometBFT node against use after
// close.
//
// CometBFT's node.Stop stops the switch, then closes the block, state and
// evidence stores; but the consensus reactor's per-peer goroutines
// (queryMaj23Routine, the gossip routines) are not waited for. They check
// that the reactor runs, then may sleep for PeerQueryMaj23SleepDuration
// and read the block store after it: a read of a closed pebble database
// panics ("pebble: closed") and takes the whole process down.
//
// The first Close of any database of the group closes all of them at once:
// it waits for the calls in flight, then closes. Any call after that finds
// every database empty, and its writes are dropped: to CometBFT the node
// stopped at that instant, as in a crash, which its start-up handshake
// recovers from. Closing all of them together keeps a late writer from
// landing a state update whose block never reached the block store.
type dbGroup struct {
	log *slog.Logger

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	shutOnce sync.Once
}

// provider returns CometBFT's default database provider with every
// database it opens guarded by g.
func (g *dbGroup) provider(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &guardedDB{g: g, db: db}, nil
}

// enter registers a call; it returns false once the group is closed, and
// the call must then do nothing. After a true enter the caller must exit.
func (g *dbGroup) enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false
	}
	g.inflight.Add(1)
	return true
}

func (g *dbGroup) exit() { g.inflight.Done() }

// shut marks the group closed and waits, up to closeWait, for the calls in
// flight.
func (g *dbGroup) shut() {
	g.shutOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		done := make(chan struct{})
		go func() {
			g.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(closeWait):
			g.log.Warn("closing the chain databases with calls still in flight", "waited", closeWait)
		}
	})
}

// guardedDB is a database of a dbGroup.
type guardedDB struct {
	g         *dbGroup
	db        dbm.DB
	closeOnce sync.Once
	closeErr  error
}

var _ dbm.DB = (*guardedDB)(nil)

func (d *guardedDB) Get(key []byte) ([]byte, error) {
	if !d.g.enter() {
		return nil, nil
	}
	defer d.g.exit()
	return d.db.Get(key)
}

func (d *guardedDB) Has(key []byte) (bool, error) {
	if !d.g.enter() {
		return false, nil
	}
	defer d.g.exit()
	return d.db.Has(key)
}

// write runs a write unless the group is closed.
func (d *guardedDB) write(f func() error) error {
	if !d.g.enter() {
		return nil
	}
	defer d.g.exit()
	return f()
}

func (d *guardedDB) Set(key, value []byte) error {
	return d.write(func() error { return d.db.Set(key, value) })
}

func (d *guardedDB) SetSync(key, value []byte) error {
	return d.write(func() error { return d.db.SetSync(key, value) })
}

func (d *guardedDB) Delete(key []byte) error {
	return d.write(func() error { return d.db.Delete(key) })
}

func (d *guardedDB) DeleteSync(key []byte) error {
	return d.write(func() error { return d.db.DeleteSync(key) })
}

func (d *guardedDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	return d.iterator(start, end, d.db.Iterator)
}

func (d *guardedDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	return d.iterator(start, end, d.db.ReverseIterator)
}

// iterator opens an iterator that counts as a call in flight until it is
// closed.
func (d *guardedDB) iterator(start, end []byte, open func(start, end []byte) (dbm.Iterator, error)) (dbm.Iterator, error) {
	if !d.g.enter() {
		return emptyIterator{start: start, end: end}, nil
	}
	it, err := open(start, end)
	if err != nil {
		d.g.exit()
		return nil, err
	}
	return &guardedIterator{Iterator: it, g: d.g}, nil
}

func (d *guardedDB) NewBatch() dbm.Batch {
	if !d.g.enter() {
		return droppedBatch{}
	}
	defer d.g.exit()
	return &guardedBatch{Batch: d.db.NewBatch(), g: d.g}
}

func (d *guardedDB) Print() error {
	return d.write(d.db.Print)
}

func (d *guardedDB) Stats() map[string]string {
	if !d.g.enter() {
		return map[string]string{}
	}
	defer d.g.exit()
	return d.db.Stats()
}

func (d *guardedDB) Compact(start, end []byte) error {
	return d.write(func() error { return d.db.Compact(start, end) })
}

// Close closes the whole group (see dbGroup), then this database.
func (d *guardedDB) Close() error {
	d.closeOnce.Do(func() {
		d.g.shut()
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}

// guardedIterator holds its group's in-flight count until it is closed.
type guardedIterator struct {
	dbm.Iterator
	g    *dbGroup
	once sync.Once
}

func (it *guardedIterator) Close() error {
	err := it.Iterator.Close()
	it.once.Do(it.g.exit)
	return err
}

// guardedBatch writes only while its group is open.
type guardedBatch struct {
	dbm.Batch
	g *dbGroup
}

func (b *guardedBatch) commit(write func() error) error {
	if !b.g.enter() {
		return nil
	}
	defer b.g.exit()
	return write()
}

func (b *guardedBatch) Write() error     { return b.commit(b.Batch.Write) }
func (b *guardedBatch) WriteSync() error { return b.commit(b.Batch.WriteSync) }

// droppedBatch is the batch of a closed group: it takes writes and drops
// them.
type droppedBatch struct{}

func (droppedBatch) Set(key, value []byte) error { return nil }
func (droppedBatch) Delete(key []byte) error     { return nil }
func (droppedBatch) Write() error                { return nil }
func (droppedBatch) WriteSync() error            { return nil }
func (droppedBatch) Close() error                { return nil }

// emptyIterator is the iterator of a closed group: it has nothing.
type emptyIterator struct{ start, end []byte }

func (it emptyIterator) Domain() ([]byte, []byte) { return it.start, it.end }
func (emptyIterator) Valid() bool                 { return false }
func (emptyIterator) Next()                       { panic("consensus: Next on an exhausted iterator") }
func (emptyIterator) Key() []byte                 { panic("consensus: Key on an exhausted iterator") }
func (emptyIterator) Value() []byte               { panic("consensus: Value on an exhausted iterator") }
func (emptyIterator) Error() error                { return nil }
func (emptyIterator) Close() error                { return nil }
