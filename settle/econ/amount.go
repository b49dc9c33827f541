package econ

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatAmount writes base units as whole units with six decimals:
// 1500000 is "1.500000".
func FormatAmount(v uint64) string {
	return strconv.FormatUint(v/Unit, 10) + "." + fmt.Sprintf("%06d", v%Unit)
}

// ParseAmount reads an amount in whole units with up to six decimals ("12",
// "12.5", "0.000001") and returns it in base units: "100" is 100 units, as
// a person means it, never 100 base units.
func ParseAmount(s string) (uint64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if dot && frac == "" {
		return 0, fmt.Errorf("amount %q: no digits after the decimal point", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("amount %q has more than 6 decimals", s)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %v", s, err)
	}
	var f uint64
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("amount %q: %v", s, err)
		}
	}
	if w > (1<<64-1-f)/Unit {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	return w*Unit + f, nil
}
