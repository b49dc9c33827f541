package econ

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestSwapOutGolden(t *testing.T) {
	tests := []struct {
		name    string
		pool    Pool
		in      uint64
		aToB    bool
		out     uint64
		after   Pool
		wantErr error
	}{
		// in×(1−f) = 100×9970 = 997,000; out = floor(1000×997,000 / (1000×10000 + 997,000))
		// = floor(997,000,000 / 10,997,000) = floor(90.66) = 90. k: 1100×910 = 1,001,000 ≥ 1,000,000.
		{"a to b, fee 30", Pool{1000, 1000, 30}, 100, true, 90, Pool{1100, 910, 30}, nil},
		// B → A at price 4: x = 4,000,000 (B), y = 1,000,000 (A); in×(1−f) = 400,000×9970 = 3,988,000,000;
		// out = floor(1e6 × 3.988e9 / (4e6×1e4 + 3.988e9)) = floor(3.988e15 / 4.3988e10) = floor(90,661.09) = 90,661.
		{"b to a, fee 30", Pool{1_000_000, 4_000_000, 30}, 400_000, false, 90_661, Pool{909_339, 4_400_000, 30}, nil},
		// no fee: out = floor(1000×1000/(1000+1000)) = 500; k = 2000×500 = 1,000,000 exactly.
		{"no fee, k equal", Pool{1000, 1000, 0}, 1000, true, 500, Pool{2000, 500, 0}, nil},
		// 1×9970×1000 / (10,000,000 + 9970) = 0.996 → 0: refused rather than donated.
		{"dust input", Pool{1000, 1000, 30}, 1, true, 0, Pool{1000, 1000, 30}, ErrZeroOut},
		{"zero input", Pool{1000, 1000, 30}, 0, true, 0, Pool{1000, 1000, 30}, ErrZeroAmount},
		{"empty pool", Pool{0, 1000, 30}, 10, true, 0, Pool{0, 1000, 30}, ErrEmptyPool},
		{"bad fee", Pool{1000, 1000, 10_001}, 10, true, 0, Pool{1000, 1000, 10_001}, ErrBadFee},
		{"reserve overflow", Pool{math.MaxUint64, 1000, 30}, 1, true, 0, Pool{math.MaxUint64, 1000, 30}, ErrOverflow},
		// a 100% fee keeps the whole input and gives nothing.
		{"full fee", Pool{1000, 1000, 10_000}, 500, true, 0, Pool{1000, 1000, 10_000}, ErrZeroOut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, after, err := tc.pool.SwapOut(tc.in, tc.aToB)
			if !errors.Is(err, tc.wantErr) || out != tc.out || after != tc.after {
				t.Fatalf("SwapOut = %d, %v, %v; want %d, %v, %v", out, after, err, tc.out, tc.after, tc.wantErr)
			}
		})
	}
}

func TestSwapInGolden(t *testing.T) {
	tests := []struct {
		name    string
		pool    Pool
		out     uint64
		aToB    bool
		in      uint64
		after   Pool
		wantErr error
	}{
		// in = ceil(1000×90×10000 / (910×9970)) = ceil(900,000,000 / 9,072,700) = ceil(99.2) = 100,
		// the inverse of the first SwapOut vector.
		{"a to b", Pool{1000, 1000, 30}, 90, true, 100, Pool{1100, 910, 30}, nil},
		// no fee: in = ceil(1000×500/500) = 1000 exactly.
		{"exact, no fee", Pool{1000, 1000, 0}, 500, true, 1000, Pool{2000, 500, 0}, nil},
		// B → A: in = ceil(4e6 × 90,661 × 1e4 / (909,339 × 9970)) = ceil(399,999.57) = 400,000.
		{"b to a", Pool{1_000_000, 4_000_000, 30}, 90_661, false, 400_000, Pool{909_339, 4_400_000, 30}, nil},
		{"whole reserve", Pool{1000, 1000, 30}, 1000, true, 0, Pool{1000, 1000, 30}, ErrInsufficientLiquidity},
		{"zero", Pool{1000, 1000, 30}, 0, true, 0, Pool{1000, 1000, 30}, ErrZeroAmount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, after, err := tc.pool.SwapIn(tc.out, tc.aToB)
			if !errors.Is(err, tc.wantErr) || in != tc.in || after != tc.after {
				t.Fatalf("SwapIn = %d, %v, %v; want %d, %v, %v", in, after, err, tc.in, tc.after, tc.wantErr)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	p := Pool{ReserveA: 1_000_000, ReserveB: 4_000_000, FeeBps: 30}
	if n, d := p.Price(); n != 4_000_000 || d != 1_000_000 {
		t.Fatalf("Price = %d/%d", n, d)
	}
	if v, err := p.PriceE18(); err != nil || v != 4*PriceScale {
		t.Fatalf("PriceE18 = %d, %v", v, err)
	}
	// 1/3 → floor(1e18/3)
	if v, err := (Pool{3, 1, 0}).PriceE18(); err != nil || v != 333_333_333_333_333_333 {
		t.Fatalf("PriceE18(1/3) = %d, %v", v, err)
	}
	if _, err := (Pool{1, 100, 0}).PriceE18(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("PriceE18(100) err = %v, want overflow", err)
	}
	if _, err := (Pool{}).PriceE18(); !errors.Is(err, ErrEmptyPool) {
		t.Fatalf("PriceE18(empty) err = %v", err)
	}
	if _, err := SeedPool(0, 1, 30); !errors.Is(err, ErrEmptyPool) {
		t.Fatalf("SeedPool(0, 1) err = %v", err)
	}
	if p, err := SeedPool(5, 7, 30); err != nil || p != (Pool{5, 7, 30}) {
		t.Fatalf("SeedPool = %v, %v", p, err)
	}
}

func TestMaxInForImpactGolden(t *testing.T) {
	tests := []struct {
		name string
		pool Pool
		bps  uint32
		aToB bool
		want uint64
	}{
		// No fee, a 21% bound: the price of B in A is x'/y' ≈ x'²/k, so x' ≤ √1.21 × 1e6 = 1.1e6,
		// in = 100,000: out = floor(1e6×1e5/1.1e6) = 90,909, y' = 909,091 and
		// x'×y×1e4 = 1.1e16 ≤ x×y'×12100 = 1.10000011e16. At 100,001 out is still 90,909 and
		// 1.100001e16 > 1.10000011e16.
		{"no fee, 21%", Pool{1_000_000, 1_000_000, 0}, 2_100, true, 100_000},
		{"no fee, 21%, b to a", Pool{1_000_000, 1_000_000, 0}, 2_100, false, 100_000},
		// With the 30 bps fee less leaves the out reserve, so more may come in.
		{"fee 30, 21%", Pool{1_000_000, 1_000_000, 30}, 2_100, true, 100_150},
		// 1%: √1.01 − 1 ≈ 0.4988%, and the fee adds a little: 4,995.
		{"fee 30, 1%", Pool{1_000_000, 1_000_000, 30}, 100, true, 4_995},
		{"zero bound", Pool{1_000_000, 1_000_000, 30}, 0, true, 0},
		{"empty pool", Pool{0, 0, 30}, 100, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pool.MaxInForImpact(tc.bps, tc.aToB); got != tc.want {
				t.Fatalf("MaxInForImpact = %d, want %d", got, tc.want)
			}
		})
	}
}

// withinImpact reports whether after's price of the output asset, in the
// input asset, is at most (1 + bps/10000) × before's.
func withinImpact(before, after Pool, bps uint32, aToB bool) bool {
	x0, y0 := before.reserves(aToB)
	x1, y1 := after.reserves(aToB)
	l := new(big.Int).Mul(bu(x1), bu(y0))
	l.Mul(l, bu(10_000))
	r := new(big.Int).Mul(bu(x0), bu(y1))
	r.Mul(r, bu(10_000+uint64(bps)))
	return l.Cmp(r) <= 0
}

func randPool(r *rand.Rand) Pool {
	scale := []uint64{1, 1_000, Unit, 1_000 * Unit, 1_000_000_000 * Unit}
	a := 1 + r.Uint64N(1_000_000)*scale[r.IntN(len(scale))]
	b := 1 + r.Uint64N(1_000_000)*scale[r.IntN(len(scale))]
	return Pool{ReserveA: a, ReserveB: b, FeeBps: []uint32{0, 30, 30, 100, 9_999}[r.IntN(5)]}
}

func TestMaxInForImpactProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 2000; i++ {
		p := randPool(r)
		bps := []uint32{1, 30, 100, 500, 10_000}[r.IntN(5)]
		aToB := r.IntN(2) == 0
		in := p.MaxInForImpact(bps, aToB)
		if in > 0 {
			_, after, err := p.SwapOut(in, aToB)
			if err == nil && !withinImpact(p, after, bps, aToB) {
				t.Fatalf("%v: MaxInForImpact(%d) = %d exceeds the bound", p, bps, in)
			}
		}
		// one more unit breaks the bound (or the reserve would overflow).
		x, y := p.reserves(aToB)
		if in < math.MaxUint64-x {
			out := swapOut(x, y, in+1, p.FeeBps)
			next := p.with(aToB, x+in+1, y-out)
			if withinImpact(p, next, bps, aToB) {
				t.Fatalf("%v: MaxInForImpact(%d) = %d but %d is within the bound", p, bps, in, in+1)
			}
		}
	}
}

// TestSwapProperties runs random swaps both ways on random pools: k never
// decreases, no reserve reaches zero, and the pool gains exactly the input
// and loses exactly the output.
func TestSwapProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		p := randPool(r)
		for j := 0; j < 50; j++ {
			aToB := r.IntN(2) == 0
			x, _ := p.reserves(aToB)
			in := 1 + r.Uint64N(x/2+2)
			var (
				out   uint64
				after Pool
				err   error
			)
			if r.IntN(4) == 0 {
				// exact out
				_, y := p.reserves(aToB)
				out = 1 + r.Uint64N(y)
				if in, after, err = p.SwapIn(out, aToB); err == nil {
					// SwapIn is the least input that buys out.
					if got, _, e := p.SwapOut(in, aToB); e != nil || got < out {
						t.Fatalf("%v: SwapOut(SwapIn(%d) = %d) = %d, %v", p, out, in, got, e)
					}
					if in > 1 {
						if got, _, e := p.SwapOut(in-1, aToB); e == nil && got >= out {
							t.Fatalf("%v: SwapIn(%d) = %d is not the least input", p, out, in)
						}
					}
				}
			} else {
				out, after, err = p.SwapOut(in, aToB)
			}
			if err != nil {
				continue
			}
			if after.K().Cmp(p.K()) < 0 {
				t.Fatalf("k decreased: %v → %v", p, after)
			}
			if after.ReserveA == 0 || after.ReserveB == 0 {
				t.Fatalf("reserve emptied: %v → %v (in %d, out %d)", p, after, in, out)
			}
			x0, y0 := p.reserves(aToB)
			x1, y1 := after.reserves(aToB)
			if x1-x0 != in || y0-y1 != out || after.FeeBps != p.FeeBps {
				t.Fatalf("not conserved: %v → %v, in %d out %d", p, after, in, out)
			}
			p = after
		}
	}
}

func FuzzSwapOut(f *testing.F) {
	f.Add(uint64(1000), uint64(1000), uint32(30), uint64(100), true)
	f.Add(uint64(1), uint64(math.MaxUint64), uint32(0), uint64(math.MaxUint64-1), false)
	f.Add(uint64(0), uint64(0), uint32(10_000), uint64(0), true)
	f.Fuzz(func(t *testing.T, a, b uint64, fee uint32, in uint64, aToB bool) {
		p := Pool{ReserveA: a, ReserveB: b, FeeBps: fee}
		out, after, err := p.SwapOut(in, aToB)
		if err != nil {
			if after != p || out != 0 {
				t.Fatalf("failed swap changed the pool: %v → %v", p, after)
			}
			return
		}
		if after.K().Cmp(p.K()) < 0 || after.ReserveA == 0 || after.ReserveB == 0 {
			t.Fatalf("%v → %v: k decreased or a reserve emptied", p, after)
		}
		_ = p.MaxInForImpact(fee, aToB)
		_, _, _ = p.SwapIn(out, aToB)
	})
}
