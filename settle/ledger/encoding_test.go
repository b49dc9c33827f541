package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/merkle"
)

func TestReceiptStateEncoding(t *testing.T) {
	issued := uint64(6)
	for _, s := range []ReceiptState{
		{},
		{Epoch: 7, IssuedEpoch: &issued, Model: "m1", Account: "alice", Charge: 1 << 63, Discount: 5, Paid: true, Height: 1 << 40},
		{Epoch: 1, Model: strings.Repeat("m", 128), Account: strings.Repeat("a", 128), Charge: ^uint64(0), Height: -1},
	} {
		b := appendReceiptState(nil, &s)
		got, err := DecodeReceiptState(b)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip: %+v, want %+v", got, s)
		}
		// Every truncation and any trailing byte is refused.
		for n := range len(b) {
			if _, err := DecodeReceiptState(b[:n]); err == nil {
				t.Fatalf("%d of %d bytes decoded", n, len(b))
			}
		}
		if _, err := DecodeReceiptState(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("trailing byte decoded")
		}
	}
	if _, err := DecodeReceiptState([]byte(`{"epoch":1}`)); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("JSON decoded: %v", err)
	}
}

func TestModelAggEncoding(t *testing.T) {
	a := modelAgg{Discounts: 3, SelfRouted: 4, Unpaid: 5, UnpaidUSD: ^uint64(0)}
	a.Paid.Receipts, a.Paid.Tokens, a.Paid.Gross, a.Paid.Cost, a.Paid.RoutingFee, a.Paid.Net = 1, 2, 30, 10, 2, 18
	got, err := decodeModelAgg(encodeModelAgg(&a))
	if err != nil || got != a {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := decodeModelAgg(encodeModelAgg(&a)[1:]); err == nil {
		t.Fatal("truncated aggregate decoded")
	}
	if e, err := decodeEntryAgg(encodeEntryAgg(entryAgg{Fee: 9, Count: 2})); err != nil || e != (entryAgg{9, 2}) {
		t.Fatalf("entry round trip: %+v %v", e, err)
	}
}

// FuzzDecodeReceiptState checks that the decoder never panics and that
// whatever it accepts encodes back to the same bytes.
func FuzzDecodeReceiptState(f *testing.F) {
	issued := uint64(2)
	f.Add(appendReceiptState(nil, &ReceiptState{Epoch: 3, IssuedEpoch: &issued, Model: "m1", Account: "a", Charge: 9, Paid: true, Height: 4}))
	f.Add(appendReceiptState(nil, &ReceiptState{Model: "m", Account: "b"}))
	f.Add([]byte{1, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeReceiptState(b)
		if err != nil {
			return
		}
		if got := appendReceiptState(nil, &s); !bytes.Equal(got, b) {
			t.Fatalf("%x decoded to %+v, which encodes to %x", b, s, got)
		}
	})
}

func TestRetentionValidation(t *testing.T) {
	g := testGenesis()
	g.LateReceiptMs = 10 * epochMs
	// (10 epochs + 30 s of skew + an epoch) / an epoch, rounded up.
	if m := g.MinRetentionEpochs(); m != 12 {
		t.Fatalf("minimum %d, want 12", m)
	}
	g.ReceiptRetentionEpochs = 11
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "receipt_retention_epochs") {
		t.Fatalf("retention below the minimum: %v", err)
	}
	g.ReceiptRetentionEpochs = 12
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	g.ReceiptRetentionEpochs = 0
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	// The default keeps a week of epochs, or the minimum when longer.
	if r := g.RetentionEpochs(); r != 7*24*60 {
		t.Fatalf("default retention %d epochs", r)
	}
	g.LateReceiptMs = 30 * 24 * 60 * epochMs
	if r, m := g.RetentionEpochs(), g.MinRetentionEpochs(); r != m {
		t.Fatalf("default retention %d below the minimum %d", r, m)
	}
}

func TestSortIDs(t *testing.T) {
	for _, n := range []int{0, 1, 5, 1 << 12, 50_000} {
		ids := make([][32]byte, n)
		for i := range ids {
			ids[i] = sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			if i%7 == 3 {
				ids[i] = ids[i-1] // duplicates
			}
			if i%11 == 5 {
				ids[i][2] = ids[i-1][2] // ties beyond the bucket's two bytes
				copy(ids[i][:10], ids[i-1][:10])
			}
		}
		want := slices.Clone(ids)
		merkle.SortIDs(want)
		if got := sortIDs(ids); !slices.Equal(got, want) {
			t.Fatalf("%d ids sorted wrongly", n)
		}
	}
}
