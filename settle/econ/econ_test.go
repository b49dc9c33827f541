package econ

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestCharge(t *testing.T) {
	tests := []struct {
		name               string
		in, out, inP, outP uint64
		want               uint64
		wantErr            error
	}{
		{"zero", 0, 0, 1, 1, 0, nil},
		{"floor", 1, 1, 1, 1, 0, nil},
		{"exact", 1_000_000, 0, 2_500_000, 0, 2_500_000, nil},
		{"mixed", 1234, 567, 150_000, 600_000, 525, nil},
		{"128bit", math.MaxUint64, 0, 1_000_000, 0, math.MaxUint64, nil},
		{"overflow quotient", math.MaxUint64, 0, 2_000_000, 0, 0, ErrOverflow},
		{"overflow 128", math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64, 0, ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Charge(tc.in, tc.out, tc.inP, tc.outP)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("Charge = %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEffectivePrice(t *testing.T) {
	tests := []struct {
		list, floor uint64
		d           uint32
		want        uint64
	}{
		{1000, 0, 0, 1000},
		{1000, 0, 1000, 900},
		{1000, 950, 1000, 950},
		{999, 0, 3000, 699},
		{1000, 0, 20000, 0},
		{math.MaxUint64, 0, 1, math.MaxUint64/10000*9999 + (math.MaxUint64%10000)*9999/10000},
	}
	for _, tc := range tests {
		if got := EffectivePrice(tc.list, tc.floor, tc.d); got != tc.want {
			t.Errorf("EffectivePrice(%d,%d,%d) = %d, want %d", tc.list, tc.floor, tc.d, got, tc.want)
		}
	}
}

func TestDiscountBps(t *testing.T) {
	tiers := DefaultDiscountTiers()
	tests := []struct {
		stake uint64
		want  uint32
	}{
		{0, 0}, {999_999_999, 0}, {1_000 * Unit, 1000}, {9_999 * Unit, 1000},
		{10_000 * Unit, 2000}, {50_000 * Unit, 3000}, {math.MaxUint64, 3000},
	}
	for _, tc := range tests {
		if got := DiscountBps(tc.stake, tiers); got != tc.want {
			t.Errorf("DiscountBps(%d) = %d, want %d", tc.stake, got, tc.want)
		}
	}
	if got := DiscountBps(100, nil); got != 0 {
		t.Errorf("no tiers: %d", got)
	}
}

func TestSplitBps(t *testing.T) {
	parts, dust := SplitBps(101, DefaultParams().NetShares())
	want := []uint64{40, 20, 10, 30}
	for i := range want {
		if parts[i] != want[i] {
			t.Fatalf("parts = %v, want %v", parts, want)
		}
	}
	if dust != 1 {
		t.Fatalf("dust = %d", dust)
	}
	// Over-allocated shares still conserve.
	parts, dust = SplitBps(10, []Share{{"a", 9000}, {"b", 9000}})
	if parts[0]+parts[1]+dust != 10 || parts[1] != 1 {
		t.Fatalf("over-allocated: %v %d", parts, dust)
	}
}

func TestSplitBpsConserves(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		n := r.IntN(6)
		shares := make([]Share, n)
		for i := range shares {
			shares[i].Bps = uint32(r.IntN(3000))
		}
		amt := r.Uint64()
		parts, dust := SplitBps(amt, shares)
		var s uint64
		for _, p := range parts {
			s += p
		}
		if s+dust != amt {
			t.Fatalf("split of %d by %v: %v + %d", amt, shares, parts, dust)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	p.IssuerBps++
	if p.Validate() == nil {
		t.Fatal("want error for 10001 bps")
	}
	p = DefaultParams()
	p.GatewayBps = 10001
	if p.Validate() == nil {
		t.Fatal("want error for gateway_bps")
	}
}

func TestSplitModel(t *testing.T) {
	p := DefaultParams()
	rs := []Usage{
		// direct: cost 1000 tokens × 100_000 /1e6 = 100; rest 900 → net.
		{ID: [32]byte{1}, InputTokens: 600, OutputTokens: 400, Charge: 1000, Node: "n1"},
		// forwarded: cost 100; rest 900; fee 18 → e1; net 882.
		{ID: [32]byte{2}, InputTokens: 600, OutputTokens: 400, Charge: 1000, Node: "n2", EntryNode: "e1"},
		// cost capped at charge.
		{ID: [32]byte{3}, InputTokens: 1_000_000, Charge: 7, Node: "n1", EntryNode: "e1"},
		// entry equal to node: no fee.
		{ID: [32]byte{4}, InputTokens: 10, Charge: 50, Node: "n2", EntryNode: "n2"},
	}
	s, err := SplitModel(rs, 100_000, p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gross != 2057 || s.Cost != 208 || s.RoutingFee != 18 || s.Net != 1831 {
		t.Fatalf("split = %+v", s)
	}
	if s.MTBuyback != 732 || s.FlockBuyback != 366 || s.Issuer != 549 || s.Treasury != 183+1 || s.Dust != 1 {
		t.Fatalf("net split = %+v", s)
	}
	if len(s.NodeCosts) != 2 || s.NodeCosts[0] != (Payout{"n1", 107}) || s.NodeCosts[1] != (Payout{"n2", 101}) {
		t.Fatalf("node costs = %+v", s.NodeCosts)
	}
	if len(s.RoutingFees) != 1 || s.RoutingFees[0] != (Payout{"e1", 18}) {
		t.Fatalf("fees = %+v", s.RoutingFees)
	}
	if s.Total() != s.Gross {
		t.Fatalf("total %d != gross %d", s.Total(), s.Gross)
	}
}

// TestSplitModelProperty checks conservation and order independence over
// random receipt sets.
func TestSplitModelProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	nodes := []string{"", "a", "b", "c", "d"}
	for iter := range 2_000 {
		n := r.IntN(40)
		rs := make([]Usage, n)
		var sum uint64
		for i := range rs {
			rs[i] = Usage{
				InputTokens:  r.Uint64N(100_000),
				OutputTokens: r.Uint64N(100_000),
				Charge:       r.Uint64N(1 << 40),
				Node:         nodes[1+r.IntN(4)],
				EntryNode:    nodes[r.IntN(5)],
			}
			for k := range rs[i].ID {
				rs[i].ID[k] = byte(r.Uint32())
			}
			sum += rs[i].Charge
		}
		p := DefaultParams()
		p.GatewayBps = uint32(r.IntN(10001))
		cost := r.Uint64N(10_000_000)
		a, err := SplitModel(rs, cost, p)
		if err != nil {
			t.Fatal(err)
		}
		if a.Gross != sum || a.Total() != sum || a.Cost+a.RoutingFee+a.Net != sum {
			t.Fatalf("iter %d: not conserved: %+v sum %d", iter, a, sum)
		}
		r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		b, _ := SplitModel(rs, cost, p)
		if !equalSplit(a, b) {
			t.Fatalf("iter %d: order dependent", iter)
		}
	}
}

func equalSplit(a, b ModelSplit) bool { return reflect.DeepEqual(a, b) }

func TestCostCap(t *testing.T) {
	if got := Cost(math.MaxUint64, math.MaxUint64, 5); got != 5 {
		t.Fatal(got)
	}
	if got := Cost(2_000_000, 3, 100); got != 6 {
		t.Fatal(got)
	}
}

// TestSplitFromTotals checks the pieces SplitModel is made of: each
// receipt's cost, fee and net sum to its charge, and settling a forwarded
// receipt as served directly is the same as moving its fee to the net,
// which is how a close denies an entry node's fees after the fact.
func TestSplitFromTotals(t *testing.T) {
	p := DefaultParams()
	us := []Usage{
		{InputTokens: 1_000, OutputTokens: 500, Charge: 900, Node: "n1", EntryNode: "e1"},
		{InputTokens: 3_000, OutputTokens: 0, Charge: 1_234, Node: "n2", EntryNode: "e1"},
		{InputTokens: 10, OutputTokens: 10, Charge: 7, Node: "n1", EntryNode: "n1"},
		{InputTokens: ^uint64(0), OutputTokens: 1, Charge: 5, Node: "n2"},
	}
	for i := range us {
		s := SplitUsage(&us[i], 100_000, p.GatewayBps)
		if s.Cost+s.Fee+s.Net != us[i].Charge || (s.Fee > 0) != us[i].Forwarded() {
			t.Fatalf("receipt %d: %+v", i, s)
		}
	}
	all, err := SplitModel(us, 100_000, p)
	if err != nil {
		t.Fatal(err)
	}
	direct := append([]Usage(nil), us...)
	direct[0].EntryNode, direct[1].EntryNode = "", ""
	want, err := SplitModel(direct, 100_000, p)
	if err != nil {
		t.Fatal(err)
	}
	tot := SplitTotals{Receipts: all.Receipts, Tokens: all.Tokens, Gross: all.Gross, Cost: all.Cost,
		RoutingFee: all.RoutingFee - all.RoutingFees[0].Amount, Net: all.Net + all.RoutingFees[0].Amount}
	if got := NewModelSplit(tot, all.NodeCosts, nil, p); !reflect.DeepEqual(got, want) {
		t.Fatalf("denied entry node:\n%+v\nwant\n%+v", got, want)
	}
	if all.Tokens != ^uint64(0) {
		t.Fatalf("tokens %d do not saturate", all.Tokens)
	}
}
