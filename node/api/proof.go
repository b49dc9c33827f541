package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/settle/pool"
)

// ErrEpochOpen is what a Chain's Query error matches when its answer
// exists only once an epoch has closed: the proof of inclusion of a
// receipt whose epoch is open. The error's message names the epoch
// ("epoch 3 has not closed yet").
var ErrEpochOpen = errors.New("the epoch has not closed yet")

// ReceiptProof is the body of GET /api/v1/receipts/{id}/proof: the proof
// that receipt ID is under ReceiptsRoot, the receipts root of the
// settlement of Epoch, the epoch the chain charged it in. A client checks
// it with Proof.Verify against the root of that epoch's settlement (GET
// /api/v1/epochs/{n}), not against ReceiptsRoot, which the node says.
type ReceiptProof struct {
	ID           string       `json:"id"`
	Epoch        uint64       `json:"epoch"`
	ReceiptsRoot string       `json:"receipts_root"`
	Proof        merkle.Proof `json:"proof"`
}

// receiptProof serves GET /api/v1/receipts/{id}/proof. id is the whole
// receipt id or a prefix of it that names one receipt this node holds.
// It answers 404 for a receipt the chain has not included (or whose
// record it pruned), 409 while the receipt's epoch is open and 503 on a
// node that runs no chain.
func (s *Server) receiptProof(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.PathValue("id"))
	if err := pool.CheckIDPrefix(id); err != nil {
		badParam(w, "id", "%s", strings.TrimPrefix(err.Error(), "pool: "))
		return
	}
	if s.opts.Chain == nil {
		writeError(w, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"this node runs no settlement chain: ask a node that does for the proof of receipt %s", id).WithCode("no_chain"))
		return
	}
	if len(id) < 2*len(pool.ID{}) {
		full, ok := s.resolveReceiptID(w, r, id)
		if !ok {
			return
		}
		id = full
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	b, err := s.opts.Chain.Query(ctx, "/proof/"+id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "id",
			"receipt %s is not on the chain: not included yet, or its record was pruned", id).WithCode("receipt_not_included"))
		return
	case errors.Is(err, ErrEpochOpen):
		writeError(w, runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "id",
			"%v: receipt %s has no proof of inclusion until it does", err, id).WithCode("epoch_open"))
		return
	case err != nil:
		writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "%v", err))
		return
	}
	var p ReceiptProof
	if err := json.Unmarshal(b, &p); err != nil {
		writeError(w, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "the chain's proof of receipt %s: %v", id, err))
		return
	}
	if p.ID != id {
		writeError(w, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"the chain answered the proof of receipt %s for receipt %s", p.ID, id))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// resolveReceiptID returns the whole id of the one receipt this node holds
// whose id starts with prefix; otherwise it writes the error and returns
// false.
func (s *Server) resolveReceiptID(w http.ResponseWriter, r *http.Request, prefix string) (string, bool) {
	if s.opts.Receipts == nil {
		badParam(w, "id", "receipt id %s: give the whole id (64 hex digits); this node holds no receipts to look a prefix up in", prefix)
		return "", false
	}
	e, ok, err := s.opts.Receipts.Find(r.Context(), prefix)
	if amb, isAmb := errors.AsType[*pool.AmbiguousIDError](err); isAmb {
		writeError(w, runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "id",
			"%s", amb.Error()).WithCode("receipt_id_ambiguous"))
		return "", false
	}
	if err != nil {
		writeError(w, runtime.AsError(err))
		return "", false
	}
	if !ok {
		writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "id",
			"receipt %s not found on this node: give the whole id to ask the chain", prefix).WithCode("receipt_not_found"))
		return "", false
	}
	return e.ID.String(), true
}
