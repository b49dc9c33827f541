package node

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/settle/econ"
)

// TestLedgerGenesisEconomics: every economic parameter reaches the ledger
// genesis, defaults where the file is silent and the written value, zero
// included, where it is not.
func TestLedgerGenesisEconomics(t *testing.T) {
	dev := networks.Devnet()
	lg := LedgerGenesis(dev)
	if err := lg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lg.Params, econ.DefaultParams()) {
		t.Fatalf("devnet params %+v, want the defaults %+v", lg.Params, econ.DefaultParams())
	}
	e := lg.Economics
	if e.UnbondingEpochs != 24 || e.LaunchFee != 32_768*econ.Unit || e.MTSupply != 1_000_000*econ.Unit ||
		e.RaiseWindowMs != 7*24*3600*1000 || e.AlphaBps != 9000 || e.SwapFeeBps != 30 {
		t.Fatalf("devnet economics %+v", e)
	}
	// The genesis is the one source of the pool, buyback and offering
	// parameters: the devnet's defaults are econ's.
	if got, want := e.RMOParams(), econ.DefaultRMOParams(); got != want {
		t.Fatalf("devnet offering parameters %+v, want econ's defaults %+v", got, want)
	}
	if got, want := e.BuybackParams(), econ.DefaultBuybackParams(); got != want {
		t.Fatalf("devnet buyback parameters %+v, want econ's defaults %+v", got, want)
	}
	if e.FlockPoolFlock != 10_000_000*econ.Unit || e.FlockPoolUSD != 1_000_000*econ.Unit || e.SwapFeeBps != econ.DefaultSwapFeeBps {
		t.Fatalf("devnet FLOCK/usd pool %d/%d fee %d", e.FlockPoolFlock, e.FlockPoolUSD, e.SwapFeeBps)
	}
	doc := strings.Replace(string(networks.DevnetTOML()), "routing_fee_bps = 200", "routing_fee_bps = 0", 1)
	doc = strings.Replace(doc, "unbonding_epochs = 24", "unbonding_epochs = 3", 1)
	doc = strings.Replace(doc, "swap_fee_bps = 30", "", 1)
	g, err := networks.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	lg = LedgerGenesis(g)
	if lg.Params.GatewayBps != 0 || lg.Economics.UnbondingEpochs != 3 || lg.Economics.SwapFeeBps != 30 {
		t.Fatalf("params %+v economics %+v", lg.Params, lg.Economics)
	}
	if err := lg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The devnet funds no emission reserve; a file that does reaches the
	// ledger with its first budget.
	if e.EmissionReserveFlock != 0 || e.EmissionFirstEpochFlock != 0 {
		t.Fatalf("devnet emission reserve %d, first budget %d", e.EmissionReserveFlock, e.EmissionFirstEpochFlock)
	}
	doc = strings.Replace(string(networks.DevnetTOML()), "[economics]",
		"[economics]\nemission_reserve_flock = 5_000_000_000\nemission_first_epoch_flock = 1_000_000", 1)
	if g, err = networks.Parse([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	lg = LedgerGenesis(g)
	if lg.Economics.EmissionReserveFlock != 5_000*econ.Unit || lg.Economics.EmissionFirstEpochFlock != econ.Unit {
		t.Fatalf("economics %+v", lg.Economics)
	}
	if err := lg.Validate(); err != nil {
		t.Fatal(err)
	}
}
