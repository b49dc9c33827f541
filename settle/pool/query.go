package pool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Limits of List.
const (
	// DefaultLimit is the page size when Filter.Limit is 0.
	DefaultLimit = 100
	// MaxLimit is the largest page List returns.
	MaxLimit = 1000
)

// get returns the entry of id, in flight or persisted.
func (p *Pool) get(ctx context.Context, id ID) (Entry, bool, error) {
	p.flightMu.Lock()
	e, ok := p.flight[id]
	epoch, known := p.knownIDs[id]
	p.flightMu.Unlock()
	if ok {
		return e, true, nil
	}
	if !known {
		return Entry{}, false, nil
	}
	return p.load(ctx, epoch, id)
}

// load reads the entry at (epoch, id).
func (p *Pool) load(ctx context.Context, epoch uint64, id ID) (Entry, bool, error) {
	b, err := p.store.Get(ctx, p.keys.entry(epoch, id))
	if errors.Is(err, ds.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("pool: %w", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return Entry{}, false, fmt.Errorf("receipt %s: %w", id, err)
	}
	return e, true, nil
}

// Get returns the receipt with the given id, including one accepted and
// not yet persisted.
func (p *Pool) Get(ctx context.Context, id ID) (Entry, bool, error) { return p.get(ctx, id) }

// Has reports whether the pool holds a receipt for id (a node checks it
// before serving an authorization, to refuse a replay).
func (p *Pool) Has(ctx context.Context, id ID) (bool, error) {
	p.flightMu.Lock()
	_, ok := p.flight[id]
	epoch, known := p.knownIDs[id]
	p.flightMu.Unlock()
	if ok || !known {
		return ok, nil
	}
	ok, err := p.store.Has(ctx, p.keys.entry(epoch, id))
	if err != nil {
		return false, fmt.Errorf("pool: %w", err)
	}
	return ok, nil
}

// Evidence returns the refused receipts for the authorization id: each
// differs from the held receipt (Get) and is evidence against its Node.
// They are ordered by digest.
func (p *Pool) Evidence(ctx context.Context, id ID) ([]Entry, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	res, err := p.store.Query(ctx, dsq.Query{
		Prefix: p.keys.evidencePrefix(id),
		Orders: []dsq.Order{dsq.OrderByKey{}},
	})
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	defer res.Close()
	var out []Entry
	for r := range res.Next() {
		if r.Error != nil {
			return nil, fmt.Errorf("pool: %w", r.Error)
		}
		e, err := decodeEntry(r.Value)
		if err != nil {
			return nil, fmt.Errorf("evidence %s: %w", r.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Filter selects receipts for List. Zero fields select everything.
type Filter struct {
	Account peer.ID
	Node    peer.ID
	Model   string
	// Epoch, when set, selects one epoch.
	Epoch *uint64
	// After is the cursor List returned with the previous page.
	After string
	// Limit is the page size: 0 means DefaultLimit, at most MaxLimit.
	Limit int
}

// Cursor returns the List cursor that follows e.
func Cursor(e Entry) string { return epochHex(e.Epoch) + "." + e.ID.String() }

// parseCursor parses a Cursor into its "<epoch>/<id>" key suffix.
func parseCursor(c string) (string, error) {
	if len(c) != 16+1+64 || c[16] != '.' {
		return "", fmt.Errorf("pool: bad cursor %q", c)
	}
	epoch, err := strconv.ParseUint(c[:16], 16, 64)
	if err != nil {
		return "", fmt.Errorf("pool: bad cursor %q", c)
	}
	id, err := ParseID(c[17:])
	if err != nil {
		return "", fmt.Errorf("pool: bad cursor %q", c)
	}
	return pos(epoch, id), nil
}

// List returns the receipts that match f, ordered by epoch then id, and
// the cursor of the next page ("" when this is the last). It first waits
// for the receipts already accepted to be persisted.
func (p *Pool) List(ctx context.Context, f Filter) ([]Entry, string, error) {
	if err := p.flush(ctx); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	base, index := p.keys.entries(), false
	switch {
	case f.Account != "":
		base, index = p.keys.accountIndex(f.Account), true
	case f.Node != "":
		base, index = p.keys.nodeIndex(f.Node), true
	case f.Model != "":
		base, index = p.keys.modelIndex(f.Model), true
	}
	prefix := base
	if f.Epoch != nil {
		prefix += "/" + epochText(*f.Epoch)
	}
	q := dsq.Query{Prefix: prefix, Orders: []dsq.Order{dsq.OrderByKey{}}, KeysOnly: index}
	if f.After != "" {
		pos, err := parseCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		q.Filters = []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: base + "/" + pos}}
	}
	res, err := p.store.Query(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("pool: %w", err)
	}
	defer res.Close()
	var out []Entry
	for r := range res.Next() {
		if r.Error != nil {
			return nil, "", fmt.Errorf("pool: %w", r.Error)
		}
		var e Entry
		if index {
			epoch, id, ok := parsePos(r.Key)
			if !ok {
				continue
			}
			var found bool
			if e, found, err = p.load(ctx, epoch, id); err != nil {
				return nil, "", err
			} else if !found {
				continue // pruned meanwhile
			}
		} else if e, err = decodeEntry(r.Value); err != nil {
			return nil, "", fmt.Errorf("%s: %w", r.Key, err)
		}
		if !f.match(e) {
			continue
		}
		if len(out) == limit {
			return out, Cursor(out[len(out)-1]), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}

func (f Filter) match(e Entry) bool {
	return (f.Account == "" || e.Account == f.Account) &&
		(f.Node == "" || e.Node == f.Node) &&
		(f.Model == "" || e.Model == f.Model) &&
		(f.Epoch == nil || e.Epoch == *f.Epoch)
}

// Prune deletes the receipts of the epochs before epoch (closed and
// settled on chain) with their index entries; evidence is kept. It returns
// how many receipts it deleted.
func (p *Pool) Prune(ctx context.Context, before uint64) (int, error) {
	if err := p.flush(ctx); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res, err := p.store.Query(ctx, dsq.Query{Prefix: p.keys.entries(), Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return 0, fmt.Errorf("pool: %w", err)
	}
	var gone []Entry
	for r := range res.Next() {
		if r.Error != nil {
			res.Close()
			return 0, fmt.Errorf("pool: %w", r.Error)
		}
		e, err := decodeEntry(r.Value)
		if err != nil {
			p.log.Warn("deleting corrupt receipt entry", "key", hex.EncodeToString([]byte(r.Key)), "err", err)
			if err := p.store.Delete(ctx, ds.RawKey(r.Key)); err != nil {
				res.Close()
				return 0, fmt.Errorf("pool: %w", err)
			}
			continue
		}
		if e.Epoch >= before {
			break
		}
		gone = append(gone, e)
	}
	res.Close()
	if len(gone) == 0 {
		return 0, nil
	}
	b, err := p.store.Batch(ctx)
	if err != nil {
		return 0, fmt.Errorf("pool: %w", err)
	}
	for _, e := range gone {
		for k := range p.keys.entryKeys(e) {
			if err := b.Delete(ctx, k); err != nil {
				return 0, fmt.Errorf("pool: %w", err)
			}
		}
	}
	if err := b.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pool: pruning: %w", err)
	}
	p.flightMu.Lock()
	for _, e := range gone {
		delete(p.knownIDs, e.ID)
		delete(p.knownDigests, e.Digest)
	}
	p.flightMu.Unlock()
	for _, e := range gone {
		if !e.Settled {
			p.unpend(e)
		}
	}
	return len(gone), nil
}

// Unsettled calls fn with every receipt the pool holds that the chain has
// not settled, until fn returns false. A node calls it at
// start to submit again what it held when it stopped.
func (p *Pool) Unsettled(ctx context.Context, fn func(Entry) bool) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	return p.scanUnsettled(ctx, fn)
}

// scanUnsettled reads the stored unsettled receipts until fn
// returns false, skipping (and logging) corrupt entries.
func (p *Pool) scanUnsettled(ctx context.Context, fn func(Entry) bool) error {
	res, err := p.store.Query(ctx, dsq.Query{Prefix: p.keys.entries()})
	if err != nil {
		return fmt.Errorf("pool: reading receipts: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("pool: reading receipts: %w", r.Error)
		}
		e, err := decodeEntry(r.Value)
		if err != nil {
			p.log.Warn("skipping corrupt receipt entry", "key", hex.EncodeToString([]byte(r.Key)), "err", err)
			continue
		}
		if !e.Settled && !fn(e) {
			return nil
		}
	}
	return nil
}

// Stats counts the topic validator's verdicts by reason.
type Stats struct {
	Accepted uint64            `json:"accepted"`
	Rejected map[string]uint64 `json:"rejected"`
	Ignored  map[string]uint64 `json:"ignored"`
}

type stats struct {
	mu       sync.Mutex
	accepted uint64
	rejected map[string]uint64
	ignored  map[string]uint64
}

func newStats() *stats {
	return &stats{rejected: map[string]uint64{}, ignored: map[string]uint64{}}
}

func (s *stats) accept() pubsub.ValidationResult {
	s.mu.Lock()
	s.accepted++
	s.mu.Unlock()
	return pubsub.ValidationAccept
}

func (s *stats) reject(reason string) pubsub.ValidationResult {
	s.mu.Lock()
	s.rejected[reason]++
	s.mu.Unlock()
	return pubsub.ValidationReject
}

func (s *stats) ignore(reason string) pubsub.ValidationResult {
	s.mu.Lock()
	s.ignored[reason]++
	s.mu.Unlock()
	return pubsub.ValidationIgnore
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Accepted: s.accepted, Rejected: map[string]uint64{}, Ignored: map[string]uint64{}}
	for k, v := range s.rejected {
		out.Rejected[k] = v
	}
	for k, v := range s.ignored {
		out.Ignored[k] = v
	}
	return out
}

// MinIDPrefix is the fewest hex digits of a receipt id Find accepts.
const MinIDPrefix = 8

// Find returns the receipt whose id starts with prefix: at least
// MinIDPrefix hex digits, up to the whole id (64). It answers false when
// no receipt the pool holds matches, and an *AmbiguousIDError when more
// than one does.
func (p *Pool) Find(ctx context.Context, prefix string) (Entry, bool, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if err := CheckIDPrefix(prefix); err != nil {
		return Entry{}, false, err
	}
	if len(prefix) == 2*len(ID{}) {
		id, err := ParseID(prefix)
		if err != nil {
			return Entry{}, false, err
		}
		return p.get(ctx, id)
	}
	// knownIDs includes ids accepted and not yet committed, and a commit
	// can fail, so each candidate is read back before it counts.
	p.flightMu.Lock()
	var candidates []ID
	for id := range p.knownIDs {
		if strings.HasPrefix(id.String(), prefix) {
			candidates = append(candidates, id)
		}
	}
	p.flightMu.Unlock()
	var found []Entry
	for _, id := range candidates {
		e, ok, err := p.get(ctx, id)
		if err != nil {
			return Entry{}, false, err
		}
		if ok {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return Entry{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return Entry{}, false, &AmbiguousIDError{Prefix: prefix, Count: len(found)}
}

// CheckIDPrefix returns an error unless prefix is MinIDPrefix to 64 hex
// digits (either case).
func CheckIDPrefix(prefix string) error {
	if len(prefix) < MinIDPrefix || len(prefix) > 2*len(ID{}) {
		return fmt.Errorf("pool: receipt id %q: give %d to %d hex digits", prefix, MinIDPrefix, 2*len(ID{}))
	}
	for _, c := range prefix {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("pool: receipt id %q is not hex", prefix)
		}
	}
	return nil
}
