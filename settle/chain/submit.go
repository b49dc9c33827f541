package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Submission defaults.
const (
	// ResubmitAfter is how many blocks a receipt seen by gossip may stay
	// out of the chain before any node holding it submits it (its serving
	// node may be gone).
	ResubmitAfter = 3
	// MaxSubmitPerBlock bounds the receipts submitted after one block;
	// the rest wait for the next.
	MaxSubmitPerBlock = 10_000
	// receiptsPerTx is the size of one SubmitReceipts batch.
	receiptsPerTx = 1000
)

// ReceiptStore is where the submitter reads the receipts it submits and
// records those the chain settled; the node's receipt pool is one.
type ReceiptStore interface {
	// Envelope returns a receipt's envelope; settled reports whether it
	// was marked settled already.
	Envelope(ctx context.Context, id [32]byte) (env []byte, settled, ok bool, err error)
	// MarkSettled records that the chain included or refused receipts:
	// they stop counting as pending spend.
	MarkSettled(ctx context.Context, ids [][32]byte) error
	// Unsettled calls fn with the id of every receipt not settled, until
	// fn returns false.
	Unsettled(ctx context.Context, fn func(id [32]byte) bool) error
}

// Broadcaster sends a transaction to the mempool and returns CheckTx's
// code and log; the embedded CometBFT node is one.
type Broadcaster interface {
	BroadcastTx(ctx context.Context, tx []byte) (code uint32, log string, err error)
}

// ChainView is what the submitter reads of the chain's state; *App is one.
type ChainView interface {
	Height() int64
	ReceiptIncluded(ctx context.Context, id [32]byte) bool
	Account(ctx context.Context, id string) (ledger.Account, error)
}

// Submitter puts receipts on chain in SubmitReceipts transactions signed
// with the node's key: the node's own receipts with the next block, and
// any receipt it holds that is still not included ResubmitAfter blocks
// after it saw it. It marks included and refused receipts settled in the
// store. Block events ([Submitter.OnBlock]) queue without bound and are
// handled in order, so none is lost while the node catches up; at start
// ([Submitter.Run]) it takes up every receipt the store holds unsettled,
// so a node that stopped, however abruptly, still submits the receipts its
// clients hold. Submission is idempotent: the chain skips included ids.
type Submitter struct {
	view    ChainView
	bc      Broadcaster
	key     crypto.PrivKey
	account string
	log     *slog.Logger

	blocksMu sync.Mutex
	blocks   []BlockInfo
	kick     chan struct{}

	mu      sync.Mutex
	waiting map[[32]byte]int64  // receipt → height at which it was last submitted or seen
	mine    map[[32]byte][]byte // this node's receipts not yet submitted
	nonce   uint64              // last nonce used; 0: read it from the chain
	stats   SubmitterStats
}

// SubmitterStats counts what a submitter did since it started.
type SubmitterStats struct {
	// TxsSent and TxsFailed count SubmitReceipts transactions the mempool
	// took and those it refused or that could not be sent.
	TxsSent, TxsFailed uint64
	// Submitted counts this node's own receipts sent the first time;
	// Resubmitted, receipts sent again, taken up at start, or sent on
	// behalf of a node that did not include them.
	Submitted, Resubmitted uint64
	// Included counts receipts the chain included; Refused, those it
	// refused, by reason code.
	Included uint64
	Refused  map[ledger.Code]uint64
	// Height and TimeMs are the last block's.
	Height int64
	TimeMs int64
}

// Stats returns the submitter's counts.
func (s *Submitter) Stats() SubmitterStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Refused = maps.Clone(s.stats.Refused)
	return st
}

// SubmitterOption configures a Submitter.
type SubmitterOption func(*Submitter)

// WithSubmitterLogger sets the submitter's logger (default: discarded).
func WithSubmitterLogger(l *slog.Logger) SubmitterOption { return func(s *Submitter) { s.log = l } }

// NewSubmitter returns a submitter that reads the chain through view,
// broadcasts through bc and signs with key (the account is key's peer ID).
func NewSubmitter(view ChainView, bc Broadcaster, key crypto.PrivKey, opts ...SubmitterOption) (*Submitter, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("chain: submitter key: %w", err)
	}
	s := &Submitter{view: view, bc: bc, key: key, account: id.String(), log: slog.New(slog.DiscardHandler), kick: make(chan struct{}, 1),
		waiting: map[[32]byte]int64{}, mine: map[[32]byte][]byte{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// OnBlock queues a block event (the app's WithOnBlock); it never blocks
// the chain and never drops an event.
func (s *Submitter) OnBlock(b BlockInfo) {
	s.blocksMu.Lock()
	s.blocks = append(s.blocks, b)
	s.blocksMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Submitter) takeBlocks() []BlockInfo {
	s.blocksMu.Lock()
	defer s.blocksMu.Unlock()
	b := s.blocks
	s.blocks = nil
	return b
}

// Accept is the receipt pool's accept hook (pool.Config.OnAccept): Add of
// the accepted entry.
func (s *Submitter) Accept(e pool.Entry) { s.Add(e.ID, e.Envelope, e.Local) }

// Add remembers a receipt until it is included: this node's own (local)
// go out with the next block, others once they are overdue. It does not
// block.
func (s *Submitter) Add(id [32]byte, env []byte, local bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if local {
		s.mine[id] = env
		return
	}
	if _, ok := s.waiting[id]; !ok {
		s.waiting[id] = s.view.Height()
	}
}

// Run takes up the store's unsettled receipts, then handles block events
// until ctx ends.
func (s *Submitter) Run(ctx context.Context, store ReceiptStore) {
	if err := s.takeUp(ctx, store); err != nil && ctx.Err() == nil {
		s.log.Error("reading the unsettled receipts failed; they wait for another node to submit them", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		blocks := s.takeBlocks()
		if len(blocks) == 0 {
			continue
		}
		for _, b := range blocks {
			s.settleBlock(ctx, store, b)
		}
		batch := s.due(ctx, store, blocks[len(blocks)-1].Height)
		for len(batch) > 0 {
			k := min(len(batch), receiptsPerTx)
			err := s.send(ctx, tx.SubmitReceipts{Envelopes: batch[:k]})
			s.mu.Lock()
			if err != nil {
				s.stats.TxsFailed++
			} else {
				s.stats.TxsSent++
			}
			s.mu.Unlock()
			if err != nil {
				s.log.Warn("submitting receipts failed; will retry", "receipts", k, "err", err)
				break
			}
			batch = batch[k:]
		}
	}
}

// takeUp queues every unsettled receipt of the store as due now.
func (s *Submitter) takeUp(ctx context.Context, store ReceiptStore) error {
	due := s.view.Height() - ResubmitAfter
	count := 0
	err := store.Unsettled(ctx, func(id [32]byte) bool {
		s.mu.Lock()
		if _, ok := s.waiting[id]; !ok {
			s.waiting[id] = due
			count++
		}
		s.mu.Unlock()
		return true
	})
	if count > 0 {
		s.log.Info("submitting the receipts held unsettled at start", "receipts", count)
	}
	return err
}

// settleBlock marks the receipts a block included or refused settled:
// neither counts as pending spend any more, and neither is submitted again.
func (s *Submitter) settleBlock(ctx context.Context, store ReceiptStore, b BlockInfo) {
	settled := slices.Clone(b.Included)
	s.mu.Lock()
	s.stats.Included += uint64(len(b.Included))
	s.stats.Height, s.stats.TimeMs = b.Height, b.TimeMs
	for id, code := range b.Refused {
		s.log.Debug("receipt refused by the chain", "receipt_id", hex.EncodeToString(id[:]), "code", code)
		settled = append(settled, id)
		if s.stats.Refused == nil {
			s.stats.Refused = map[ledger.Code]uint64{}
		}
		s.stats.Refused[code]++
	}
	s.mu.Unlock()
	s.markSettled(ctx, store, settled)
}

func (s *Submitter) markSettled(ctx context.Context, store ReceiptStore, ids [][32]byte) {
	if len(ids) == 0 {
		return
	}
	if err := store.MarkSettled(ctx, ids); err != nil {
		s.log.Warn("marking receipts settled failed", "err", err)
		return
	}
	s.mu.Lock()
	for _, id := range ids {
		delete(s.waiting, id)
		delete(s.mine, id)
	}
	s.mu.Unlock()
}

// due returns the envelopes to submit after the block at height h: every
// own receipt, then overdue ones up to MaxSubmitPerBlock.
func (s *Submitter) due(ctx context.Context, store ReceiptStore, h int64) [][]byte {
	s.mu.Lock()
	var out [][]byte
	ids := make([][32]byte, 0, len(s.mine))
	for id := range s.mine {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		out = append(out, s.mine[id])
		delete(s.mine, id)
		s.waiting[id] = h // resubmitted like any other if it is not included
	}
	s.stats.Submitted += uint64(len(ids))
	var included, gone [][32]byte
	var overdue [][32]byte
	for id, seen := range s.waiting {
		if h-seen >= ResubmitAfter {
			overdue = append(overdue, id)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(overdue, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range overdue {
		if len(out) >= MaxSubmitPerBlock {
			break
		}
		if s.view.ReceiptIncluded(ctx, id) {
			included = append(included, id) // its block event was missed
			continue
		}
		env, settled, ok, err := store.Envelope(ctx, id)
		if err != nil {
			// Kept: tried again at the next block, not forgotten.
			if ctx.Err() == nil {
				s.log.Warn("reading an overdue receipt failed; will retry", "receipt_id", fmt.Sprintf("%x", id[:8]), "err", err)
			}
			continue
		}
		if !ok || settled {
			gone = append(gone, id)
			continue
		}
		out = append(out, env)
		s.mu.Lock()
		s.waiting[id] = h
		s.stats.Resubmitted++
		s.mu.Unlock()
	}
	s.mu.Lock()
	for _, id := range gone {
		delete(s.waiting, id)
	}
	s.mu.Unlock()
	s.markSettled(ctx, store, included)
	return out
}

// send signs body with the node's key at the next nonce and broadcasts
// it; the nonce is read again from the chain after a refusal.
func (s *Submitter) send(ctx context.Context, body any) error {
	if s.nonce == 0 {
		a, err := s.view.Account(ctx, s.account)
		if err != nil {
			return err
		}
		s.nonce = a.Nonce
	}
	b, err := tx.Sign(tx.Tx{Account: s.account, Nonce: s.nonce + 1, Body: body}, s.key)
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, log, err := s.bc.BroadcastTx(bctx, b)
	if err != nil {
		return err
	}
	if code != 0 {
		s.nonce = 0
		return fmt.Errorf("tx refused: %s", log)
	}
	s.nonce++
	return nil
}
