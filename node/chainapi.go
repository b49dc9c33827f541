package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/chain/tx"
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
			api.WriteError(w, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "", "tx larger than %d bytes", MaxTxBytes))
			return
		}
		if _, err := tx.Open(b); err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "invalid tx: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		res, err := s.cons.SubmitTx(ctx, b)
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "%v", err))
			return
		}
		api.WriteJSON(w, http.StatusOK, res)
	})
}
