// Package chain is the settlement chain's ABCI 2.0 application: it opens
// and verifies signed transactions (package tx) and the receipts they
// carry, drives the deterministic ledger (settle/ledger) block by block,
// turns the validator set of bonded nodes into CometBFT validator updates
// at each epoch close, and answers queries on the ledger's state. The
// CometBFT node that drives it is in settle/chain/consensus.
//
// Everything FinalizeBlock does is a function of the block: receipts are
// checked with the ledger's state and their own times, never the clock.
package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Codespace names fomo's codes in CometBFT results.
const Codespace = "fomo"

// codes numbers the ledger's reason codes for CometBFT results: the code
// of c is its index here plus one (0 is OK). Append only; never reorder.
var codes = []ledger.Code{
	ledger.CodeBadTx, ledger.CodeBadNonce, ledger.CodeBadAmount, ledger.CodeBadDenom, ledger.CodeBadName,
	ledger.CodeNotProtocol, ledger.CodeInsufficient, ledger.CodeOverflow, ledger.CodeSelfTransfer,
	ledger.CodeKeyExists, ledger.CodeKeyUnknown, ledger.CodeKeyExpired, ledger.CodeKeySpendLimit,
	ledger.CodeNodeUnknown, ledger.CodeModelExists, ledger.CodeModelUnknown, ledger.CodeTierUnknown,
	ledger.CodePriceBelowTier, ledger.CodeAlreadyServing, ledger.CodeTooManyRcpts, ledger.CodeEmptyBatch,
	CodeRateLimited, CodeBadSignature,
	ledger.CodeDepositNotUSD, ledger.CodeNotWithdrawable, ledger.CodeTreasuryAccount,
	ledger.CodePoolUnknown, ledger.CodeBelowMinOut, ledger.CodeSwapTooSmall, ledger.CodeNotIssuer,
	ledger.CodeNotServed, ledger.CodeRMOExists, ledger.CodeRMOUnknown, ledger.CodeBadRaise,
	ledger.CodeRMONotOpen, ledger.CodeCommitTooSmall, ledger.CodeNotGraduable, ledger.CodeNotFailed,
	ledger.CodeNothingToRedeem, ledger.CodeNothingToClaim, ledger.CodeRMODisabled,
	ledger.CodeInsufficientStake, ledger.CodeStillUnbonding, ledger.CodeSessionKeyStake,
}

// App-level codes, beside the ledger's.
const (
	// CodeRateLimited: the account has too many transactions waiting in
	// the mempool.
	CodeRateLimited ledger.Code = "rate_limited"
	// CodeBadSignature: the transaction does not open (tx.Open).
	CodeBadSignature ledger.Code = "bad_tx_signature"
)

// Code returns the numeric CometBFT code of a reason code.
func Code(c ledger.Code) uint32 {
	if c == ledger.OK {
		return 0
	}
	if i := slices.Index(codes, c); i >= 0 {
		return uint32(i + 1)
	}
	return 1
}

// ReceiptCode is the per-receipt code of a receipt that fails
// verification: "invalid_" and the receipt rule it breaks.
func ReceiptCode(r receipt.Reason) ledger.Code { return ledger.Code("invalid_" + string(r)) }

// BlockInfo is what a committed block did, for the node.
type BlockInfo struct {
	Height       int64
	TimeMs       int64
	AppHash      [32]byte
	ClosedEpochs []uint64
	// Included are the ids of the receipts this block included, paid or
	// unpaid; Refused maps those it judged and refused (invalid, of a
	// closed epoch, already included) to their code. Receipts of a tx that
	// failed as a whole are in neither.
	Included [][32]byte
	Refused  map[[32]byte]ledger.Code
}

// Option configures an App.
type Option func(*App)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.log = l } }

// WithNetworkID makes receipts of other networks fail.
func WithNetworkID(id string) Option { return func(a *App) { a.netID = id } }

// WithOnBlock sets a function called after each committed block; it must
// not block.
func WithOnBlock(f func(BlockInfo)) Option { return func(a *App) { a.onBlock = f } }

// WithMaxPendingPerAccount bounds an account's transactions in the mempool
// (default 64).
func WithMaxPendingPerAccount(n int) Option { return func(a *App) { a.maxPending = n } }

// WithMaxTxBytes bounds the size of a transaction the mempool admits
// (default and at most tx.MaxTxSize).
func WithMaxTxBytes(n int) Option {
	return func(a *App) {
		if n > 0 && n < tx.MaxTxSize {
			a.maxTxBytes = n
		}
	}
}

// App is the ABCI application. It is safe for concurrent use: CometBFT's
// connections and the node's queries share one lock over the ledger, and
// receipt verification runs outside it, so CometBFT may call it from its
// connections at the same time (consensus.Config.ConcurrentApp).
type App struct {
	abcitypes.BaseApplication

	d          *staged
	log        *slog.Logger
	netID      string
	onBlock    func(BlockInfo)
	maxPending int
	maxTxBytes int

	mu   sync.RWMutex
	l    *ledger.Ledger // nil until InitChain
	vals map[string]int64
	// check state: next nonce and pending count per account
	next    map[string]uint64
	pending map[string]int
	// the block being finalized, reported on Commit
	block *BlockInfo

	// verified holds the verdicts of receipts CheckTx verified, by
	// envelope digest, so that FinalizeBlock does not check their
	// signatures again (verify.go).
	vmu      sync.Mutex
	verified map[[32]byte]verdict
	// workers is how many goroutines verify one call's receipts.
	workers int
	// opened keeps the transactions CheckTx opened (opened.go).
	opened *openCache
}

const valsKey = "/app/validators"

// NewApp returns the application over d: the ledger it holds, or, on a
// fresh datastore, none until InitChain.
func NewApp(d ds.Batching, opts ...Option) (*App, error) {
	a := &App{d: &staged{Batching: d}, log: slog.New(slog.DiscardHandler), maxPending: 64, maxTxBytes: tx.MaxTxSize, next: map[string]uint64{}, pending: map[string]int{},
		verified: map[[32]byte]verdict{}, workers: runtime.GOMAXPROCS(0), opened: newOpenCache(defaultOpenedBytes)}
	for _, o := range opts {
		o(a)
	}
	l, err := ledger.Open(context.Background(), a.d, ledger.WithLogger(a.log))
	switch {
	case errors.Is(err, ledger.ErrNoGenesis):
	case err != nil:
		return nil, err
	default:
		a.l = l
		b, err := d.Get(context.Background(), ds.NewKey(valsKey))
		if err != nil {
			return nil, fmt.Errorf("chain: validator set: %w", err)
		}
		if err := json.Unmarshal(b, &a.vals); err != nil {
			return nil, fmt.Errorf("chain: validator set: %w", err)
		}
	}
	return a, nil
}

// Info implements abcitypes.Application.
func (a *App) Info(ctx context.Context, _ *abcitypes.InfoRequest) (*abcitypes.InfoResponse, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return &abcitypes.InfoResponse{Data: "fomo", Version: "1"}, nil
	}
	h, err := a.l.AppHash(ctx)
	if err != nil {
		return nil, err
	}
	var hash []byte
	if a.l.Height() > 0 {
		hash = h[:]
	}
	return &abcitypes.InfoResponse{Data: "fomo", Version: "1", LastBlockHeight: a.l.Height(), LastBlockAppHash: hash}, nil
}

// InitChain creates the ledger from the genesis app state (the JSON of a
// ledger.Genesis) and records the genesis validators. It takes CometBFT's
// validators as they are and returns none of its own; the genesis should
// bond the same nodes (Genesis.Nodes) so that the first epoch close, which
// sets the validators from the bonds, keeps them. On a datastore that
// already holds the ledger at height 0 it succeeds only with the same
// genesis and validators.
func (a *App) InitChain(ctx context.Context, req *abcitypes.InitChainRequest) (*abcitypes.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, err := ledger.ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("chain: genesis app state: %w", err)
	}
	vals := map[string]int64{}
	for i, v := range req.Validators {
		id, err := nodeOf(v.PubKeyBytes)
		if err != nil {
			return nil, fmt.Errorf("chain: genesis validator %d: %w", i, err)
		}
		vals[id] = v.Power
	}
	if a.l != nil {
		return a.initChainAgain(ctx, g, vals)
	}
	l, err := ledger.New(ctx, a.d, g, ledger.WithLogger(a.log))
	if err != nil {
		return nil, err
	}
	if err := a.saveVals(ctx, vals); err != nil {
		return nil, err
	}
	if err := a.d.flush(ctx); err != nil { // InitChain has no Commit
		return nil, err
	}
	a.l, a.vals = l, vals
	h, _ := l.AppHash(ctx)
	return &abcitypes.InitChainResponse{AppHash: h[:]}, nil
}

// initChainAgain answers an InitChain on a datastore that already holds
// the ledger: CometBFT sends one whenever the application reports height
// 0, so a node that stopped after InitChain and before its first block
// gets another. It succeeds, changing nothing, when the genesis and the
// validators are those the ledger was created with.
func (a *App) initChainAgain(ctx context.Context, g ledger.Genesis, vals map[string]int64) (*abcitypes.InitChainResponse, error) {
	if h := a.l.Height(); h > 0 {
		return nil, fmt.Errorf("chain: InitChain on a ledger at height %d", h)
	}
	// The genesis app hash commits to the whole genesis state: build it
	// again aside and compare.
	fresh, err := ledger.New(ctx, ds.NewMapDatastore(), g)
	if err != nil {
		return nil, err
	}
	want, _ := fresh.AppHash(ctx)
	have, _ := a.l.AppHash(ctx)
	if want != have {
		return nil, errors.New("chain: InitChain with another genesis than the ledger's")
	}
	if !maps.Equal(vals, a.vals) {
		return nil, errors.New("chain: InitChain with other validators than the ledger's genesis")
	}
	return &abcitypes.InitChainResponse{AppHash: have[:]}, nil
}

func (a *App) saveVals(ctx context.Context, vals map[string]int64) error {
	b, err := json.Marshal(vals) // map keys are sorted by encoding/json
	if err != nil {
		return err
	}
	return a.d.Put(ctx, ds.NewKey(valsKey), b)
}

// nodeOf returns the peer ID of a raw Ed25519 public key.
func nodeOf(raw []byte) (string, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPublicKey(pub)
	return id.String(), err
}

func checkResp(c ledger.Code, format string, args ...any) *abcitypes.CheckTxResponse {
	return &abcitypes.CheckTxResponse{Code: Code(c), Codespace: Codespace, Log: string(c) + ": " + fmt.Sprintf(format, args...), Info: string(c)}
}

// CheckTx admits a transaction to the mempool: it opens, its nonce follows
// the account's last committed or pending one, the account has fewer than
// the maximum waiting, and the ledger would apply it now.
//
// The receipts of a new SubmitReceipts are verified, in batches across
// cores, once its nonce is known to be admissible, and their verdicts kept
// for FinalizeBlock. The recheck after each block verifies nothing: it
// takes the kept verdicts, and only for the transaction the ledger is
// asked about (the account's next). The ledger judges each receipt of a
// batch on its own and never fails the batch for one, so what can fail a
// SubmitReceipts as a whole is its account, its nonce and its count of
// receipts: CheckTx checks the count here and asks the ledger about the
// rest with the batch cut to its first valid receipt, which costs the
// ledger one receipt's work instead of a thousand's. A batch none of
// whose receipts verifies is refused (the ledger's empty batch).
func (a *App) CheckTx(ctx context.Context, req *abcitypes.CheckTxRequest) (*abcitypes.CheckTxResponse, error) {
	if len(req.Tx) > a.maxTxBytes {
		return checkResp(ledger.CodeBadTx, "%d bytes, more than %d", len(req.Tx), a.maxTxBytes), nil
	}
	s, _, err := a.opened.open(req.Tx, true)
	if err != nil {
		return checkResp(CodeBadSignature, "%v", err), nil
	}
	sub, isSub := s.Body.(tx.SubmitReceipts)
	var vs []verdict
	if isSub {
		// The nonce first, without holding the lock while receipts are
		// verified: a transaction that cannot be admitted costs no
		// signature checks.
		a.mu.Lock()
		committed, resp, err := a.admissible(ctx, s)
		a.mu.Unlock()
		if resp != nil || err != nil {
			return resp, err
		}
		if req.Type != abcitypes.CHECK_TX_TYPE_RECHECK || s.Nonce == committed+1 {
			if vs, _, err = a.verifyEnvelopes(ctx, sub.Envelopes, true); err != nil {
				return nil, err
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	committed, resp, err := a.admissible(ctx, s)
	if resp != nil || err != nil {
		return resp, err
	}
	if s.Nonce == committed+1 { // the ledger can judge it against committed state
		lt := s.Ledger()
		if isSub {
			if vs == nil { // the nonce moved since it was read
				if vs, _, err = a.verifyEnvelopes(ctx, sub.Envelopes, true); err != nil {
					return nil, err
				}
			}
			lt = receiptsTx(s, vs)
			rs := lt.Body.(ledger.SubmitReceipts).Receipts
			if most := a.l.Genesis().MaxReceiptsPerTx; most > 0 && len(rs) > most {
				return checkResp(ledger.CodeTooManyRcpts, "%d receipts, at most %d", len(rs), most), nil
			}
			lt.Body = ledger.SubmitReceipts{Receipts: rs[:min(len(rs), 1)]}
		}
		r, err := a.l.CheckTx(ctx, lt)
		if err != nil {
			return nil, err
		}
		if r.Code != ledger.OK {
			return checkResp(r.Code, "%s", r.Log), nil
		}
	}
	a.next[s.Account] = s.Nonce + 1
	a.pending[s.Account]++
	return &abcitypes.CheckTxResponse{Code: 0}, nil
}

// admissible says whether a transaction may join the mempool as far as
// its nonce and its account's waiting transactions go: it returns the
// account's committed nonce, or the refusal. a.mu must be held.
func (a *App) admissible(ctx context.Context, s *tx.Signed) (committed uint64, refused *abcitypes.CheckTxResponse, err error) {
	if a.l == nil {
		return 0, checkResp(ledger.CodeBadTx, "the chain has not started"), nil
	}
	acct, err := a.l.Account(ctx, s.Account)
	if err != nil {
		return 0, nil, err
	}
	want := acct.Nonce + 1
	if n, ok := a.next[s.Account]; ok && n > want {
		want = n
	}
	if s.Nonce != want {
		return 0, checkResp(ledger.CodeBadNonce, "nonce %d, want %d", s.Nonce, want), nil
	}
	if a.pending[s.Account] >= a.maxPending {
		return 0, checkResp(CodeRateLimited, "%d transactions of %s are waiting", a.pending[s.Account], s.Account), nil
	}
	return acct.Nonce, nil, nil
}

// receiptsTx is the ledger's SubmitReceipts of the receipts that verified.
func receiptsTx(s *tx.Signed, vs []verdict) ledger.Tx {
	rs := make([]ledger.Receipt, 0, len(vs))
	for i := range vs {
		if vs[i].code == ledger.OK {
			rs = append(rs, vs[i].r)
		}
	}
	return ledger.Tx{Account: s.Account, Nonce: s.Nonce, Body: ledger.SubmitReceipts{Receipts: rs}}
}

// PrepareProposal keeps the mempool's transactions that open, in order,
// within the block's byte limit.
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.PrepareProposalRequest) (*abcitypes.PrepareProposalResponse, error) {
	var out [][]byte
	var size int64
	for _, b := range req.Txs {
		if _, _, err := a.opened.open(b, true); err != nil {
			continue
		}
		if size+int64(len(b)) > req.MaxTxBytes {
			break
		}
		size += int64(len(b))
		out = append(out, b)
	}
	return &abcitypes.PrepareProposalResponse{Txs: out}, nil
}

// ProcessProposal rejects a block with a transaction that does not open: a
// correct proposer never includes one.
func (a *App) ProcessProposal(_ context.Context, req *abcitypes.ProcessProposalRequest) (*abcitypes.ProcessProposalResponse, error) {
	for _, b := range req.Txs {
		if _, _, err := a.opened.open(b, true); err != nil {
			return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_REJECT}, nil
		}
	}
	return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}

// TxData is the Data of a transaction's result: the ledger's result with
// every receipt of a SubmitReceipts in the order it was listed.
type TxData = ledger.TxResult

// FinalizeBlock applies the block to the ledger. The receipts of all its
// SubmitReceipts are verified together, those CheckTx verified by their
// kept verdicts and the others in batches across cores, before the lock
// is taken.
func (a *App) FinalizeBlock(ctx context.Context, req *abcitypes.FinalizeBlockRequest) (*abcitypes.FinalizeBlockResponse, error) {
	type slot struct {
		s      *tx.Signed
		lo, hi int // its receipts' verdicts, vs[lo:hi]
		log    string
	}
	slots := make([]slot, len(req.Txs))
	keys := make([][32]byte, 0, len(req.Txs))
	var envs [][]byte // the receipts of every SubmitReceipts, in block order
	for i, b := range req.Txs {
		s, key, err := a.opened.open(b, false)
		if err != nil {
			slots[i].log = err.Error()
			continue
		}
		keys = append(keys, key)
		slots[i].s, slots[i].lo = s, len(envs)
		if sub, ok := s.Body.(tx.SubmitReceipts); ok {
			envs = append(envs, sub.Envelopes...)
		}
		slots[i].hi = len(envs)
	}
	vs, digests, err := a.verifyEnvelopes(ctx, envs, false)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.l == nil {
		return nil, errors.New("chain: FinalizeBlock before InitChain")
	}
	blk := ledger.Block{Height: req.Height, TimeMs: req.Time.UnixMilli()}
	for _, sl := range slots {
		if sl.s == nil {
			continue
		}
		if _, ok := sl.s.Body.(tx.SubmitReceipts); ok {
			blk.Txs = append(blk.Txs, receiptsTx(sl.s, vs[sl.lo:sl.hi]))
		} else {
			blk.Txs = append(blk.Txs, sl.s.Ledger())
		}
	}
	res, err := a.l.ApplyBlock(ctx, blk)
	if err != nil {
		return nil, err
	}
	info := &BlockInfo{Height: req.Height, TimeMs: blk.TimeMs, AppHash: res.AppHash, ClosedEpochs: res.ClosedEpochs,
		Refused: map[[32]byte]ledger.Code{}}
	out := &abcitypes.FinalizeBlockResponse{AppHash: res.AppHash[:]}
	j := 0
	for _, sl := range slots {
		if sl.s == nil {
			out.TxResults = append(out.TxResults, &abcitypes.ExecTxResult{Code: Code(CodeBadSignature), Codespace: Codespace,
				Log: string(CodeBadSignature) + ": " + sl.log})
			continue
		}
		r := res.Txs[j]
		j++
		if sl.hi > sl.lo {
			r = mergeReceipts(r, vs[sl.lo:sl.hi], info)
		}
		data, _ := json.Marshal(r)
		er := &abcitypes.ExecTxResult{Code: Code(r.Code), Data: data}
		if r.Code != ledger.OK {
			er.Codespace, er.Log = Codespace, string(r.Code)+": "+r.Log
		}
		out.TxResults = append(out.TxResults, er)
	}
	if len(res.ClosedEpochs) > 0 {
		ups, err := a.validatorUpdates(ctx)
		if err != nil {
			return nil, err
		}
		out.ValidatorUpdates = ups
	}
	a.block = info
	// The block's transactions leave the mempool, and its receipts are
	// judged: neither is needed again.
	a.forgetVerdicts(digests)
	a.opened.forget(keys)
	return out, nil
}

// mergeReceipts lists a batch's receipt results in the order the receipts
// were listed (vs, their verdicts): the ledger's results for those it
// applied, the verification failures for the others, and notes which were
// included.
func mergeReceipts(r ledger.TxResult, vs []verdict, info *BlockInfo) ledger.TxResult {
	// The ledger applied the receipts in id order; a receipt listed twice
	// has two results, the first its own.
	byID := make(map[string][]ledger.Code, len(r.Receipts))
	for _, rr := range r.Receipts {
		byID[rr.ID] = append(byID[rr.ID], rr.Code)
	}
	failed := map[[32]byte]ledger.Code{}
	for _, v := range vs {
		if v.code != ledger.OK {
			failed[v.id] = v.code
		}
	}
	merged := make([]ledger.ReceiptResult, 0, len(vs))
	for _, v := range vs {
		id := v.id
		h := hex.EncodeToString(id[:])
		c, ok := failed[id]
		if !ok && len(byID[h]) > 0 {
			c, ok = byID[h][0], true
			byID[h] = byID[h][1:]
		}
		if !ok {
			c = ledger.CodeBadTx
		}
		merged = append(merged, ledger.ReceiptResult{ID: h, Code: c})
		switch {
		case r.Code != ledger.OK:
			// The tx failed as a whole (its nonce, say): the receipt was
			// not judged and may be submitted again.
		case c == ledger.OK || c == ledger.CodeUnpaid:
			info.Included = append(info.Included, id)
		default:
			info.Refused[id] = c
		}
	}
	r.Receipts = merged
	return r
}

// validatorUpdates moves the CometBFT validator set to the ledger's (top
// bonded nodes) and never to an empty set.
func (a *App) validatorUpdates(ctx context.Context) ([]abcitypes.ValidatorUpdate, error) {
	vs, err := a.l.Validators(ctx)
	if err != nil {
		return nil, err
	}
	next := map[string]int64{}
	for _, v := range vs {
		if v.Power > 0 {
			next[v.Node] = int64(min(v.Power, 1<<40))
		}
	}
	if len(next) == 0 {
		a.log.Warn("no bonded node has voting power; keeping the validator set")
		return nil, nil
	}
	ids := make([]string, 0, len(next)+len(a.vals))
	for id := range next {
		ids = append(ids, id)
	}
	for id := range a.vals {
		if _, ok := next[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var ups []abcitypes.ValidatorUpdate
	for _, id := range ids {
		if next[id] == a.vals[id] {
			continue
		}
		p, err := peer.Decode(id)
		if err != nil {
			return nil, err
		}
		pub, err := p.ExtractPublicKey()
		if err != nil {
			return nil, err
		}
		raw, err := pub.Raw()
		if err != nil || len(raw) != cmted25519.PubKeySize {
			return nil, fmt.Errorf("chain: validator %s has no Ed25519 key", id)
		}
		ups = append(ups, abcitypes.NewValidatorUpdate(cmted25519.PubKey(raw), next[id]))
	}
	if err := a.saveVals(ctx, next); err != nil {
		return nil, err
	}
	a.vals = next
	return ups, nil
}

// Commit makes the block's state durable, reports the block to the node
// and resets the mempool's view of nonces (CometBFT rechecks what is
// left).
func (a *App) Commit(ctx context.Context, _ *abcitypes.CommitRequest) (*abcitypes.CommitResponse, error) {
	a.mu.Lock()
	if err := a.d.flush(ctx); err != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("chain: committing the block's state: %w", err)
	}
	info := a.block
	a.block = nil
	clear(a.next)
	clear(a.pending)
	a.mu.Unlock()
	if info != nil && a.onBlock != nil {
		a.onBlock(*info)
	}
	return &abcitypes.CommitResponse{}, nil
}

// Ledger access for the node, safe while blocks are applied.

// Height returns the last applied height.
func (a *App) Height() int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return 0
	}
	return a.l.Height()
}

// Account returns an account's state.
func (a *App) Account(ctx context.Context, id string) (ledger.Account, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return ledger.Account{}, nil
	}
	return a.l.Account(ctx, id)
}

// AccountOfKey returns the account a session key signs for.
func (a *App) AccountOfKey(ctx context.Context, key string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return "", false
	}
	acct, ok, err := a.l.KeyOwner(ctx, key)
	return acct, ok && err == nil
}

// SessionKey returns a session key of an account.
func (a *App) SessionKey(ctx context.Context, account, key string) (ledger.SessionKey, bool, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return ledger.SessionKey{}, false, nil
	}
	return a.l.SessionKey(ctx, account, key)
}

// Model returns a registered model.
func (a *App) Model(ctx context.Context, name string) (ledger.Model, bool, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return ledger.Model{}, false, nil
	}
	return a.l.Model(ctx, name)
}

// Discount returns what an account (or the account of a session key)
// pays for a model in an authorization issued at atMs (DESIGN §9.2); ok
// is false when the model is not registered.
func (a *App) Discount(ctx context.Context, account, model string, atMs uint64) (ledger.Discount, bool, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return ledger.Discount{}, false, nil
	}
	return a.l.DiscountAt(ctx, account, model, int64(atMs))
}

// ReceiptIncluded reports whether the chain has included a receipt.
func (a *App) ReceiptIncluded(ctx context.Context, id [32]byte) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return false
	}
	_, ok, err := a.l.Receipt(ctx, hex.EncodeToString(id[:]))
	return ok && err == nil
}

// Receipt returns the chain's record of an included receipt.
func (a *App) Receipt(ctx context.Context, id [32]byte) (ledger.ReceiptState, bool, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return ledger.ReceiptState{}, false, nil
	}
	return a.l.Receipt(ctx, hex.EncodeToString(id[:]))
}

// NextEpoch returns the first epoch not yet closed.
func (a *App) NextEpoch() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return 0
	}
	return a.l.NextEpoch()
}

// TimeMs returns the last applied block's time (Unix ms; the genesis
// time before any block, 0 before the chain started).
func (a *App) TimeMs() int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return 0
	}
	return a.l.TimeMs()
}

// EpochOf returns the epoch of a time (ms).
func (a *App) EpochOf(ms uint64) uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return 0
	}
	e, _ := a.l.EpochOf(int64(ms))
	return e
}

var _ abcitypes.Application = (*App)(nil)

// trimPath splits a query path "/kind/arg?query".
func trimPath(p string) (kind, arg, query string) {
	p, query, _ = strings.Cut(p, "?")
	p = strings.TrimPrefix(p, "/")
	kind, arg, _ = strings.Cut(p, "/")
	return kind, arg, query
}
