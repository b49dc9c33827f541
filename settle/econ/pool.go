package econ

import (
	"errors"
	"fmt"
	"math/big"
)

// DefaultSwapFeeBps is the swap fee of the protocol pools, 30 bps, which stays
// in the pool (this project's default, DESIGN §9.4).
const DefaultSwapFeeBps uint32 = 30

// PriceScale is the fixed-point scale of [Pool.PriceE18]: 1e18 is a price of 1.
const PriceScale uint64 = 1_000_000_000_000_000_000

// Errors of the pool, curve and vesting math.
var (
	// ErrEmptyPool is returned for a pool with a zero reserve.
	ErrEmptyPool = errors.New("econ: pool has a zero reserve")
	// ErrZeroAmount is returned for a trade or commit of nothing.
	ErrZeroAmount = errors.New("econ: zero amount")
	// ErrZeroOut is returned when a trade would give nothing back: the
	// input is too small to buy one base unit.
	ErrZeroOut = errors.New("econ: amount too small to buy one base unit")
	// ErrInsufficientLiquidity is returned when an exact-out trade asks for
	// the whole reserve or more.
	ErrInsufficientLiquidity = errors.New("econ: not enough liquidity")
	// ErrBadFee is returned for a fee above 10,000 bps.
	ErrBadFee = errors.New("econ: fee above 10000 bps")
)

// Pool is a constant-product (x·y = k) pool of two assets, A and B, owned by
// the protocol: there are no liquidity shares, and the swap fee stays in the
// reserves. The pool does not carry its denominations; by convention a pool
// named "A/B" holds A in ReserveA and B in ReserveB, so that its price is the
// price of A in B: the FLOCK/usd pool has A = flock, B = usd, and the MT/FLOCK
// pool of a model has A = mt:<model>, B = flock.
//
// Every operation returns a new Pool and never modifies its receiver.
type Pool struct {
	ReserveA uint64 `json:"reserve_a"`
	ReserveB uint64 `json:"reserve_b"`
	// FeeBps is the swap fee in bps of the amount in.
	FeeBps uint32 `json:"fee_bps"`
}

// SeedPool returns a pool holding the initial reserves a and b, both non-zero,
// with the given swap fee: the FLOCK/usd pool of the genesis, or the MT/FLOCK
// pool of a model at graduation (see [Graduate]).
func SeedPool(a, b uint64, feeBps uint32) (Pool, error) {
	p := Pool{ReserveA: a, ReserveB: b, FeeBps: feeBps}
	return p, p.Validate()
}

// Validate reports whether both reserves are non-zero and the fee at most
// 10,000 bps.
func (p Pool) Validate() error {
	if p.FeeBps > BpsDenom {
		return ErrBadFee
	}
	if p.ReserveA == 0 || p.ReserveB == 0 {
		return ErrEmptyPool
	}
	return nil
}

// K returns the pool's invariant ReserveA × ReserveB.
func (p Pool) K() *big.Int { return new(big.Int).Mul(bu(p.ReserveA), bu(p.ReserveB)) }

// Price returns the spot price of A in B as the exact fraction num/den =
// ReserveB/ReserveA (fee excluded).
func (p Pool) Price() (num, den uint64) { return p.ReserveB, p.ReserveA }

// PriceE18 returns the spot price of A in B in 1e18 fixed point,
// floor(ReserveB × 1e18 / ReserveA), or an error for an empty pool or a
// price above 2^64/1e18 ≈ 18.4.
func (p Pool) PriceE18() (uint64, error) {
	if p.ReserveA == 0 || p.ReserveB == 0 {
		return 0, ErrEmptyPool
	}
	return MulDiv(p.ReserveB, PriceScale, p.ReserveA)
}

// reserves returns (in, out) reserves for the direction.
func (p Pool) reserves(aToB bool) (x, y uint64) {
	if aToB {
		return p.ReserveA, p.ReserveB
	}
	return p.ReserveB, p.ReserveA
}

// with returns the pool with the in and out reserves of the direction set.
func (p Pool) with(aToB bool, x, y uint64) Pool {
	if aToB {
		p.ReserveA, p.ReserveB = x, y
	} else {
		p.ReserveB, p.ReserveA = x, y
	}
	return p
}

// SwapOut sells amountIn of A for B (aToB) or of B for A and returns the
// amount out and the pool after. With x and y the in and out reserves and
// f the fee:
//
//	out = floor(y × in × (10000 − f) / (x × 10000 + in × (10000 − f)))
//
// and the pool after holds x + in and y − out: the whole input, fee included,
// stays in the pool. Rounding is in the pool's favour (out is rounded down),
// so k = x·y never decreases. It fails on an empty pool, a zero input, an
// input too small to buy one base unit ([ErrZeroOut]) or a reserve that would
// overflow.
func (p Pool) SwapOut(amountIn uint64, aToB bool) (out uint64, after Pool, err error) {
	if err := p.Validate(); err != nil {
		return 0, p, err
	}
	if amountIn == 0 {
		return 0, p, ErrZeroAmount
	}
	x, y := p.reserves(aToB)
	nx, ok := add(x, amountIn)
	if !ok {
		return 0, p, ErrOverflow
	}
	out = swapOut(x, y, amountIn, p.FeeBps)
	if out == 0 {
		return 0, p, ErrZeroOut
	}
	return out, p.with(aToB, nx, y-out), nil
}

// swapOut is the SwapOut formula; the result is < y whenever x > 0.
func swapOut(x, y, in uint64, fee uint32) uint64 {
	inFee := new(big.Int).Mul(bu(in), bu(uint64(BpsDenom-fee)))
	num := new(big.Int).Mul(inFee, bu(y))
	den := new(big.Int).Mul(bu(x), bu(uint64(BpsDenom)))
	den.Add(den, inFee)
	return num.Quo(num, den).Uint64() // < y
}

// SwapIn is the exact-out trade: it returns the smallest amount in that buys
// amountOut of B (aToB) or of A, and the pool after. With x, y and f as in
// [Pool.SwapOut]:
//
//	in = ceil(x × out × 10000 / ((y − out) × (10000 − f)))
//
// rounded up, in the pool's favour, so that SwapOut(in) ≥ amountOut and k
// never decreases. It fails on an empty pool, a zero output, an output of the
// whole reserve or more, a 100% fee, or an input above 2^64 − 1.
func (p Pool) SwapIn(amountOut uint64, aToB bool) (in uint64, after Pool, err error) {
	if err := p.Validate(); err != nil {
		return 0, p, err
	}
	if amountOut == 0 {
		return 0, p, ErrZeroAmount
	}
	x, y := p.reserves(aToB)
	if amountOut >= y {
		return 0, p, ErrInsufficientLiquidity
	}
	if p.FeeBps == BpsDenom {
		return 0, p, ErrInsufficientLiquidity
	}
	num := new(big.Int).Mul(bu(x), bu(amountOut))
	num.Mul(num, bu(uint64(BpsDenom)))
	den := new(big.Int).Mul(bu(y-amountOut), bu(uint64(BpsDenom-p.FeeBps)))
	q := ceilDiv(num, den)
	if !q.IsUint64() {
		return 0, p, ErrOverflow
	}
	in = q.Uint64()
	nx, ok := add(x, in)
	if !ok {
		return 0, p, ErrOverflow
	}
	return in, p.with(aToB, nx, y-amountOut), nil
}

// MaxInForImpact returns the largest amount in whose trade moves the price of
// the asset bought, measured in the asset sold, up by at most maxImpactBps:
// with x, y the in and out reserves before and x', y' after,
//
//	(x'/y') ≤ (x/y) × (10000 + maxImpactBps) / 10000
//
// evaluated exactly on the rounded reserves [Pool.SwapOut] leaves. An input
// of 0 always qualifies, so the result is 0 when even one base unit moves the
// price too much; it is also 0 for an empty pool. The bound caps the amount
// a buyback trades in one epoch; the rest of its reserve carries over.
func (p Pool) MaxInForImpact(maxImpactBps uint32, aToB bool) uint64 {
	if p.Validate() != nil {
		return 0
	}
	x, y := p.reserves(aToB)
	// (x'/y') ≤ (x/y)(1+m) ⇔ x'·y·10000 ≤ x·y'·(10000+m)
	lhsK := new(big.Int).Mul(bu(y), bu(uint64(BpsDenom)))
	rhsK := new(big.Int).Mul(bu(x), bu(uint64(BpsDenom)+uint64(maxImpactBps)))
	ok := func(in uint64) bool {
		out := swapOut(x, y, in, p.FeeBps)
		l := new(big.Int).Mul(bu(x+in), lhsK)
		r := new(big.Int).Mul(bu(y-out), rhsK)
		return l.Cmp(r) <= 0
	}
	// y' ≤ y, so the bound implies x' ≤ x·(10000+m)/10000: the search is
	// over in ∈ [0, min(x·m/10000, 2^64−1−x)], and ok(0) holds.
	hi := ^uint64(0) - x
	if h, err := MulDiv(x, uint64(maxImpactBps), uint64(BpsDenom)); err == nil && h < hi {
		hi = h
	}
	// ok is monotone: x' grows and y' shrinks with the input.
	lo := uint64(0) // ok(lo) holds
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// String writes the reserves and fee, for test failures and logs.
func (p Pool) String() string {
	return fmt.Sprintf("{%d %d fee=%dbps}", p.ReserveA, p.ReserveB, p.FeeBps)
}

func bu(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// ceilDiv returns ceil(n/d) for n ≥ 0, d > 0.
func ceilDiv(n, d *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}
