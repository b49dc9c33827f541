package networks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// devnetID is the golden network_id of the embedded devnet genesis. It
// changes only when a devnet parameter changes.
const devnetID = "974f0656f1e21b38"

func TestDevnetGoldenID(t *testing.T) {
	g := Devnet()
	if got := g.ID(); got != devnetID {
		t.Fatalf("devnet network_id = %s, want %s\ncanonical: %s", got, devnetID, g.Canonical())
	}
	want := `{"chain":{"epoch_grace":"1m0s","max_validators":10,"power_unit":1000000},"development":true,` +
		`"economics":{"age_floor_bps":2500,"age_horizon":"4320h0m0s","alloc_incentives_bps":2000,"alloc_issuer_bps":1000,` +
		`"alloc_liquidity_bps":2000,"alloc_sale_bps":4000,"alloc_treasury_bps":1000,"alpha_bps":9000,"buyback_max_impact_bps":100,"commit_fee_issuer_bps":50,` +
		`"commit_fee_treasury_bps":100,"curve_start_bps":5000,"discount_tiers":[{"discount_bps":1000,"min_stake":1000000000},` +
		`{"discount_bps":2000,"min_stake":10000000000},{"discount_bps":3000,"min_stake":50000000000}],"emission_cap_bps":10000,` +
		`"emission_half_life":"4320h0m0s","first_buy_max_bps":2500,"flock_buyback_bps":2000,"flock_pool_flock":10000000000000,"flock_pool_usd":1000000000000,"incentive_release":"4320h0m0s",` +
		`"issuer_bonus_bps":1000,"issuer_bps":3000,"issuer_vesting":"8760h0m0s","launch_fee":32768000000,"mt_buyback_bps":4000,` +
		`"mt_supply":1000000000000,"raise_issuer_bps":3000,"raise_pool_bps":5000,"raise_reserved_bps":2000,"raise_window":"168h0m0s",` +
		`"routing_fee_bps":200,"swap_fee_bps":30,"treasury_bps":1000,"unbonding_epochs":24},` +
		`"epoch_length":"1h0m0s","genesis_time":"2026-11-01T00:00:00Z","name":"devnet",` +
		`"protocol_key":"12D3KooWKJmkTBcXNxTsBCX7qjgyphSRoGJEjJFm4XaMzsQxJTQY"}`
	if got := string(g.Canonical()); got != want {
		t.Fatalf("canonical:\n got %s\nwant %s", got, want)
	}
}

func TestDevnetProtocolKey(t *testing.T) {
	id, err := peer.IDFromPrivateKey(DevnetProtocolKey())
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != Devnet().ProtocolKey {
		t.Fatalf("devnet protocol_key %s does not match DevnetProtocolKey %s", Devnet().ProtocolKey, id)
	}
}

// TestIDIgnoresFormatting: comments, whitespace, key order, number spelling
// and time zone spelling do not change the id; any value does.
func TestIDIgnoresFormatting(t *testing.T) {
	base := Devnet().ID()
	same := `
# reordered, reformatted, no comments from the original
[economics]
unbonding_epochs = 24

[chain]
power_unit    = 1000000
epoch_grace   = "60s"
max_validators= 10
`
	head := `epoch_length = "60m"
development = true
protocol_key = "12D3KooWKJmkTBcXNxTsBCX7qjgyphSRoGJEjJFm4XaMzsQxJTQY"
genesis_time = 2026-11-01T01:00:00+01:00
name = "devnet"
bootstrap = []
`
	g, err := Parse([]byte(head + same))
	if err != nil {
		t.Fatal(err)
	}
	if g.ID() != base {
		t.Fatalf("reformatted genesis id %s != %s\n%s", g.ID(), base, g.Canonical())
	}
	for _, tc := range []struct{ name, from, to string }{
		{"name", `name = "devnet"`, `name = "devnet2"`},
		{"epoch", `epoch_length = "60m"`, `epoch_length = "2h"`},
		{"time", `01:00:00+01:00`, `01:00:01+01:00`},
		{"development", "development = true", "development = false"},
	} {
		g, err := Parse([]byte(strings.Replace(head, tc.from, tc.to, 1) + same))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if g.ID() == base {
			t.Errorf("%s: changing a value did not change the id", tc.name)
		}
	}
}

func TestParseErrorsNameKey(t *testing.T) {
	dev := string(DevnetTOML())
	for _, tc := range []struct {
		name, doc, key string
	}{
		{"unknown top-level", dev + "\nfoo = 1\n", "foo"},
		{"unknown in table", strings.Replace(dev, "[chain]", "[chain]\nblock_size = 3", 1), "chain.block_size"},
		{"unknown table", dev + "\n[params]\nx = 1\n", "params.x"},
		{"bad name", strings.Replace(dev, `name = "devnet"`, `name = "Dev Net"`, 1), "name"},
		{"bad protocol key", strings.Replace(dev, `protocol_key = "12D3`, `protocol_key = "xx`, 1), "protocol_key"},
		{"bad epoch", strings.Replace(dev, `epoch_length = "1h"`, `epoch_length = "1ms"`, 1), "epoch_length"},
		{"epoch not duration", strings.Replace(dev, `epoch_length = "1h"`, `epoch_length = "soon"`, 1), "epoch_length"},
		{"no genesis time", strings.Replace(dev, "genesis_time = 2026-11-01T00:00:00Z", "", 1), "genesis_time"},
		{"bootstrap without p2p", strings.Replace(dev, "bootstrap = []", `bootstrap = ["/ip4/1.2.3.4/tcp/1"]`, 1), "bootstrap[0]"},
		{"wrong type", strings.Replace(dev, "max_validators = 10", `max_validators = "ten"`, 1), "max_validators"},
		{"validator power", dev + "\n[[validators]]\npeer_id = \"12D3KooWKJmkTBcXNxTsBCX7qjgyphSRoGJEjJFm4XaMzsQxJTQY\"\n", "validators[0].power"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q does not name %q", err, tc.key)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "net.toml")
	doc := strings.Replace(string(DevnetTOML()), `name = "devnet"`, `name = "testnet"`, 1) +
		"\n[[tiers]]\nname = \"small\"\ncost_per_mtok = 10\nmin_input_price = 20\nmin_output_price = 30\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "testnet" || len(g.Tiers) != 1 || g.Tiers[0].MinOutputPrice != 30 {
		t.Fatalf("loaded %+v", g)
	}
	if g.ID() == devnetID {
		t.Fatal("different genesis, same id")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ProtocolID("abc", "infer", "1.0.0"), "/fomo/abc/infer/1.0.0"},
		{Topic("abc", "capacity"), "fomo/abc/capacity/1"},
		{Prefix("abc"), "/fomo/abc"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q want %q", tc.got, tc.want)
		}
	}
}

func FuzzParseGenesis(f *testing.F) {
	f.Add(DevnetTOML())
	f.Add([]byte("name = 1"))
	f.Add([]byte("[[tiers]]\nname=\"a\"\n[[balances]]\naccount=\"x\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err != nil {
			return
		}
		// A valid genesis has a stable id, and its canonical form round-trips
		// through a fresh parse of the same bytes.
		g2, err := Parse(b)
		if err != nil || g.ID() != g2.ID() {
			t.Fatalf("unstable: %v", err)
		}
	})
}

func TestEncodeRoundTrip(t *testing.T) {
	g := Devnet()
	g.Name = "roundtrip"
	g.Validators = []Validator{{PeerID: g.ProtocolKey, Power: 3}}
	g.SessionKeys = []SessionKey{{Account: g.ProtocolKey, Key: g.ProtocolKey, SpendLimit: 5, ExpiresAt: g.GenesisTime.Add(time.Hour)}}
	g.Tiers = []Tier{{Name: "small", CostPerMtok: 1, MinInputPrice: 1, MinOutputPrice: 2, RaiseMin: 5, RaiseMax: 5}}
	g.Models = []Model{{Name: "m", Issuer: g.ProtocolKey, Tier: "small", InputPrice: 1, OutputPrice: 2, Nodes: []string{g.ProtocolKey}}}
	zero := uint32(0)
	g.Economics.RoutingFeeBps = &zero
	b, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if back.ID() != g.ID() {
		t.Fatalf("id %s after round trip, want %s\n%s", back.ID(), g.ID(), b)
	}
}
