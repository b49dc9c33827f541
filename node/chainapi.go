package node

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

	"github.com/cometbft/cometbft/mempool"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/receipt"
)

// MaxTxBytes bounds a transaction posted to /api/v1/txs.
const MaxTxBytes = tx.MaxTxSize

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
type TxResult = consensus.TxResult

// chainRoutes serves the settlement chain's state and accepts signed txs.
func (n *Node) chainRoutes(mux *http.ServeMux) {
	s := n.chain
	query := func(w http.ResponseWriter, r *http.Request, path string) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		b, err := s.cons.Query(ctx, path, nil)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, consensus.ErrNotFound) {
				status = http.StatusNotFound
			}
			api.WriteError(w, runtime.Errorf(status, runtime.ErrTypeInvalidRequest, "", "%v", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
	mux.HandleFunc("GET /api/v1/chain", func(w http.ResponseWriter, r *http.Request) {
		st := s.cons.Status()
		out := ChainStatus{ChainID: st.ChainID, Height: st.Height, AppHash: hex.EncodeToString(st.AppHash), CatchingUp: st.CatchingUp,
			NodeID: st.NodeID, P2PAddress: s.cons.P2PAddress(), Peers: st.Peers}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		out.State, _ = s.cons.Query(ctx, "/chain", nil)
		out.Validators, _ = s.cons.Query(ctx, "/validators", nil)
		api.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/chain/blocks/{height}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.ParseInt(r.PathValue("height"), 10, 64)
		if err != nil || h < 1 {
			api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "height", "height %q is not a positive number", r.PathValue("height")))
			return
		}
		hash, at, err := s.cons.AppHashAfter(r.Context(), h)
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "height",
				"block %d and the next are not both committed here: %v", h, err))
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"height": h, "time": at, "app_hash": hex.EncodeToString(hash)})
	})
	mux.HandleFunc("GET /api/v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/account/"+url.PathEscape(r.PathValue("id")))
	})
	mux.HandleFunc("GET /api/v1/models/{name}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/model/"+url.PathEscape(r.PathValue("name")))
	})
	mux.HandleFunc("GET /api/v1/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/node/"+url.PathEscape(r.PathValue("id")))
	})
	mux.HandleFunc("GET /api/v1/epochs", func(w http.ResponseWriter, r *http.Request) {
		q := url.Values{}
		for _, k := range []string{"after", "limit"} {
			if v := r.URL.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
		query(w, r, "/epochs?"+q.Encode())
	})
	mux.HandleFunc("GET /api/v1/epochs/{n}", func(w http.ResponseWriter, r *http.Request) {
		query(w, r, "/epoch/"+url.PathEscape(r.PathValue("n")))
	})
	mux.HandleFunc("POST /api/v1/txs", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTxBytes))
		if err != nil {
			if _, big := errors.AsType[*http.MaxBytesError](err); big {
				api.WriteError(w, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "", "tx larger than %d bytes", MaxTxBytes))
			} else {
				api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "reading the tx: %v", err))
			}
			return
		}
		signed, err := tx.Open(b)
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "invalid tx: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		res, err := s.cons.SubmitTx(ctx, b)
		if err != nil {
			api.WriteError(w, n.submitError(r.Context(), signed, err))
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
	})
}

// submitError is the answer to a tx the chain did not take: 400 when the
// chain refused it (CheckTx), naming the reason and, for receipts, which
// receipts fail verification and why; 409 when it is already known; 413
// when too large; 503 only when the chain cannot take transactions now.
func (n *Node) submitError(ctx context.Context, s *tx.Signed, err error) *runtime.Error {
	if inv, ok := errors.AsType[mempool.ErrInvalidTx](err); ok {
		reason, _, _ := strings.Cut(inv.Log, ": ")
		msg := "the chain refused the tx: " + inv.Log
		param := ""
		if bad := n.badReceipts(ctx, s); len(bad) > 0 {
			msg += "; " + strings.Join(bad, "; ")
			param, _, _ = strings.Cut(bad[0], " ")
		}
		e := runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, param, "%s", msg)
		if reason != "" {
			e.Code = &reason
		}
		return e
	}
	if _, ok := errors.AsType[mempool.ErrTxTooLarge](err); ok {
		return runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "", "%v", err)
	}
	if _, ok := errors.AsType[mempool.ErrPreCheck](err); ok {
		return runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "the chain refused the tx: %v", err)
	}
	if errors.Is(err, mempool.ErrTxInCache) || errors.Is(err, mempool.ErrTxInMempool) {
		return runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "", "the tx was already submitted: %v", err)
	}
	return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "%v", err)
}

// badReceipts lists the receipts of a SubmitReceipts that fail
// verification, each as "receipts[i] (id …): error"; the chain
// leaves them out of the tx it checks.
func (n *Node) badReceipts(ctx context.Context, s *tx.Signed) []string {
	sub, ok := s.Body.(tx.SubmitReceipts)
	if !ok {
		return nil
	}
	var out []string
	for i, env := range sub.Envelopes {
		_, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: n.genesis.ID()})
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
