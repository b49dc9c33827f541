package networks

import (
	"reflect"
	"strings"
	"testing"
)

// minimal is a genesis without an [economics] section.
const minimal = `name = "devnet"
development = true
genesis_time = 2026-11-01T00:00:00Z
protocol_key = "12D3KooWKJmkTBcXNxTsBCX7qjgyphSRoGJEjJFm4XaMzsQxJTQY"
epoch_length = "1h"
[chain]
max_validators = 10
power_unit = 1_000_000
epoch_grace = "1m"
`

// TestEconomicsDefaults: a genesis that leaves every economic parameter out
// resolves to the defaults and has the id of the devnet, which writes them
// all out: the id commits to resolved values.
func TestEconomicsDefaults(t *testing.T) {
	g, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if g.ID() != devnetID {
		t.Fatalf("id %s, want the devnet's %s", g.ID(), devnetID)
	}
	if got, want := g.Economics.Resolved(), DefaultEconomics(); !reflect.DeepEqual(got, want) {
		t.Fatalf("resolved %+v, want %+v", got, want)
	}
	if got := Devnet().Economics; !reflect.DeepEqual(got.Resolved(), DefaultEconomics()) {
		t.Fatal("the devnet file does not write the defaults")
	}
	// Every field of the defaults is set.
	v := reflect.ValueOf(DefaultEconomics())
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; name != "GatewayBps" && name != "EmissionReserveFlock" && name != "EmissionFirstEpochFlock" && v.Field(i).IsNil() {
			t.Errorf("no default for %s", name)
		}
	}
}

// TestEconomicsExplicitZero: a present key takes its value, zero included,
// and changes the id; absent keys keep their defaults.
func TestEconomicsExplicitZero(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		check     func(Economics) bool
	}{
		{"routing fee 0", "routing_fee_bps = 0", func(e Economics) bool { return *e.RoutingFeeBps == 0 && *e.IssuerBps == 3000 }},
		{"former name gateway_bps", "gateway_bps = 0", func(e Economics) bool { return *e.RoutingFeeBps == 0 && e.GatewayBps == nil }},
		{"unbonding 0", "unbonding_epochs = 0", func(e Economics) bool { return *e.UnbondingEpochs == 0 }},
		{"no discounts", "discount_tiers = []", func(e Economics) bool { return len(*e.DiscountTiers) == 0 }},
		{"swap fee 0", "swap_fee_bps = 0", func(e Economics) bool { return *e.SwapFeeBps == 0 && *e.RoutingFeeBps == 200 }},
		{"split with a zero share", "mt_buyback_bps = 5000\nflock_buyback_bps = 2000\ntreasury_bps = 0\nissuer_bps = 3000",
			func(e Economics) bool { return *e.TreasuryBps == 0 && *e.MTBuybackBps == 5000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse([]byte(minimal + "[economics]\n" + tc.doc + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if r := g.Economics.Resolved(); !tc.check(r) {
				t.Fatalf("resolved %+v", r)
			}
			if g.ID() == devnetID {
				t.Fatal("an explicit zero did not change the id")
			}
		})
	}
	// The former name and the new one give the same network.
	a, _ := Parse([]byte(minimal + "[economics]\ngateway_bps = 150\n"))
	b, _ := Parse([]byte(minimal + "[economics]\nrouting_fee_bps = 150\n"))
	if a == nil || b == nil || a.ID() != b.ID() {
		t.Fatal("gateway_bps and routing_fee_bps differ")
	}
}

// TestEmissionReserveKeys: an absent or zero emission reserve is the
// devnet's network (no emissions); a funded one is another network and
// resolves to its value.
func TestEmissionReserveKeys(t *testing.T) {
	for _, doc := range []string{"", "emission_reserve_flock = 0", "emission_reserve_flock = 0\nemission_first_epoch_flock = 0"} {
		g, err := Parse([]byte(minimal + "[economics]\n" + doc + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r := g.Economics.Resolved(); g.ID() != devnetID || r.EmissionReserveFlock != nil || r.EmissionFirstEpochFlock != nil {
			t.Fatalf("%q: id %s, resolved %v %v", doc, g.ID(), r.EmissionReserveFlock, r.EmissionFirstEpochFlock)
		}
	}
	g, err := Parse([]byte(minimal + "[economics]\nemission_reserve_flock = 1_000_000\nemission_first_epoch_flock = 5_000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Economics.Resolved(); g.ID() == devnetID || *r.EmissionReserveFlock != 1_000_000 || *r.EmissionFirstEpochFlock != 5_000 {
		t.Fatalf("id %s, resolved %+v", g.ID(), r)
	}
}

// TestEconomicsBounds: every bound is checked and its error names the key.
func TestEconomicsBounds(t *testing.T) {
	tier := "\n[[tiers]]\nname = \"small\"\ncost_per_mtok = 10\nmin_input_price = 20\nmin_output_price = 30\nraise_min = 5\nraise_max = 9\n"
	model := "\n[[models]]\nname = \"m\"\nissuer = \"12D3KooWKJmkTBcXNxTsBCX7qjgyphSRoGJEjJFm4XaMzsQxJTQY\"\ntier = \"small\"\n"
	for _, tc := range []struct {
		name, econ, extra, key string
	}{
		{"routing fee above 10000", "routing_fee_bps = 10001", "", "economics.routing_fee_bps"},
		{"gateway above 10000", "gateway_bps = 10001", "", "economics.routing_fee_bps"},
		{"both names", "gateway_bps = 1\nrouting_fee_bps = 1", "", "economics.gateway_bps"},
		{"swap fee above 10000", "swap_fee_bps = 20000", "", "economics.swap_fee_bps"},
		{"alpha above 10000", "alpha_bps = 10001", "", "economics.alpha_bps"},
		{"net split sum", "issuer_bps = 2999", "", "issuer_bps"},
		{"allocation sum", "alloc_sale_bps = 5000", "", "alloc_sale_bps"},
		{"raise use sum", "raise_pool_bps = 0", "", "raise_pool_bps"},
		{"commit fees", "commit_fee_treasury_bps = 9000\ncommit_fee_issuer_bps = 2000", "", "commit_fee_issuer_bps"},
		{"discount above 10000", "[[economics.discount_tiers]]\nmin_stake = 1\ndiscount_bps = 10001", "", "economics.discount_tiers[0].discount_bps"},
		{"zero mt supply", "mt_supply = 0", "", "economics.mt_supply"},
		{"first budget above the reserve", "emission_reserve_flock = 10\nemission_first_epoch_flock = 11", "", "economics.emission_first_epoch_flock"},
		{"first budget without a reserve", "emission_first_epoch_flock = 1", "", "economics.emission_first_epoch_flock"},
		{"zero raise window", `raise_window = "0s"`, "", "economics.raise_window"},
		{"negative vesting", `issuer_vesting = "-1h"`, "", "economics.issuer_vesting"},
		{"sub-millisecond", `age_horizon = "1h1us"`, "", "economics.age_horizon"},
		{"unknown key", "routing_fee = 1", "", "economics.routing_fee"},
		{"pool half seeded", "flock_pool_usd = 0", "", "flock_pool_usd"},
		{"curve start 0", "curve_start_bps = 0", "", "economics.curve_start_bps"},
		{"curve start above 10000", "curve_start_bps = 10001", "", "economics.curve_start_bps"},
		{"raise_min above raise_max", "", strings.Replace(tier, "raise_min = 5", "raise_min = 10", 1), "tiers[0].raise_min"},
		{"floor below cost", "", strings.Replace(tier, "min_input_price = 20", "min_input_price = 9", 1), "tiers[0].min_input_price"},
		{"model below floor", "", tier + model + "input_price = 19\noutput_price = 30\n", "models[0].input_price"},
		{"model output below floor", "", tier + model + "input_price = 20\noutput_price = 29\n", "models[0].output_price"},
		{"model unknown tier", "", strings.Replace(model, `"small"`, `"huge"`, 1), "models[0].tier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := minimal + tc.extra
			if tc.econ != "" {
				doc += "\n[economics]\n" + tc.econ + "\n"
			}
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q does not name %q", err, tc.key)
			}
		})
	}
	// The bounds themselves are accepted.
	ok := minimal + tier + model + "input_price = 20\noutput_price = 30\n" +
		"\n[economics]\nrouting_fee_bps = 10000\nalpha_bps = 0\ncommit_fee_treasury_bps = 10000\ncommit_fee_issuer_bps = 0\nissuer_vesting = \"0s\"\n" +
		"flock_pool_flock = 0\nflock_pool_usd = 0\ncurve_start_bps = 10000\nbuyback_max_impact_bps = 0\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}
