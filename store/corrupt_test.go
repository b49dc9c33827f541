package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// filesOf returns the names of the files in dir ending in ext, sorted.
func filesOf(t *testing.T, dir, ext string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ext {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// flipByte inverts the byte at off in the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func corruptKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/receipts/%06d", i)) }

func corruptValue(i int) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("value %06d ", i), 100))
}

// tableStore writes n keys to a store at dir and flushes them to tables.
func tableStore(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustPut(t, s, corruptKey(i).String(), corruptValue(i))
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt checks that err reports corruption of file in dir, and says
// what to do.
func wantCorrupt(t *testing.T, err error, dir, file string) {
	t.Helper()
	if err == nil {
		t.Fatalf("opened a store with a damaged %s", file)
	}
	var ce *CorruptionError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("error is not a corruption error: %v", err)
	}
	if ce.Dir != dir || ce.File != file {
		t.Errorf("corruption of %q in %q, want %q in %q", ce.File, ce.Dir, file, dir)
	}
	msg := err.Error()
	for _, want := range []string{dir, filepath.Join(dir, file), "restore it from a backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// TestOpenCorruptTable: one flipped byte anywhere in a table's blocks makes
// the store refuse to open, naming the table; read-only too.
func TestOpenCorruptTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	tableStore(t, dir, 2000)
	tables := filesOf(t, dir, ".sst")
	if len(tables) == 0 {
		t.Fatal("no table after a flush")
	}
	table := tables[0]
	st, err := os.Stat(filepath.Join(dir, table))
	if err != nil {
		t.Fatal(err)
	}
	pristine, err := os.ReadFile(filepath.Join(dir, table))
	if err != nil {
		t.Fatal(err)
	}
	// In the first data block, in the middle of the data, and in the
	// index and properties near the end (before the fixed-size footer).
	for _, off := range []int64{10, st.Size() / 2, st.Size() - 200} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, table), pristine, 0o644); err != nil {
				t.Fatal(err)
			}
			flipByte(t, filepath.Join(dir, table), off)
			_, err := OpenPebble(dir)
			wantCorrupt(t, err, dir, table)
			_, err = OpenPebble(dir, WithReadOnly())
			wantCorrupt(t, err, dir, table)
		})
	}
	// The check can be turned off; pebble then notices only on reads.
	s, err := OpenPebble(dir, WithVerifyTables(false))
	if err != nil {
		t.Fatalf("open without the check: %v", err)
	}
	_ = s.Close()
	// Repaired, the store opens again with everything in it.
	if err := os.WriteFile(filepath.Join(dir, table), pristine, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenPebble(dir)
	if err != nil {
		t.Fatalf("clean store: %v", err)
	}
	defer s.Close()
	for _, i := range []int{0, 1000, 1999} {
		if got := mustGet(t, s, corruptKey(i).String()); string(got) != string(corruptValue(i)) {
			t.Fatalf("key %d: %q", i, got)
		}
	}
}

// walStore writes n keys, one synced batch each, to a store at dir and
// closes it without flushing, so that they live only in the write-ahead
// log. It returns the log's name and the offset in it where each batch
// ends.
//
// The store is created first and written on its second open: the log a
// new store starts with predates the upgrade of its format (at the end of
// the first open) and lacks the sync offsets.
func walStore(t *testing.T, dir string, n int) (string, []int64) {
	t.Helper()
	s, err := OpenPebble(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenPebble(dir, WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	logs := filesOf(t, dir, ".log")
	wal := logs[len(logs)-1]
	var ends []int64
	for i := range n {
		mustPut(t, s, corruptKey(i).String(), corruptValue(i))
		st, err := os.Stat(filepath.Join(dir, wal))
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, st.Size())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if logs := filesOf(t, dir, ".log"); logs[len(logs)-1] != wal {
		t.Fatalf("logs %v, the writes went to %s", logs, wal)
	}
	return wal, ends
}

// TestOpenTornWALTail: a log whose last record was cut short, as a crash
// in the middle of a write leaves it, opens with every complete write.
func TestOpenTornWALTail(t *testing.T) {
	const n = 20
	dir := filepath.Join(t.TempDir(), "db")
	wal, ends := walStore(t, dir, n)
	cut := (ends[n-2] + ends[n-1]) / 2 // in the middle of the last record
	if err := os.Truncate(filepath.Join(dir, wal), cut); err != nil {
		t.Fatal(err)
	}
	s, err := OpenPebble(dir)
	if err != nil {
		t.Fatalf("a torn last record refused: %v", err)
	}
	defer s.Close()
	for i := range n - 1 {
		if got := mustGet(t, s, corruptKey(i).String()); string(got) != string(corruptValue(i)) {
			t.Fatalf("key %d: %q", i, got)
		}
	}
	if ok, err := s.Has(context.Background(), corruptKey(n-1)); err != nil || ok {
		t.Fatalf("the torn write: has %v, %v", ok, err)
	}
}

// TestOpenCorruptWAL: a log damaged before its last record is not a crash
// but lost acknowledged writes; the store refuses to open, naming the log.
//
// Pebble tells the two apart by the records after the damaged one: each
// says how far the log had been synced when it was written, and pebble
// looks for them from the next 32 KiB block of the log on. Damage in the
// last block of the newest log cannot be told from a torn tail.
func TestOpenCorruptWAL(t *testing.T) {
	const n = 100 // 1.2 KB each: four blocks of log
	dir := filepath.Join(t.TempDir(), "db")
	wal, ends := walStore(t, dir, n)
	if ends[n-1] < 3*32<<10 {
		t.Fatalf("log of %d bytes, want more than 3 blocks", ends[n-1])
	}
	flipByte(t, filepath.Join(dir, wal), (ends[4]+ends[5])/2) // inside record 5
	_, err := OpenPebble(dir)
	wantCorrupt(t, err, dir, wal)
}

// TestOpenCleanReopen: a store closed cleanly, and one whose process died
// without closing it (its log not closed), reopen with all their data.
func TestOpenCleanReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	tableStore(t, dir, 500)
	s, err := OpenPebble(dir, WithSyncWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "/unflushed", []byte("v"))
	// Not closed: what is on disk is what a kill -9 leaves.
	snapshot := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(snapshot, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for _, d := range []string{dir, snapshot} {
		_ = os.Remove(filepath.Join(d, "LOCK"))
		s, err := OpenPebble(d)
		if err != nil {
			t.Fatalf("reopen %s: %v", d, err)
		}
		if got := mustGet(t, s, "/unflushed"); string(got) != "v" {
			t.Fatalf("%s lost the synced write: %q", d, got)
		}
		if got := mustGet(t, s, corruptKey(499).String()); string(got) != string(corruptValue(499)) {
			t.Fatalf("%s lost a flushed key: %q", d, got)
		}
		_ = s.Close()
	}
}
