package econ

import (
	"errors"
	"math/big"
)

// Vested returns how much of total has vested at nowMs under linear vesting
// from startMs over durationMs (milliseconds):
//
//	0                                          for now ≤ start
//	floor(total × (now − start) / duration)    for start < now < start + duration
//	total                                      for now ≥ start + duration
//
// Rounding is down, so nothing vests early. A duration ≤ 0 vests everything
// at start. Times are int64 milliseconds, as in the ledger.
func Vested(total uint64, startMs, nowMs, durationMs int64) uint64 {
	if nowMs <= startMs {
		if durationMs <= 0 && nowMs == startMs {
			return total
		}
		return 0
	}
	if durationMs <= 0 {
		return total
	}
	// now − start and the duration may exceed int64; compare in big.
	elapsed := new(big.Int).Sub(big.NewInt(nowMs), big.NewInt(startMs))
	d := big.NewInt(durationMs)
	if elapsed.Cmp(d) >= 0 {
		return total
	}
	v := new(big.Int).Mul(bu(total), elapsed)
	return v.Quo(v, d).Uint64() // < total
}

// ErrOverClaimed is returned when more has been claimed than has vested.
var ErrOverClaimed = errors.New("econ: claimed more than vested")

// Claimable returns what may be claimed now: Vested(…) − claimed, or
// ErrOverClaimed if claimed exceeds what has vested.
func Claimable(total, claimed uint64, startMs, nowMs, durationMs int64) (uint64, error) {
	v := Vested(total, startMs, nowMs, durationMs)
	if claimed > v {
		return 0, ErrOverClaimed
	}
	return v - claimed, nil
}
