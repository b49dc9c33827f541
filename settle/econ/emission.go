package econ

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
)

// The §9.7 emissions, in three steps at epoch close:
//
//  1. the budget decays geometrically: E(e) = floor(E(e−1) × retention)
//     ([EmissionBudget], [RetentionForHalfLife]);
//  2. the budget is allocated across models by w_m = gross_m × age_factor_m,
//     each allocation capped at cap_ratio × gross_m in value
//     ([AllocateEmissions]);
//  3. within a model, the issuer takes its bonus and the users share the rest
//     by global_score ([SplitModelEmission]); the stake-gated pools release
//     linearly ([Vested], [Claimable]) and are shared by incentive_score ([SplitGated]).
//
// Shares, factors and scores are 1e18 fixed point ([FixedOne]); products go
// through math/big and every division floors. What a floor leaves behind is
// named: dust of the budget stays in the emission reserve, dust of a model's
// user pool returns to the reserve, dust and unclaimed releases of a gated
// pool carry over to the next epoch.

// FixedOne is 1.0 in the 1e18 fixed point of shares, factors and scores.
const FixedOne uint64 = 1_000_000_000_000_000_000

// DefaultEmissionHalfLifeMs is the half-life of the emission budget (§9.7):
// 180 days.
const DefaultEmissionHalfLifeMs = 180 * Day

// Errors of the emission math.
var (
	ErrBadRetention = errors.New("econ: retention must satisfy 0 < num ≤ den")
	ErrBadHalfLife  = errors.New("econ: epoch length and half-life must be positive")
	ErrNoPrice      = errors.New("econ: emission cap needs a non-zero FLOCK/usd price")
	ErrDupAccount   = errors.New("econ: account listed twice; scores are per account")
	ErrDupModel     = errors.New("econ: model listed twice")
	ErrBadShare     = errors.New("econ: share above 1.0")
)

// EmissionParams are the §9.7 parameters.
type EmissionParams struct {
	// RetentionNum / RetentionDen is the per-epoch retention of the budget.
	RetentionNum uint64 `json:"retention_num"`
	RetentionDen uint64 `json:"retention_den"`
	// AgeWindowMs is the age at which a model's age factor reaches its floor
	// (180 days); AgeFloorBps is that floor (2,500 = 25%).
	AgeWindowMs int64  `json:"age_window_ms"`
	AgeFloorBps uint32 `json:"age_floor_bps"`
	// CapRatioBps caps a model's emission value at this share of its gross
	// (10,000 = 1.0).
	CapRatioBps uint32 `json:"cap_ratio_bps"`
	// IssuerBonusBps is the issuer's bonus out of its model's allocation
	// (1,000 = 10%).
	IssuerBonusBps uint32 `json:"issuer_bonus_bps"`
	// Alpha is the staking-factor floor α of global_score, 1e18 fixed point
	// (0.9e18).
	Alpha uint64 `json:"alpha"`
	// ReleaseMs is the linear release of the stake-gated pools (180 days).
	ReleaseMs int64 `json:"release_ms"`
}

// DefaultEmissionParams returns the §9.7 defaults for an epoch of epochMs
// milliseconds: the retention is [RetentionForHalfLife](epochMs, 180 days).
func DefaultEmissionParams(epochMs int64) (EmissionParams, error) {
	num, den, err := RetentionForHalfLife(epochMs, DefaultEmissionHalfLifeMs)
	if err != nil {
		return EmissionParams{}, err
	}
	return EmissionParams{
		RetentionNum:   num,
		RetentionDen:   den,
		AgeWindowMs:    180 * Day,
		AgeFloorBps:    2_500,
		CapRatioBps:    10_000,
		IssuerBonusBps: 1_000,
		Alpha:          FixedOne / 10 * 9,
		ReleaseMs:      180 * Day,
	}, nil
}

// Validate reports whether the parameters are usable.
func (p EmissionParams) Validate() error {
	if p.RetentionNum == 0 || p.RetentionDen == 0 || p.RetentionNum > p.RetentionDen {
		return ErrBadRetention
	}
	if p.AgeWindowMs <= 0 || p.ReleaseMs <= 0 {
		return errors.New("econ: age window and release must be positive")
	}
	if p.AgeFloorBps > BpsDenom || p.IssuerBonusBps > BpsDenom {
		return errors.New("econ: age_floor_bps and issuer_bonus_bps must be ≤ 10000")
	}
	if p.Alpha > FixedOne {
		return errors.New("econ: alpha above 1.0")
	}
	return nil
}

// EmissionBudget is the §9.7 decay: E(e) = floor(previous × num / den), the
// budget of an epoch from the previous one. It requires 0 < num ≤ den, so
// the budget never grows; rounding is down, the remainder staying in the
// genesis emission reserve.
func EmissionBudget(previous, retentionNum, retentionDen uint64) (uint64, error) {
	if retentionNum == 0 || retentionDen == 0 || retentionNum > retentionDen {
		return 0, ErrBadRetention
	}
	return MulDiv(previous, retentionNum, retentionDen) // ≤ previous: cannot overflow
}

// RetentionForHalfLife returns the per-epoch retention num/den (den = 1e18)
// for which the budget halves every halfLifeMs: num = round(1e18 × 2^(−epochMs/halfLifeMs)).
//
// It is computed without floats: with q = epochMs div halfLifeMs and the
// fraction f = (epochMs mod halfLifeMs)/halfLifeMs written in binary
// f = Σ b_i 2^−i, 2^−f = Π_{b_i=1} 2^(−2^−i), each factor being the i-th
// repeated square root of 1/2 (integer square roots at a 2^192 scale), then
// halved q times. Sixty-four fraction bits and the wide scale keep the error
// far below the 1e−18 of the result.
//
// With daily epochs (86,400,000 ms) and the 180-day default the retention is
// 2^(−1/180) ≈ 0.996156, with hourly epochs 2^(−1/4320) ≈ 0.99983956.
// Because each epoch's budget is floored, small budgets decay slightly
// faster than the ratio alone.
func RetentionForHalfLife(epochMs, halfLifeMs int64) (num, den uint64, err error) {
	if epochMs <= 0 || halfLifeMs <= 0 {
		return 0, 0, ErrBadHalfLife
	}
	const prec = 192
	one := new(big.Int).Lsh(big.NewInt(1), prec)
	acc := new(big.Int).Set(one)
	root := new(big.Int).Rsh(one, 1) // 2^(−1) at scale 2^prec
	q := epochMs / halfLifeMs
	rem := big.NewInt(epochMs % halfLifeMs)
	h := big.NewInt(halfLifeMs)
	for i := 0; i < 64 && rem.Sign() > 0; i++ {
		// next root: sqrt(root × 2^prec) at scale 2^prec.
		root.Sqrt(new(big.Int).Lsh(root, prec))
		rem.Lsh(rem, 1)
		if rem.Cmp(h) >= 0 {
			rem.Sub(rem, h)
			acc.Mul(acc, root)
			acc.Rsh(acc, prec)
		}
	}
	if q >= prec {
		acc.SetInt64(0)
	} else {
		acc.Rsh(acc, uint(q))
	}
	// round(acc × 1e18 / 2^prec)
	v := new(big.Int).Mul(acc, bu(FixedOne))
	v.Add(v, new(big.Int).Rsh(one, 1))
	v.Rsh(v, prec)
	num = v.Uint64()
	if num == 0 {
		num = 1 // a retention of zero is refused by EmissionBudget
	}
	return num, FixedOne, nil
}

// AgeFactor returns max(floorBps, 1 − age/window) in 1e18 fixed point:
// 1.0 for a model deployed this instant, falling linearly to the floor
// (25% by default) at age = window and staying there. A negative age counts
// as zero; a window ≤ 0 gives the floor.
func AgeFactor(ageMs, windowMs int64, floorBps uint32) uint64 {
	if floorBps > BpsDenom {
		floorBps = BpsDenom
	}
	floor := FixedOne / uint64(BpsDenom) * uint64(floorBps)
	if ageMs < 0 {
		ageMs = 0
	}
	if windowMs <= 0 || ageMs >= windowMs {
		return floor
	}
	// 1e18 × (window − age) / window, floored; age < window so it is ≤ 1e18.
	f, _ := MulDiv(FixedOne, uint64(windowMs-ageMs), uint64(windowMs))
	if f < floor {
		return floor
	}
	return f
}

// ModelActivity is what the cross-model allocation needs of one model.
type ModelActivity struct {
	Model string `json:"model"`
	// Gross is the usd charged on the model in the epoch, after discounts.
	Gross uint64 `json:"gross"`
	// AgeMs is the model's deployment age at epoch close.
	AgeMs int64 `json:"age_ms"`
}

// ModelEmission is one model's share of the budget.
type ModelEmission struct {
	Model string `json:"model"`
	// AgeFactor is 1e18 fixed point; Weight = Gross × AgeFactor (decimal
	// string: it may exceed 64 bits).
	AgeFactor uint64 `json:"age_factor"`
	Weight    string `json:"weight"`
	// Share is floor(budget × weight / Σ weights); Amount = min(Share, Cap)
	// is paid to the model, Capped = Share − Amount stays in the reserve.
	Share  uint64 `json:"share"`
	Cap    uint64 `json:"cap"`
	Amount uint64 `json:"amount"`
	Capped uint64 `json:"capped"`
}

// EmissionAllocation is the cross-model allocation of an epoch's budget.
// Budget == Paid + Capped + Dust: what is not paid stays in the reserve.
type EmissionAllocation struct {
	Budget uint64          `json:"budget"`
	Models []ModelEmission `json:"models"`
	Paid   uint64          `json:"paid"`
	Capped uint64          `json:"capped"`
	// Dust is what the floor of the weighted split leaves, plus the whole
	// budget when no model has usage.
	Dust uint64 `json:"dust"`
}

// Reserve returns what stays in the emission reserve: Capped + Dust.
func (a EmissionAllocation) Reserve() uint64 { return a.Capped + a.Dust }

// EmissionCap returns the most FLOCK a model with this gross may receive:
// floor(gross × capBps × priceDen / (10000 × priceNum)), the price being
// priceNum/priceDen usd base units per FLOCK base unit. A zero price is an
// error: a missing price must not lift the cap. A cap above 64 bits is
// returned as the largest uint64 (it cannot bind).
func EmissionCap(gross uint64, capBps uint32, priceNum, priceDen uint64) (uint64, error) {
	if priceNum == 0 || priceDen == 0 {
		return 0, ErrNoPrice
	}
	v := new(big.Int).Mul(bu(gross), big.NewInt(int64(capBps)))
	v.Mul(v, bu(priceDen))
	v.Quo(v, new(big.Int).Mul(big.NewInt(int64(BpsDenom)), bu(priceNum)))
	if !v.IsUint64() {
		return ^uint64(0), nil
	}
	return v.Uint64(), nil
}

// AllocateEmissions splits budget across models by w_m = gross_m ×
// AgeFactor(age_m): share_m = floor(budget × w_m / Σ w), then caps each
// share with [EmissionCap] at the FLOCK/usd price priceNum/priceDen.
// A model with zero gross has zero weight and gets nothing; with no usage
// at all the whole budget is dust. The floor's dust and the capped excess
// stay in the reserve (the cap is not redistributed, so farming one model
// never raises another's take). Models are returned sorted by name; a name
// listed twice is an error.
func AllocateEmissions(budget uint64, models []ModelActivity, p EmissionParams, priceNum, priceDen uint64) (EmissionAllocation, error) {
	if priceNum == 0 || priceDen == 0 {
		return EmissionAllocation{}, ErrNoPrice
	}
	ms := append([]ModelActivity(nil), models...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Model < ms[j].Model })
	out := EmissionAllocation{Budget: budget, Models: make([]ModelEmission, len(ms))}
	weights := make([]*big.Int, len(ms))
	total := new(big.Int)
	for i, m := range ms {
		if i > 0 && ms[i-1].Model == m.Model {
			return EmissionAllocation{}, fmt.Errorf("%w: %q", ErrDupModel, m.Model)
		}
		f := AgeFactor(m.AgeMs, p.AgeWindowMs, p.AgeFloorBps)
		w := new(big.Int).Mul(bu(m.Gross), bu(f))
		weights[i] = w
		total.Add(total, w)
		out.Models[i] = ModelEmission{Model: m.Model, AgeFactor: f, Weight: w.String()}
	}
	left := budget
	for i, m := range ms {
		var share uint64
		if total.Sign() > 0 && weights[i].Sign() > 0 {
			s := new(big.Int).Mul(bu(budget), weights[i])
			share = s.Quo(s, total).Uint64() // ≤ budget
		}
		capAt, err := EmissionCap(m.Gross, p.CapRatioBps, priceNum, priceDen)
		if err != nil {
			return EmissionAllocation{}, err
		}
		amt := share
		if amt > capAt {
			amt = capAt
		}
		e := &out.Models[i]
		e.Share, e.Cap, e.Amount, e.Capped = share, capAt, amt, share-amt
		out.Paid += amt // Σ shares ≤ budget: no overflow
		out.Capped += share - amt
		left -= share
	}
	out.Dust = left
	return out, nil
}

// ISqrt1e18 returns floor(√(x × 1e18)): the square root of x in 1e18 fixed
// point (x = 0.1e18 gives 316227766016837933, √0.1 ≈ 0.316227766016837933).
// It is exact for every uint64 (x × 1e18 < 2^128, its root < 2^64).
func ISqrt1e18(x uint64) uint64 {
	v := new(big.Int).Mul(bu(x), bu(FixedOne))
	return v.Sqrt(v).Uint64()
}

// ShareOf returns floor(part × 1e18 / total), 0 when total is 0, and
// ErrBadShare when part > total.
func ShareOf(part, total uint64) (uint64, error) {
	if total == 0 {
		return 0, nil
	}
	if part > total {
		return 0, ErrBadShare
	}
	return MulDiv(part, FixedOne, total) // ≤ 1e18
}

// GlobalScore returns usage_share × (α + (1 − α) × √stake_share), all in
// 1e18 fixed point, each product floored. Zero usage gives zero whatever
// the stake; zero stake gives usage_share × α. Inputs above 1.0 are errors.
func GlobalScore(usageShare, stakeShare, alpha uint64) (uint64, error) {
	if usageShare > FixedOne || stakeShare > FixedOne || alpha > FixedOne {
		return 0, ErrBadShare
	}
	if usageShare == 0 {
		return 0, nil
	}
	root := ISqrt1e18(stakeShare) // ≤ 1e18
	lift, _ := MulDiv(FixedOne-alpha, root, FixedOne)
	factor := alpha + lift // ≤ α + (1 − α) = 1e18
	return MulDiv(usageShare, factor, FixedOne)
}

// IncentiveScore returns usage_share × stake_share in 1e18 fixed point,
// floored: zero unless the account both uses and stakes the model.
func IncentiveScore(usageShare, stakeShare uint64) (uint64, error) {
	if usageShare > FixedOne || stakeShare > FixedOne {
		return 0, ErrBadShare
	}
	return MulDiv(usageShare, stakeShare, FixedOne)
}

// Participant is one account's activity on a model in an epoch. Scores are
// per account: the usage of all session keys of an account is summed into
// one Participant before scoring, so spreading usage over keys cannot raise
// a score (and since the scores are superadditive, neither can spreading
// usage and stake over several accounts: see the tests).
//
// A list of participants covers every account with usage or stake on the
// model: usage_share and stake_share are taken against the list's sums, so
// Σ Usage is the model's gross and Σ Stake its total stake.
type Participant struct {
	Account string `json:"account"`
	// Usage is the account's charges on the model in the epoch, after
	// discounts; Stake its MT stake in the epoch's snapshot.
	Usage uint64 `json:"usage"`
	Stake uint64 `json:"stake"`
}

// Reward is an amount owed to one account, with the score it came from.
type Reward struct {
	Account string `json:"account"`
	Score   uint64 `json:"score"`
	Amount  uint64 `json:"amount"`
}

// scored computes one score per participant, sorted by account, rejecting
// duplicates. incentive selects incentive_score over global_score.
func scored(ps []Participant, alpha uint64, incentive bool) ([]Reward, error) {
	sorted := append([]Participant(nil), ps...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Account < sorted[j].Account })
	var usage, stake uint64
	var ok bool
	for i, p := range sorted {
		if i > 0 && sorted[i-1].Account == p.Account {
			return nil, fmt.Errorf("%w: %q", ErrDupAccount, p.Account)
		}
		if usage, ok = add(usage, p.Usage); !ok {
			return nil, ErrOverflow
		}
		if stake, ok = add(stake, p.Stake); !ok {
			return nil, ErrOverflow
		}
	}
	out := make([]Reward, len(sorted))
	for i, p := range sorted {
		us, _ := ShareOf(p.Usage, usage) // part ≤ total
		ss, _ := ShareOf(p.Stake, stake)
		var s uint64
		var err error
		if incentive {
			s, err = IncentiveScore(us, ss)
		} else {
			s, err = GlobalScore(us, ss, alpha)
		}
		if err != nil {
			return nil, err
		}
		out[i] = Reward{Account: p.Account, Score: s}
	}
	return out, nil
}

// distribute gives each reward floor(amount × score / Σ scores) and returns
// what is left (the dust, or all of amount when every score is zero).
func distribute(amount uint64, rs []Reward) uint64 {
	total := new(big.Int)
	for _, r := range rs {
		total.Add(total, bu(r.Score))
	}
	if total.Sign() == 0 {
		return amount
	}
	left := amount
	for i := range rs {
		if rs[i].Score == 0 {
			continue
		}
		v := new(big.Int).Mul(bu(amount), bu(rs[i].Score))
		rs[i].Amount = v.Quo(v, total).Uint64() // Σ ≤ amount
		left -= rs[i].Amount
	}
	return left
}

// ModelRewards is the split of one model's emission.
// Amount == Issuer + Σ Users[i].Amount + Unallocated.
type ModelRewards struct {
	Amount uint64 `json:"amount"`
	// Issuer is the bonus: floor(amount × issuer_bonus_bps / 10000).
	Issuer uint64 `json:"issuer"`
	// Users are sorted by account, with their global_score.
	Users []Reward `json:"users"`
	// Unallocated returns to the emission reserve: the floor's dust, or the
	// whole user part when no account has usage.
	Unallocated uint64 `json:"unallocated"`
}

// SplitModelEmission splits a model's emission: the issuer bonus first,
// then the rest among the accounts by global_score (α from p). Accounts
// with usage share it whether or not they stake; accounts with stake only
// get nothing. An account listed twice is an error.
func SplitModelEmission(amount uint64, ps []Participant, p EmissionParams) (ModelRewards, error) {
	if p.Alpha > FixedOne {
		return ModelRewards{}, ErrBadShare
	}
	rs, err := scored(ps, p.Alpha, false)
	if err != nil {
		return ModelRewards{}, err
	}
	issuer := BpsOf(amount, p.IssuerBonusBps)
	left := distribute(amount-issuer, rs)
	return ModelRewards{Amount: amount, Issuer: issuer, Users: rs, Unallocated: left}, nil
}

// GatedSplit is the split of one stake-gated pool's release for an epoch.
// Release + CarryIn == Σ Users[i].Amount + Carry.
type GatedSplit struct {
	Release uint64   `json:"release"`
	CarryIn uint64   `json:"carry_in"`
	Users   []Reward `json:"users"`
	// Carry goes to the next epoch: the floor's dust, or everything when no
	// account both used and staked the model.
	Carry uint64 `json:"carry"`
}

// SplitGated shares release + carryIn among the accounts by
// incentive_score = usage_share × stake_share. Use without stake and stake
// without use both score zero; when no account scores, everything carries
// over. An account listed twice is an error.
func SplitGated(release, carryIn uint64, ps []Participant) (GatedSplit, error) {
	amount, ok := add(release, carryIn)
	if !ok {
		return GatedSplit{}, ErrOverflow
	}
	rs, err := scored(ps, 0, true)
	if err != nil {
		return GatedSplit{}, err
	}
	left := distribute(amount, rs)
	return GatedSplit{Release: release, CarryIn: carryIn, Users: rs, Carry: left}, nil
}
