package consensus

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
)

// openGroup opens two pebble databases, as CometBFT's block and state
// stores, in one group.
func openGroup(t *testing.T) (*dbGroup, dbm.DB, dbm.DB) {
	t.Helper()
	conf := cfg.DefaultConfig()
	conf.SetRoot(t.TempDir())
	g := &dbGroup{log: slog.New(slog.DiscardHandler)}
	blocks, err := g.provider(&cfg.DBContext{ID: "blockstore", Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	state, err := g.provider(&cfg.DBContext{ID: "state", Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blocks.Close(); _ = state.Close() })
	return g, blocks, state
}

// TestDBUseAfterClose: a reactor goroutine CometBFT does not wait for may
// read the block store after node.Stop closed it; the read finds nothing
// instead of panicking with "pebble: closed", and late writes are dropped.
func TestDBUseAfterClose(t *testing.T) {
	_, blocks, state := openGroup(t)
	if err := blocks.Set([]byte("C:1"), []byte("commit")); err != nil {
		t.Fatal(err)
	}
	if err := blocks.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("use after close panicked: %v", p)
		}
	}()
	if v, err := blocks.Get([]byte("C:1")); v != nil || err != nil {
		t.Fatalf("Get after close: %q, %v", v, err)
	}
	if ok, err := blocks.Has([]byte("C:1")); ok || err != nil {
		t.Fatalf("Has after close: %v, %v", ok, err)
	}
	it, err := blocks.Iterator(nil, nil)
	if err != nil || it.Valid() {
		t.Fatalf("Iterator after close: valid %v, %v", it != nil && it.Valid(), err)
	}
	_ = it.Close()
	b := blocks.NewBatch()
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteSync(); err != nil {
		t.Fatal(err)
	}
	// Closing one database closed the group: the state store drops writes
	// too, so a late state update never outruns its block.
	if err := state.SetSync([]byte("stateKey"), []byte("s")); err != nil {
		t.Fatal(err)
	}
	if v, err := state.Get([]byte("stateKey")); v != nil || err != nil {
		t.Fatalf("state after close: %q, %v", v, err)
	}
	if err := blocks.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestDBCloseWaitsForCalls: Close waits for an open iterator (and the
// calls in flight) before closing the database under it.
func TestDBCloseWaitsForCalls(t *testing.T) {
	_, blocks, _ := openGroup(t)
	for _, k := range []string{"a", "b", "c"} {
		if err := blocks.Set([]byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := blocks.Iterator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	closed := make(chan struct{})
	wg.Go(func() {
		_ = blocks.Close()
		close(closed)
	})
	select {
	case <-closed:
		t.Fatal("Close returned with an iterator open")
	case <-time.After(100 * time.Millisecond):
	}
	var keys []string
	for ; it.Valid(); it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if len(keys) != 3 || it.Error() != nil {
		t.Fatalf("iterating while closing: %v, %v", keys, it.Error())
	}
	_ = it.Close()
	wg.Wait()
}

// TestDBRawUseAfterClosePanics documents what the guard is for: CometBFT's
// pebble database panics when read after Close.
func TestDBRawUseAfterClosePanics(t *testing.T) {
	db, err := dbm.NewPebbleDB("raw", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a read of a closed pebble database did not panic: the guard may no longer be needed")
		}
	}()
	_, _ = db.Get([]byte("C:1"))
}
