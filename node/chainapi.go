package node

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/cometbft/cometbft/mempool"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/ledger"
)

// The chain routes' JSON types are the chain's: a change to the chain's
// answers must show in node/api's.
var (
	_ = api.Account(chain.AccountView{})
	_ = api.ReceiptProof(ledger.ReceiptProof{})
	_ = api.TxResult(consensus.TxResult{})
)

// chainView is the settlement chain as the API reads it (api.Chain): the
// embedded consensus node's status, queries and tx intake.
type chainView struct{ cons *consensus.Node }

func (c chainView) Status() api.ChainStatus {
	st := c.cons.Status()
	return api.ChainStatus{ChainID: st.ChainID, Height: st.Height, AppHash: hex.EncodeToString(st.AppHash), CatchingUp: st.CatchingUp,
		NodeID: st.NodeID, P2PAddress: c.cons.P2PAddress(), Peers: st.Peers}
}

func (c chainView) Query(ctx context.Context, path string) ([]byte, error) {
	b, err := c.cons.Query(ctx, path, nil)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, notFound{err}
	}
	if qe, ok := errors.AsType[*consensus.QueryError](err); ok && qe.Code == chain.QueryEpochOpen {
		return nil, epochOpen{qe}
	}
	return b, err
}

func (c chainView) AppHashAfter(ctx context.Context, h int64) ([]byte, time.Time, error) {
	return c.cons.AppHashAfter(ctx, h)
}

func (c chainView) SubmitTx(ctx context.Context, b []byte) (api.TxResult, error) {
	res, err := c.cons.SubmitTx(ctx, b)
	if err != nil {
		return api.TxResult{}, txError(err)
	}
	return api.TxResult(res), nil
}

// notFound is a query error, message unchanged, that matches
// api.ErrNotFound.
type notFound struct{ error }

func (notFound) Is(target error) bool { return target == api.ErrNotFound }

func (e notFound) Unwrap() error { return e.error }

// epochOpen is a query whose answer waits for an epoch's close; it
// matches api.ErrEpochOpen and reads as the chain's log ("epoch 3 has not
// closed yet").
type epochOpen struct{ q *consensus.QueryError }

func (e epochOpen) Error() string { return e.q.Log }

func (epochOpen) Is(target error) bool { return target == api.ErrEpochOpen }

func (e epochOpen) Unwrap() error { return e.q }

// txError classifies why the mempool did not take a tx.
func txError(err error) error {
	if inv, ok := errors.AsType[mempool.ErrInvalidTx](err); ok {
		return &api.TxError{Reason: api.TxInvalid, Log: inv.Log, Err: err}
	}
	if _, ok := errors.AsType[mempool.ErrTxTooLarge](err); ok {
		return &api.TxError{Reason: api.TxTooLarge, Err: err}
	}
	if _, ok := errors.AsType[mempool.ErrPreCheck](err); ok {
		return &api.TxError{Reason: api.TxPreCheck, Err: err}
	}
	if errors.Is(err, mempool.ErrTxInCache) || errors.Is(err, mempool.ErrTxInMempool) {
		return &api.TxError{Reason: api.TxKnown, Err: err}
	}
	return &api.TxError{Reason: api.TxUnavailable, Err: err}
}
