package node

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ReceiptView is a receipt as the admin API shows it.
type ReceiptView struct {
	ID              string `json:"id"`
	Account         string `json:"account"`
	Signer          string `json:"signer"`
	Node            string `json:"node"`
	EntryNode       string `json:"entry_node,omitempty"`
	Model           string `json:"model"`
	Epoch           uint64 `json:"epoch"`
	InputTokens     uint64 `json:"input_tokens"`
	OutputTokens    uint64 `json:"output_tokens"`
	Finish          string `json:"finish"`
	Charge          uint64 `json:"charge"`
	InputPrice      uint64 `json:"input_price"`
	OutputPrice     uint64 `json:"output_price"`
	MaxCharge       uint64 `json:"max_charge"`
	MaxOutputTokens uint64 `json:"max_output_tokens"`
	IssuedAt        string `json:"issued_at"`
	StartedAt       string `json:"started_at"`
	CompletedAt     string `json:"completed_at"`
	SeenAt          string `json:"seen_at"`
	Local           bool   `json:"local"`
	Settled         bool   `json:"settled"`
	// Envelope is the signed receipt (fomo/receipt/v1), base64.
	Envelope string `json:"envelope"`
}

func msTime(ms uint64) string { return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339Nano) }

func receiptView(e pool.Entry) (ReceiptView, error) {
	sr, err := receipt.OpenReceipt(e.Envelope)
	if err != nil {
		return ReceiptView{}, err
	}
	a, r := &sr.Authorization.Authorization, &sr.Receipt
	v := ReceiptView{
		ID: e.ID.String(), Account: a.Account.String(), Signer: a.Signer.String(), Node: r.Node.String(),
		Model: a.Model, Epoch: e.Epoch, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		Finish: string(r.Finish), Charge: r.Charge, InputPrice: a.InputPrice, OutputPrice: a.OutputPrice,
		MaxCharge: a.MaxCharge, MaxOutputTokens: a.MaxOutputTokens, IssuedAt: msTime(a.IssuedAtMs),
		StartedAt: msTime(r.StartedAtMs), CompletedAt: msTime(r.CompletedAtMs), SeenAt: msTime(uint64(e.SeenAtMs)),
		Local: e.Local, Settled: e.Settled, Envelope: base64.StdEncoding.EncodeToString(e.Envelope),
	}
	if a.EntryNode != "" {
		v.EntryNode = a.EntryNode.String()
	}
	return v, nil
}

// receiptRoutes serves GET /api/v1/receipts/{id} and the paged list
// GET /api/v1/receipts?account=&node=&model=&epoch=&after=&limit=.
func (n *Node) receiptRoutes(mux *http.ServeMux) {
	bad := func(w http.ResponseWriter, param, format string, args ...any) {
		api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, param, format, args...))
	}
	mux.HandleFunc("GET /api/v1/receipts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := pool.ParseID(r.PathValue("id"))
		if err != nil {
			bad(w, "id", "receipt id: %v", err)
			return
		}
		e, ok, err := n.net.pool.Get(r.Context(), id)
		if err != nil {
			api.WriteError(w, runtime.AsError(err))
			return
		}
		if !ok {
			api.WriteError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "id",
				"this node holds no receipt %s", id).WithCode("receipt_not_found"))
			return
		}
		v, err := receiptView(e)
		if err != nil {
			api.WriteError(w, runtime.AsError(err))
			return
		}
		api.WriteJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /api/v1/receipts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var f pool.Filter
		for _, p := range []struct {
			name string
			dst  *peer.ID
		}{{"account", &f.Account}, {"node", &f.Node}} {
			if s := q.Get(p.name); s != "" {
				id, err := peer.Decode(s)
				if err != nil {
					bad(w, p.name, "%s: not a peer ID: %v", p.name, err)
					return
				}
				*p.dst = id
			}
		}
		f.Model, f.After = q.Get("model"), q.Get("after")
		if s := q.Get("epoch"); s != "" {
			e, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				bad(w, "epoch", "epoch: not a number: %q", s)
				return
			}
			f.Epoch = &e
		}
		if s := q.Get("limit"); s != "" {
			l, err := strconv.Atoi(s)
			if err != nil || l < 1 || l > pool.MaxLimit {
				bad(w, "limit", "limit: must be 1–%d, got %q", pool.MaxLimit, s)
				return
			}
			f.Limit = l
		}
		entries, next, err := n.net.pool.List(r.Context(), f)
		if err != nil {
			api.WriteError(w, runtime.AsError(err))
			return
		}
		out := struct {
			Receipts []ReceiptView `json:"receipts"`
			Next     string        `json:"next,omitempty"`
		}{Receipts: []ReceiptView{}, Next: next}
		for _, e := range entries {
			v, err := receiptView(e)
			if err != nil {
				api.WriteError(w, runtime.AsError(err))
				return
			}
			out.Receipts = append(out.Receipts, v)
		}
		api.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/prices/{model}", func(w http.ResponseWriter, r *http.Request) {
		in, out, err := n.net.paid.Quote(r.Context(), r.PathValue("model"))
		if err != nil {
			api.WriteError(w, runtime.AsError(err))
			return
		}
		// payee is the node a client-signed authorization should name: this
		// node when it serves the model, else the provider it would pick.
		model := r.PathValue("model")
		payee := n.id
		if _, ok := n.models.Lookup(model); !ok {
			if payee, err = n.net.router.Choose(r.Context(), model); err != nil {
				api.WriteError(w, runtime.AsError(err))
				return
			}
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{
			"model": model, "input_price": in, "output_price": out,
			"network_id": n.genesis.ID(), "node": n.id.String(), "payee": payee.String(),
		})
	})
}
