package devnet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// epochWithEmissions is a settled epoch of the devnet's shape: one model
// with traffic whose emission the cap cuts, an idle one, the user paid
// emissions and gated releases, the issuer its bonus, and a staker without
// traffic paid nothing.
func epochWithEmissions() ledger.EpochSettlement {
	pool := &econ.Pool{ReserveA: 199_000e6, ReserveB: 10_050e6}
	return ledger.EpochSettlement{
		Epoch: 3, ClosedHeight: 115, Receipts: 10, Gross: 3_450, Cost: 740, RoutingFee: 10, Net: 2_700, Discounts: 383,
		Buybacks: &ledger.EpochBuybacks{UsdIn: 1_626, FlockBurned: 5_403_516, MTBurned: 211_027_283, FlockPriceE18: 100_004_000_000_000,
			Models: []ledger.ModelBuyback{{ModelBuyback: econ.ModelBuyback{Model: "m", MTBurned: 211_027_283, PoolAfter: pool},
				PriceAfterE18: 51_112_527_000_000_000}}},
		Emissions: &ledger.EpochEmissions{Budget: 100e6, ReserveBefore: 10_000_000e6, ReserveAfter: 10_000_000e6 - 34_498_510,
			PriceNum: 1, PriceDen: 10_000,
			Allocation: &econ.EmissionAllocation{Budget: 100e6, Paid: 34_498_510, Capped: 65_501_490, Models: []econ.ModelEmission{
				{Model: "m", Weight: "5", Share: 100e6, Cap: 34_498_510, Amount: 34_498_510, Capped: 65_501_490},
				{Model: "m-idle", Weight: "0"},
			}},
			Models: []ledger.ModelRewards{{Model: "m", IssuerID: "12D3KooWissuer000001", ModelRewards: econ.ModelRewards{
				Amount: 34_498_510, Issuer: 3_449_851, Users: []econ.Reward{
					{Account: "12D3KooWstaker000002"}, {Account: "12D3KooWuser00000003", Amount: 31_048_659}}}}},
			Gated: []ledger.GatedRelease{{Model: "m",
				Flock: econ.GatedSplit{Release: 22_000_000, CarryIn: 23_826_666, Users: []econ.Reward{{Account: "12D3KooWuser00000003", Amount: 45_826_666}}},
				MT:    econ.GatedSplit{Release: 1_100e6, Carry: 7, Users: []econ.Reward{{Account: "12D3KooWuser00000003", Amount: 1_100e6 - 7}}}}},
			Paid: 34_498_510,
		},
	}
}

func TestWriteEpoch(t *testing.T) {
	names := map[string]string{"12D3KooWuser00000003": "user", "12D3KooWissuer000001": "issuer"}
	var b bytes.Buffer
	writeEpoch(&b, epochWithEmissions(), names)
	want := `epoch 3 closed at height 115: 10 receipts (0 unpaid)
  revenue    0.003450 usd gross = 0.000740 node pay + 0.000010 routing + 0.002700 net
  discounts  0.000383 usd off list prices for staked MT
  burned     211.027283 MT and 5.403516 FLOCK, bought back with 0.001626 usd
  prices     0.000100004 usd per FLOCK; 0.051112527 FLOCK per MT of m
  emissions  budget 100.000000 FLOCK: 34.498510 paid, 65.501490 kept by the cap, 0.000000 unspent
    m                                 34.498510 FLOCK (capped at its gross in FLOCK)
    m-idle                             0.000000 FLOCK (no traffic)
  reserve    9999965.501490 FLOCK left to emit
  gated      m: 45.826666 FLOCK + 1099.999993 MT paid to stakers who used it
             0.000000 FLOCK + 0.000007 MT carried to the next epoch
  rewarded   user …000003                  76.875325 FLOCK      1099.999993 MT
             issuer …000001                 3.449851 FLOCK         0.000000 MT
`
	if got := b.String(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if n := len([]rune(l)); n >= 100 {
			t.Errorf("a line of %d columns: %q", n, l)
		}
	}

	// Without emissions (a network without a reserve) or a price.
	e := epochWithEmissions()
	e.Emissions = nil
	b.Reset()
	writeEpoch(&b, e, names)
	if strings.Contains(b.String(), "emissions") || !strings.Contains(b.String(), "burned     211.027283 MT") {
		t.Fatalf("without emissions:\n%s", b.String())
	}
	e.Emissions = &ledger.EpochEmissions{Budget: 100e6, NoPrice: true, ReserveAfter: 5}
	b.Reset()
	writeEpoch(&b, e, names)
	if !strings.Contains(b.String(), "budget 100.000000 FLOCK, none paid: no FLOCK/usd price") || strings.Contains(b.String(), "rewarded") {
		t.Fatalf("without a price:\n%s", b.String())
	}
}

func TestRewardedOrder(t *testing.T) {
	em := epochWithEmissions().Emissions
	// A third account paid only MT, a fourth the same FLOCK as the issuer.
	em.Gated[0].MT.Users = append(em.Gated[0].MT.Users, econ.Reward{Account: "c", Amount: 9})
	em.Models[0].Users = append(em.Models[0].Users, econ.Reward{Account: "a", Amount: 3_449_851})
	got := rewarded(em)
	var order []string
	for _, r := range got {
		order = append(order, r.account)
	}
	if want := "12D3KooWuser00000003 12D3KooWissuer000001 a c"; strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
	if got[0].flock != 31_048_659+45_826_666 || got[0].mt != 1_100e6-7 {
		t.Fatalf("the user's total: %+v", got[0])
	}
}
