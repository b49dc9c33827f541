package receipt

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestChargeGolden(t *testing.T) {
	const max = math.MaxUint64
	for _, tc := range []struct {
		in, out, inPrice, outPrice uint64
		want                       uint64
		overflow                   bool
	}{
		{0, 0, 0, 0, 0, false},
		{0, 0, max, max, 0, false},
		{1000, 500, 150_000, 600_000, 450, false},
		// Floor, not round: 999,999 / 1e6 is 0 and 1,999,999 / 1e6 is 1.
		{1, 0, 999_999, 0, 0, false},
		{1, 1, 999_999, 0, 0, false},
		{1, 1, 999_999, 1, 1, false},
		{1, 1, 1_000_000, 999_999, 1, false},
		{3, 7, 333_333, 142_857, 1, false},      // 999,999 + 999,999 = 1,999,998
		{123_456, 7_890, 250, 2_000, 46, false}, // 30,864,000 + 15,780,000 = 46,644,000
		{1_000_000, 1_000_000, 1, 1, 2, false},
		// Large values: the products need 128 bits.
		{max, 0, 1_000_000, 0, max, false},
		{0, max, 0, 1_000_000, max, false},
		{1 << 40, 1 << 40, 1 << 30, 1 << 30, 2_361_183_241_434_822, false}, // 2^71 / 1e6
		{1e12, 1e12, 1e12, 1e12, 2e18, false},
		{max, max, 1, 1, 36_893_488_147_419, false},                   // (2^65 − 2) / 1e6
		{max, 1, 999_999, 999_999, 18_446_725_626_965_477_906, false}, // floor(2^64 × 0.999999)
		// The quotient needs 65 bits.
		{max, 1, 1_000_000, 1_000_000, 0, true},
		{1e13, 1e13, 1e13, 1e13, 0, true},
		// The sum needs 129 bits.
		{max, max, max, max, 0, true},
	} {
		got, err := Charge(tc.in, tc.out, tc.inPrice, tc.outPrice)
		if tc.overflow {
			if !errors.Is(err, ErrChargeOverflow) {
				t.Errorf("Charge(%d, %d, %d, %d) = %d, %v; want overflow", tc.in, tc.out, tc.inPrice, tc.outPrice, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Charge(%d, %d, %d, %d) = %d, %v; want %d", tc.in, tc.out, tc.inPrice, tc.outPrice, got, err, tc.want)
		}
		if want, ok := bigCharge(tc.in, tc.out, tc.inPrice, tc.outPrice); !ok || want != tc.want {
			t.Errorf("golden vector %d disagrees with math/big (%d, %v)", tc.want, want, ok)
		}
	}
}

// bigCharge is Charge computed with math/big.
func bigCharge(in, out, inPrice, outPrice uint64) (uint64, bool) {
	a := new(big.Int).Mul(new(big.Int).SetUint64(in), new(big.Int).SetUint64(inPrice))
	b := new(big.Int).Mul(new(big.Int).SetUint64(out), new(big.Int).SetUint64(outPrice))
	q := new(big.Int).Quo(a.Add(a, b), big.NewInt(1_000_000))
	return q.Uint64(), q.IsUint64()
}

// TestChargeMatchesBig compares Charge with math/big on random values of
// every magnitude.
func TestChargeMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := func() uint64 { return rng.Uint64() >> rng.UintN(64) }
	for range 100_000 {
		in, out, ip, op := r(), r(), r(), r()
		got, err := Charge(in, out, ip, op)
		want, ok := bigCharge(in, out, ip, op)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("Charge(%d, %d, %d, %d) = %d, %v; math/big says %d, fits %v", in, out, ip, op, got, err, want, ok)
		}
	}
}

func TestOutputBudget(t *testing.T) {
	const max = math.MaxUint64
	for _, tc := range []struct {
		name                                 string
		maxOut, maxCharge, inPrice, outPrice uint64
		input                                uint64
		want                                 uint64
		ok                                   bool
	}{
		{"capped by tokens", 1000, 10_000, 150_000, 600_000, 1000, 1000, true},
		{"capped by charge", 1000, 450, 150_000, 600_000, 1000, 501, true}, // 150 + 300.6 floors to 450
		// 1000 in = 150; 150 + out×0.6 ≤ 300 → out ≤ 250, and 251 costs 300.6 → 300 (floor).
		{"floor lets one more token", 10_000, 300, 150_000, 600_000, 1000, 251, true},
		{"input alone over", 1000, 149, 150_000, 600_000, 1000, 0, false},
		{"input exactly at max", 1000, 150, 150_000, 600_000, 1000, 1, true},
		{"free output", 1000, 0, 0, 0, 5, 1000, true},
		{"zero cap", 0, 10_000, 150_000, 600_000, 1000, 0, true},
		{"huge values", max, max, 1_000_000, 1_000_000, 0, max, true},
		{"input overflows", max, max, max, 1, max, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Authorization{MaxOutputTokens: tc.maxOut, MaxCharge: tc.maxCharge, InputPrice: tc.inPrice, OutputPrice: tc.outPrice}
			got, ok := a.OutputBudget(tc.input)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("OutputBudget(%d) = %d, %v; want %d, %v", tc.input, got, ok, tc.want, tc.ok)
			}
			if !ok {
				return
			}
			c, err := Charge(tc.input, got, tc.inPrice, tc.outPrice)
			if err != nil || c > tc.maxCharge || got > tc.maxOut {
				t.Fatalf("budget %d costs %d (%v), over the caps", got, c, err)
			}
			if got < tc.maxOut {
				if c, err := Charge(tc.input, got+1, tc.inPrice, tc.outPrice); err == nil && c <= tc.maxCharge {
					t.Fatalf("budget %d is not the largest: %d costs %d", got, got+1, c)
				}
			}
		})
	}
}
