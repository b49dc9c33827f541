package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

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
// receipts root: it reads the epoch's ids (one value per tx that included
// any), sorts them and proves id's leaf. It fails with ErrReceiptUnknown
// for an id never included or whose epoch is past the retention (its
// records pruned or being pruned), and with
// ErrEpochOpen while the epoch it was charged in is open.
func (l *Ledger) ReceiptProof(ctx context.Context, id [32]byte) (ReceiptProof, error) {
	r := l.reader(ctx)
	idHex := hex.EncodeToString(id[:])
	rs, ok, err := receiptState(r, idHex)
	if err != nil {
		return ReceiptProof{}, err
	}
	if !ok || l.retired(rs.Epoch) {
		return ReceiptProof{}, ErrReceiptUnknown
	}
	var st EpochSettlement
	if err := r.getJSON(pEpoch+epochKey(rs.Epoch), &st); errors.Is(err, errNotFound) {
		return ReceiptProof{}, ErrEpochOpen
	} else if err != nil {
		return ReceiptProof{}, err
	}
	ids, _, err := epochIDs(r, rs.Epoch, int(min(st.Receipts, 1<<26)))
	if err != nil {
		return ReceiptProof{}, err
	}
	p, err := merkle.Prove(ids, id)
	if errors.Is(err, merkle.ErrNotFound) {
		// Pruned between the two reads, or a state that lost the id.
		return ReceiptProof{}, fmt.Errorf("%w: %s is not among the %d ids of epoch %d", ErrReceiptUnknown, idHex, len(ids), rs.Epoch)
	} else if err != nil {
		return ReceiptProof{}, err
	}
	return ReceiptProof{ID: idHex, Epoch: rs.Epoch, ReceiptsRoot: st.ReceiptsRoot, Proof: p}, nil
}
