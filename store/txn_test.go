package store

import (
	"errors"
	"slices"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

func TestTxnReadYourWrites(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	mustPut(t, s, "/t/a", []byte("db-a"))
	mustPut(t, s, "/t/b", []byte("db-b"))

	txn, err := s.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard(ctx)
	mustPut(t, txn, "/t/c", []byte("txn-c"))
	mustPut(t, txn, "/t/a", []byte("txn-a"))
	if err := txn.Delete(ctx, ds.NewKey("/t/b")); err != nil {
		t.Fatal(err)
	}

	if got := mustGet(t, txn, "/t/a"); string(got) != "txn-a" {
		t.Errorf("txn Get /t/a = %q, want its own write", got)
	}
	if _, err := txn.Get(ctx, ds.NewKey("/t/b")); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("txn Get of a key it deleted: err = %v, want ds.ErrNotFound", err)
	}
	if n, err := txn.GetSize(ctx, ds.NewKey("/t/c")); n != 5 || err != nil {
		t.Errorf("txn GetSize /t/c = %d, %v; want 5, nil", n, err)
	}
	if ok, err := txn.Has(ctx, ds.NewKey("/t/c")); !ok || err != nil {
		t.Errorf("txn Has /t/c = %v, %v; want true", ok, err)
	}
	if keys := queryKeys(t, txn, dsq.Query{Prefix: "/t"}); !slices.Equal(keys, []string{"/t/a", "/t/c"}) {
		t.Errorf("txn query keys = %v, want [/t/a /t/c]", keys)
	}
	// Nothing is visible outside before Commit.
	if got := mustGet(t, s, "/t/a"); string(got) != "db-a" {
		t.Errorf("store Get /t/a before Commit = %q", got)
	}
	if ok, _ := s.Has(ctx, ds.NewKey("/t/c")); ok {
		t.Error("store sees /t/c before Commit")
	}

	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := queryKeys(t, s, dsq.Query{Prefix: "/t"}); !slices.Equal(keys, []string{"/t/a", "/t/c"}) {
		t.Errorf("store keys after Commit = %v, want [/t/a /t/c]", keys)
	}
	if got := mustGet(t, s, "/t/a"); string(got) != "txn-a" {
		t.Errorf("store Get /t/a after Commit = %q", got)
	}

	txn.Discard(ctx) // no effect after Commit
	if got := mustGet(t, s, "/t/c"); string(got) != "txn-c" {
		t.Errorf("Discard after Commit changed the store: /t/c = %q", got)
	}
	for name, err := range map[string]error{
		"Put":    txn.Put(ctx, ds.NewKey("/x"), nil),
		"Commit": txn.Commit(ctx),
		"Get":    func() error { _, err := txn.Get(ctx, ds.NewKey("/t/a")); return err }(),
	} {
		if !errors.Is(err, ErrTxnDone) {
			t.Errorf("%s after Commit: err = %v, want ErrTxnDone", name, err)
		}
	}
}

func TestTxnDiscard(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	txn, err := s.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, txn, "/d", []byte("v"))
	res, err := txn.Query(ctx, dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	txn.Discard(ctx)
	txn.Discard(ctx)
	if ok, _ := s.Has(ctx, ds.NewKey("/d")); ok {
		t.Fatal("discarded write is visible")
	}
	if _, err := res.Rest(); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("query opened before Discard: err = %v, want ErrTxnDone", err)
	}
	if err := txn.Commit(ctx); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("Commit after Discard: err = %v, want ErrTxnDone", err)
	}
}

// TestTxnNotIsolated documents that a read-write transaction reads through
// to the live database.
func TestTxnNotIsolated(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	txn, err := s.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard(ctx)
	mustPut(t, s, "/later", []byte("v"))
	if ok, err := txn.Has(ctx, ds.NewKey("/later")); !ok || err != nil {
		t.Fatalf("read-write txn Has(/later) = %v, %v; want it to see the later write", ok, err)
	}
}

func TestTxnReadOnlySnapshot(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	mustPut(t, s, "/r/a", []byte("1"))
	txn, err := s.NewTransaction(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard(ctx)
	mustPut(t, s, "/r/a", []byte("2"))
	mustPut(t, s, "/r/b", []byte("2"))
	if got := mustGet(t, txn, "/r/a"); string(got) != "1" {
		t.Errorf("read-only txn Get /r/a = %q, want the value at its start", got)
	}
	if keys := queryKeys(t, txn, dsq.Query{Prefix: "/r"}); !slices.Equal(keys, []string{"/r/a"}) {
		t.Errorf("read-only txn keys = %v, want [/r/a]", keys)
	}
	if err := txn.Put(ctx, ds.NewKey("/r/c"), nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put: err = %v, want ErrReadOnly", err)
	}
	if err := txn.Delete(ctx, ds.NewKey("/r/a")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete: err = %v, want ErrReadOnly", err)
	}
	if err := txn.Commit(ctx); err != nil {
		t.Errorf("Commit: %v", err)
	}
}

// TestTxnQueryConcurrentWrites reads a transaction's query through the
// result channel while the transaction keeps writing; run it with -race.
func TestTxnQueryConcurrentWrites(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	for i := range 50 {
		mustPut(t, s, "/q/"+string(rune('a'+i%26))+string(rune('a'+i/26)), []byte("v"))
	}
	txn, err := s.NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard(ctx)
	res, err := txn.Query(ctx, dsq.Query{Prefix: "/q"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		n := 0
		for r := range res.Next() {
			if r.Error == nil {
				n++
			}
		}
		done <- n
	}()
	for i := range 50 {
		mustPut(t, txn, "/q/new"+string(rune('a'+i%26)), []byte("w"))
	}
	if n := <-done; n != 50 {
		t.Errorf("query saw %d entries, want the 50 present when it started", n)
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
