package pool

import (
	"encoding/hex"
	"fmt"
	"iter"
	"strconv"
	"strings"

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

func (k keys) accountIndex(a peer.ID) string { return k.index("a", a.String()) }
func (k keys) nodeIndex(n peer.ID) string    { return k.index("n", n.String()) }
func (k keys) modelIndex(m string) string {
	if m == "" {
		return k.index("m", "_") // hex never yields "_"
	}
	return k.index("m", hex.EncodeToString([]byte(m)))
}
func (k keys) entries() string { return k.prefix + "/r" }

// entryWrites yields every key and value written when e is stored.
func (k keys) entryWrites(e Entry) iter.Seq2[ds.Key, []byte] {
	pos := "/" + epochHex(e.Epoch) + "/" + e.ID.String()
	return func(yield func(ds.Key, []byte) bool) {
		_ = yield(k.entry(e.Epoch, e.ID), encodeEntry(e)) &&
			yield(k.where(e.ID), []byte(epochHex(e.Epoch))) &&
			yield(k.digest(e.Digest), e.ID[:]) &&
			yield(ds.RawKey(k.accountIndex(e.Account)+pos), []byte{}) &&
			yield(ds.RawKey(k.nodeIndex(e.Node)+pos), []byte{}) &&
			yield(ds.RawKey(k.modelIndex(e.Model)+pos), []byte{})
	}
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
