package econ

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// smallCurve sells 1,000 units for 1,000,000 flock, starting at half the
// average price: p0 = 500, p1 = 1,500 flock per unit, and
//
//	C(u) = 1e6 × (5000×1000×u + 5000×u²) / (1e4 × 1000²) = 500u + u²/2.
func smallCurve() Curve {
	return Curve{Bucket: 1_000, RaiseMin: 400_000, RaiseMax: 1_000_000, StartBps: 5_000, FeeBps: 150, IssuerFeeBps: 50, FirstBuyCap: 250}
}

func TestCurveShape(t *testing.T) {
	c := smallCurve()
	for _, tc := range []struct{ u, raised uint64 }{
		{0, 0},
		{1, 501},          // 500.5, rounded up
		{170, 99_450},     // 85,000 + 14,450
		{250, 156_250},    // 125,000 + 31,250
		{701, 596_201},    // 350,500 + 245,700.5, rounded up
		{900, 855_000},    // 450,000 + 405,000
		{1000, 1_000_000}, // the area under the curve is raise_max
	} {
		if got := c.RaisedAt(tc.u); got != tc.raised {
			t.Errorf("RaisedAt(%d) = %d, want %d", tc.u, got, tc.raised)
		}
	}
	for _, tc := range []struct{ u, price uint64 }{{0, 500}, {500, 1_000}, {1_000, 1_500}} {
		n, d := c.PriceAt(tc.u)
		if q, r := new(big.Int).QuoRem(n, d, new(big.Int)); r.Sign() != 0 || q.Uint64() != tc.price {
			t.Errorf("PriceAt(%d) = %v/%v, want %d", tc.u, n, d, tc.price)
		}
	}
}

func TestCommitGolden(t *testing.T) {
	c := smallCurve()
	at := func(u uint64) CurveState { return CurveState{Sold: u, Raised: c.RaisedAt(u)} }
	tests := []struct {
		name    string
		s       CurveState
		in      uint64
		fill    Fill
		after   CurveState
		wantErr error
	}{
		// P = 100,000 (100,000 + floor(1,500) = 101,500; 100,001 + 1,500 > 101,500).
		// 500u + u²/2 ≤ 100,000 → u = 170 (99,450; 171 costs 100,120.5). Fee on 99,450:
		// floor(1,491.75) = 1,491, issuer floor(497.25) = 497, treasury 994.
		// Refund 101,500 − 99,450 − 1,491 = 559.
		{"from start", at(0), 101_500,
			Fill{Tokens: 170, Principal: 99_450, FeeTreasury: 994, FeeIssuer: 497, Refund: 559}, at(170), nil},
		// One unit costs ceil(500.5) = 501 plus floor(7.515) = 7 (issuer 2, treasury 5).
		{"one unit, rounded up", at(0), 508,
			Fill{Tokens: 1, Principal: 501, FeeTreasury: 5, FeeIssuer: 2}, at(1), nil},
		// 507 leaves P = 499 < 501: nothing.
		{"too small", at(0), 507, Fill{}, at(0), ErrZeroOut},
		// Exactly to the edge: the last 100 units cost 1,000,000 − 855,000 = 145,000, fee
		// 2,175 (issuer 725, treasury 1,450): 147,175 buys them with nothing back.
		{"to the edge", at(900), 147_175,
			Fill{Tokens: 100, Principal: 145_000, FeeTreasury: 1_450, FeeIssuer: 725}, at(1000), nil},
		// Across the edge: the same 100 units, the rest refunded: 200,000 − 145,000 − 2,175 = 52,825.
		{"across the edge", at(900), 200_000,
			Fill{Tokens: 100, Principal: 145_000, FeeTreasury: 1_450, FeeIssuer: 725, Refund: 52_825}, at(1000), nil},
		{"sold out", at(1000), 1_000, Fill{}, at(1000), ErrSoldOut},
		{"zero", at(0), 0, Fill{}, at(0), ErrZeroAmount},
		{"bad state", CurveState{Sold: 1, Raised: 500}, 1_000, Fill{}, CurveState{Sold: 1, Raised: 500}, ErrCurveState},
		// the whole bucket in one commit with huge input.
		{"everything", at(0), math.MaxUint64,
			Fill{Tokens: 1000, Principal: 1_000_000, FeeTreasury: 10_000, FeeIssuer: 5_000, Refund: math.MaxUint64 - 1_015_000}, at(1000), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, after, err := c.Commit(tc.s, tc.in)
			if !errors.Is(err, tc.wantErr) || f != tc.fill || after != tc.after {
				t.Fatalf("Commit = %+v, %+v, %v; want %+v, %+v, %v", f, after, err, tc.fill, tc.after, tc.wantErr)
			}
		})
	}
	// Quote is the exact-out inverse.
	for _, tc := range []struct {
		s    CurveState
		n    uint64
		want uint64
	}{{at(0), 1, 508}, {at(900), 100, 147_175}, {at(0), 170, 100_941}} { // 99,450 + 1,491
		if got, err := c.Quote(tc.s, tc.n); err != nil || got != tc.want {
			t.Errorf("Quote(%+v, %d) = %d, %v; want %d", tc.s, tc.n, got, err, tc.want)
		}
	}
	if _, err := c.Quote(at(900), 101); !errors.Is(err, ErrSoldOut) {
		t.Errorf("Quote past the bucket: %v", err)
	}
}

func TestFirstBuy(t *testing.T) {
	c := smallCurve()
	// capped at 250 units: C(250) = 125,000 + 31,250 = 156,250; fee floor(2,343.75) = 2,343
	// (issuer floor(781.25) = 781, treasury 1,562); refund 1,000,000 − 156,250 − 2,343 = 841,407.
	f, s, err := c.FirstBuy(CurveState{}, 1_000_000)
	want := Fill{Tokens: 250, Principal: 156_250, FeeTreasury: 1_562, FeeIssuer: 781, Refund: 841_407}
	if err != nil || f != want || s != (CurveState{Sold: 250, Raised: 156_250}) {
		t.Fatalf("FirstBuy = %+v, %+v, %v; want %+v", f, s, err, want)
	}
	// below the cap it is a plain commit at the start of the curve.
	if f, _, err := c.FirstBuy(CurveState{}, 101_500); err != nil || f.Tokens != 170 || f.Refund != 559 {
		t.Fatalf("small FirstBuy = %+v, %v", f, err)
	}
	if _, _, err := c.FirstBuy(s, 1_000); !errors.Is(err, ErrNotFirst) {
		t.Fatalf("second FirstBuy: %v", err)
	}
	// the default parameters cap it at 25% of 1,000,000 MT.
	d, err := NewCurve(DefaultRMOParams(), 50_000*Unit, 100_000*Unit)
	if err != nil {
		t.Fatal(err)
	}
	if d.FirstBuyCap != 250_000*Unit || d.Bucket != 400_000*Unit {
		t.Fatalf("default curve %+v", d)
	}
	if f, _, err := d.FirstBuy(CurveState{}, math.MaxUint64); err != nil || f.Tokens != 250_000*Unit {
		t.Fatalf("default FirstBuy = %+v, %v", f, err)
	}
}

func TestOutcomesAndRedeem(t *testing.T) {
	c := smallCurve()
	at := func(u uint64) CurveState { return CurveState{Sold: u, Raised: c.RaisedAt(u)} }
	for _, tc := range []struct {
		s    CurveState
		over bool
		want Outcome
	}{
		{at(0), false, OutcomeOpen},
		{at(999), false, OutcomeOpen},
		{at(1000), false, OutcomeMaxReached},
		{at(1000), true, OutcomeMaxReached},
		{at(701), true, OutcomeGraduable}, // 596,201 ≥ 400,000
		{at(0), true, OutcomeFailed},
		{at(500), true, OutcomeFailed},    // 250,000 + 125,000 = 375,000 < 400,000
		{at(600), true, OutcomeGraduable}, // 300,000 + 180,000 = 480,000
		{at(600), false, OutcomeOpen},
	} {
		if got := c.Outcome(tc.s, tc.over); got != tc.want {
			t.Errorf("Outcome(%+v, %v) = %s, want %s", tc.s, tc.over, got, tc.want)
		}
	}
	// Below the minimum: three commits of 101,500, each filled as far as it goes.
	//   0 → 170 units: principal C(170) = 99,450, fee 1,491 (497 issuer), refund 559
	// 170 → 305:       C(305) − C(170) = 199,013 − 99,450 = 99,563 (C(306) − 99,450 = 100,368 is too much),
	//                  fee floor(1,493.4) = 1,493 (497), refund 101,500 − 99,563 − 1,493 = 444
	// 305 → 420:       C(420) − C(305) = 298,200 − 199,013 = 99,187, fee 1,487 (495), refund 826
	// raised 298,200 < 400,000: the raise fails, each redeems its principal, fees stay.
	want := []Fill{
		{Tokens: 170, Principal: 99_450, FeeTreasury: 994, FeeIssuer: 497, Refund: 559},
		{Tokens: 135, Principal: 99_563, FeeTreasury: 996, FeeIssuer: 497, Refund: 444},
		{Tokens: 115, Principal: 99_187, FeeTreasury: 992, FeeIssuer: 495, Refund: 826},
	}
	s := CurveState{}
	for i := range want {
		f, next, err := c.Commit(s, 101_500)
		if err != nil || f != want[i] {
			t.Fatalf("commit %d = %+v, %v; want %+v", i, f, err, want[i])
		}
		s = next
	}
	if s != (CurveState{Sold: 420, Raised: 298_200}) || c.Outcome(s, true) != OutcomeFailed {
		t.Fatalf("raise %+v did not fail", s)
	}
	var back uint64
	for _, f := range want {
		got, err := c.Redeem(s, true, f.Principal)
		if err != nil || got != f.Principal {
			t.Fatalf("Redeem(%d) = %d, %v", f.Principal, got, err)
		}
		back += got
	}
	if back != s.Raised {
		t.Fatalf("redeemed %d of %d", back, s.Raised)
	}
	if _, err := c.Redeem(s, true, s.Raised+1); err == nil {
		t.Fatal("redeemed more than raised")
	}
	if _, err := c.Redeem(s, false, 1); !errors.Is(err, ErrNotFailed) {
		t.Fatalf("Redeem while open: %v", err)
	}
	if _, err := Graduate(smallParams(), c, s, true); !errors.Is(err, ErrNotGraduable) {
		t.Fatalf("Graduate below min: %v", err)
	}
	if _, err := Graduate(smallParams(), c, at(701), false); !errors.Is(err, ErrNotGraduable) {
		t.Fatalf("Graduate while open: %v", err)
	}
}

// smallParams has a sale bucket of floor(2,501 × 40%) = 1,000 units, matching smallCurve.
func smallParams() RMOParams {
	p := DefaultRMOParams()
	p.Supply = 2_501
	return p
}

func TestGraduateGolden(t *testing.T) {
	// Default parameters, raise at exactly max: Quote buys the whole bucket.
	p := DefaultRMOParams()
	c, err := NewCurve(p, 50_000*Unit, 100_000*Unit)
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Quote(CurveState{}, c.Bucket)
	if err != nil || in != 101_500*Unit { // 100,000 + 1.5%
		t.Fatalf("Quote(bucket) = %d, %v", in, err)
	}
	f, s, err := c.Commit(CurveState{}, in)
	if err != nil || f.Tokens != c.Bucket || f.Refund != 0 || s.Raised != c.RaiseMax || c.Outcome(s, false) != OutcomeMaxReached {
		t.Fatalf("Commit to max = %+v, %+v, %v", f, s, err)
	}
	g, err := Graduate(p, c, s, false)
	if err != nil {
		t.Fatal(err)
	}
	// MT: 40/20/20/10/10% of 1e12 base units; raise 100,000 flock split 50/20/30%.
	// The pool holds 200,000 MT and 50,000 flock: 0.25 flock per MT, the curve's average price.
	want := Graduation{
		Buyers: 400_000 * Unit, Liquidity: 200_000 * Unit, Incentives: 200_000 * Unit, Issuer: 100_000 * Unit, Treasury: 100_000 * Unit,
		Minted:         1_000_000 * Unit,
		RaiseLiquidity: 50_000 * Unit, RaiseReserved: 20_000 * Unit, RaiseIssuer: 30_000 * Unit,
		Pool: Pool{ReserveA: 200_000 * Unit, ReserveB: 50_000 * Unit, FeeBps: 30},
	}
	if g != want {
		t.Fatalf("Graduate = %+v\nwant %+v", g, want)
	}

	// Small parameters, window over at 701 units sold (596,201 raised ≥ 400,000), with dust:
	// MT: bucket 1,000 (1,000.4), liquidity 500 (500.2), incentives 500, issuer 250 (250.1),
	// treasury 2,501 − 1,000 − 500 − 500 − 250 = 251 (its own 250 plus 1 of dust);
	// unsold 299 never minted: minted 2,202 = 701 + 500 + 500 + 250 + 251.
	// Raise 596,201: reserved floor(119,240.2) = 119,240, issuer floor(178,860.3) = 178,860,
	// liquidity 596,201 − 119,240 − 178,860 = 298,101 (floor 298,100 plus 1 of dust).
	sc := smallCurve()
	g, err = Graduate(smallParams(), sc, CurveState{Sold: 701, Raised: 596_201}, true)
	want = Graduation{
		Buyers: 701, Unsold: 299, Liquidity: 500, Incentives: 500, Issuer: 250, Treasury: 251, Minted: 2_202,
		RaiseLiquidity: 298_101, RaiseReserved: 119_240, RaiseIssuer: 178_860,
		Pool: Pool{ReserveA: 500, ReserveB: 298_101, FeeBps: 30},
	}
	if err != nil || g != want {
		t.Fatalf("Graduate = %+v, %v\nwant %+v", g, err, want)
	}
	if _, err := Graduate(DefaultRMOParams(), sc, CurveState{Sold: 701, Raised: 596_201}, true); err == nil {
		t.Fatal("Graduate with a curve of other parameters")
	}
}

func TestRMOParams(t *testing.T) {
	p := DefaultRMOParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.LaunchFee != 32_768*Unit || p.RaiseWindowMs != 7*Day || p.IssuerVestingMs != 365*Day {
		t.Fatalf("defaults %+v", p)
	}
	for _, mut := range []func(*RMOParams){
		func(p *RMOParams) { p.SaleBps++ },
		func(p *RMOParams) { p.RaiseIssuerBps-- },
		func(p *RMOParams) { p.CommitFeeIssuerBps = 151 },
		func(p *RMOParams) { p.CurveStartBps = 0 },
		func(p *RMOParams) { p.CurveStartBps = 10_001 },
		func(p *RMOParams) { p.FirstBuyMaxBps = 10_001 },
		func(p *RMOParams) { p.Supply = 1 },
		func(p *RMOParams) { p.RaiseWindowMs = 0 },
	} {
		q := DefaultRMOParams()
		mut(&q)
		if q.Validate() == nil {
			t.Errorf("accepted %+v", q)
		}
	}
	if _, err := NewCurve(p, 0, 10); err == nil {
		t.Error("raise_min 0 accepted")
	}
	if _, err := NewCurve(p, 11, 10); err == nil {
		t.Error("raise_min > raise_max accepted")
	}
}

// TestCommitProperty runs random sequences of commits on random curves:
// each fill conserves its amount in, is the most the amount could buy, and
// the raise equals Σ amounts in − Σ refunds − Σ fees and stays on the curve.
func TestCommitProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 300; i++ {
		bucket := 1 + r.Uint64N(1_000_000)*[]uint64{1, Unit}[r.IntN(2)]
		rmax := 1 + r.Uint64N(1_000_000)*[]uint64{1, Unit, 1_000 * Unit}[r.IntN(3)]
		c := Curve{Bucket: bucket, RaiseMin: 1 + r.Uint64N(rmax), RaiseMax: rmax, StartBps: 1 + uint32(r.IntN(10_000)),
			FeeBps: 150, IssuerFeeBps: 50, FirstBuyCap: bucket / 4}
		var s CurveState
		var in, refunds, fees, tokens uint64
		for j := 0; j < 40 && s.Sold < c.Bucket; j++ {
			amt := 1 + r.Uint64N(rmax/10+1000)
			var f Fill
			var next CurveState
			var err error
			if j == 0 && r.IntN(2) == 0 {
				f, next, err = c.FirstBuy(s, amt)
				if err == nil && next.Sold > c.FirstBuyCap {
					t.Fatalf("first buy beyond the cap: %+v", next)
				}
			} else {
				f, next, err = c.Commit(s, amt)
			}
			if errors.Is(err, ErrZeroOut) {
				continue
			}
			if err != nil {
				t.Fatalf("%+v %+v: Commit(%d): %v", c, s, amt, err)
			}
			if f.Principal+f.FeeTreasury+f.FeeIssuer+f.Refund != amt {
				t.Fatalf("fill does not add up: %+v for %d", f, amt)
			}
			if tr, is := c.CommitFee(f.Principal); tr != f.FeeTreasury || is != f.FeeIssuer || tr+is != BpsOf(f.Principal, 150) {
				t.Fatalf("fee %+v", f)
			}
			// maximal: one more unit would cost more than amt (unless capped).
			if next.Sold < c.Bucket && !(j == 0 && next.Sold == c.FirstBuyCap) {
				if q, err := c.Quote(s, f.Tokens+1); err == nil && q <= amt {
					t.Fatalf("%+v: Commit(%d) bought %d but %d units cost %d", c, amt, f.Tokens, f.Tokens+1, q)
				}
			}
			if q, err := c.Quote(s, f.Tokens); err != nil || q != amt-f.Refund {
				t.Fatalf("Quote(%d) = %d, %v; the fill used %d", f.Tokens, q, err, amt-f.Refund)
			}
			in += amt
			refunds += f.Refund
			fees += f.FeeTreasury + f.FeeIssuer
			tokens += f.Tokens
			s = next
		}
		if s.Raised != in-refunds-fees || s.Sold != tokens || s.Raised != c.RaisedAt(s.Sold) || s.Raised > c.RaiseMax {
			t.Fatalf("%+v: raised %d, in %d, refunds %d, fees %d", c, s.Raised, in, refunds, fees)
		}
		if (s.Sold == c.Bucket) != (s.Raised == c.RaiseMax) {
			t.Fatalf("%+v: max reached at %+v", c, s)
		}
	}
}

func FuzzCommit(f *testing.F) {
	f.Add(uint64(1000), uint64(400_000), uint64(1_000_000), uint32(5000), uint32(150), uint64(900), uint64(200_000), false)
	f.Add(uint64(1), uint64(1), uint64(1), uint32(10_000), uint32(0), uint64(0), uint64(math.MaxUint64), true)
	f.Add(uint64(math.MaxUint64), uint64(1), uint64(math.MaxUint64), uint32(1), uint32(10_000), uint64(math.MaxUint64/2), uint64(math.MaxUint64), false)
	f.Fuzz(func(t *testing.T, bucket, rmin, rmax uint64, start, fee uint32, sold, in uint64, first bool) {
		c := Curve{Bucket: bucket, RaiseMin: rmin, RaiseMax: rmax, StartBps: start, FeeBps: fee, IssuerFeeBps: fee / 3, FirstBuyCap: bucket / 4}
		if c.validate() != nil {
			_, _, _ = c.Commit(CurveState{}, in)
			return
		}
		s := CurveState{Sold: sold % (bucket/2 + 1)}
		s.Raised = c.RaisedAt(s.Sold)
		var fl Fill
		var next CurveState
		var err error
		if first {
			fl, next, err = c.FirstBuy(CurveState{}, in)
		} else {
			fl, next, err = c.Commit(s, in)
		}
		if err != nil {
			return
		}
		if fl.Principal+fl.FeeTreasury+fl.FeeIssuer+fl.Refund != in || next.Raised != c.RaisedAt(next.Sold) || next.Sold > bucket {
			t.Fatalf("%+v: Commit(%+v, %d) = %+v, %+v", c, s, in, fl, next)
		}
	})
}

func TestCurveZeroValue(t *testing.T) {
	var c Curve
	if c.RaisedAt(5) != 0 {
		t.Fatal("zero curve raises")
	}
	if _, err := c.Quote(CurveState{}, 1); err == nil {
		t.Fatal("zero curve quotes")
	}
	if _, _, err := c.Commit(CurveState{}, 1); err == nil {
		t.Fatal("zero curve commits")
	}
	if _, err := Graduate(DefaultRMOParams(), c, CurveState{}, true); err == nil {
		t.Fatal("zero curve graduates")
	}
}
