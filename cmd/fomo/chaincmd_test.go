package main

import "testing"

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"25", 25_000_000, true}, {"100", 100_000_000, true}, {"25.0", 25_000_000, true}, {"0.000001", 1, true},
		{"1.5", 1_500_000, true}, {"0", 0, true}, {"1.", 0, false}, {"18446744073710", 0, false},
		{".5", 0, false}, {"1.0000001", 0, false}, {"-1", 0, false}, {"x", 0, false}, {"18446744073709.551616", 0, false},
		{"18446744073709.551615", 18446744073709551615, true},
	} {
		got, err := parseAmount(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseAmount(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
