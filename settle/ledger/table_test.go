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
	out.Reset()
	EpochSettlement{ReceiptsRoot: "01", Buybacks: &EpochBuybacks{UsdIn: 1_000_000, FlockOut: 9_000_000, MTBurned: 150_000,
		FlockPoolAfter: econ.Pool{ReserveA: 90_000_000, ReserveB: 10_000_000}, FlockPriceE18: 111_111_111_111_111_111,
		Models: []ModelBuyback{{ModelBuyback: econ.ModelBuyback{Model: "m", UsdIn: 1_000_000, FlockBought: 9_000_000, MTBurned: 150_000,
			PoolAfter: &econ.Pool{ReserveA: 200_000_000, ReserveB: 10_000_000}}, PriceAfterE18: 50_000_000_000_000_000},
			{ModelBuyback: econ.ModelBuyback{Model: "n", Reserve: 5, Carry: 5}}}}}.WriteTable(&out)
	got = out.String()
	for _, want := range []string{
		"  FLOCK/usd pool: 90.000000 FLOCK / 10.000000 usd, 0.111111111 usd per FLOCK\n",
		"  m: 1.000000 usd → 9.000000 FLOCK → 0.150000 MT burned; MT/FLOCK pool: 200.000000 MT / 10.000000 FLOCK, 0.050000000 FLOCK per MT; 0.000000 usd carried over\n",
		"  n: 0.000000 usd → 0.000000 FLOCK → 0.000000 MT burned; no pool yet; 0.000005 usd carried over\n",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("pool lines lack %q:\n%s", want, got)
		}
	}
}
