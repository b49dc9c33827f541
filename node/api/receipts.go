package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Fomo is the fomo object of a response: the request's receipt.
type Fomo struct {
	ReceiptID string `json:"receipt_id"`
	Node      string `json:"node"`
	// Charge is what the receipt charges (usd base units), at the
	// account's prices; ListCharge is the same tokens at the model's list
	// prices, and DiscountBps the account's staking discount in the
	// epoch the authorization was issued in (DESIGN §9.2): the discount
	// saved ListCharge − Charge.
	Charge       uint64 `json:"charge"`
	ListCharge   uint64 `json:"list_charge"`
	DiscountBps  uint32 `json:"discount_bps"`
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
	Finish       string `json:"finish"`
	// Receipt is the receipt envelope (fomo/receipt/v1), base64.
	Receipt string `json:"receipt"`
}

// FomoOf returns the fomo object of a receipt whose model lists at
// listIn/listOut (usd base units per 1M tokens; both 0 when unknown, and
// then ListCharge is Charge) for an account with discountBps.
func FomoOf(sr *receipt.SignedReceipt, listIn, listOut uint64, discountBps uint32) Fomo {
	id := sr.ID()
	f := Fomo{
		ReceiptID: hex.EncodeToString(id[:]), Node: sr.Receipt.Node.String(), Charge: sr.Receipt.Charge,
		ListCharge: sr.Receipt.Charge, DiscountBps: discountBps,
		InputTokens: sr.Receipt.InputTokens, OutputTokens: sr.Receipt.OutputTokens,
		Finish: string(sr.Receipt.Finish), Receipt: base64.StdEncoding.EncodeToString(sr.Envelope),
	}
	if listIn != 0 || listOut != 0 {
		if c, err := receipt.Charge(sr.Receipt.InputTokens, sr.Receipt.OutputTokens, listIn, listOut); err == nil && c >= f.Charge {
			f.ListCharge = c
		}
	}
	return f
}

// Receipts is the read model of the receipt routes: the node's receipt
// pool (a *pool.Pool is one).
type Receipts interface {
	// Get returns the receipt of id, if the node holds it.
	Get(ctx context.Context, id pool.ID) (pool.Entry, bool, error)
	// Find returns the receipt whose id starts with prefix (at least
	// pool.MinIDPrefix hex digits, or the whole id), if the node holds
	// one; a prefix that matches several is a *pool.AmbiguousIDError.
	Find(ctx context.Context, prefix string) (pool.Entry, bool, error)
	// List returns one page of the receipts that match f, and the cursor
	// of the next page ("" after the last).
	List(ctx context.Context, f pool.Filter) ([]pool.Entry, string, error)
}

// Prices quotes models for client-signed authorizations.
type Prices interface {
	// Quote returns a model's input and output prices (usd base units per
	// 1M tokens): this node's for a model it serves, else its manifest's.
	Quote(ctx context.Context, model string) (in, out uint64, err error)
	// Payee returns the node a client-signed authorization for model
	// should name: this node when it serves the model, else the provider
	// it would forward the request to.
	Payee(ctx context.Context, model string) (peer.ID, error)
	// For returns what account (or the account of a session key) pays
	// for model in an authorization issued now: the list prices less its
	// staking discount (DESIGN §9.2); the list prices on a network
	// without a chain.
	For(ctx context.Context, model string, account peer.ID) (AccountPrice, error)
}

// AccountPrice is what an account pays for a model (Prices.For), usd
// base units per 1M tokens.
type AccountPrice struct {
	ListInput, ListOutput uint64
	Input, Output         uint64
	DiscountBps           uint32
}

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

// ReceiptPage is the body of GET /api/v1/receipts: one page of receipts
// and the cursor of the next (pass it as after=).
type ReceiptPage struct {
	Receipts []ReceiptView `json:"receipts"`
	Next     string        `json:"next,omitempty"`
}

// Price is the body of GET /api/v1/prices/{model}[?account=ID]: what a
// client needs to sign an authorization for the model.
type Price struct {
	// InputPrice and OutputPrice are in usd base units per 1M tokens:
	// the list prices, or with account= the prices that account pays
	// in an authorization issued now (its staking discount applied).
	InputPrice uint64 `json:"input_price"`
	// Account, ListInputPrice, ListOutputPrice and DiscountBps are
	// answered with account=: the account asked for, the model's list
	// prices and the account's discount in the current epoch.
	Account         string `json:"account,omitempty"`
	ListInputPrice  uint64 `json:"list_input_price,omitempty"`
	ListOutputPrice uint64 `json:"list_output_price,omitempty"`
	DiscountBps     uint32 `json:"discount_bps"`
	Model           string `json:"model"`
	NetworkID       string `json:"network_id"`
	// Node is the node that answered: the entry node of a request sent
	// to it.
	Node        string `json:"node"`
	OutputPrice uint64 `json:"output_price"`
	// Payee is the node the authorization pays (see Prices.Payee).
	Payee string `json:"payee"`
}

func msTime(ms uint64) string { return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339Nano) }

// receiptView describes a pool entry as the admin API shows it.
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

func badParam(w http.ResponseWriter, param, format string, args ...any) {
	writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, param, format, args...))
}

// receiptRoutes serves GET /api/v1/receipts/{id} and the paged list
// GET /api/v1/receipts?account=&node=&model=&epoch=&after=&limit=.
func (s *Server) receiptRoutes() {
	rs := s.opts.Receipts
	s.mux.HandleFunc("GET /api/v1/receipts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := pool.CheckIDPrefix(id); err != nil {
			badParam(w, "id", "%s", strings.TrimPrefix(err.Error(), "pool: "))
			return
		}
		e, ok, err := rs.Find(r.Context(), id)
		if amb, isAmb := errors.AsType[*pool.AmbiguousIDError](err); isAmb {
			writeError(w, runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "id",
				"%s", amb.Error()).WithCode("receipt_id_ambiguous"))
			return
		}
		if err != nil {
			writeError(w, runtime.AsError(err))
			return
		}
		if !ok {
			writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "id",
				"receipt %s not found on this node", id).WithCode("receipt_not_found"))
			return
		}
		v, err := receiptView(e)
		if err != nil {
			writeError(w, runtime.AsError(err))
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	s.mux.HandleFunc("GET /api/v1/receipts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var f pool.Filter
		for _, p := range []struct {
			name string
			dst  *peer.ID
		}{{"account", &f.Account}, {"node", &f.Node}} {
			if v := q.Get(p.name); v != "" {
				id, err := peer.Decode(v)
				if err != nil {
					badParam(w, p.name, "%s: not a peer ID: %v", p.name, err)
					return
				}
				*p.dst = id
			}
		}
		f.Model, f.After = q.Get("model"), q.Get("after")
		if v := q.Get("epoch"); v != "" {
			e, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				badParam(w, "epoch", "epoch: not a number: %q", v)
				return
			}
			f.Epoch = &e
		}
		if v := q.Get("limit"); v != "" {
			l, err := strconv.Atoi(v)
			if err != nil || l < 1 || l > pool.MaxLimit {
				badParam(w, "limit", "limit: must be 1–%d, got %q", pool.MaxLimit, v)
				return
			}
			f.Limit = l
		}
		entries, next, err := rs.List(r.Context(), f)
		if err != nil {
			writeError(w, runtime.AsError(err))
			return
		}
		out := ReceiptPage{Receipts: []ReceiptView{}, Next: next}
		for _, e := range entries {
			v, err := receiptView(e)
			if err != nil {
				writeError(w, runtime.AsError(err))
				return
			}
			out.Receipts = append(out.Receipts, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// price serves GET /api/v1/prices/{model}[?account=ID].
func (s *Server) price(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("model")
	var p Price
	if a := r.URL.Query().Get("account"); a != "" {
		account, err := peer.Decode(a)
		if err != nil {
			badParam(w, "account", "account: not a peer ID: %v", err)
			return
		}
		ap, err := s.opts.Prices.For(r.Context(), model, account)
		if err != nil {
			writeError(w, runtime.AsError(err))
			return
		}
		p = Price{InputPrice: ap.Input, OutputPrice: ap.Output, Account: account.String(),
			ListInputPrice: ap.ListInput, ListOutputPrice: ap.ListOutput, DiscountBps: ap.DiscountBps}
	} else {
		in, out, err := s.opts.Prices.Quote(r.Context(), model)
		if err != nil {
			writeError(w, runtime.AsError(err))
			return
		}
		p = Price{InputPrice: in, OutputPrice: out}
	}
	payee, err := s.opts.Prices.Payee(r.Context(), model)
	if err != nil {
		writeError(w, runtime.AsError(err))
		return
	}
	p.Model, p.NetworkID, p.Node, p.Payee = model, s.opts.NetworkID, s.opts.NodeID, payee.String()
	writeJSON(w, http.StatusOK, p)
}
