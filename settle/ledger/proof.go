package ledger

import (
	"context"
	"errors"

	"github.com/fomonet/fomo/settle/merkle"
)

// ReceiptProof shows that a receipt id is under the ReceiptsRoot of the
// settlement of the epoch it was charged in.
type ReceiptProof struct {
	ID           string       `json:"id"`
	Epoch        uint64       `json:"epoch"`
	ReceiptsRoot string       `json:"receipts_root"`
	Proof        merkle.Proof `json:"proof"`
}

// Errors of [Ledger.ReceiptProof].
var (
	// ErrReceiptUnknown: no receipt with this id was included, or its
	// record was pruned after the retention period.
	ErrReceiptUnknown = errors.New("ledger: no included receipt with this id")
	// ErrEpochOpen: the receipt's epoch has not closed, so it has no root
	// yet.
	ErrEpochOpen = errors.New("ledger: the receipt's epoch has not closed yet")
)

// ReceiptProof returns the proof of inclusion of receipt id in its epoch's
// receipts root.
func (l *Ledger) ReceiptProof(ctx context.Context, id [32]byte) (ReceiptProof, error) {
	return ReceiptProof{}, ErrReceiptUnknown
}
