package pool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// The first key layout, of pools without a layout version (<p>/v), wrote
// six keys per receipt, ids in hex and peer IDs in base58:
//
//	<p>/r/<epoch>/<id>           the entry (encodeEntry, as now)
//	<p>/i/<id>                   <epoch>: where the entry of id is
//	<p>/h/<digest>               id: envelopes seen (entries and evidence)
//	<p>/a/<account>/<epoch>/<id> index by account (empty value)
//	<p>/n/<node>/<epoch>/<id>    index by node
//	<p>/m/<model>/<epoch>/<id>   index by model (hex of the name, "_" for none)
//	<p>/e/<id>/<digest>          evidence (unchanged in the second layout)
//
// migrate rewrites such a pool in the current layout when it opens.

// legacyKinds are the key kinds of the first layout that the current one
// no longer writes.
var legacyKinds = []string{"r", "i", "h", "a", "n", "m"}

// migrateChunk is how many entries one migration batch rewrites.
const migrateChunk = 1024

// migrate brings the datastore to the current key layout: the entries of
// the first layout are rewritten, their old keys deleted, chunk by chunk
// (each chunk atomic, so an interrupted migration resumes at the next
// open and loses nothing), then the version key is written. Entries of
// the first layout are looked for even in a pool that has the version, so
// that what a downgraded node wrote is migrated when it upgrades again.
// It returns the number of entries rewritten.
func (p *Pool) migrate(ctx context.Context) (int, error) {
	v, err := p.store.Get(ctx, p.keys.version())
	current := err == nil
	switch {
	case err == nil && string(v) != layoutVersion:
		return 0, fmt.Errorf("pool: unknown key layout version %q", v)
	case err != nil && !errors.Is(err, ds.ErrNotFound):
		return 0, fmt.Errorf("pool: reading the layout version: %w", err)
	}
	moved := 0
	for {
		n, err := p.migrateEntries(ctx)
		if err != nil {
			return moved, err
		}
		if n == 0 {
			break
		}
		moved += n
	}
	if current && moved == 0 {
		return 0, nil
	}
	// What is left of the first layout: the digests of evidence, and
	// keys of entries that were corrupt or already gone.
	for _, kind := range legacyKinds {
		if err := p.deleteAll(ctx, p.keys.prefix+"/"+kind); err != nil {
			return moved, err
		}
	}
	if err := p.store.Put(ctx, p.keys.version(), []byte(layoutVersion)); err != nil {
		return moved, fmt.Errorf("pool: writing the layout version: %w", err)
	}
	if err := p.store.Sync(ctx, ds.RawKey(p.keys.prefix)); err != nil {
		return moved, fmt.Errorf("pool: %w", err)
	}
	if moved > 0 {
		p.log.Info("receipt pool migrated to the current key layout", "receipts", moved, "version", layoutVersion)
	}
	return moved, nil
}

// migrateEntries rewrites up to migrateChunk entries of the first layout in
// one batch and returns how many it read.
func (p *Pool) migrateEntries(ctx context.Context) (int, error) {
	res, err := p.store.Query(ctx, dsq.Query{Prefix: p.keys.prefix + "/r", Limit: migrateChunk})
	if err != nil {
		return 0, fmt.Errorf("pool: migrating: %w", err)
	}
	rs, err := res.Rest()
	if err != nil {
		return 0, fmt.Errorf("pool: migrating: %w", err)
	}
	if len(rs) == 0 {
		return 0, nil
	}
	b, err := p.store.Batch(ctx)
	if err != nil {
		return 0, fmt.Errorf("pool: %w", err)
	}
	for _, r := range rs {
		if err := b.Delete(ctx, ds.RawKey(r.Key)); err != nil {
			return 0, fmt.Errorf("pool: %w", err)
		}
		e, err := decodeEntry(r.Value)
		if err != nil {
			p.log.Warn("dropping corrupt receipt entry while migrating", "key", r.Key, "err", err)
			continue
		}
		for k := range legacyKeys(p.keys.prefix, e) {
			if err := b.Delete(ctx, k); err != nil {
				return 0, fmt.Errorf("pool: %w", err)
			}
		}
		for k, v := range p.keys.entryWrites(e, true) {
			if err := b.Put(ctx, k, v); err != nil {
				return 0, fmt.Errorf("pool: %w", err)
			}
		}
	}
	if err := b.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pool: migrating: %w", err)
	}
	return len(rs), nil
}

// deleteAll deletes every key under prefix, in batches.
func (p *Pool) deleteAll(ctx context.Context, prefix string) error {
	for {
		res, err := p.store.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true, Limit: migrateChunk})
		if err != nil {
			return fmt.Errorf("pool: %w", err)
		}
		rs, err := res.Rest()
		if err != nil {
			return fmt.Errorf("pool: %w", err)
		}
		if len(rs) == 0 {
			return nil
		}
		b, err := p.store.Batch(ctx)
		if err != nil {
			return fmt.Errorf("pool: %w", err)
		}
		for _, r := range rs {
			if err := b.Delete(ctx, ds.RawKey(r.Key)); err != nil {
				return fmt.Errorf("pool: %w", err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			return fmt.Errorf("pool: %w", err)
		}
	}
}

// legacyKeys yields the keys the first layout wrote for entry e under
// prefix, the entry's own key first.
func legacyKeys(prefix string, e Entry) func(func(ds.Key) bool) {
	epoch, id := epochHex(e.Epoch), e.ID.String()
	p := "/" + epoch + "/" + id
	model := "_"
	if e.Model != "" {
		model = hex.EncodeToString([]byte(e.Model))
	}
	return func(yield func(ds.Key) bool) {
		_ = yield(ds.RawKey(prefix+"/r"+p)) &&
			yield(ds.RawKey(prefix+"/i/"+id)) &&
			yield(ds.RawKey(prefix+"/h/"+hex.EncodeToString(e.Digest[:]))) &&
			yield(ds.RawKey(prefix+"/a/"+e.Account.String()+p)) &&
			yield(ds.RawKey(prefix+"/n/"+e.Node.String()+p)) &&
			yield(ds.RawKey(prefix+"/m/"+model+p))
	}
}
