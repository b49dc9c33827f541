package econ

import (
	"errors"
	"math"
	"testing"
)

func TestVestedGolden(t *testing.T) {
	const (
		total = 365 * Unit // 365 MT: 1 MT a day
		start = int64(1_000)
		dur   = 365 * Day // 31,536,000,000 ms
	)
	tests := []struct {
		name string
		now  int64
		want uint64
	}{
		{"before start", start - 1, 0},
		{"t=0", start, 0},
		// floor(365e6 × 1 / 31,536,000,000) = 0: nothing vests early.
		{"1 ms", start + 1, 0},
		// floor(365e6 × 86,400,000 / 31,536,000,000) = 1,000,000 exactly.
		{"one day", start + Day, Unit},
		// half of 365 days is 182.5 days: 182.5 MT.
		{"mid", start + dur/2, 182_500_000},
		{"end - 1ms", start + dur - 1, total - 1}, // floor(365e6 × (1 − 1/31.536e9)) = 364,999,999
		{"end", start + dur, total},
		{"after", math.MaxInt64, total},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Vested(total, start, tc.now, dur); got != tc.want {
				t.Fatalf("Vested(%d) = %d, want %d", tc.now, got, tc.want)
			}
		})
	}
	// the default issuer bucket: 100,000 MT over 365 days, half at mid.
	p := DefaultRMOParams()
	if got := Vested(100_000*Unit, 0, p.IssuerVestingMs/2, p.IssuerVestingMs); got != 50_000*Unit {
		t.Fatalf("issuer bucket at mid = %d", got)
	}
	// extreme times do not overflow.
	if got := Vested(math.MaxUint64, math.MinInt64, math.MaxInt64, math.MaxInt64); got != math.MaxUint64 {
		t.Fatalf("extreme = %d", got)
	}
	if got := Vested(10, 5, 5, 0); got != 10 {
		t.Fatalf("zero duration at start = %d", got)
	}
	if got := Vested(10, 5, 4, 0); got != 0 {
		t.Fatalf("zero duration before start = %d", got)
	}
}

func TestClaimable(t *testing.T) {
	const dur = 365 * Day
	// one day in, 1 MT vested, 0.5 claimed: 0.5 left.
	if got, err := Claimable(365*Unit, Unit/2, 0, Day, dur); err != nil || got != Unit/2 {
		t.Fatalf("Claimable = %d, %v", got, err)
	}
	if got, err := Claimable(365*Unit, 365*Unit, 0, dur, dur); err != nil || got != 0 {
		t.Fatalf("Claimable at end, all claimed = %d, %v", got, err)
	}
	if _, err := Claimable(365*Unit, 2*Unit, 0, Day, dur); !errors.Is(err, ErrOverClaimed) {
		t.Fatalf("over-claimed: %v", err)
	}
	// Vested never decreases and never exceeds total.
	var last uint64
	for now := int64(-Day); now <= dur+Day; now += Day / 7 {
		v := Vested(1_234_567, 0, now, dur)
		if v < last || v > 1_234_567 {
			t.Fatalf("Vested(%d) = %d after %d", now, v, last)
		}
		last = v
	}
}
