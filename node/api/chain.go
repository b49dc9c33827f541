package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
)

// MaxTxBytes bounds a transaction posted to /api/v1/txs.
const MaxTxBytes = tx.MaxTxSize

// ErrNotFound is what a Chain's Query error matches (errors.Is) when the
// item asked for does not exist.
var ErrNotFound = errors.New("not found")

// Chain is the settlement chain as the chain routes see it: its head,
// queries of its committed state, and the intake of signed txs.
type Chain interface {
	// Status returns the chain's id, height, app hash, sync state, the
	// consensus node's id, P2P address and peer count (State and
	// Validators are left to the routes, which query them).
	Status() ChainStatus
	// Query runs a query against the latest committed state and returns
	// its JSON answer; a missing item is an error matching ErrNotFound.
	Query(ctx context.Context, path string) ([]byte, error)
	// AppHashAfter returns the app hash after block height (as block
	// height+1 records it) and the time of block height.
	AppHashAfter(ctx context.Context, height int64) ([]byte, time.Time, error)
	// SubmitTx broadcasts a signed tx and waits until it is in a block.
	// A tx the chain did not take is a *TxError.
	SubmitTx(ctx context.Context, tx []byte) (TxResult, error)
}

// TxRefusal says why a chain did not take a tx.
type TxRefusal int

// The reasons of a TxError.
const (
	// TxUnavailable: the chain cannot take transactions now (503).
	TxUnavailable TxRefusal = iota
	// TxInvalid: the chain's check refused the tx; Log says why (400).
	TxInvalid
	// TxTooLarge: the tx is larger than the chain takes (413).
	TxTooLarge
	// TxPreCheck: the tx failed the chain's pre-check (400).
	TxPreCheck
	// TxKnown: the tx was already submitted (409).
	TxKnown
)

// TxError is a tx the chain did not take.
type TxError struct {
	Reason TxRefusal
	// Log is the chain's log of a TxInvalid refusal: "reason: detail".
	Log string
	// Err is the chain's error.
	Err error
}

func (e *TxError) Error() string {
	if e.Err == nil {
		return e.Log
	}
	return e.Err.Error()
}

func (e *TxError) Unwrap() error { return e.Err }

// ChainStatus is /api/v1/chain.
type ChainStatus struct {
	ChainID    string          `json:"chain_id"`
	Height     int64           `json:"height"`
	AppHash    string          `json:"app_hash"`
	CatchingUp bool            `json:"catching_up"`
	NodeID     string          `json:"node_id"`
	P2PAddress string          `json:"p2p_address"`
	Peers      int             `json:"peers"`
	State      json.RawMessage `json:"state"`
	Validators json.RawMessage `json:"validators"`
}

// TxResult is the answer of POST /api/v1/txs: the tx's hash and, once it
// is in a block, its height and result.
type TxResult struct {
	Hash   string          `json:"hash"`
	Height int64           `json:"height"`
	Code   uint32          `json:"code"`
	Log    string          `json:"log,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Block is the body of GET /api/v1/chain/blocks/{height}: the app hash
// after the block and the block's time.
type Block struct {
	AppHash string    `json:"app_hash"`
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
}

// Account is the body of GET /api/v1/accounts/{id}: the account's ledger
// state and, for a registered node, its registration.
type Account struct {
	ID string `json:"id"`
	ledger.Account
	Node *ledger.Node `json:"node,omitempty"`
}

// EpochPage is the body of GET /api/v1/epochs: closed epochs from after=
// on, and the next epoch to close.
type EpochPage struct {
	Epochs    []ledger.EpochSettlement `json:"epochs"`
	NextEpoch uint64                   `json:"next_epoch"`
}

// notFoundMessage says what a query missed: the chain's "not found:
// epoch 7" becomes "epoch 7 not found".
func notFoundMessage(err error) string {
	what, ok := strings.CutPrefix(err.Error(), ErrNotFound.Error()+": ")
	what, _, _ = strings.Cut(what, "?") // a query's parameters say nothing of what is missing
	what = strings.Join(strings.Fields(what), " ")
	if !ok || what == "" {
		return err.Error()
	}
	return what + " not found"
}

// chainRoutes serves the settlement chain's state and accepts signed txs.
func (s *Server) chainRoutes() {
	c := s.opts.Chain
	query := func(w http.ResponseWriter, r *http.Request, path string) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		b, err := c.Query(ctx, path)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "", "%s", notFoundMessage(err)))
				return
			}
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "%v", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
	s.mux.HandleFunc("GET /api/v1/chain", func(w http.ResponseWriter, r *http.Request) {
		out := c.Status()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		out.State, _ = c.Query(ctx, "/chain")
		out.Validators, _ = c.Query(ctx, "/validators")
		writeJSON(w, http.StatusOK, out)
	})
	s.mux.HandleFunc("GET /api/v1/chain/blocks/{height}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseInt(r.PathValue("height"), 10, 64)
		if err != nil || h < 1 {
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "height", "height %q is not a positive number", r.PathValue("height")))
			return
		}
		hash, at, err := c.AppHashAfter(r.Context(), h)
		if err != nil {
			writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "height",
				"block %d and the next are not both committed here: %v", h, err))
			return
		}
		writeJSON(w, http.StatusOK, Block{AppHash: hex.EncodeToString(hash), Height: h, Time: at})
	})
	s.mux.HandleFunc("GET /api/v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/account/"+url.PathEscape(r.PathValue("id")))
	})
	// The chain's record of an included receipt (ledger.ReceiptState): the
	// epoch it is charged in, its charge and discount, paid or not.
	s.mux.HandleFunc("GET /api/v1/chain/receipts/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/receipt/"+url.PathEscape(r.PathValue("id")))
	})
	s.mux.HandleFunc("GET /api/v1/models/{name}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/model/"+url.PathEscape(r.PathValue("name")))
	})
	s.mux.HandleFunc("GET /api/v1/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/node/"+url.PathEscape(r.PathValue("id")))
	})
	s.mux.HandleFunc("GET /api/v1/epochs", func(w http.ResponseWriter, r *http.Request) {
		q := url.Values{}
		for _, k := range []string{"after", "limit"} {
			if v := r.URL.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
		query(w, r, "/epochs?"+q.Encode())
	})
	s.mux.HandleFunc("GET /api/v1/epochs/{n}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/epoch/"+url.PathEscape(r.PathValue("n")))
	})
	s.mux.HandleFunc("POST /api/v1/txs", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTxBytes))
		if err != nil {
			if _, big := errors.AsType[*http.MaxBytesError](err); big {
				writeError(w, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "", "tx larger than %d bytes", MaxTxBytes))
			} else {
				writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "reading the tx: %v", err))
			}
			return
		}
		signed, err := tx.Open(b)
		if err != nil {
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "invalid tx: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		res, err := c.SubmitTx(ctx, b)
		if err != nil {
			writeError(w, s.submitError(r.Context(), signed, err))
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// submitError is the answer to a tx the chain did not take: 400 when the
// chain refused it (its check), naming the reason and, for receipts, which
// receipts fail verification and why; 409 when it is already known; 413
// when too large; 503 only when the chain cannot take transactions now.
func (s *Server) submitError(ctx context.Context, st *tx.Signed, err error) *runtime.Error {
	te, ok := errors.AsType[*TxError](err)
	if !ok {
		return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "%v", err)
	}
	switch te.Reason {
	case TxInvalid:
		reason, _, _ := strings.Cut(te.Log, ": ")
		msg := "the chain refused the tx: " + te.Log
		param := ""
		if bad := s.badReceipts(ctx, st); len(bad) > 0 {
			msg += "; " + strings.Join(bad, "; ")
			param, _, _ = strings.Cut(bad[0], " ")
		}
		e := runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, param, "%s", msg)
		if reason != "" {
			e.Code = &reason
		}
		return e
	case TxTooLarge:
		return runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "", "%v", te.Err)
	case TxPreCheck:
		return runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "the chain refused the tx: %v", te.Err)
	case TxKnown:
		return runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "", "the tx was already submitted: %v", te.Err)
	}
	return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "%v", te.Err)
}

// badReceipts lists the receipts of a SubmitReceipts that fail
// verification, each as "receipts[i] (id …): error"; the chain
// leaves them out of the tx it checks.
func (s *Server) badReceipts(ctx context.Context, st *tx.Signed) []string {
	sub, ok := st.Body.(tx.SubmitReceipts)
	if !ok {
		return nil
	}
	var out []string
	for i, env := range sub.Envelopes {
		_, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: s.opts.NetworkID})
		if err == nil {
			continue
		}
		id := "unreadable"
		if sr, err := receipt.OpenReceipt(env); err == nil {
			h := receipt.ID(sr.Receipt.Authorization)
			id = hex.EncodeToString(h[:])
		}
		out = append(out, fmt.Sprintf("receipts[%d] (id %s): %v", i, id, err))
	}
	return out
}
