package pool

import (
	"encoding/hex"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
)

// keys builds the pool's datastore keys under a prefix:
//
//	<p>/r/<epoch>/<id>          the entry (encodeEntry)
//	<p>/i/<id>                  <epoch>: where the entry of id is
//	<p>/h/<digest>              id: envelopes seen (entries and evidence)
//	<p>/a/<account>/<epoch>/<id> index by account (empty value)
//	<p>/n/<node>/<epoch>/<id>   index by node
//	<p>/m/<model>/<epoch>/<id>  index by model (hex of the name)
//	<p>/e/<id>/<digest>         evidence: a conflicting receipt (encodeEntry)
//
// Epochs are 16 hex digits and ids 64, so key order is (epoch, id) order.
type keys struct{ prefix string }

func epochHex(e uint64) string { return fmt.Sprintf("%016x", e) }

func (k keys) key(parts ...string) ds.Key {
	return ds.RawKey(k.prefix + "/" + strings.Join(parts, "/"))
}

func (k keys) entry(epoch uint64, id ID) ds.Key { return k.key("r", epochHex(epoch), id.String()) }
func (k keys) where(id ID) ds.Key               { return k.key("i", id.String()) }
func (k keys) digest(d [32]byte) ds.Key         { return k.key("h", hex.EncodeToString(d[:])) }
func (k keys) evidence(id ID, d [32]byte) ds.Key {
	return k.key("e", id.String(), hex.EncodeToString(d[:]))
}

// index returns the prefix of an index ("a", "n" or "m") for value v.
func (k keys) index(kind, v string) string { return k.prefix + "/" + kind + "/" + v }

func (k keys) accountIndex(a peer.ID) string { return k.index("a", peerNames.get(a)) }
func (k keys) nodeIndex(n peer.ID) string    { return k.index("n", peerNames.get(n)) }
func (k keys) modelIndex(m string) string {
	if m == "" {
		return k.index("m", "_") // hex never yields "_"
	}
	return k.index("m", hex.EncodeToString([]byte(m)))
}
func (k keys) entries() string { return k.prefix + "/r" }

// entryWrites yields every key and value written when e is stored.
func (k keys) entryWrites(e Entry) iter.Seq2[ds.Key, []byte] {
	epoch, id := epochHex(e.Epoch), e.ID.String()
	pos := "/" + epoch + "/" + id
	return func(yield func(ds.Key, []byte) bool) {
		_ = yield(ds.RawKey(k.prefix+"/r"+pos), encodeEntry(e)) &&
			yield(ds.RawKey(k.prefix+"/i/"+id), []byte(epoch)) &&
			yield(k.digest(e.Digest), e.ID[:]) &&
			yield(ds.RawKey(k.accountIndex(e.Account)+pos), []byte{}) &&
			yield(ds.RawKey(k.nodeIndex(e.Node)+pos), []byte{}) &&
			yield(ds.RawKey(k.modelIndex(e.Model)+pos), []byte{})
	}
}

// nameCacheGeneration is how many peer IDs each of the two generations of
// the cache of their text forms holds.
const nameCacheGeneration = 4096

// nameCache remembers the text form (base58) of recently seen peer IDs: a
// pool's receipts name few accounts and nodes many times over, and the
// index keys spell them out. It holds between nameCacheGeneration and
// twice as many IDs: when the recent map is full it becomes the older one
// and the older one is dropped.
type nameCache struct {
	mu       sync.Mutex
	cur, old map[peer.ID]string
}

var peerNames = &nameCache{}

// get returns id.String().
func (c *nameCache) get(id peer.ID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cur[id]; ok {
		return s
	}
	s, ok := c.old[id]
	if !ok {
		s = id.String()
	}
	if len(c.cur) >= nameCacheGeneration || c.cur == nil {
		c.old, c.cur = c.cur, make(map[peer.ID]string, nameCacheGeneration)
	}
	c.cur[id] = s
	return s
}

// parsePos parses the trailing "<epoch>/<id>" of a key.
func parsePos(key string) (uint64, ID, bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return 0, ID{}, false
	}
	id, err := ParseID(key[i+1:])
	if err != nil {
		return 0, ID{}, false
	}
	rest := key[:i]
	j := strings.LastIndexByte(rest, '/')
	ep := rest[j+1:]
	if len(ep) != 16 {
		return 0, ID{}, false
	}
	epoch, err := strconv.ParseUint(ep, 16, 64)
	if err != nil {
		return 0, ID{}, false
	}
	return epoch, id, true
}
