package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fomonet/fomo/settle/ledger"
)

// queryError is a query's failure with a code of its own (not QueryBad):
// Query answers it with that code and the message as its log.
type queryError struct {
	code uint32
	msg  string
}

func (e *queryError) Error() string { return e.msg }

// proofLedger is what the /proof query reads of the ledger (a
// *ledger.Ledger is one).
type proofLedger interface {
	ReceiptProof(ctx context.Context, id [32]byte) (ledger.ReceiptProof, error)
	Receipt(ctx context.Context, idHex string) (ledger.ReceiptState, bool, error)
}

// proofQuery answers /proof/<id hex>: the receipt's proof of inclusion
// under its epoch's receipts root (ledger.ReceiptProof). A receipt the
// chain did not include, or whose record was pruned, is QueryNotFound
// ("receipt <id>"); one whose epoch is open is QueryEpochOpen.
func proofQuery(ctx context.Context, l proofLedger, arg string) (any, bool, error) {
	var id [32]byte
	if len(arg) != 2*len(id) {
		return nil, false, fmt.Errorf("receipt id %q: want 64 hex digits, got %d characters", arg, len(arg))
	}
	if _, err := hex.Decode(id[:], []byte(arg)); err != nil {
		return nil, false, fmt.Errorf("receipt id %q is not hex", arg)
	}
	idHex := hex.EncodeToString(id[:])
	p, err := l.ReceiptProof(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrReceiptUnknown):
		return nil, false, &queryError{code: QueryNotFound, msg: "receipt " + idHex}
	case errors.Is(err, ledger.ErrEpochOpen):
		msg := "the receipt's epoch has not closed yet"
		if st, ok, err := l.Receipt(ctx, idHex); err == nil && ok {
			msg = fmt.Sprintf("epoch %d has not closed yet", st.Epoch)
		}
		return nil, false, &queryError{code: QueryEpochOpen, msg: msg}
	case err != nil:
		return nil, false, fmt.Errorf("proof of receipt %s: %w", idHex, err)
	}
	return p, true, nil
}
