package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// benchValueSize is about the size of a signed usage receipt.
const benchValueSize = 256

func benchValue() []byte {
	v := make([]byte, benchValueSize)
	rand.Read(v)
	return v
}

func benchKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/receipts/%012d", i)) }

func BenchmarkPebblePut(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	v := benchValue()
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	for i := range b.N {
		if err := s.Put(ctx, benchKey(i), v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPebbleGet(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	v := benchValue()
	const n = 10000
	for i := range n {
		if err := s.Put(ctx, benchKey(i), v); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Get(ctx, benchKey(i%n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPebbleBatchPut commits one synced batch of 1000 puts per
// iteration.
func BenchmarkPebbleBatchPut(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	v := benchValue()
	const perBatch = 1000
	b.SetBytes(perBatch * benchValueSize)
	b.ResetTimer()
	for i := range b.N {
		batch, err := s.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for j := range perBatch {
			if err := batch.Put(ctx, benchKey(i*perBatch+j), v); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPebbleQueryPrefix reads the first 100 entries under one of 100
// prefixes of 100 entries each, from a store that holds 10,000.
func BenchmarkPebbleQueryPrefix(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	v := benchValue()
	const prefixes, perPrefix = 100, 100
	for p := range prefixes {
		for i := range perPrefix {
			if err := s.Put(ctx, ds.NewKey(fmt.Sprintf("/peer%03d/%06d", p, i)), v); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		res, err := s.Query(ctx, dsq.Query{Prefix: fmt.Sprintf("/peer%03d", i%prefixes), Limit: perPrefix})
		if err != nil {
			b.Fatal(err)
		}
		entries, err := res.Rest()
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != perPrefix {
			b.Fatalf("got %d entries, want %d", len(entries), perPrefix)
		}
		res.Close()
	}
}

// BenchmarkPebbleOpen opens and closes a store of 1e5 distinct
// receipt-sized values held in sstables: the node's start-up cost of the
// store.
func BenchmarkPebbleOpen(b *testing.B) {
	const n = 100000
	dir := filepath.Join(b.TempDir(), "db")
	s, err := OpenPebble(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		bt, err := s.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < i+1000; j++ {
			if err := bt.Put(ctx, benchKey(j), benchValue()); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	usage, _ := s.DiskUsage(ctx)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := OpenPebble(dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(usage)/(1<<20), "MiB")
}
