package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"
)

// openTest opens a pebble store in a fresh temporary directory and closes it
// when the test ends.
func openTest(t testing.TB, opts ...Option) *Pebble {
	t.Helper()
	s, err := OpenPebble(filepath.Join(t.TempDir(), "db"), opts...)
	if err != nil {
		t.Fatalf("OpenPebble: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustPut(t testing.TB, d ds.Write, key string, value []byte) {
	t.Helper()
	if err := d.Put(context.Background(), ds.NewKey(key), value); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func mustGet(t testing.TB, d ds.Read, key string) []byte {
	t.Helper()
	v, err := d.Get(context.Background(), ds.NewKey(key))
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return v
}

func queryKeys(t testing.TB, d ds.Read, q dsq.Query) []string {
	t.Helper()
	res, err := d.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query %s: %v", q, err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatalf("Query %s: Rest: %v", q, err)
	}
	if err := res.Close(); err != nil {
		t.Fatalf("Query %s: Close: %v", q, err)
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return keys
}

func TestPebbleConformance(t *testing.T) {
	s := openTest(t)
	dstest.SubtestAll(t, s)
	for name, f := range map[string]func(*testing.T, ds.Batching){
		"RunBatchTest":             dstest.RunBatchTest,
		"RunBatchDeleteTest":       dstest.RunBatchDeleteTest,
		"RunBatchPutAndDeleteTest": dstest.RunBatchPutAndDeleteTest,
	} {
		t.Run(name, func(t *testing.T) { f(t, s) })
	}
}

func TestMemoryConformance(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	dstest.SubtestAll(t, m)
	dstest.RunBatchTest(t, m)
	dstest.RunBatchDeleteTest(t, m)
}

func TestPebbleGetCopies(t *testing.T) {
	s := openTest(t)
	val := []byte("receipt")
	mustPut(t, s, "/a", val)
	val[0] = 'X' // Put must have copied the value
	got := mustGet(t, s, "/a")
	if string(got) != "receipt" {
		t.Fatalf("Get after caller changed its slice = %q, want %q", got, "receipt")
	}
	got[0] = 'Y' // changing the returned slice must not change the store
	if got := mustGet(t, s, "/a"); string(got) != "receipt" {
		t.Fatalf("Get after changing a returned slice = %q, want %q", got, "receipt")
	}
	mustPut(t, s, "/empty", nil)
	got = mustGet(t, s, "/empty")
	if got == nil || len(got) != 0 {
		t.Fatalf("Get of empty value = %#v, want non-nil empty slice", got)
	}
	if _, err := s.Get(t.Context(), ds.NewKey("/missing")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("Get missing: err = %v, want ds.ErrNotFound", err)
	}
	if n, err := s.GetSize(t.Context(), ds.NewKey("/missing")); n != -1 || !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("GetSize missing = %d, %v; want -1, ds.ErrNotFound", n, err)
	}
}

func TestPebbleReopen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "db")
	s, err := OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/single", []byte("one"))
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/batch/%03d", i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/gone", []byte("x"))
	if err := s.Delete(ctx, ds.NewKey("/gone")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *Pebble) {
		if got := mustGet(t, s, "/single"); string(got) != "one" {
			t.Errorf("/single = %q, want %q", got, "one")
		}
		if got := mustGet(t, s, "/batch/042"); !bytes.Equal(got, []byte{42}) {
			t.Errorf("/batch/042 = %v, want [42]", got)
		}
		if ok, err := s.Has(ctx, ds.NewKey("/gone")); ok || err != nil {
			t.Errorf("Has(/gone) = %v, %v; want false, nil", ok, err)
		}
		if keys := queryKeys(t, s, dsq.Query{Prefix: "/batch", KeysOnly: true}); len(keys) != 100 {
			t.Errorf("query /batch: %d keys, want 100", len(keys))
		}
	}

	t.Run("read-write", func(t *testing.T) {
		s, err := OpenPebble(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s)
	})

	t.Run("read-only", func(t *testing.T) {
		s, err := OpenPebble(dir, WithReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s)
		if err := s.Put(ctx, ds.NewKey("/x"), nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Put: err = %v, want ErrReadOnly", err)
		}
		if err := s.Delete(ctx, ds.NewKey("/single")); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Delete: err = %v, want ErrReadOnly", err)
		}
		if _, err := s.Batch(ctx); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Batch: err = %v, want ErrReadOnly", err)
		}
		txn, err := s.NewTransaction(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Put(ctx, ds.NewKey("/x"), nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("txn Put: err = %v, want ErrReadOnly", err)
		}
		txn.Discard(ctx)
		if err := s.Sync(ctx, ds.NewKey("/")); err != nil {
			t.Errorf("Sync: %v", err)
		}
	})
}

func TestOpenPebbleErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts []Option
	}{
		{"empty path", "", nil},
		{"zero cache", filepath.Join(dir, "a"), []Option{WithCacheSize(0)}},
		{"negative cache", filepath.Join(dir, "b"), []Option{WithCacheSize(-1)}},
		{"nil logger", filepath.Join(dir, "c"), []Option{WithLogger(nil)}},
		{"read-only missing", filepath.Join(dir, "missing"), []Option{WithReadOnly()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenPebble(tt.path, tt.opts...)
			if err == nil {
				s.Close()
				t.Fatal("OpenPebble succeeded, want an error")
			}
		})
	}
}

func TestPebbleOptions(t *testing.T) {
	ctx := t.Context()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := filepath.Join(t.TempDir(), "db")
	s, err := OpenPebble(dir, WithSyncWrites(true), WithCacheSize(1<<20), WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/synced", []byte("v"))
	if err := s.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustGet(t, s2, "/synced"); string(got) != "v" {
		t.Fatalf("/synced = %q, want %q", got, "v")
	}
}

func TestPebbleLogger(t *testing.T) {
	var buf bytes.Buffer
	l := pebbleLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Infof("flushed %d tables", 3)
	if buf.Len() != 0 {
		t.Fatalf("Infof logged at info level: %q", buf.String())
	}
	l.Errorf("background error: %s", "disk full")
	if got := buf.String(); !bytes.Contains([]byte(got), []byte("level=ERROR")) ||
		!bytes.Contains([]byte(got), []byte("disk full")) || !bytes.Contains([]byte(got), []byte("component=pebble")) {
		t.Fatalf("Errorf output = %q", got)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Fatalf returned, want a panic")
		}
	}()
	l.Fatalf("corruption in %s", "000001.sst")
}

func TestPebbleDiskUsage(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	val := bytes.Repeat([]byte{7}, 256)
	for i := range 1000 {
		mustPut(t, s, fmt.Sprintf("/r/%04d", i), val)
	}
	if err := s.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	n, err := s.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("DiskUsage = 0 after 256 KB of writes")
	}
	if du, err := ds.DiskUsage(ctx, s); err != nil || du == 0 {
		t.Fatalf("ds.DiskUsage = %d, %v", du, err)
	}
}

// TestPebbleQuery compares queries against the in-memory datastore, which
// applies query.NaiveQueryApply to every entry.
func TestPebbleQuery(t *testing.T) {
	s := openTest(t)
	mem := NewMemory()
	keys := []string{
		"/foo", "/foobar", "/foo0", "/foo/a", "/foo/b", "/foo/b/c", "/foo/c",
		"/fo", "/g", "/receipts/0001", "/receipts/0002", "/receipts/0003",
		"/receipts/0010", "/receipts/sub/0001", "/receiptsx/0001",
	}
	for i, k := range keys {
		v := []byte(fmt.Sprintf("v%02d", (i*7)%len(keys)))
		mustPut(t, s, k, v)
		mustPut(t, mem, k, v)
	}
	tests := []dsq.Query{
		{},
		{Prefix: "/foo"},
		{Prefix: "/foo/"},
		{Prefix: "foo"},
		{Prefix: "/foo/../receipts"},
		{Prefix: "/"},
		{Prefix: "/receipts", Limit: 2},
		{Prefix: "/receipts", Offset: 1, Limit: 2},
		{Prefix: "/receipts", Offset: 10},
		{Prefix: "/receipts", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}, Limit: 3},
		{Prefix: "/receipts", Orders: []dsq.Order{&dsq.OrderByKeyDescending{}}, Offset: 1},
		{Prefix: "/receipts", Orders: []dsq.Order{dsq.OrderByKey{}}, Offset: 2, Limit: 1},
		{Orders: []dsq.Order{dsq.OrderByValue{}}, Limit: 5},
		{Orders: []dsq.Order{dsq.OrderByValueDescending{}}, Offset: 3, Limit: 4, KeysOnly: true},
		{Filters: []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: "/foo/b"}}, Limit: 4},
		{Prefix: "/foo", Filters: []dsq.Filter{dsq.FilterKeyPrefix{Prefix: "/foo/b"}}, KeysOnly: true},
		{Filters: []dsq.Filter{dsq.FilterValueCompare{Op: dsq.LessThan, Value: []byte("v05")}}, Offset: 1},
		{Prefix: "/receipts", KeysOnly: true, ReturnsSizes: true},
		{Prefix: "/nothing"},
	}
	for _, q := range tests {
		t.Run(q.String(), func(t *testing.T) {
			res, err := s.Query(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := res.Rest()
			if err != nil {
				t.Fatal(err)
			}
			if rq := res.Query(); rq.String() != q.String() {
				t.Errorf("Results.Query() = %s, want %s", rq, q)
			}
			// Pebble yields unordered queries in key order, and its orders
			// and filters see values even for KeysOnly queries; the
			// in-memory store does neither, so ask it for exactly that.
			wq := q
			if len(wq.Orders) == 0 {
				wq.Orders = []dsq.Order{dsq.OrderByKey{}}
			}
			wq.KeysOnly = false
			mres, err := mem.Query(t.Context(), wq)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mres.Rest()
			if err != nil {
				t.Fatal(err)
			}
			if q.KeysOnly {
				for i := range want {
					want[i].Value = nil
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d entries %v, want %d %v", len(got), got, len(want), want)
			}
			for i := range got {
				if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
					t.Errorf("entry %d = %s=%q, want %s=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
				}
				if q.KeysOnly && got[i].Value != nil {
					t.Errorf("entry %d has a value in a KeysOnly query", i)
				}
				if q.ReturnsSizes && got[i].Size != 3 {
					t.Errorf("entry %d size = %d, want 3", i, got[i].Size)
				}
			}
		})
	}
}

// TestPebbleQueryKeysOnlyValueFilter checks that filters see values even
// when the query returns keys only.
func TestPebbleQueryKeysOnlyValueFilter(t *testing.T) {
	s := openTest(t)
	mustPut(t, s, "/a", []byte("1"))
	mustPut(t, s, "/b", []byte("2"))
	got := queryKeys(t, s, dsq.Query{
		KeysOnly: true,
		Filters:  []dsq.Filter{dsq.FilterValueCompare{Op: dsq.Equal, Value: []byte("2")}},
	})
	if !slices.Equal(got, []string{"/b"}) {
		t.Fatalf("keys = %v, want [/b]", got)
	}
}

// TestPebbleQuerySnapshot checks that a query sees the store as it was when
// the query started.
func TestPebbleQuerySnapshot(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	for i := range 10 {
		mustPut(t, s, fmt.Sprintf("/k/%d", i), []byte("old"))
	}
	res, err := s.Query(ctx, dsq.Query{Prefix: "/k"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	mustPut(t, s, "/k/new", []byte("new"))
	if err := s.Delete(ctx, ds.NewKey("/k/5")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/k/1", []byte("changed"))
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 10 {
		t.Fatalf("got %d entries, want the 10 present at query time", len(entries))
	}
	for _, e := range entries {
		if string(e.Value) != "old" {
			t.Errorf("%s = %q, want %q", e.Key, e.Value, "old")
		}
	}
}

func TestPebbleQueryCancel(t *testing.T) {
	s := openTest(t)
	for i := range 100 {
		mustPut(t, s, fmt.Sprintf("/c/%03d", i), []byte("v"))
	}
	for _, q := range []dsq.Query{
		{Prefix: "/c"},
		{Prefix: "/c", Orders: []dsq.Order{dsq.OrderByValue{}}},
	} {
		t.Run(q.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			res, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			if len(q.Orders) == 0 {
				if r, ok := res.NextSync(); !ok || r.Error != nil {
					t.Fatalf("first result = %+v, %v", r, ok)
				}
			}
			cancel()
			var n int
			var gotErr error
			for r := range res.Next() {
				if r.Error != nil {
					gotErr = r.Error
					break
				}
				n++
			}
			if !errors.Is(gotErr, context.Canceled) {
				t.Fatalf("after cancel: %d more entries, err = %v; want context.Canceled", n, gotErr)
			}
			if n > 1 {
				t.Fatalf("after cancel: %d more entries", n)
			}
		})
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := s.Query(ctx, dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Rest(); !errors.Is(err, context.Canceled) {
		t.Fatalf("query with canceled context: err = %v, want context.Canceled", err)
	}
}

func TestPebbleBatch(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/b"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, ds.NewKey("/b")); ok {
		t.Fatal("batch write visible before Commit")
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/c"), nil); !errors.Is(err, ErrBatchDone) {
		t.Errorf("Put after Commit: err = %v, want ErrBatchDone", err)
	}
	if err := b.Delete(ctx, ds.NewKey("/b")); !errors.Is(err, ErrBatchDone) {
		t.Errorf("Delete after Commit: err = %v, want ErrBatchDone", err)
	}
	if err := b.Commit(ctx); !errors.Is(err, ErrBatchDone) {
		t.Errorf("second Commit: err = %v, want ErrBatchDone", err)
	}
	empty, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Commit(ctx); err != nil {
		t.Errorf("empty Commit: %v", err)
	}
}

func TestPebbleClosed(t *testing.T) {
	ctx := t.Context()
	s, err := OpenPebble(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustPut(t, s, fmt.Sprintf("/k/%d", i), []byte("v"))
	}
	// Handed out before Close.
	res, err := s.Query(ctx, dsq.Query{Prefix: "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.NextSync(); !ok || r.Error != nil {
		t.Fatalf("first result = %+v, %v", r, ok)
	}
	drained, err := s.Query(ctx, dsq.Query{Prefix: "/k", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drained.Rest(); err != nil {
		t.Fatal(err)
	}
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/b"), nil); err != nil {
		t.Fatal(err)
	}
	rw, err := s.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Put(ctx, ds.NewKey("/t"), nil); err != nil {
		t.Fatal(err)
	}
	txnRes, err := rw.Query(ctx, dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := s.NewTransaction(ctx, true)
	if err != nil {
		t.Fatal(err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close with open query, batch and transactions: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := res.Rest(); !errors.Is(err, ErrClosed) {
		t.Errorf("open query after Close: err = %v, want ErrClosed", err)
	}
	if err := res.Close(); err != nil {
		t.Errorf("closing results after Close: %v", err)
	}
	if _, err := txnRes.Rest(); !errors.Is(err, ErrClosed) {
		t.Errorf("open transaction query after Close: err = %v, want ErrClosed", err)
	}
	if err := drained.Close(); err != nil {
		t.Errorf("closing drained results after Close: %v", err)
	}

	k := ds.NewKey("/k/1")
	ops := map[string]func() error{
		"Get":       func() error { _, err := s.Get(ctx, k); return err },
		"Has":       func() error { _, err := s.Has(ctx, k); return err },
		"GetSize":   func() error { _, err := s.GetSize(ctx, k); return err },
		"Put":       func() error { return s.Put(ctx, k, nil) },
		"Delete":    func() error { return s.Delete(ctx, k) },
		"Sync":      func() error { return s.Sync(ctx, k) },
		"Query":     func() error { _, err := s.Query(ctx, dsq.Query{}); return err },
		"Batch":     func() error { _, err := s.Batch(ctx); return err },
		"DiskUsage": func() error { _, err := s.DiskUsage(ctx); return err },
		"NewTransaction": func() error {
			_, err := s.NewTransaction(ctx, false)
			return err
		},
		"Batch.Put":    func() error { return b.Put(ctx, k, nil) },
		"Batch.Delete": func() error { return b.Delete(ctx, k) },
		"Batch.Commit": func() error { return b.Commit(ctx) },
		"Txn.Get":      func() error { _, err := rw.Get(ctx, k); return err },
		"Txn.Has":      func() error { _, err := rw.Has(ctx, k); return err },
		"Txn.GetSize":  func() error { _, err := rw.GetSize(ctx, k); return err },
		"Txn.Put":      func() error { return rw.Put(ctx, k, nil) },
		"Txn.Delete":   func() error { return rw.Delete(ctx, k) },
		"Txn.Query":    func() error { _, err := rw.Query(ctx, dsq.Query{}); return err },
		"Txn.Commit":   func() error { return rw.Commit(ctx) },
		"ReadTxn.Get":  func() error { _, err := ro.Get(ctx, k); return err },
		"ReadTxn.Commit": func() error {
			ro.Discard(ctx) // must not panic either
			return ro.Commit(ctx)
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			if err := op(); !errors.Is(err, ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		})
	}
	if got := ErrClosed.Error(); got != "store: closed" {
		t.Errorf("ErrClosed = %q", got)
	}
}

// TestPebbleConcurrent runs writers, readers and queries together, then
// closes the store while they are still running; run it with -race.
func TestPebbleConcurrent(t *testing.T) {
	s, err := OpenPebble(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const workers, perWorker = 4, 200
	val := bytes.Repeat([]byte{1}, 256)
	var wg sync.WaitGroup
	errs := make(chan error, 4*workers)
	for w := range workers {
		wg.Go(func() { // writer
			for i := range perWorker {
				if err := s.Put(ctx, ds.NewKey(fmt.Sprintf("/w%d/%04d", w, i)), val); err != nil {
					errs <- fmt.Errorf("put: %w", err)
					return
				}
			}
		})
		wg.Go(func() { // reader
			for i := range perWorker {
				_, err := s.Get(ctx, ds.NewKey(fmt.Sprintf("/w%d/%04d", w, i)))
				if err != nil && !errors.Is(err, ds.ErrNotFound) {
					errs <- fmt.Errorf("get: %w", err)
					return
				}
			}
		})
		wg.Go(func() { // querier
			for range 20 {
				res, err := s.Query(ctx, dsq.Query{Prefix: fmt.Sprintf("/w%d", w), Limit: 50})
				if err != nil {
					errs <- fmt.Errorf("query: %w", err)
					return
				}
				var n int
				for r := range res.Next() {
					if r.Error != nil {
						errs <- fmt.Errorf("query result: %w", r.Error)
						break
					}
					n++
				}
				res.Close()
				if n > 50 {
					errs <- fmt.Errorf("query returned %d entries, limit 50", n)
				}
			}
		})
		wg.Go(func() { // batches and transactions
			for i := range 20 {
				b, err := s.Batch(ctx)
				if err != nil {
					errs <- err
					return
				}
				_ = b.Put(ctx, ds.NewKey(fmt.Sprintf("/b%d/%d", w, i)), val)
				if err := b.Commit(ctx); err != nil {
					errs <- fmt.Errorf("batch commit: %w", err)
					return
				}
				txn, err := s.NewTransaction(ctx, false)
				if err != nil {
					errs <- err
					return
				}
				_ = txn.Put(ctx, ds.NewKey(fmt.Sprintf("/t%d/%d", w, i)), val)
				if err := txn.Commit(ctx); err != nil {
					errs <- fmt.Errorf("txn commit: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		if keys := queryKeys(t, s, dsq.Query{Prefix: fmt.Sprintf("/w%d", w), KeysOnly: true}); len(keys) != perWorker {
			t.Errorf("worker %d: %d keys, want %d", w, len(keys), perWorker)
		}
	}

	// Close while operations are in flight: each must succeed or return
	// ErrClosed, and none may panic.
	start := make(chan struct{})
	var inflight sync.WaitGroup
	for w := range workers {
		inflight.Go(func() {
			<-start
			for i := 0; ; i++ {
				k := ds.NewKey(fmt.Sprintf("/late%d/%d", w, i))
				err := s.Put(ctx, k, val)
				if err == nil {
					_, err = s.Get(ctx, k)
				}
				if err == nil {
					var res dsq.Results
					res, err = s.Query(ctx, dsq.Query{Prefix: "/w0"})
					if err == nil {
						_, err = res.Rest()
						res.Close()
					}
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("in-flight op: %v", err)
					return
				}
			}
		})
	}
	close(start)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	inflight.Wait()
}
