package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Namespace is the datastore prefix of every ledger key.
const Namespace = "/fomo/ledger"

// Key layout (all under Namespace; epochs are 20-digit zero-padded decimals
// so that key order is numeric order):
//
//	/meta/apphash                  the 32-byte app hash of the last block
//	/meta/genesis                  Genesis
//	/meta/head                     head{height, time_ms, next_epoch}
//	/meta/supply                   map denom → Supply{minted, burned, withdrawn}
//	/acct/<account>                Account (the treasury is /acct/treasury)
//	/key/<account>/<key>           SessionKey
//	/node/<node>                   Node
//	/model/<name>                  Model
//	/escrow/<epoch>/<model>        uint64 usd held for the epoch
//	/rcpt/<id hex>                 ReceiptState, binary (settles each id once; pruned
//	                               with its epoch's ids after the retention)
//	/eids/<epoch>/<height>/<tx>    the ids one tx included in the epoch, 32 bytes each,
//	                               ascending; pruned after the retention
//	/eidx/<epoch>                  the epoch's id chunks, 12 bytes each (height, tx index),
//	                               written at its close, for pruning without scans
//	/meta/prune                    pruneCursor: how far the retired epochs are pruned
//	/agg/<epoch>/<model>           modelAgg, binary: the model's totals; deleted at close
//	/aggn/<epoch>/<model>/<node>   uint64 cost owed to a serving node; deleted at close
//	/agge/<epoch>/<model>/<node>   entryAgg: fee and count of an entry node; deleted at close
//	/agga/<epoch>/<model>/<acct>   uint64 paid charges of an account (with emissions)
//	/aggu/<epoch>/<model>/<id hex> empty: an unpaid receipt; deleted at close
//	/reserve/flock                 uint64 usd of the FLOCK buyback reserve
//	/reserve/mt/<model>            uint64 usd of the model's MT buyback reserve
//	/epoch/<epoch>                 EpochSettlement
//	/pool/<id>                     PoolState ("flock": FLOCK/usd; "mt:<model>": MT/FLOCK)
//	/rmo/<model>                   RMO (the offering and its raise escrow)
//	/rmobuy/<model>/<account>      RMOPosition (a buyer's MT bought and principal)
//	/mescrow/<model>               ModelEscrow (reserved FLOCK, MT incentives)
//	/vest/<account>/<model>        Vesting (the issuer's MT)
//	/stake/<account>/<model>       StakePosition (staked and unbonding MT, §9.6)
//	/stakem/<model>/<account>      empty: index of a model's stakers
//	/emission/reserve              uint64 FLOCK of the emission reserve (§9.7)
//	/emission/budget               uint64 FLOCK budget of the last closed epoch
//	/emission/release/<model>      ModelRelease (the gated pools' releases)
//	/emission/born/<model>         uint64 block time of a model's registration
//	/rewards/<account>/<epoch>     EpochRewards (an account's emission rewards; never pruned)
const (
	kAppHash  = "/meta/apphash"
	kGenesis  = "/meta/genesis"
	kHead     = "/meta/head"
	kSupply   = "/meta/supply"
	kFlockRes = "/reserve/flock"
	kPrune    = "/meta/prune"
	pAcct     = "/acct/"
	pKey      = "/key/"
	pKeyOwner = "/keyowner/"
	pNode     = "/node/"
	pModel    = "/model/"
	pEscrow   = "/escrow/"
	pEpochIDs = "/eids/"
	// pEpochIDIndex lists an epoch's id chunks.
	pEpochIDIndex = "/eidx/"
	pAgg          = "/agg/"
	pAggNode      = "/aggn/"
	pAggEntry     = "/agge/"
	pAggAcct      = "/agga/"
	pAggUnpaid    = "/aggu/"
	pRcpt         = "/rcpt/"
	pMTRes        = "/reserve/mt/"
	pEpoch        = "/epoch/"
	pPool         = "/pool/"
	pRMO          = "/rmo/"
	pRMOBuy       = "/rmobuy/"
	pMEscrow      = "/mescrow/"
	pVest         = "/vest/"
	pStake        = "/stake/"
	pStakeM       = "/stakem/"
)

func epochKey(e uint64) string { return fmt.Sprintf("%020d", e) }

// errNotFound is returned by the typed getters when a key is absent.
var errNotFound = errors.New("ledger: not found")

// kv is a write overlay over the datastore: block-level pending writes and
// a transaction-level layer on top, so that a failing tx is discarded whole.
type kv struct {
	ctx   context.Context
	d     ds.Datastore
	block map[string][]byte // nil value = delete
	tx    map[string][]byte
}

func (s *kv) get(k string) ([]byte, bool, error) {
	if v, ok := s.tx[k]; ok {
		return v, v != nil, nil
	}
	if v, ok := s.block[k]; ok {
		return v, v != nil, nil
	}
	v, err := s.d.Get(s.ctx, ds.NewKey(Namespace+k))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (s *kv) put(k string, v []byte) {
	if v == nil {
		v = []byte{}
	}
	s.tx[k] = v
}

func (s *kv) del(k string) { s.tx[k] = nil }

func (s *kv) commitTx() {
	for k, v := range s.tx {
		s.block[k] = v
	}
	clear(s.tx)
}

func (s *kv) discardTx() { clear(s.tx) }

// writeSetDigest is sha256 over a block's writes in ascending key order,
// each as len(key) ‖ key ‖ op ‖ len(value) ‖ value (op 0 = put, 1 = delete;
// lengths 8-byte big-endian).
func writeSetDigest(keys []string, m map[string][]byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, k := range keys {
		v := m[k]
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		if v == nil {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write(v)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// flush writes the block's pending writes to the datastore in key order,
// together with the app hash that finish derives from their digest, in one
// batch where the datastore supports batches.
func (s *kv) flush(finish func(digest [32]byte) [32]byte) error {
	s.commitTx()
	keys := make([]string, 0, len(s.block))
	for k := range s.block {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	app := finish(writeSetDigest(keys, s.block))
	s.block[kAppHash] = app[:]
	keys = append(keys, kAppHash)
	var w interface {
		Put(context.Context, ds.Key, []byte) error
		Delete(context.Context, ds.Key) error
	} = s.d
	var b ds.Batch
	if bd, ok := s.d.(ds.Batching); ok {
		var err error
		if b, err = bd.Batch(s.ctx); err != nil {
			return err
		}
		w = b
	}
	for _, k := range keys {
		v := s.block[k]
		var err error
		if v == nil {
			err = w.Delete(s.ctx, ds.NewKey(Namespace+k))
		} else {
			err = w.Put(s.ctx, ds.NewKey(Namespace+k), v)
		}
		if err != nil {
			return err
		}
	}
	if b != nil {
		if err := b.Commit(s.ctx); err != nil {
			return err
		}
	}
	clear(s.block)
	return nil
}

// scan returns the entries under prefix in key order, merging pending writes.
func (s *kv) scan(prefix string) ([]entry, error) {
	res, err := s.d.Query(s.ctx, dsq.Query{Prefix: Namespace + prefix, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return nil, err
	}
	var out []entry
	for {
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			res.Close()
			return nil, r.Error
		}
		out = append(out, entry{strings.TrimPrefix(r.Key, Namespace), r.Value})
	}
	if err := res.Close(); err != nil {
		return nil, err
	}
	var over map[string][]byte
	for _, layer := range []map[string][]byte{s.block, s.tx} {
		for k, v := range layer {
			if strings.HasPrefix(k, prefix) {
				if over == nil {
					over = map[string][]byte{}
				}
				over[k] = v
			}
		}
	}
	if over == nil {
		return out, nil // already in key order
	}
	m := make(map[string][]byte, len(out)+len(over))
	for _, e := range out {
		m[e.key] = e.val
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out = out[:0]
	for k, v := range m {
		out = append(out, entry{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// each calls fn for every entry under prefix in key order, the pending
// writes merged in. Unlike scan it streams the datastore's entries rather
// than holding them all; fn may write to the tx layer (the pending writes
// under prefix are read before the first call).
func (s *kv) each(prefix string, fn func(key string, val []byte) error) error {
	res, err := s.d.Query(s.ctx, dsq.Query{Prefix: Namespace + prefix, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return err
	}
	err = s.eachOf(res, prefix, fn)
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *kv) eachOf(res dsq.Results, prefix string, fn func(key string, val []byte) error) error {
	var over []entry
	seen := map[string]int{}
	for _, layer := range []map[string][]byte{s.block, s.tx} {
		for k, v := range layer {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			if i, ok := seen[k]; ok {
				over[i].val = v
				continue
			}
			seen[k] = len(over)
			over = append(over, entry{k, v})
		}
	}
	sort.Slice(over, func(i, j int) bool { return over[i].key < over[j].key })
	// emit passes the pending writes before key (all with key == "").
	emit := func(key string) error {
		for len(over) > 0 && (key == "" || over[0].key < key) {
			if over[0].val != nil {
				if err := fn(over[0].key, over[0].val); err != nil {
					return err
				}
			}
			over = over[1:]
		}
		return nil
	}
	for {
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			return r.Error
		}
		k := strings.TrimPrefix(r.Key, Namespace)
		if err := emit(k); err != nil {
			return err
		}
		if len(over) > 0 && over[0].key == k {
			// Overwritten or deleted by a pending write.
			if v := over[0].val; v != nil {
				if err := fn(k, v); err != nil {
					return err
				}
			}
			over = over[1:]
			continue
		}
		if err := fn(k, r.Value); err != nil {
			return err
		}
	}
	return emit("")
}

type entry struct {
	key string
	val []byte
}

func (s *kv) getJSON(k string, v any) error {
	b, ok, err := s.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound
	}
	return json.Unmarshal(b, v)
}

// lookupJSON decodes the value of k; an absent key is the zero value and
// false, not an error.
func lookupJSON[T any](s *kv, k string) (T, bool, error) {
	var v T
	err := s.getJSON(k, &v)
	if errors.Is(err, errNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (s *kv) putJSON(k string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, maps with string keys and integers are stored.
		panic(fmt.Sprintf("ledger: marshal %s: %v", k, err))
	}
	s.put(k, b)
}

func (s *kv) getU64(k string) (uint64, error) {
	v, _, err := s.lookupU64(k)
	return v, err
}

// lookupU64 reads a uint64 and says whether the key is set at all (a zero
// written by putU64Kept is set).
func (s *kv) lookupU64(k string) (uint64, bool, error) {
	b, ok, err := s.get(k)
	if err != nil || !ok {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("ledger: %s: bad uint64 value", k)
	}
	return binary.BigEndian.Uint64(b), true, nil
}

// putU64Kept writes v even when it is zero, for values whose absence means
// something else than zero.
func (s *kv) putU64Kept(k string, v uint64) { s.put(k, binary.BigEndian.AppendUint64(nil, v)) }

func (s *kv) putU64(k string, v uint64) {
	if v == 0 {
		s.del(k)
		return
	}
	s.put(k, binary.BigEndian.AppendUint64(nil, v))
}

// hashState returns sha256 over the committed state: for every key under
// Namespace in ascending order except /meta/apphash, len(key) ‖ key ‖
// len(value) ‖ value, lengths as 8-byte big-endian integers.
func hashState(ctx context.Context, d ds.Datastore) ([32]byte, error) {
	res, err := d.Query(ctx, dsq.Query{Prefix: Namespace, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return [32]byte{}, err
	}
	defer res.Close()
	h := sha256.New()
	var n [8]byte
	for {
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			return [32]byte{}, r.Error
		}
		if r.Key == Namespace+kAppHash {
			continue
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(r.Key)))
		h.Write(n[:])
		h.Write([]byte(r.Key))
		binary.BigEndian.PutUint64(n[:], uint64(len(r.Value)))
		h.Write(n[:])
		h.Write(r.Value)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}
