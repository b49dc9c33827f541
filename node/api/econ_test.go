package api

import (
	"math/big"
	"testing"
)

func TestRatio(t *testing.T) {
	huge, _ := new(big.Int).SetString("340282366920938463463374607431768211456", 10) // 2^128
	for _, tc := range []struct {
		num, den *big.Int
		want     string
	}{
		{big.NewInt(1), big.NewInt(8), "0.125000000000000000"},
		{big.NewInt(2), big.NewInt(3), "0.666666666666666666"},
		{big.NewInt(100_000), big.NewInt(1), "100000.000000000000000000"},
		{huge, big.NewInt(1), "340282366920938463463374607431768211456.000000000000000000"},
		{big.NewInt(1), huge, "0.000000000000000000"},
		{big.NewInt(0), big.NewInt(5), "0.000000000000000000"},
		{big.NewInt(5), big.NewInt(0), ""},
	} {
		if got := Ratio(tc.num, tc.den); got != tc.want {
			t.Errorf("Ratio(%v, %v) = %q, want %q", tc.num, tc.den, got, tc.want)
		}
	}
}
