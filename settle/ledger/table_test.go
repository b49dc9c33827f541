package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	EpochSettlement{Epoch: 3, ClosedHeight: 42, Receipts: 5, Unpaid: 1,
		ReceiptsRoot: "0123456789abcdef0123"}.WriteTable(&out)
	got := out.String()
	for _, want := range []string{"epoch 3 closed at height 42: 5 receipts (1 unpaid), root 0123456789abcdef…", "model", "total"} {
		if !strings.Contains(got, want) {
			t.Fatalf("settlement table lacks %q:\n%s", want, got)
		}
	}
	out.Reset()
	EpochSettlement{ReceiptsRoot: "01", Models: []ModelSettlement{{Model: "m", Split: econ.ModelSplit{Receipts: 2, Gross: 1_000_000}}}}.WriteTable(&out)
	if got := out.String(); !strings.Contains(got, "root 01\n") || strings.Contains(got, "total") || !strings.Contains(got, " m ") {
		t.Fatalf("one model's table:\n%s", got)
	}
	out.Reset()
	EpochSettlement{ReceiptsRoot: "01", Buybacks: &EpochBuybacks{UsdIn: 2_500_000, FlockOut: 25_000_000, MTBurned: 7,
		Models: []ModelBuyback{{ModelBuyback: econ.ModelBuyback{Model: "m", Carry: 1_000_000}}}}}.WriteTable(&out)
	if got := out.String(); !strings.Contains(got, "buybacks: 2.500000 usd in for 25.000000 FLOCK; burned 0.000000 FLOCK and 0.000007 MT; 1.000000 usd carried over") {
		t.Fatalf("buyback line:\n%s", got)
	}
}
