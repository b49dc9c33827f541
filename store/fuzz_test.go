package store

import (
	"bytes"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// FuzzPrefixBounds checks that the iterator bounds built for a query prefix
// select exactly the keys query.NaiveQueryApply keeps for that prefix.
func FuzzPrefixBounds(f *testing.F) {
	for _, seed := range [][2]string{
		{"/foo", "/foo/bar"}, {"/foo", "/foobar"}, {"/foo", "/foo"}, {"/foo/", "/foo0"},
		{"", "/a"}, {"/", "/a"}, {"foo", "/foo/x"}, {"/a/../b", "/b/c"}, {"/.././/", "/x"},
		{"/a", "/a\xff"}, {"/a.", "/a./b"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, prefix, rawKey string) {
		key := ds.NewKey(rawKey).String() // stored keys are always cleaned
		q := dsq.Query{Prefix: prefix}
		kept, err := dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, []dsq.Entry{{Key: key}})).Rest()
		if err != nil {
			t.Fatal(err)
		}
		lower, upper := prefixBounds(prefix)
		k := []byte(key)
		in := (lower == nil || bytes.Compare(k, lower) >= 0) && (upper == nil || bytes.Compare(k, upper) < 0)
		if in != (len(kept) == 1) {
			t.Fatalf("prefix %q key %q: in bounds [%q, %q) = %v, NaiveQueryApply keeps it = %v",
				prefix, key, lower, upper, in, len(kept) == 1)
		}
	})
}
