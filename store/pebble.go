package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Compile-time checks of the go-datastore interfaces Pebble implements.
var (
	_ ds.Batching            = (*Pebble)(nil)
	_ ds.PersistentDatastore = (*Pebble)(nil)
	_ ds.TxnDatastore        = (*Pebble)(nil)
)

// defaultCacheSize is the block cache size used unless [WithCacheSize] is given.
const defaultCacheSize = 32 << 20

// options collects the settings of [OpenPebble].
type options struct {
	syncWrites bool
	cacheSize  int64
	logger     *slog.Logger
	readOnly   bool
	verify     bool
}

// defaultOptions holds every default of [OpenPebble] in one place.
func defaultOptions() options {
	return options{
		syncWrites: false,
		cacheSize:  defaultCacheSize,
		logger:     slog.New(slog.DiscardHandler),
		readOnly:   false,
		verify:     true,
	}
}

// Option configures [OpenPebble].
type Option func(*options) error

// WithSyncWrites makes every Put and Delete wait for the write-ahead log to
// reach stable storage. By default single writes are not synced (a crash can
// lose the most recent ones); batch and transaction commits and
// [Pebble.Sync] always sync.
func WithSyncWrites(sync bool) Option {
	return func(o *options) error {
		o.syncWrites = sync
		return nil
	}
}

// WithCacheSize sets the size in bytes of pebble's block cache
// (default 32 MiB).
func WithCacheSize(bytes int64) Option {
	return func(o *options) error {
		if bytes <= 0 {
			return fmt.Errorf("store: cache size must be positive, got %d", bytes)
		}
		o.cacheSize = bytes
		return nil
	}
}

// WithLogger routes pebble's log output to l: pebble's informational
// messages at debug level, its errors at error level. The default discards
// everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("store: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithReadOnly opens an existing database without write access. Writes
// return [ErrReadOnly]; opening a path that holds no database fails.
func WithReadOnly() Option {
	return func(o *options) error {
		o.readOnly = true
		return nil
	}
}

// WithVerifyTables sets whether OpenPebble reads every table of the
// database to check its block checksums before returning (default true),
// so that a damaged store refuses to open instead of failing, or
// misbehaving, later. The check reads the whole store once: about 10 ms
// for 1e5 receipts. Turning it off leaves only the checks pebble makes on
// its own: the manifest and the write-ahead log at open, a table's blocks
// when they are read.
func WithVerifyTables(verify bool) Option {
	return func(o *options) error {
		o.verify = verify
		return nil
	}
}

// Pebble is a go-datastore backed by a pebble database. It is safe for
// concurrent use. Every method, and every batch, transaction and query
// result it handed out, returns [ErrClosed] once Close has been called.
type Pebble struct {
	db        *pebble.DB
	path      string
	readOnly  bool
	syncing   bool // single writes are already synced
	writeOpts *pebble.WriteOptions

	// mu is held for reading by every operation that touches db, and for
	// writing by Close while it marks the store closed, so Close waits for
	// operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool

	// open holds the query iterators and transactions that pin pebble
	// state; Close releases them before closing db.
	openMu sync.Mutex
	open   map[releaser]struct{}

	closeOnce sync.Once
	closeErr  error
}

// releaser is a resource that must be released before the database closes.
type releaser interface {
	// release frees the resource; later use of it reports reason.
	release(reason error)
}

// OpenPebble opens, or creates, the pebble database in the directory path.
//
// A damaged database is refused with a [*CorruptionError] (wrapping
// [ErrCorrupt]) that names the directory and the damaged file: a table
// whose block checksums do not match (see [WithVerifyTables]), or a
// write-ahead log corrupted before its end. A log whose last record is
// torn, as a crash or kill in the middle of a write leaves it, is not
// damage: the database opens without that last, unacknowledged, write.
func OpenPebble(path string, opts ...Option) (*Pebble, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if path == "" {
		return nil, errors.New("store: empty pebble path")
	}
	cache := pebble.NewCache(o.cacheSize)
	defer cache.Unref() // the DB holds its own reference
	po := &pebble.Options{
		Cache:            cache,
		Logger:           pebbleLogger{o.logger},
		ReadOnly:         o.readOnly,
		ErrorIfNotExists: o.readOnly,
	}
	// Memtables of 32 MiB (pebble's default is 4 MiB): receipts arrive as
	// a steady stream of small writes, and fewer, larger flushes mean less
	// compaction work on the node's cores.
	po.MemTableSize = 32 << 20
	// Bloom filters on every level: most point lookups here are for keys
	// that do not exist (is this receipt new?), which a filter answers
	// without reading data blocks.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// The format whose write-ahead log chunks record how far the log was
	// synced (FormatWALSyncChunks), so that a damaged record followed by
	// records synced after it is reported as corruption at open, not taken
	// for the torn tail a crash leaves; its tables carry a footer checksum.
	// An older store is upgraded on its first writable open.
	if !o.readOnly {
		po.FormatMajorVersion = pebble.FormatTableFormatV6
	}
	// Pebble's default answer to a corrupt block it reads is Fatalf, which
	// here would panic in whichever goroutine read it (a query, or one of
	// pebble's own: table statistics are loaded in the background right
	// after open). The read itself fails with the corruption error, so log
	// it and let that error reach the caller; a store damaged at open is
	// refused by verifyTables.
	log := o.logger
	po.EventListener = &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			log.Error("datastore corruption", slog.String("component", "pebble"),
				slog.String("file", info.Path), slog.Any("err", info.Details))
		},
	}
	po.EnsureDefaults()
	db, err := pebble.Open(path, po)
	if err != nil {
		return nil, openError(path, err)
	}
	if o.verify {
		if err := verifyTables(db, path, po.MakeReaderOptions()); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	writeOpts := pebble.NoSync
	if o.syncWrites {
		writeOpts = pebble.Sync
	}
	return &Pebble{
		db:        db,
		path:      path,
		readOnly:  o.readOnly,
		syncing:   o.syncWrites,
		writeOpts: writeOpts,
		open:      make(map[releaser]struct{}),
	}, nil
}

// Path returns the directory the database lives in.
func (s *Pebble) Path() string { return s.path }

// rlock takes the read lock and fails if the store is closed. On success
// the caller must call s.mu.RUnlock.
func (s *Pebble) rlock() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Pebble) track(r releaser) {
	s.openMu.Lock()
	s.open[r] = struct{}{}
	s.openMu.Unlock()
}

func (s *Pebble) untrack(r releaser) {
	s.openMu.Lock()
	delete(s.open, r)
	s.openMu.Unlock()
}

// getter is the read side shared by *pebble.DB, *pebble.Batch (indexed)
// and *pebble.Snapshot.
type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// get returns a copy of the value of key in r.
func get(r getter, key ds.Key) ([]byte, error) {
	v, closer, err := r.Get(key.Bytes())
	if err != nil {
		return nil, mapErr("get", key, err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, closer.Close()
}

// size returns the length of the value of key in r.
func size(r getter, key ds.Key) (int, error) {
	v, closer, err := r.Get(key.Bytes())
	if err != nil {
		return -1, mapErr("get size", key, err)
	}
	n := len(v)
	return n, closer.Close()
}

// has reports whether key is present in r.
func has(r getter, key ds.Key) (bool, error) {
	_, closer, err := r.Get(key.Bytes())
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, mapErr("has", key, err)
	}
	return true, closer.Close()
}

// mapErr turns pebble's not-found into ds.ErrNotFound and gives other
// errors context.
func mapErr(op string, key ds.Key, err error) error {
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return ds.ErrNotFound
	case errors.Is(err, pebble.ErrReadOnly):
		return ErrReadOnly
	case errors.Is(err, pebble.ErrClosed):
		return ErrClosed
	}
	return fmt.Errorf("store: %s %s: %w", op, key, err)
}

// Get returns the value stored under key, or ds.ErrNotFound.
func (s *Pebble) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return get(s.db, key)
}

// Has reports whether key is present.
func (s *Pebble) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := s.rlock(); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()
	return has(s.db, key)
}

// GetSize returns the length of the value stored under key, or -1 and
// ds.ErrNotFound.
func (s *Pebble) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := s.rlock(); err != nil {
		return -1, err
	}
	defer s.mu.RUnlock()
	return size(s.db, key)
}

// Put stores value under key. Unless the store was opened with
// [WithSyncWrites], the write is not synced to disk before Put returns; call
// Sync, or use a batch, where durability matters.
func (s *Pebble) Put(ctx context.Context, key ds.Key, value []byte) error {
	return s.write("put", key, func(db *pebble.DB) error { return db.Set(key.Bytes(), value, s.writeOpts) })
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Pebble) Delete(ctx context.Context, key ds.Key) error {
	return s.write("delete", key, func(db *pebble.DB) error { return db.Delete(key.Bytes(), s.writeOpts) })
}

// write runs op, the write called what of key, on the database of an open
// store that is not read-only.
func (s *Pebble) write(what string, key ds.Key, op func(*pebble.DB) error) error {
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if s.readOnly {
		return ErrReadOnly
	}
	if err := op(s.db); err != nil {
		return mapErr(what, key, err)
	}
	return nil
}

// Sync makes every write that returned before the call durable. The prefix
// is ignored: pebble has a single write-ahead log, which is synced whole.
func (s *Pebble) Sync(ctx context.Context, prefix ds.Key) error {
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if s.readOnly || s.syncing {
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return mapErr("sync", prefix, err)
	}
	return nil
}

// DiskUsage returns the bytes used on disk by tables, the write-ahead log
// and the files pebble has not yet deleted.
func (s *Pebble) DiskUsage(ctx context.Context) (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.db.Metrics().DiskSpaceUsage(), nil
}

// Query runs q over a consistent point-in-time view of the store: the pebble
// iterator it reads from sees the store as it was when Query was called.
// Results must be closed (or drained) to release the iterator.
//
// The prefix selects strict children ("/foo" matches "/foo/bar", not
// "/foobar") and becomes the iterator's bounds. Filters run as entries are
// read. Without orders, or ordered by key in either direction, results
// stream in key order with offset and limit applied on the way, so nothing
// is buffered; other orders are sorted in memory by query.NaiveQueryApply.
// Filters and orders see values even in KeysOnly queries, which only drop
// the values from the results. Cancelling ctx ends the results with
// ctx's error.
func (s *Pebble) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	qi := &queryIter{mu: new(sync.Mutex)}
	qi.untrack = func() { s.untrack(qi) }
	res, err := runQuery(ctx, q, s.db, qi)
	if err != nil {
		return nil, err
	}
	// Registered while the read lock is held, so Close cannot miss it.
	s.track(qi)
	return res, nil
}

// Batch returns a batch whose writes are applied atomically, and synced to
// disk, by Commit.
func (s *Pebble) Batch(ctx context.Context) (ds.Batch, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if s.readOnly {
		return nil, ErrReadOnly
	}
	return &batch{s: s, b: s.db.NewBatch()}, nil
}

// Close releases open query results and transactions, then closes the
// database. It is idempotent; later calls return the first call's result.
func (s *Pebble) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()

		s.openMu.Lock()
		open := make([]releaser, 0, len(s.open))
		for r := range s.open {
			open = append(open, r)
		}
		s.openMu.Unlock()
		for _, r := range open {
			r.release(ErrClosed)
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close pebble: %w", err)
		}
	})
	return s.closeErr
}

// batch is a ds.Batch over a pebble batch. Its methods are safe for
// concurrent use.
type batch struct {
	s  *Pebble
	mu sync.Mutex
	b  *pebble.Batch // nil after Commit
}

func (b *batch) Put(ctx context.Context, key ds.Key, value []byte) error {
	return b.with(func() error { return b.b.Set(key.Bytes(), value, nil) })
}

func (b *batch) Delete(ctx context.Context, key ds.Key) error {
	return b.with(func() error { return b.b.Delete(key.Bytes(), nil) })
}

func (b *batch) Commit(ctx context.Context) error {
	return b.with(func() error {
		var err error
		if !b.b.Empty() {
			err = b.b.Commit(pebble.Sync)
		}
		cerr := b.b.Close()
		b.b = nil
		if err != nil {
			return fmt.Errorf("store: commit batch: %w", err)
		}
		return cerr
	})
}

// with runs op holding the batch's lock and the store's read lock, while
// the batch is not committed and the store is open.
func (b *batch) with(op func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return ErrBatchDone
	}
	if err := b.s.rlock(); err != nil {
		return err
	}
	defer b.s.mu.RUnlock()
	return op()
}

// pebbleLogger routes pebble's logging to slog. Pebble's informational
// messages go to debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !p.l.Enabled(ctx, level) {
		return
	}
	p.l.Log(ctx, level, fmt.Sprintf(format, args...), slog.String("component", "pebble"))
}

func (p pebbleLogger) Infof(format string, args ...any) { p.logf(slog.LevelDebug, format, args) }

func (p pebbleLogger) Errorf(format string, args ...any) { p.logf(slog.LevelError, format, args) }

// Fatalf logs and panics. Pebble calls it only on corruption or a broken
// internal invariant, after which it must not continue; pebble's own
// default logger exits the process instead.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.logf(slog.LevelError, format, args)
	panic("store: pebble fatal error: " + fmt.Sprintf(format, args...))
}
