package pool

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"iter"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
)

// layoutVersion is the version of the key layout below, stored under
// <p>/v. A pool without it is of the first layout (legacy.go) and is
// migrated when it opens.
const layoutVersion = "2"

// keys builds the pool's datastore keys under a prefix:
//
//	<p>/v                             the layout version (layoutVersion)
//	<p>/R/<epoch>/<id>                the entry (encodeEntry)
//	<p>/A/<tag(account)>/<epoch>/<id> index by account (empty value)
//	<p>/N/<tag(node)>/<epoch>/<id>    index by node
//	<p>/M/<tag(model)>/<epoch>/<id>   index by model
//	<p>/e/<id hex>/<digest hex>       evidence: a conflicting receipt (encodeEntry)
//
// Epochs (8 bytes, big-endian), ids (32 bytes) and tags are written in
// keyText, an order-preserving base64, so key order is (epoch, id) order
// and keys stay text that datastores accept (no '/', no '.'). A tag is 8
// bytes of a SHA-256 of the indexed value: values that share a tag share
// an index, and List checks every entry it reads against its filter. Where an entry is (its epoch)
// and which envelopes the pool holds (their digests) are kept in memory,
// rebuilt from the entries when the pool opens, so a receipt writes four
// keys.
type keys struct{ prefix string }

// keyText is the encoding of binary key parts: base64 without padding
// over an alphabet in ASCII order, so that it preserves the order of
// equally long inputs.
var keyText = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").
	WithPadding(base64.NoPadding)

// Lengths of the encoded epoch and id.
var (
	epochTextLen = keyText.EncodedLen(8)
	idTextLen    = keyText.EncodedLen(len(ID{}))
	posLen       = epochTextLen + 1 + idTextLen
)

// epochHex is the epoch as a cursor writes it: 16 hex digits.
func epochHex(e uint64) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], e)
	return hex.EncodeToString(raw[:])
}

// epochText is the epoch as keys write it.
func epochText(e uint64) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], e)
	return keyText.EncodeToString(raw[:])
}

// pos returns the "<epoch>/<id>" tail of the keys of an entry.
func pos(epoch uint64, id ID) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], epoch)
	b := make([]byte, 0, posLen)
	b = keyText.AppendEncode(b, raw[:])
	b = append(b, '/')
	return string(keyText.AppendEncode(b, id[:]))
}

func (k keys) version() ds.Key { return ds.RawKey(k.prefix + "/v") }

func (k keys) entry(epoch uint64, id ID) ds.Key {
	return ds.RawKey(k.entries() + "/" + pos(epoch, id))
}

func (k keys) evidence(id ID, d [32]byte) ds.Key {
	return ds.RawKey(k.evidencePrefix(id) + "/" + hex.EncodeToString(d[:]))
}

// evidencePrefix is the prefix of the evidence against receipt id.
func (k keys) evidencePrefix(id ID) string { return k.prefix + "/e/" + id.String() }

// accountIndex, nodeIndex and modelIndex return the prefix of an index.
func (k keys) accountIndex(a peer.ID) string { return k.prefix + "/A/" + tags.get('A', string(a)) }
func (k keys) nodeIndex(n peer.ID) string    { return k.prefix + "/N/" + tags.get('N', string(n)) }
func (k keys) modelIndex(m string) string    { return k.prefix + "/M/" + tags.get('M', m) }

// indexTags returns the tags of e's account, node and model.
func indexTags(e Entry) (account, node, model string) {
	tags.mu.Lock()
	defer tags.mu.Unlock()
	return tags.getLocked('A', string(e.Account)), tags.getLocked('N', string(e.Node)), tags.getLocked('M', e.Model)
}
func (k keys) entries() string { return k.prefix + "/R" }

// entryKeys yields every key written when e is stored.
func (k keys) entryKeys(e Entry) iter.Seq[ds.Key] {
	return func(yield func(ds.Key) bool) {
		for key := range k.entryWrites(e, false) {
			if !yield(key) {
				return
			}
		}
	}
}

// entryWrites yields every key and value written when e is stored; values
// are nil unless withValues.
func (k keys) entryWrites(e Entry, withValues bool) iter.Seq2[ds.Key, []byte] {
	p := pos(e.Epoch, e.ID)
	return func(yield func(ds.Key, []byte) bool) {
		var v []byte
		if withValues {
			v = encodeEntry(e)
		}
		a, n, m := indexTags(e)
		_ = yield(ds.RawKey(k.prefix+"/R/"+p), v) &&
			yield(ds.RawKey(k.prefix+"/A/"+a+"/"+p), []byte{}) &&
			yield(ds.RawKey(k.prefix+"/N/"+n+"/"+p), []byte{}) &&
			yield(ds.RawKey(k.prefix+"/M/"+m+"/"+p), []byte{})
	}
}

// tagCacheGeneration is how many values each of the two generations of
// the cache of their tags holds.
const tagCacheGeneration = 4096

// tagCache remembers the tags of recently indexed values: a pool's
// receipts name few accounts, nodes and models many times over. It holds
// between tagCacheGeneration and twice as many: when the recent map is
// full it becomes the older one and the older one is dropped.
type tagCache struct {
	mu       sync.Mutex
	cur, old map[tagOf]string
}

// tagOf is a value of an index kind.
type tagOf struct {
	kind byte
	v    string
}

var tags = &tagCache{}

// get returns the tag of value v of the index kind: the first 8 bytes of
// the SHA-256 of kind and v, in keyText.
func (c *tagCache) get(kind byte, v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(kind, v)
}

// getLocked is get, c.mu held.
func (c *tagCache) getLocked(kind byte, v string) string {
	key := tagOf{kind, v}
	if s, ok := c.cur[key]; ok {
		return s
	}
	s, ok := c.old[key]
	if !ok {
		sum := sha256.Sum256(append([]byte{kind}, v...))
		s = keyText.EncodeToString(sum[:8])
	}
	if len(c.cur) >= tagCacheGeneration || c.cur == nil {
		c.old, c.cur = c.cur, make(map[tagOf]string, tagCacheGeneration)
	}
	c.cur[key] = s
	return s
}

// parsePos parses the trailing "<epoch>/<id>" of a key.
func parsePos(key string) (uint64, ID, bool) {
	if len(key) < posLen || key[len(key)-idTextLen-1] != '/' {
		return 0, ID{}, false
	}
	p := key[len(key)-posLen:]
	var raw [8]byte
	var id ID
	if n, err := keyText.Decode(raw[:], []byte(p[:epochTextLen])); err != nil || n != len(raw) {
		return 0, ID{}, false
	}
	if n, err := keyText.Decode(id[:], []byte(p[epochTextLen+1:])); err != nil || n != len(id) {
		return 0, ID{}, false
	}
	return binary.BigEndian.Uint64(raw[:]), id, true
}
