package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fomonet/fomo/settle/econ"
)

// Binary encodings of the per-receipt and per-epoch settlement records.
// Each value starts with a version byte; the decoders check every length
// and never panic on malformed input.

// receiptStateV1 is the version byte of the binary ReceiptState.
const receiptStateV1 = 1

// Flags of the binary ReceiptState.
const (
	rsPaid   = 1 << 0
	rsIssued = 1 << 1 // IssuedEpoch follows Epoch
)

// errBadRecord is wrapped by the decoders' errors.
var errBadRecord = errors.New("ledger: malformed record")

// appendReceiptState appends the binary form of s:
//
//	version(1) ‖ flags(1) ‖ epoch(8) ‖ [issued epoch(8)] ‖ charge(8) ‖
//	discount(8) ‖ height(8) ‖ len(model)(1) ‖ model ‖ len(account)(1) ‖ account
//
// integers big-endian; names are at most 128 bytes (validName).
func appendReceiptState(b []byte, s *ReceiptState) []byte {
	var flags byte
	if s.Paid {
		flags |= rsPaid
	}
	if s.IssuedEpoch != nil {
		flags |= rsIssued
	}
	b = append(b, receiptStateV1, flags)
	b = binary.BigEndian.AppendUint64(b, s.Epoch)
	if s.IssuedEpoch != nil {
		b = binary.BigEndian.AppendUint64(b, *s.IssuedEpoch)
	}
	b = binary.BigEndian.AppendUint64(b, s.Charge)
	b = binary.BigEndian.AppendUint64(b, s.Discount)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Height))
	b = append(b, byte(len(s.Model)))
	b = append(b, s.Model...)
	b = append(b, byte(len(s.Account)))
	return append(b, s.Account...)
}

// DecodeReceiptState decodes the stored form of a [ReceiptState] (the
// value under /rcpt/<id hex>).
func DecodeReceiptState(b []byte) (ReceiptState, error) {
	var s ReceiptState
	bad := func(what string) (ReceiptState, error) {
		return ReceiptState{}, fmt.Errorf("%w: receipt state: %s", errBadRecord, what)
	}
	if len(b) < 2 {
		return bad("shorter than its header")
	}
	if b[0] != receiptStateV1 {
		return bad(fmt.Sprintf("version %d, want %d", b[0], receiptStateV1))
	}
	flags := b[1]
	if flags&^(rsPaid|rsIssued) != 0 {
		return bad(fmt.Sprintf("unknown flags %#x", flags))
	}
	b = b[2:]
	n := 32
	if flags&rsIssued != 0 {
		n += 8
	}
	if len(b) < n {
		return bad("truncated integers")
	}
	u := func() uint64 { v := binary.BigEndian.Uint64(b); b = b[8:]; return v }
	s.Epoch = u()
	if flags&rsIssued != 0 {
		v := u()
		s.IssuedEpoch = &v
	}
	s.Charge, s.Discount, s.Height = u(), u(), int64(u())
	s.Paid = flags&rsPaid != 0
	str := func() (string, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", false
		}
		v := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return v, true
	}
	var ok bool
	if s.Model, ok = str(); !ok {
		return bad("truncated model")
	}
	if s.Account, ok = str(); !ok {
		return bad("truncated account")
	}
	if len(b) != 0 {
		return bad(fmt.Sprintf("%d trailing bytes", len(b)))
	}
	return s, nil
}

// modelAggV1 is the version byte of a modelAgg value.
const modelAggV1 = 1

// modelAggFields is the number of uint64 fields of a modelAgg.
const modelAggFields = 10

// modelAgg is what the receipts of one model charged in one epoch add up
// to so far (/agg/<epoch>/<model>); the close builds the model's
// settlement from it.
type modelAgg struct {
	// Paid are the split totals of the paid receipts, with every fee of a
	// forwarded receipt whose entry node is not its paying account in
	// RoutingFee; the close moves the fees of entry nodes that are not
	// registered then back to Net.
	Paid econ.SplitTotals
	// Discounts sums the paid receipts' discounts (wrapping, as the
	// settlement field always did).
	Discounts uint64
	// SelfRouted counts the forwarded paid receipts whose entry node is
	// their paying account: denied their fee at inclusion.
	SelfRouted uint64
	// Unpaid and UnpaidUSD count the unpaid receipts and sum their charges
	// (wrapping).
	Unpaid    uint64
	UnpaidUSD uint64
}

// encodeModelAgg returns version(1) ‖ the fields as 8-byte big-endian
// integers, in declaration order.
func encodeModelAgg(a *modelAgg) []byte {
	b := make([]byte, 0, 1+8*modelAggFields)
	b = append(b, modelAggV1)
	for _, v := range []uint64{a.Paid.Receipts, a.Paid.Tokens, a.Paid.Gross, a.Paid.Cost, a.Paid.RoutingFee, a.Paid.Net,
		a.Discounts, a.SelfRouted, a.Unpaid, a.UnpaidUSD} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func decodeModelAgg(b []byte) (modelAgg, error) {
	if len(b) != 1+8*modelAggFields || b[0] != modelAggV1 {
		return modelAgg{}, fmt.Errorf("%w: model aggregate of %d bytes, version %v", errBadRecord, len(b), b[:min(len(b), 1)])
	}
	var a modelAgg
	for i, p := range []*uint64{&a.Paid.Receipts, &a.Paid.Tokens, &a.Paid.Gross, &a.Paid.Cost, &a.Paid.RoutingFee, &a.Paid.Net,
		&a.Discounts, &a.SelfRouted, &a.Unpaid, &a.UnpaidUSD} {
		*p = binary.BigEndian.Uint64(b[1+8*i:])
	}
	return a, nil
}

// entryAgg is what one entry node's forwarded paid receipts of a model
// owe it in an epoch (/agge/<epoch>/<model>/<node>): the fee sum and the
// receipt count, 8-byte big-endian each.
type entryAgg struct {
	Fee   uint64
	Count uint64
}

func encodeEntryAgg(a entryAgg) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), a.Fee)
	return binary.BigEndian.AppendUint64(b, a.Count)
}

func decodeEntryAgg(b []byte) (entryAgg, error) {
	if len(b) != 16 {
		return entryAgg{}, fmt.Errorf("%w: entry aggregate of %d bytes, want 16", errBadRecord, len(b))
	}
	return entryAgg{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}
