package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrCorrupt is wrapped by the error [OpenPebble] returns when the database
// on disk is damaged: a table whose block checksums do not match, or a
// write-ahead log corrupted before its last record.
var ErrCorrupt = errors.New("store: database is corrupt")

// CorruptionError reports a damaged database found at open. Its message
// names the store directory, the damaged file when known, and what the
// operator can do.
type CorruptionError struct {
	Dir  string // the store directory
	File string // the damaged file, relative to Dir; empty when unknown
	Err  error  // what pebble reported
}

func (e *CorruptionError) Error() string {
	what := "database"
	if e.File != "" {
		what = "file " + filepath.Join(e.Dir, e.File)
	}
	return fmt.Sprintf("store: the datastore at %s is corrupt (%s: %v); refusing to open it. "+
		"Stop the node, move %s aside (keep it for inspection) and restore it from a backup, "+
		"or start with an empty store at that path",
		e.Dir, what, e.Err, e.Dir)
}

func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// openError turns a failed pebble.Open into the store's error: corruption
// (of the write-ahead log or the manifest) becomes a [CorruptionError]
// naming the damaged log when pebble's report does not already.
func openError(dir string, err error) error {
	// Pebble marks corruption with cockroachdb/errors, which errors.Is
	// does not see.
	if !pebble.IsCorruptionError(err) {
		return fmt.Errorf("store: open pebble at %s: %w", dir, err)
	}
	return &CorruptionError{Dir: dir, File: damagedLog(dir, err), Err: err}
}

// damagedLog names the file a pebble corruption report at open is about:
// pebble replays only the newest write-ahead logs, and reports their
// corruption without the file's name. It returns "" when the report is not
// about a log, or when the directory holds no log.
func damagedLog(dir string, err error) string {
	var logs []string
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		return ""
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".log" {
			logs = append(logs, e.Name())
		}
	}
	msg := err.Error()
	for _, l := range logs {
		num := l[:len(l)-len(".log")]
		if strings.Contains(msg, l) || strings.Contains(msg, num) {
			return l
		}
	}
	if len(logs) == 1 && strings.Contains(msg, "WAL") {
		return logs[0]
	}
	return ""
}

// verifyTables reads every block of every live sstable of db, in dir, and
// checks its checksum. Pebble checks a block's checksum only when it reads
// the block, so without this a flipped bit in a table opens silently and
// surfaces later, in a read or in a compaction. The tables are read in
// parallel, straight from their files (bypassing the block cache); the cost
// is one sequential read of the store, a few milliseconds for the ~25 MiB
// of 1e5 receipts.
func verifyTables(db *pebble.DB, dir string, ro sstable.ReaderOptions) error {
	levels, err := db.SSTables()
	if err != nil {
		return fmt.Errorf("store: list tables of %s: %w", dir, err)
	}
	var files []string
	seen := make(map[uint64]bool)
	for _, level := range levels {
		for _, t := range level {
			if t.BackingType != pebble.BackingTypeLocal {
				continue
			}
			num := uint64(t.BackingSSTNum)
			if seen[num] {
				continue // virtual tables share their backing file
			}
			seen[num] = true
			files = append(files, fmt.Sprintf("%06d.sst", num))
		}
	}
	slices.Sort(files)

	work := make(chan string)
	errs := make([]error, len(files))
	index := make(map[string]int, len(files))
	for i, f := range files {
		index[f] = i
	}
	var wg sync.WaitGroup
	for range min(len(files), runtime.GOMAXPROCS(0), 8) {
		wg.Go(func() {
			for f := range work {
				errs[index[f]] = verifyTable(filepath.Join(dir, f), ro)
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return &CorruptionError{Dir: dir, File: files[i], Err: err}
		}
	}
	return nil
}

// verifyTable checks the checksums of every block of the sstable at path.
// A table that a compaction deleted since it was listed is not an error.
func verifyTable(path string, ro sstable.ReaderOptions) (err error) {
	f, err := vfs.Default.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	readable, err := sstable.NewSimpleReadable(&readAhead{File: f})
	if err != nil {
		_ = f.Close()
		return err
	}
	// NewReader takes ownership of readable, closing it on error; a
	// malformed table may make it panic, which is corruption too.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable table: %v", p)
		}
	}()
	r, err := sstable.NewReader(context.Background(), readable, ro)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.ValidateBlockChecksums()
}

// readAheadSize is how much of a table verifyTable reads at a time.
const readAheadSize = 1 << 20

// readAhead serves the small reads of a table's blocks, which come in file
// order, from a buffer filled with large reads: one system call per
// readAheadSize bytes instead of one per block.
type readAhead struct {
	vfs.File
	buf []byte
	off int64 // file offset of buf[0]
}

func (r *readAhead) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.off && off+int64(len(p)) <= r.off+int64(len(r.buf)) {
		return copy(p, r.buf[off-r.off:]), nil
	}
	if len(p) >= readAheadSize {
		return r.File.ReadAt(p, off)
	}
	if r.buf == nil {
		r.buf = make([]byte, readAheadSize)
	}
	r.buf = r.buf[:cap(r.buf)]
	n, err := r.File.ReadAt(r.buf, off)
	r.buf, r.off = r.buf[:n], off
	if n >= len(p) {
		return copy(p, r.buf), nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return copy(p, r.buf), err
}
