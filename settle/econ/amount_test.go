package econ

import (
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"25", 25_000_000, true}, {"100", 100_000_000, true}, {"25.0", 25_000_000, true}, {"0.000001", 1, true},
		{"1.5", 1_500_000, true}, {"0", 0, true}, {"1.", 0, false}, {"18446744073710", 0, false},
		{".5", 0, false}, {"1.0000001", 0, false}, {"-1", 0, false}, {"x", 0, false}, {"18446744073709.551616", 0, false},
		{"18446744073709.551615", math.MaxUint64, true}, {"1.-5", 0, false}, {"1.+5", 0, false},
	} {
		got, err := ParseAmount(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatAmountRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 999_999, 1_000_000, 1_500_000, math.MaxUint64} {
		s := FormatAmount(v)
		back, err := ParseAmount(s)
		if err != nil || back != v {
			t.Errorf("%d → %q → %d, %v", v, s, back, err)
		}
	}
	if got := FormatAmount(1_500_000); got != "1.500000" {
		t.Errorf("FormatAmount(1500000) = %q", got)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "1.5", "0.000001", "18446744073709.551615", "x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(s)
		if err != nil {
			return
		}
		back, err := ParseAmount(FormatAmount(v))
		if err != nil || back != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, FormatAmount(v), back, err)
		}
	})
}
