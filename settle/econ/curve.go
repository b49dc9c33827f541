package econ

import (
	"errors"
	"fmt"
	"math/big"
)

// Day is one day in milliseconds.
const Day int64 = 24 * 60 * 60 * 1000

// RMOParams are the parameters of an offering (DESIGN §9.5). Each default
// names its source: FOMO's documentation, or this project where FOMO
// publishes no number (fomo-economics.md §12).
type RMOParams struct {
	// Supply is the MT supply of a deployment in base units: 1,000,000 MT
	// (FOMO).
	Supply uint64 `json:"supply"`
	// SaleBps, LiquidityBps, IncentivesBps, IssuerBps and TreasuryBps split
	// the supply into buckets; they sum to 10,000. Defaults 40/20/20/10/10%:
	// FOMO names the buckets, its one worked example sells 40%, the other
	// numbers are this project's.
	SaleBps       uint32 `json:"sale_bps"`
	LiquidityBps  uint32 `json:"liquidity_bps"`
	IncentivesBps uint32 `json:"incentives_bps"`
	IssuerBps     uint32 `json:"issuer_bps"`
	TreasuryBps   uint32 `json:"treasury_bps"`
	// CommitFeeBps is the fee on every commit, in bps of its principal:
	// 150, i.e. 1.5% (FOMO). CommitFeeIssuerBps of it goes to the issuer as
	// creator fee, 50 (this project; FOMO does not publish the split), the
	// rest (1.0%) to the treasury.
	CommitFeeBps       uint32 `json:"commit_fee_bps"`
	CommitFeeIssuerBps uint32 `json:"commit_fee_issuer_bps"`
	// FirstBuyMaxBps caps the issuer's bundled first buy, in bps of Supply:
	// 2,500, i.e. 25% (FOMO).
	FirstBuyMaxBps uint32 `json:"first_buy_max_bps"`
	// LaunchFee is the flock paid to the treasury to launch: 32,768 FLOCK
	// (FOMO).
	LaunchFee uint64 `json:"launch_fee"`
	// RaiseWindowMs is how long the raise lasts: 7 days (FOMO).
	RaiseWindowMs int64 `json:"raise_window_ms"`
	// CurveStartBps is the curve's start price in bps of its average price
	// raise_max / sale bucket; the end price is 2×average − start. Default
	// 5,000: the price triples from start to end (this project; FOMO does
	// not publish its curve).
	CurveStartBps uint32 `json:"curve_start_bps"`
	// RaiseLiquidityBps, RaiseReservedBps and RaiseIssuerBps split the raise
	// at graduation: the MT/FLOCK pool, the model's reserved-FLOCK pool and
	// the issuer; 50/20/30% (this project, DESIGN §9.5). They sum to 10,000.
	RaiseLiquidityBps uint32 `json:"raise_liquidity_bps"`
	RaiseReservedBps  uint32 `json:"raise_reserved_bps"`
	RaiseIssuerBps    uint32 `json:"raise_issuer_bps"`
	// IssuerVestingMs is how long the issuer bucket vests, linearly, from
	// graduation: 365 days (this project; FOMO says vested, no schedule).
	IssuerVestingMs int64 `json:"issuer_vesting_ms"`
	// PoolFeeBps is the swap fee of the MT/FLOCK pool seeded at graduation:
	// [DefaultSwapFeeBps].
	PoolFeeBps uint32 `json:"pool_fee_bps"`
}

// DefaultRMOParams returns the §9.5 defaults. They mirror the defaults of
// the network genesis's [economics] section (configs/networks), which is the
// one source of the values a network uses: the ledger reads its parameters
// from the genesis, never from here, and a test of node's LedgerGenesis pins
// the devnet's to these.
func DefaultRMOParams() RMOParams {
	return RMOParams{
		Supply:             1_000_000 * Unit,
		SaleBps:            4_000,
		LiquidityBps:       2_000,
		IncentivesBps:      2_000,
		IssuerBps:          1_000,
		TreasuryBps:        1_000,
		CommitFeeBps:       150,
		CommitFeeIssuerBps: 50,
		FirstBuyMaxBps:     2_500,
		LaunchFee:          32_768 * Unit,
		RaiseWindowMs:      7 * Day,
		CurveStartBps:      5_000,
		RaiseLiquidityBps:  5_000,
		RaiseReservedBps:   2_000,
		RaiseIssuerBps:     3_000,
		IssuerVestingMs:    365 * Day,
		PoolFeeBps:         DefaultSwapFeeBps,
	}
}

// Validate reports whether the parameters are usable.
func (p RMOParams) Validate() error {
	if s := uint64(p.SaleBps) + uint64(p.LiquidityBps) + uint64(p.IncentivesBps) + uint64(p.IssuerBps) + uint64(p.TreasuryBps); s != uint64(BpsDenom) {
		return fmt.Errorf("econ: supply buckets sum to %d bps, want 10000", s)
	}
	if s := uint64(p.RaiseLiquidityBps) + uint64(p.RaiseReservedBps) + uint64(p.RaiseIssuerBps); s != uint64(BpsDenom) {
		return fmt.Errorf("econ: raise split sums to %d bps, want 10000", s)
	}
	switch {
	case BpsOf(p.Supply, p.SaleBps) == 0:
		return errors.New("econ: empty sale bucket")
	case p.CommitFeeBps > BpsDenom:
		return fmt.Errorf("econ: commit_fee_bps %d > 10000", p.CommitFeeBps)
	case p.CommitFeeIssuerBps > p.CommitFeeBps:
		return fmt.Errorf("econ: commit_fee_issuer_bps %d > commit_fee_bps %d", p.CommitFeeIssuerBps, p.CommitFeeBps)
	case p.FirstBuyMaxBps > BpsDenom:
		return fmt.Errorf("econ: first_buy_max_bps %d > 10000", p.FirstBuyMaxBps)
	case p.CurveStartBps == 0 || p.CurveStartBps > BpsDenom:
		return fmt.Errorf("econ: curve_start_bps %d not in 1..10000", p.CurveStartBps)
	case p.RaiseWindowMs <= 0:
		return errors.New("econ: raise_window_ms must be positive")
	case p.IssuerVestingMs < 0:
		return errors.New("econ: issuer_vesting_ms is negative")
	case p.PoolFeeBps > BpsDenom:
		return ErrBadFee
	}
	return nil
}

// Errors of the offering.
var (
	// ErrSoldOut is returned for a commit once the sale bucket (or the
	// first-buy cap) is sold.
	ErrSoldOut = errors.New("econ: offering sold out")
	// ErrNotFirst is returned for a first buy after other commits.
	ErrNotFirst = errors.New("econ: the first buy must come first")
	// ErrCurveState is returned for a state the curve cannot have reached.
	ErrCurveState = errors.New("econ: inconsistent curve state")
	// ErrNotGraduable is returned by Graduate before the raise may graduate,
	// and by Redeem unless it failed.
	ErrNotGraduable = errors.New("econ: offering cannot graduate")
	ErrNotFailed    = errors.New("econ: offering has not failed")
)

// Curve is the linear bonding curve of one offering: the sale bucket of
// Bucket MT base units is sold at a price rising linearly from p0 at the
// first unit to p1 at the last, with p0 = StartBps/10000 × RaiseMax/Bucket
// and p1 = 2×RaiseMax/Bucket − p0, so that the area under the curve, what
// selling the whole bucket raises, is exactly RaiseMax. The cumulative cost
// of the first u units is
//
//	C(u) = RaiseMax × (b×S×u + (10000−b)×u²) / (10000 × S²)
//
// with S = Bucket and b = StartBps; C(S) = RaiseMax. Prices are flock base
// units per MT base unit.
type Curve struct {
	Bucket   uint64 `json:"bucket"`
	RaiseMin uint64 `json:"raise_min"`
	RaiseMax uint64 `json:"raise_max"`
	StartBps uint32 `json:"start_bps"`
	// FeeBps and IssuerFeeBps are the commit fee and its issuer part.
	FeeBps       uint32 `json:"fee_bps"`
	IssuerFeeBps uint32 `json:"issuer_fee_bps"`
	// FirstBuyCap is the most MT the first buy may take.
	FirstBuyCap uint64 `json:"first_buy_cap"`
}

// NewCurve returns the curve of an offering raising between raiseMin and
// raiseMax flock (0 < raiseMin ≤ raiseMax).
func NewCurve(p RMOParams, raiseMin, raiseMax uint64) (Curve, error) {
	if err := p.Validate(); err != nil {
		return Curve{}, err
	}
	if raiseMin == 0 || raiseMin > raiseMax {
		return Curve{}, fmt.Errorf("econ: raise bounds %d..%d: want 0 < min ≤ max", raiseMin, raiseMax)
	}
	c := Curve{
		Bucket:       BpsOf(p.Supply, p.SaleBps),
		RaiseMin:     raiseMin,
		RaiseMax:     raiseMax,
		StartBps:     p.CurveStartBps,
		FeeBps:       p.CommitFeeBps,
		IssuerFeeBps: p.CommitFeeIssuerBps,
		FirstBuyCap:  BpsOf(p.Supply, p.FirstBuyMaxBps),
	}
	return c, c.validate()
}

func (c Curve) validate() error {
	switch {
	case c.Bucket == 0 || c.RaiseMax == 0 || c.RaiseMin == 0 || c.RaiseMin > c.RaiseMax:
		return fmt.Errorf("econ: curve %+v: empty bucket or bad raise bounds", c)
	case c.StartBps == 0 || c.StartBps > BpsDenom:
		return fmt.Errorf("econ: curve start_bps %d not in 1..10000", c.StartBps)
	case c.FeeBps > BpsDenom || c.IssuerFeeBps > c.FeeBps:
		return ErrBadFee
	}
	return nil
}

// CurveState is where a raise stands: Sold MT base units for Raised flock of
// principal (fees excluded). Raised == RaisedAt(Sold) always.
type CurveState struct {
	Sold   uint64 `json:"sold"`
	Raised uint64 `json:"raised"`
}

// costTerms returns R×(b×S×u + (10000−b)×u²) and 10000×S², C(u) being their ratio.
func (c Curve) costTerms(u uint64) (num, den *big.Int) {
	R, S, U := bu(c.RaiseMax), bu(c.Bucket), bu(u)
	lin := new(big.Int).Mul(bu(uint64(c.StartBps)), S)
	lin.Mul(lin, U)
	quad := new(big.Int).Mul(U, U)
	quad.Mul(quad, bu(uint64(BpsDenom-c.StartBps)))
	num = lin.Add(lin, quad)
	num.Mul(num, R)
	den = new(big.Int).Mul(S, S)
	den.Mul(den, bu(uint64(BpsDenom)))
	return num, den
}

// RaisedAt returns ceil(C(sold)): the principal raised once sold units are
// sold, rounded up in the offering's favour. RaisedAt(Bucket) == RaiseMax;
// sold above Bucket counts as Bucket, and a curve with no bucket raises 0.
func (c Curve) RaisedAt(sold uint64) uint64 {
	if c.Bucket == 0 {
		return 0
	}
	if c.StartBps > BpsDenom {
		c.StartBps = BpsDenom // keep the price increasing; validate rejects it
	}
	num, den := c.costTerms(min(sold, c.Bucket))
	return ceilDiv(num, den).Uint64() // ≤ RaiseMax for sold ≤ Bucket
}

// PriceAt returns the marginal price at sold units as the fraction num/den,
// p(u) = RaiseMax × (b×S + 2×(10000−b)×u) / (10000 × S²); PriceAt(0) is p0
// and PriceAt(Bucket) is p1. The values may exceed 64 bits, hence big.Int.
// The curve must be valid (den is 0 without a bucket).
func (c Curve) PriceAt(sold uint64) (num, den *big.Int) {
	S := bu(c.Bucket)
	num = new(big.Int).Mul(bu(uint64(c.StartBps)), S)
	lin := new(big.Int).Mul(bu(2*uint64(BpsDenom-c.StartBps)), bu(sold))
	num.Add(num, lin)
	num.Mul(num, bu(c.RaiseMax))
	den = new(big.Int).Mul(S, S)
	den.Mul(den, bu(uint64(BpsDenom)))
	return num, den
}

// soldFor returns the largest u ≤ Bucket with C(u) ≤ t, solving
// (10000−b)R·u² + bRS·u − 10000·S²·t ≤ 0 with an integer square root and
// then stepping to the exact boundary.
func (c Curve) soldFor(t *big.Int) uint64 {
	if t.Cmp(bu(c.RaiseMax)) >= 0 {
		return c.Bucket
	}
	fits := func(u uint64) bool {
		num, den := c.costTerms(u)
		return num.Cmp(new(big.Int).Mul(den, t)) <= 0
	}
	R, S := bu(c.RaiseMax), bu(c.Bucket)
	a := new(big.Int).Mul(R, bu(uint64(BpsDenom-c.StartBps)))
	beta := new(big.Int).Mul(R, bu(uint64(c.StartBps)))
	beta.Mul(beta, S)
	gamma := new(big.Int).Mul(S, S)
	gamma.Mul(gamma, bu(uint64(BpsDenom)))
	gamma.Mul(gamma, t)
	var u *big.Int
	if a.Sign() == 0 {
		u = new(big.Int).Quo(gamma, beta)
	} else {
		// u = (−β + √(β² + 4aγ)) / 2a
		d := new(big.Int).Mul(beta, beta)
		d.Add(d, new(big.Int).Mul(new(big.Int).Mul(big.NewInt(4), a), gamma))
		u = d.Sqrt(d)
		u.Sub(u, beta)
		u.Quo(u, new(big.Int).Mul(big.NewInt(2), a))
	}
	if u.Sign() < 0 {
		u.SetInt64(0)
	}
	if u.Cmp(S) > 0 {
		u.Set(S)
	}
	v := u.Uint64()
	// The floors above leave v within a unit or two of the answer.
	for v < c.Bucket && fits(v+1) {
		v++
	}
	for v > 0 && !fits(v) {
		v--
	}
	return v
}

// Fill is what one commit did. AmountIn == Principal + FeeTreasury +
// FeeIssuer + Refund.
type Fill struct {
	// Tokens is the MT bought, in base units, delivered at graduation.
	Tokens uint64 `json:"tokens"`
	// Principal is the flock added to the raise: what Redeem returns if the
	// raise fails.
	Principal uint64 `json:"principal"`
	// FeeTreasury and FeeIssuer are the commit fee, never refunded.
	FeeTreasury uint64 `json:"fee_treasury"`
	FeeIssuer   uint64 `json:"fee_issuer"`
	// Refund is the part of the amount in not used: past the end of the
	// bucket (or the first-buy cap), or less than one more base unit costs.
	Refund uint64 `json:"refund"`
}

// CommitFee returns the fee on a principal: total = floor(principal ×
// FeeBps / 10000), of which issuer = floor(principal × IssuerFeeBps /
// 10000) and the treasury the rest, rounding dust included.
func (c Curve) CommitFee(principal uint64) (treasury, issuer uint64) {
	total := BpsOf(principal, c.FeeBps)
	issuer = BpsOf(principal, c.IssuerFeeBps)
	return total - issuer, issuer
}

// maxPrincipal returns the largest P with P + floor(P×fee/10000) ≤ amountIn.
func (c Curve) maxPrincipal(amountIn uint64) uint64 {
	// P0 = floor(amountIn×10000/(10000+fee)) qualifies, and P0+2 never does.
	p, _ := MulDiv(amountIn, uint64(BpsDenom), uint64(BpsDenom)+uint64(c.FeeBps))
	for p < amountIn {
		g, ok := add(p+1, BpsOf(p+1, c.FeeBps))
		if !ok || g > amountIn {
			break
		}
		p++
	}
	return p
}

// Commit commits amountIn flock to the raise: the fee is charged on top of
// the principal, so the principal P is the largest with P + fee(P) ≤
// amountIn; P buys the most MT units u whose cost fits:
//
//	tokens = max{u ≤ Bucket − Sold : RaisedAt(Sold+u) − Raised ≤ P}
//
// solved exactly with an integer square root. The tokens are rounded down
// and their cost, RaisedAt(Sold+tokens) − Raised, up: both in the
// offering's favour. Only that cost is taken as principal, with its fee; the
// rest of amountIn is refunded. A commit crossing the end of the bucket is
// thus partly filled, and the raise then stands at exactly RaiseMax.
func (c Curve) Commit(s CurveState, amountIn uint64) (Fill, CurveState, error) {
	return c.commit(s, amountIn, c.Bucket)
}

// FirstBuy is the issuer's bundled first buy: a Commit on the untouched
// curve, so at its start price, that takes at most FirstBuyCap units; what
// would buy more is refunded.
func (c Curve) FirstBuy(s CurveState, amountIn uint64) (Fill, CurveState, error) {
	if s != (CurveState{}) {
		return Fill{}, s, ErrNotFirst
	}
	return c.commit(s, amountIn, min(c.FirstBuyCap, c.Bucket))
}

func (c Curve) commit(s CurveState, amountIn, capSold uint64) (Fill, CurveState, error) {
	if err := c.validate(); err != nil {
		return Fill{}, s, err
	}
	if s.Sold > c.Bucket || c.RaisedAt(s.Sold) != s.Raised {
		return Fill{}, s, ErrCurveState
	}
	if amountIn == 0 {
		return Fill{}, s, ErrZeroAmount
	}
	if s.Sold >= capSold {
		return Fill{}, s, ErrSoldOut
	}
	p := c.maxPrincipal(amountIn)
	t := new(big.Int).Add(bu(s.Raised), bu(p))
	sold := min(c.soldFor(t), capSold)
	if sold <= s.Sold {
		return Fill{}, s, ErrZeroOut
	}
	raised := c.RaisedAt(sold)
	f := Fill{Tokens: sold - s.Sold, Principal: raised - s.Raised}
	f.FeeTreasury, f.FeeIssuer = c.CommitFee(f.Principal)
	f.Refund = amountIn - f.Principal - f.FeeTreasury - f.FeeIssuer // ≥ 0: Principal ≤ p
	return f, CurveState{Sold: sold, Raised: raised}, nil
}

// Quote returns the amount in (principal plus fee) that buys exactly tokens
// more units from s, or an error if fewer are left. Commit(s, Quote(s, n))
// fills exactly n units with no refund.
func (c Curve) Quote(s CurveState, tokens uint64) (uint64, error) {
	if err := c.validate(); err != nil {
		return 0, err
	}
	if s.Sold > c.Bucket || c.RaisedAt(s.Sold) != s.Raised {
		return 0, ErrCurveState
	}
	if tokens > c.Bucket-s.Sold {
		return 0, ErrSoldOut
	}
	p := c.RaisedAt(s.Sold+tokens) - s.Raised
	tr, is := c.CommitFee(p)
	in, ok := add(p, tr+is)
	if !ok {
		return 0, ErrOverflow
	}
	return in, nil
}

// Outcome is the stage of a raise.
type Outcome int

const (
	// OutcomeOpen: the window is open and the bucket not sold out.
	OutcomeOpen Outcome = iota
	// OutcomeMaxReached: the bucket is sold, the raise is RaiseMax; it
	// graduates in the same block.
	OutcomeMaxReached
	// OutcomeGraduable: the window is over with RaiseMin ≤ raised; anyone
	// may send Graduate.
	OutcomeGraduable
	// OutcomeFailed: the window is over below RaiseMin; buyers redeem their
	// principal, fees are kept, nothing is minted.
	OutcomeFailed
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case OutcomeOpen:
		return "open"
	case OutcomeMaxReached:
		return "max_reached"
	case OutcomeGraduable:
		return "graduable"
	case OutcomeFailed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Outcome returns the stage of the raise s, windowOver saying whether its
// window has ended.
func (c Curve) Outcome(s CurveState, windowOver bool) Outcome {
	switch {
	case s.Sold >= c.Bucket:
		return OutcomeMaxReached
	case !windowOver:
		return OutcomeOpen
	case s.Raised >= c.RaiseMin:
		return OutcomeGraduable
	}
	return OutcomeFailed
}

// Redeem returns what a buyer gets back from a failed raise: the principal
// of their fills (Σ Fill.Principal), never the fees. It fails unless the
// raise failed.
func (c Curve) Redeem(s CurveState, windowOver bool, principal uint64) (uint64, error) {
	if c.Outcome(s, windowOver) != OutcomeFailed {
		return 0, ErrNotFailed
	}
	if principal > s.Raised {
		return 0, fmt.Errorf("econ: redeem %d > raised %d", principal, s.Raised)
	}
	return principal, nil
}

// Graduation is what graduating an offering mints and pays, in base units.
//
// MT: Buyers + Liquidity + Incentives + Issuer + Treasury == Minted ==
// Supply − Unsold, and Buyers + Unsold is the sale bucket. Treasury takes
// the rounding dust of the buckets.
//
// FLOCK: RaiseLiquidity + RaiseReserved + RaiseIssuer == the raise;
// RaiseLiquidity takes the rounding dust, so it stays in the locked pool.
type Graduation struct {
	Buyers     uint64 `json:"buyers"`
	Unsold     uint64 `json:"unsold"`
	Liquidity  uint64 `json:"liquidity"`
	Incentives uint64 `json:"incentives"`
	Issuer     uint64 `json:"issuer"`
	Treasury   uint64 `json:"treasury"`
	Minted     uint64 `json:"minted"`

	RaiseLiquidity uint64 `json:"raise_liquidity"`
	RaiseReserved  uint64 `json:"raise_reserved"`
	RaiseIssuer    uint64 `json:"raise_issuer"`

	// Pool is the model's MT/FLOCK pool (A = mt, B = flock), seeded with
	// Liquidity MT and RaiseLiquidity flock.
	Pool Pool `json:"pool"`
}

// Graduate splits the supply and the raise of an offering that may graduate
// (max reached, or window over with the minimum raised): the buyers get the
// MT they bought, the unsold part of the sale bucket is never minted, every
// other bucket is floor(Supply × bps / 10000) with the dust to Treasury; the
// raise is split by the Raise*Bps with the dust to RaiseLiquidity, which
// seeds the pool with the liquidity bucket.
func Graduate(p RMOParams, c Curve, s CurveState, windowOver bool) (Graduation, error) {
	if err := p.Validate(); err != nil {
		return Graduation{}, err
	}
	if err := c.validate(); err != nil {
		return Graduation{}, err
	}
	if c.Bucket != BpsOf(p.Supply, p.SaleBps) {
		return Graduation{}, fmt.Errorf("econ: curve bucket %d is not the sale bucket %d", c.Bucket, BpsOf(p.Supply, p.SaleBps))
	}
	if s.Sold > c.Bucket || c.RaisedAt(s.Sold) != s.Raised {
		return Graduation{}, ErrCurveState
	}
	if o := c.Outcome(s, windowOver); o != OutcomeMaxReached && o != OutcomeGraduable {
		return Graduation{}, fmt.Errorf("%w: %s", ErrNotGraduable, o)
	}
	g := Graduation{
		Buyers:     s.Sold,
		Unsold:     c.Bucket - s.Sold,
		Liquidity:  BpsOf(p.Supply, p.LiquidityBps),
		Incentives: BpsOf(p.Supply, p.IncentivesBps),
		Issuer:     BpsOf(p.Supply, p.IssuerBps),
	}
	g.Treasury = p.Supply - c.Bucket - g.Liquidity - g.Incentives - g.Issuer
	g.Minted = p.Supply - g.Unsold
	g.RaiseReserved = BpsOf(s.Raised, p.RaiseReservedBps)
	g.RaiseIssuer = BpsOf(s.Raised, p.RaiseIssuerBps)
	g.RaiseLiquidity = s.Raised - g.RaiseReserved - g.RaiseIssuer
	pool, err := SeedPool(g.Liquidity, g.RaiseLiquidity, p.PoolFeeBps)
	if err != nil {
		return Graduation{}, fmt.Errorf("econ: graduation pool: %w", err)
	}
	g.Pool = pool
	return g, nil
}
