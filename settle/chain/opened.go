package chain

import (
	"crypto/sha256"
	"sync"

	"github.com/fomonet/fomo/settle/chain/tx"
)

// defaultOpenedBytes bounds the transactions kept opened (openCache): the
// mempool's default capacity, 64 MiB, so that every transaction waiting
// there stays opened until its block.
const defaultOpenedBytes = 64 << 20

// openCache keeps opened transactions by the SHA-256 of their bytes, so
// that a transaction is opened once (CheckTx) rather than again for the
// recheck after each block, the proposal and FinalizeBlock: opening a
// SubmitReceipts of a thousand receipts decodes and re-encodes a megabyte
// twice to check its encoding is canonical. tx.Open is a pure function of
// the bytes, so a kept result is the result Open would give. Only
// transactions that open are kept; the oldest are dropped first once the
// kept bytes (counted twice: the transaction and its decoded copy) pass
// max.
type openCache struct {
	mu    sync.Mutex
	m     map[[32]byte]*tx.Signed
	fifo  [][32]byte // insertion order; may hold keys already dropped
	bytes int
	max   int
}

func newOpenCache(max int) *openCache {
	return &openCache{m: map[[32]byte]*tx.Signed{}, max: max}
}

// open returns the opened transaction b, from the cache or tx.Open, and
// its key for forget; keep adds what it opens to the cache.
func (c *openCache) open(b []byte, keep bool) (*tx.Signed, [32]byte, error) {
	key := sha256.Sum256(b)
	c.mu.Lock()
	s, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return s, key, nil
	}
	s, err := tx.Open(b)
	if err != nil || !keep || 2*len(b) > c.max {
		return s, key, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return s, key, nil
	}
	c.m[key] = s
	c.fifo = append(c.fifo, key)
	c.bytes += 2 * len(b)
	for c.bytes > c.max && len(c.fifo) > 0 {
		c.dropLocked(c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	if len(c.fifo) > 2*len(c.m)+64 {
		live := c.fifo[:0:0]
		for _, k := range c.fifo {
			if _, ok := c.m[k]; ok {
				live = append(live, k)
			}
		}
		c.fifo = live
	}
	return s, key, nil
}

// forget drops the transactions of keys (open's), once a block included
// them: they leave the mempool.
func (c *openCache) forget(keys [][32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.dropLocked(k)
	}
}

func (c *openCache) dropLocked(k [32]byte) {
	if s, ok := c.m[k]; ok {
		c.bytes -= 2 * len(s.Envelope)
		delete(c.m, k)
	}
}
