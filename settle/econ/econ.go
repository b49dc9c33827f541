// Package econ holds the deterministic economic arithmetic of the fomo
// settlement chain (DESIGN §9). It owns:
//
//   - charges, costs, discounted prices and basis-point splits with dust to
//     the treasury, and the per-model epoch revenue split of §9.3 (econ.go,
//     split.go);
//   - the constant-product pools of §9.4: swaps both ways, spot price and
//     the largest trade within a price-impact bound (pool.go);
//   - the epoch's MT and FLOCK buybacks through those pools, with what is
//     burned and what carries over (buyback.go);
//   - the offering of §9.5: its parameters, the linear bonding curve with
//     its commit fee, first buy and partial fills, the outcomes of a raise,
//     and the graduation split of the supply and the raise (curve.go);
//   - linear vesting (vesting.go);
//   - the emissions of §9.7: the decaying budget, its allocation across
//     models by usage and age under the anti-farming cap, the issuer bonus,
//     the global and incentive scores of accounts and the linear release of
//     the stake-gated pools with its carry-over (emission.go).
//
// It only computes: the ledger holds the balances, pools and reserves and
// applies the results.
//
// Amounts are uint64 base units with six decimals. Every function is pure
// and integer-only (128-bit intermediates through math/bits, math/big where
// products exceed that), with no clock, no randomness and no map iterated for
// output. Where a result could overflow or go negative a function returns
// an error instead (Cost alone saturates at its documented cap, EmissionCap
// at the largest uint64, where it cannot bind). Value is conserved exactly:
// whatever a floor division leaves behind is reported as dust and given to a
// named destination, and the rounding of every trade is in favour of the
// pool or the offering.
package econ

import (
	"errors"
	"math/bits"
)

// Unit is one whole token (usd, flock or mt:<model>) in base units.
const Unit uint64 = 1_000_000

// BpsDenom is the basis-point denominator: 10,000 bps = 100%.
const BpsDenom uint32 = 10_000

// ErrOverflow is returned when a result does not fit in 64 bits.
var ErrOverflow = errors.New("econ: amount overflows uint64")

// mulAdd returns a×b + c×d as a 128-bit value (hi, lo) and whether it overflowed 128 bits.
func mulAdd(a, b, c, d uint64) (hi, lo uint64, ok bool) {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	lo, carry := bits.Add64(l1, l2, 0)
	hi, carry = bits.Add64(h1, h2, carry)
	return hi, lo, carry == 0
}

// div128 divides (hi, lo) by d and reports whether the quotient fits in 64 bits.
func div128(hi, lo, d uint64) (uint64, bool) {
	if hi >= d {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, d)
	return q, true
}

// MulDiv returns floor(a×b/d) computed in 128 bits, or ErrOverflow when the
// quotient exceeds 64 bits. d must be non-zero.
func MulDiv(a, b, d uint64) (uint64, error) {
	if d == 0 {
		return 0, errors.New("econ: division by zero")
	}
	hi, lo := bits.Mul64(a, b)
	q, ok := div128(hi, lo, d)
	if !ok {
		return 0, ErrOverflow
	}
	return q, nil
}

// Charge returns floor((in×inPrice + out×outPrice) / 1e6): the usd charged for
// a request, prices being base units per million tokens (DESIGN §9.2).
func Charge(in, out, inPrice, outPrice uint64) (uint64, error) {
	hi, lo, ok := mulAdd(in, inPrice, out, outPrice)
	if !ok {
		return 0, ErrOverflow
	}
	q, ok := div128(hi, lo, Unit)
	if !ok {
		return 0, ErrOverflow
	}
	return q, nil
}

// Cost returns floor(tokens × costPerMTok / 1e6) capped at capAt: the compute
// cost of one receipt paid to its serving node (DESIGN §9.3 step 1).
func Cost(tokens, costPerMTok, capAt uint64) uint64 {
	hi, lo := bits.Mul64(tokens, costPerMTok)
	q, ok := div128(hi, lo, Unit)
	if !ok || q > capAt {
		return capAt
	}
	return q
}

// EffectivePrice returns max(floor(list × (10000 − discountBps) / 10000), floor):
// a discount never takes a price below the tier floor (DESIGN §9.2).
// A discount above 10,000 bps is treated as 10,000.
func EffectivePrice(list, floor uint64, discountBps uint32) uint64 {
	if discountBps > BpsDenom {
		discountBps = BpsDenom
	}
	p := bpsOf(list, BpsDenom-discountBps)
	if p < floor {
		return floor
	}
	return p
}

// bpsOf returns floor(amount × bps / 10000); it cannot overflow for bps ≤ 10000.
func bpsOf(amount uint64, bps uint32) uint64 {
	hi, lo := bits.Mul64(amount, uint64(bps))
	q, _ := bits.Div64(hi, lo, uint64(BpsDenom))
	return q
}

// BpsOf returns floor(amount × bps / 10000) for bps ≤ 10000 (larger values are clamped).
func BpsOf(amount uint64, bps uint32) uint64 {
	if bps > BpsDenom {
		bps = BpsDenom
	}
	return bpsOf(amount, bps)
}

// DiscountTier grants DiscountBps to holders of at least MinStake (base units)
// of a model's MT.
type DiscountTier struct {
	MinStake    uint64 `json:"min_stake"`
	DiscountBps uint32 `json:"discount_bps"`
}

// DefaultDiscountTiers are the §9.2 defaults: ≥1,000 MT → 10%, ≥10,000 → 20%,
// ≥50,000 → 30%.
func DefaultDiscountTiers() []DiscountTier {
	return []DiscountTier{
		{MinStake: 1_000 * Unit, DiscountBps: 1_000},
		{MinStake: 10_000 * Unit, DiscountBps: 2_000},
		{MinStake: 50_000 * Unit, DiscountBps: 3_000},
	}
}

// DiscountBps returns the largest discount among tiers whose MinStake ≤ stake,
// or 0. The tiers need not be sorted.
func DiscountBps(stake uint64, tiers []DiscountTier) uint32 {
	var best uint32
	for _, t := range tiers {
		if stake >= t.MinStake && t.DiscountBps > best {
			best = t.DiscountBps
		}
	}
	if best > BpsDenom {
		best = BpsDenom
	}
	return best
}

// Share is one named destination of a basis-point split.
type Share struct {
	Name string `json:"name"`
	Bps  uint32 `json:"bps"`
}

// SplitBps splits amount into floor(amount × bps / 10000) per share, in the
// order given, and returns the remainder as dust: Σ parts + dust == amount
// always. Shares summing to less than 10,000 bps leave the difference in dust;
// should they sum to more (rejected by [Params.Validate]), each part is capped
// at what is left, so value is still conserved.
func SplitBps(amount uint64, shares []Share) (parts []uint64, dust uint64) {
	parts = make([]uint64, len(shares))
	left := amount
	for i, s := range shares {
		p := BpsOf(amount, s.Bps)
		if p > left {
			p = left
		}
		parts[i] = p
		left -= p
	}
	return parts, left
}
