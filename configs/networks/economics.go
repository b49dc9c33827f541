package networks

import (
	"fmt"
	"time"
)

// Economics is the genesis's [economics] section: every economic parameter
// of the network (DESIGN §9). Each key is optional. A key left out takes
// its default ([DefaultEconomics]); a key that is present takes its value,
// zero included, so routing_fee_bps = 0 means no routing fee. Presence, not
// zero, selects the default: the fields are pointers, nil when absent.
//
// The network id commits to every resolved value ([Economics.Resolved]),
// whether the file writes it or leaves it to its default: writing a
// default out does not change the id, and a release that changed a default
// would make a different network rather than silently different rules.
//
// "FOMO" marks a value taken from FLock's documentation; "ours" a value
// this project chose where FOMO names the rule but not the number, or
// nothing at all. Bps are basis points (10,000 = 100%); amounts are base
// units (6 decimals). Some parameters belong to steps that are not
// implemented yet (pools, the offering, staking, emissions); the ledger
// genesis already carries them.
type Economics struct {
	// §9.3 revenue split of each model's epoch revenue, after hard costs.

	// RoutingFeeBps is the routing fee, bps of (charge − cost), paid to the
	// registered entry node of a forwarded receipt. Ours: 200.
	RoutingFeeBps *uint32 `toml:"routing_fee_bps"`
	// GatewayBps is the former name of routing_fee_bps, still read; a file
	// may set one of the two.
	GatewayBps *uint32 `toml:"gateway_bps"`
	// MTBuybackBps, FlockBuybackBps, TreasuryBps and IssuerBps split the
	// net revenue and sum to 10,000. FOMO names the four destinations;
	// the numbers are ours: 4000, 2000, 1000, 3000.
	MTBuybackBps    *uint32 `toml:"mt_buyback_bps"`
	FlockBuybackBps *uint32 `toml:"flock_buyback_bps"`
	TreasuryBps     *uint32 `toml:"treasury_bps"`
	IssuerBps       *uint32 `toml:"issuer_bps"`

	// §9.2 staking discounts.

	// DiscountTiers map MT staked on a model to a price discount; a
	// discount never takes a price below the tier floor (FOMO). The tiers
	// are ours: ≥ 1,000 MT → 10%, ≥ 10,000 → 20%, ≥ 50,000 → 30%.
	// discount_tiers = [] means no discounts.
	DiscountTiers *[]DiscountTier `toml:"discount_tiers"`

	// §9.4 pools.

	// SwapFeeBps is the constant-product pools' swap fee, kept in the
	// pool. Ours: 30.
	SwapFeeBps *uint32 `toml:"swap_fee_bps"`
	// FlockPoolFlock and FlockPoolUSD seed the protocol-owned FLOCK/usd
	// pool at genesis, in base units; both are minted into the pool. Both
	// zero means no pool (buybacks then carry over). Ours: 10,000,000 FLOCK
	// and 1,000,000 usd, a price of 0.1 usd.
	FlockPoolFlock *uint64 `toml:"flock_pool_flock"`
	FlockPoolUSD   *uint64 `toml:"flock_pool_usd"`
	// BuybackMaxImpactBps bounds how far one epoch's buybacks move each
	// pool's price; the rest of a reserve carries over. Ours: 100 (FOMO
	// publishes no slippage rule).
	BuybackMaxImpactBps *uint32 `toml:"buyback_max_impact_bps"`

	// §9.5 offering (RMO).

	// LaunchFee is the one-time launch fee in flock base units, paid to
	// the treasury. FOMO: 32,768 FLOCK.
	LaunchFee *uint64 `toml:"launch_fee"`
	// MTSupply is each deployment's MT supply in base units. FOMO:
	// 1,000,000 MT.
	MTSupply *uint64 `toml:"mt_supply"`
	// FirstBuyMaxBps caps the issuer's bundled first buy, bps of the MT
	// supply. FOMO: 2500.
	FirstBuyMaxBps *uint32 `toml:"first_buy_max_bps"`
	// CommitFeeTreasuryBps and CommitFeeIssuerBps are the fee on every
	// commit, to the treasury and to the issuer. FOMO: 1.5% in all; the
	// 100/50 split is ours.
	CommitFeeTreasuryBps *uint32 `toml:"commit_fee_treasury_bps"`
	CommitFeeIssuerBps   *uint32 `toml:"commit_fee_issuer_bps"`
	// RaiseWindow is how long a raise stays open. FOMO: 7 days ("168h").
	RaiseWindow *Duration `toml:"raise_window"`
	// CurveStartBps is the bonding curve's start price in bps of its
	// average price (raise_max ÷ sale bucket); the end price mirrors it
	// above the average. Ours: 5000, the price triples across the sale.
	CurveStartBps *uint32 `toml:"curve_start_bps"`
	// AllocSaleBps … AllocTreasuryBps split the MT supply at graduation
	// and sum to 10,000. FOMO names the buckets; the numbers are ours:
	// sale 4000 (FOMO's one example), liquidity 2000, incentives 2000,
	// issuer 1000, treasury 1000.
	AllocSaleBps       *uint32 `toml:"alloc_sale_bps"`
	AllocLiquidityBps  *uint32 `toml:"alloc_liquidity_bps"`
	AllocIncentivesBps *uint32 `toml:"alloc_incentives_bps"`
	AllocIssuerBps     *uint32 `toml:"alloc_issuer_bps"`
	AllocTreasuryBps   *uint32 `toml:"alloc_treasury_bps"`
	// IssuerVesting is how long the issuer's MT vests, linearly. FOMO:
	// vested; the 365 days ("8760h") are ours.
	IssuerVesting *Duration `toml:"issuer_vesting"`
	// RaisePoolBps, RaiseReservedBps and RaiseIssuerBps split the raised
	// FLOCK at graduation: the MT/FLOCK pool, the model's reserved-FLOCK
	// pool and the issuer's hosting; they sum to 10,000. Ours: 5000, 2000,
	// 3000.
	RaisePoolBps     *uint32 `toml:"raise_pool_bps"`
	RaiseReservedBps *uint32 `toml:"raise_reserved_bps"`
	RaiseIssuerBps   *uint32 `toml:"raise_issuer_bps"`

	// §9.6 staking.

	// UnbondingEpochs is how many epochs an unstake takes. Ours: 24.
	UnbondingEpochs *uint32 `toml:"unbonding_epochs"`

	// §9.7 emissions and rewards.

	// EmissionHalfLife is the half-life of the per-epoch emission budget.
	// FOMO: emissions decay; the 180 days ("4320h") are ours.
	EmissionHalfLife *Duration `toml:"emission_half_life"`
	// AgeFloorBps and AgeHorizon shape a model's age factor,
	// max(floor, 1 − age/horizon). FOMO: weighted by deployment age; the
	// 2500 and 180 days are ours.
	AgeFloorBps *uint32   `toml:"age_floor_bps"`
	AgeHorizon  *Duration `toml:"age_horizon"`
	// EmissionCapBps caps a model's emission value at this share of its
	// gross revenue (anti-farming). Ours: 10000.
	EmissionCapBps *uint32 `toml:"emission_cap_bps"`
	// IssuerBonusBps is the issuer's share of its model's emissions.
	// FOMO names the bonus; 1000 is ours.
	IssuerBonusBps *uint32 `toml:"issuer_bonus_bps"`
	// AlphaBps is α of global_score = usage × (α + (1 − α)·√stake).
	// FOMO (community handbook): 0.9 → 9000.
	AlphaBps *uint32 `toml:"alpha_bps"`
	// IncentiveRelease is how long the stake-gated pools (reserved FLOCK,
	// MT incentives) take to release, linearly. FOMO (community): about
	// 180 days ("4320h").
	IncentiveRelease *Duration `toml:"incentive_release"`
	// EmissionReserveFlock is the genesis emission reserve in FLOCK base
	// units, minted into a reserve record (not an account) and paid out by
	// the decaying budget. FOMO: emissions are paid from a reserve; its
	// size is ours. Default 0: no emissions and no stake-gated releases.
	// A zero is the same network as an absent key (the id does not change).
	EmissionReserveFlock *uint64 `toml:"emission_reserve_flock"`
	// EmissionFirstEpochFlock is the first epoch's budget, then each epoch's
	// is the previous one's × 2^(−epoch_length/emission_half_life). Ours:
	// absent (or 0) takes reserve × (1 − retention), so that the budgets
	// sum to the reserve. Like the reserve, a zero is left out of the id.
	EmissionFirstEpochFlock *uint64 `toml:"emission_first_epoch_flock"`
}

// DiscountTier grants DiscountBps off list prices to holders of at least
// MinStake (MT base units) staked on the model.
type DiscountTier struct {
	MinStake    uint64 `toml:"min_stake"`
	DiscountBps uint32 `toml:"discount_bps"`
}

const (
	unit = 1_000_000 // base units per whole token
	day  = 24 * time.Hour
)

func ptr[T any](v T) *T { return &v }

// DefaultEconomics returns every economic parameter at its default.
func DefaultEconomics() Economics {
	return Economics{
		RoutingFeeBps:   ptr[uint32](200),
		MTBuybackBps:    ptr[uint32](4_000),
		FlockBuybackBps: ptr[uint32](2_000),
		TreasuryBps:     ptr[uint32](1_000),
		IssuerBps:       ptr[uint32](3_000),
		DiscountTiers: &[]DiscountTier{
			{MinStake: 1_000 * unit, DiscountBps: 1_000},
			{MinStake: 10_000 * unit, DiscountBps: 2_000},
			{MinStake: 50_000 * unit, DiscountBps: 3_000},
		},
		SwapFeeBps:           ptr[uint32](30),
		FlockPoolFlock:       ptr[uint64](10_000_000 * unit),
		FlockPoolUSD:         ptr[uint64](1_000_000 * unit),
		BuybackMaxImpactBps:  ptr[uint32](100),
		CurveStartBps:        ptr[uint32](5_000),
		LaunchFee:            ptr[uint64](32_768 * unit),
		MTSupply:             ptr[uint64](1_000_000 * unit),
		FirstBuyMaxBps:       ptr[uint32](2_500),
		CommitFeeTreasuryBps: ptr[uint32](100),
		CommitFeeIssuerBps:   ptr[uint32](50),
		RaiseWindow:          ptr(Duration(7 * day)),
		AllocSaleBps:         ptr[uint32](4_000),
		AllocLiquidityBps:    ptr[uint32](2_000),
		AllocIncentivesBps:   ptr[uint32](2_000),
		AllocIssuerBps:       ptr[uint32](1_000),
		AllocTreasuryBps:     ptr[uint32](1_000),
		IssuerVesting:        ptr(Duration(365 * day)),
		RaisePoolBps:         ptr[uint32](5_000),
		RaiseReservedBps:     ptr[uint32](2_000),
		RaiseIssuerBps:       ptr[uint32](3_000),
		UnbondingEpochs:      ptr[uint32](24),
		EmissionHalfLife:     ptr(Duration(180 * day)),
		AgeFloorBps:          ptr[uint32](2_500),
		AgeHorizon:           ptr(Duration(180 * day)),
		EmissionCapBps:       ptr[uint32](10_000),
		IssuerBonusBps:       ptr[uint32](1_000),
		AlphaBps:             ptr[uint32](9_000),
		IncentiveRelease:     ptr(Duration(180 * day)),
	}
}

// Resolved returns e with every absent parameter set to its default and
// gateway_bps folded into routing_fee_bps; every field of the result is
// set except emission_reserve_flock and emission_first_epoch_flock, nil
// when absent or zero. The result shares no memory with e.
func (e Economics) Resolved() Economics {
	if e.RoutingFeeBps == nil {
		e.RoutingFeeBps = e.GatewayBps
	}
	e.GatewayBps = nil
	d := DefaultEconomics()
	pick(&e.RoutingFeeBps, d.RoutingFeeBps)
	pick(&e.MTBuybackBps, d.MTBuybackBps)
	pick(&e.FlockBuybackBps, d.FlockBuybackBps)
	pick(&e.TreasuryBps, d.TreasuryBps)
	pick(&e.IssuerBps, d.IssuerBps)
	if e.DiscountTiers == nil {
		e.DiscountTiers = d.DiscountTiers
	} else {
		ts := append([]DiscountTier{}, *e.DiscountTiers...)
		e.DiscountTiers = &ts
	}
	pick(&e.SwapFeeBps, d.SwapFeeBps)
	pick(&e.FlockPoolFlock, d.FlockPoolFlock)
	pick(&e.FlockPoolUSD, d.FlockPoolUSD)
	pick(&e.BuybackMaxImpactBps, d.BuybackMaxImpactBps)
	pick(&e.CurveStartBps, d.CurveStartBps)
	pick(&e.LaunchFee, d.LaunchFee)
	pick(&e.MTSupply, d.MTSupply)
	pick(&e.FirstBuyMaxBps, d.FirstBuyMaxBps)
	pick(&e.CommitFeeTreasuryBps, d.CommitFeeTreasuryBps)
	pick(&e.CommitFeeIssuerBps, d.CommitFeeIssuerBps)
	pick(&e.RaiseWindow, d.RaiseWindow)
	pick(&e.AllocSaleBps, d.AllocSaleBps)
	pick(&e.AllocLiquidityBps, d.AllocLiquidityBps)
	pick(&e.AllocIncentivesBps, d.AllocIncentivesBps)
	pick(&e.AllocIssuerBps, d.AllocIssuerBps)
	pick(&e.AllocTreasuryBps, d.AllocTreasuryBps)
	pick(&e.IssuerVesting, d.IssuerVesting)
	pick(&e.RaisePoolBps, d.RaisePoolBps)
	pick(&e.RaiseReservedBps, d.RaiseReservedBps)
	pick(&e.RaiseIssuerBps, d.RaiseIssuerBps)
	pick(&e.UnbondingEpochs, d.UnbondingEpochs)
	pick(&e.EmissionHalfLife, d.EmissionHalfLife)
	pick(&e.AgeFloorBps, d.AgeFloorBps)
	pick(&e.AgeHorizon, d.AgeHorizon)
	pick(&e.EmissionCapBps, d.EmissionCapBps)
	pick(&e.IssuerBonusBps, d.IssuerBonusBps)
	pick(&e.AlphaBps, d.AlphaBps)
	pick(&e.IncentiveRelease, d.IncentiveRelease)
	// The emission reserve and first budget have no default value: absent
	// and zero are both nil, so every network without a reserve keeps its
	// id.
	for _, p := range []**uint64{&e.EmissionReserveFlock, &e.EmissionFirstEpochFlock} {
		if *p != nil && **p == 0 {
			*p = nil
		} else if *p != nil {
			*p = ptr(**p)
		}
	}
	return e
}

// pick sets *p to a copy of its own value, or of def when absent.
func pick[T any](p **T, def *T) {
	if *p == nil {
		*p = ptr(*def)
	} else {
		*p = ptr(**p)
	}
}

// validate appends a problem per bad parameter, each naming its key.
func (e Economics) validate(add func(key, format string, args ...any)) {
	if e.RoutingFeeBps != nil && e.GatewayBps != nil {
		add("economics.gateway_bps", "is the former name of routing_fee_bps: set only routing_fee_bps")
	}
	r := e.Resolved()
	for _, b := range []struct {
		key string
		v   uint32
	}{
		{"routing_fee_bps", *r.RoutingFeeBps}, {"mt_buyback_bps", *r.MTBuybackBps}, {"flock_buyback_bps", *r.FlockBuybackBps},
		{"treasury_bps", *r.TreasuryBps}, {"issuer_bps", *r.IssuerBps}, {"swap_fee_bps", *r.SwapFeeBps},
		{"first_buy_max_bps", *r.FirstBuyMaxBps}, {"commit_fee_treasury_bps", *r.CommitFeeTreasuryBps},
		{"commit_fee_issuer_bps", *r.CommitFeeIssuerBps}, {"alloc_sale_bps", *r.AllocSaleBps},
		{"alloc_liquidity_bps", *r.AllocLiquidityBps}, {"alloc_incentives_bps", *r.AllocIncentivesBps},
		{"alloc_issuer_bps", *r.AllocIssuerBps}, {"alloc_treasury_bps", *r.AllocTreasuryBps},
		{"raise_pool_bps", *r.RaisePoolBps}, {"raise_reserved_bps", *r.RaiseReservedBps},
		{"raise_issuer_bps", *r.RaiseIssuerBps}, {"age_floor_bps", *r.AgeFloorBps},
		{"emission_cap_bps", *r.EmissionCapBps}, {"issuer_bonus_bps", *r.IssuerBonusBps}, {"alpha_bps", *r.AlphaBps},
	} {
		if b.v > 10_000 {
			add("economics."+b.key, "must be at most 10000, got %d", b.v)
		}
	}
	for i, t := range *r.DiscountTiers {
		if t.DiscountBps > 10_000 {
			add(fmt.Sprintf("economics.discount_tiers[%d].discount_bps", i), "must be at most 10000, got %d", t.DiscountBps)
		}
	}
	sum := func(key string, vs ...*uint32) {
		var s uint64
		for _, v := range vs {
			s += uint64(*v)
		}
		if s != 10_000 {
			add("economics."+key, "must sum to 10000, got %d", s)
		}
	}
	sum("{mt_buyback_bps,flock_buyback_bps,treasury_bps,issuer_bps}", r.MTBuybackBps, r.FlockBuybackBps, r.TreasuryBps, r.IssuerBps)
	sum("{alloc_sale_bps,alloc_liquidity_bps,alloc_incentives_bps,alloc_issuer_bps,alloc_treasury_bps}",
		r.AllocSaleBps, r.AllocLiquidityBps, r.AllocIncentivesBps, r.AllocIssuerBps, r.AllocTreasuryBps)
	sum("{raise_pool_bps,raise_reserved_bps,raise_issuer_bps}", r.RaisePoolBps, r.RaiseReservedBps, r.RaiseIssuerBps)
	if *r.CommitFeeTreasuryBps+*r.CommitFeeIssuerBps > 10_000 {
		add("economics.{commit_fee_treasury_bps,commit_fee_issuer_bps}", "must sum to at most 10000")
	}
	if (*r.FlockPoolFlock == 0) != (*r.FlockPoolUSD == 0) {
		add("economics.{flock_pool_flock,flock_pool_usd}", "must both be zero (no pool) or both positive")
	}
	if *r.CurveStartBps == 0 || *r.CurveStartBps > 10_000 {
		add("economics.curve_start_bps", "must be 1 to 10000, got %d", *r.CurveStartBps)
	}
	if r.EmissionFirstEpochFlock != nil && (r.EmissionReserveFlock == nil || *r.EmissionFirstEpochFlock > *r.EmissionReserveFlock) {
		add("economics.emission_first_epoch_flock", "must be at most emission_reserve_flock")
	}
	if *r.MTSupply == 0 {
		add("economics.mt_supply", "must be positive")
	}
	for _, d := range []struct {
		key      string
		v        Duration
		positive bool
	}{
		{"raise_window", *r.RaiseWindow, true}, {"issuer_vesting", *r.IssuerVesting, false},
		{"emission_half_life", *r.EmissionHalfLife, true}, {"age_horizon", *r.AgeHorizon, true},
		{"incentive_release", *r.IncentiveRelease, false},
	} {
		if d.v < 0 || d.positive && d.v == 0 {
			add("economics."+d.key, "must be positive, got %s", d.v.D())
		}
		if d.v.D()%time.Millisecond != 0 {
			add("economics."+d.key, "must be a whole number of milliseconds, got %s", d.v.D())
		}
	}
}
