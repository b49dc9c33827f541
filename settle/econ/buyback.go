package econ

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
)

// DefaultMaxImpactBps bounds how far one epoch's buybacks may move the price
// of each pool: 100 bps, this project's default (FOMO publishes no slippage
// rule; fomo-economics.md §12, item 13).
const DefaultMaxImpactBps uint32 = 100

// BuybackParams are the parameters of the §9.4 buybacks.
type BuybackParams struct {
	// MaxImpactBps is the largest move of a pool's price, in bps, that one
	// epoch's buybacks may cause; what a reserve cannot spend within it
	// carries over to the next epoch.
	MaxImpactBps uint32 `json:"max_impact_bps"`
}

// DefaultBuybackParams returns the project's defaults, which mirror the
// network genesis's buyback_max_impact_bps default (see [DefaultRMOParams]).
func DefaultBuybackParams() BuybackParams {
	return BuybackParams{MaxImpactBps: DefaultMaxImpactBps}
}

// ModelReserve is one model's input to the epoch's buybacks.
type ModelReserve struct {
	Model string
	// Reserve is the usd in the model's MT-buyback reserve.
	Reserve uint64
	// Pool is the model's MT/FLOCK pool (A = mt, B = flock); nil until the
	// model graduates, and a model without a pool keeps its whole reserve.
	Pool *Pool
}

// ModelBuyback is what the buyback did for one model: usd → FLOCK through
// the FLOCK/usd pool, FLOCK → MT through the model's pool, MT burned.
// Reserve == UsdIn + Carry, and FlockBought == FlockIn + FlockBurned.
type ModelBuyback struct {
	Model string `json:"model"`
	// Reserve is the usd the reserve held; UsdIn the part sold for FLOCK;
	// Carry the rest, which stays in the reserve.
	Reserve uint64 `json:"reserve"`
	UsdIn   uint64 `json:"usd_in"`
	Carry   uint64 `json:"carry"`
	// FlockBought is the model's share of the FLOCK out of the FLOCK/usd
	// trade; FlockIn the part sold into the MT/FLOCK pool for MTBurned.
	FlockBought uint64 `json:"flock_bought"`
	FlockIn     uint64 `json:"flock_in"`
	MTBurned    uint64 `json:"mt_burned"`
	// FlockBurned is FLOCK bought that could not buy one base unit of MT;
	// it is burned with the FLOCK buyback's.
	FlockBurned uint64 `json:"flock_burned,omitempty"`
	// PoolAfter is the model's pool after its trade (nil without a pool).
	PoolAfter *Pool `json:"pool_after,omitempty"`
}

// FlockBuyback is what the FLOCK buyback did: usd → FLOCK, burned.
// Reserve == UsdIn + Carry.
type FlockBuyback struct {
	Reserve uint64 `json:"reserve"`
	UsdIn   uint64 `json:"usd_in"`
	Carry   uint64 `json:"carry"`
	// FlockBurned is its share of the FLOCK out plus the rounding dust of
	// the models' shares.
	FlockBurned uint64 `json:"flock_burned"`
}

// Buybacks is the result of one epoch's buybacks, in a form to record in the
// epoch's settlement. Conservation:
//
//	usd:   UsdIn = Σ Models.UsdIn + Flock.UsdIn = FLOCK/usd pool's usd gain
//	flock: FlockOut = Σ Models.FlockBought + Flock.FlockBurned
//	       = FLOCK/usd pool's FLOCK loss;
//	       FlockBurned = Flock.FlockBurned + Σ Models.FlockBurned
//	mt:    each Models[i].MTBurned = its pool's MT loss, and its FlockIn the
//	       pool's FLOCK gain.
type Buybacks struct {
	// UsdIn and FlockOut are the single usd → FLOCK trade of the epoch.
	UsdIn    uint64 `json:"usd_in"`
	FlockOut uint64 `json:"flock_out"`
	// FlockPoolAfter is the FLOCK/usd pool after the trade (nil without one).
	FlockPoolAfter *Pool `json:"flock_pool_after,omitempty"`
	// Models are in ascending order of model name.
	Models []ModelBuyback `json:"models"`
	Flock  FlockBuyback   `json:"flock"`
	// FlockBurned is all FLOCK burned.
	FlockBurned uint64 `json:"flock_burned"`
}

// ExecuteBuybacks runs the §9.4 buybacks of an epoch: each model's
// MT-buyback reserve buys FLOCK in the FLOCK/usd pool (A = flock, B = usd)
// then that FLOCK buys the model's MT, and the FLOCK-buyback reserve buys
// FLOCK; the MT and FLOCK bought are burned. Every pool's price moves by at
// most p.MaxImpactBps ([Pool.MaxInForImpact]); what is not spent carries
// over. The result does not depend on the order of models.
//
// The steps, all in integers:
//
//  1. Each model with a pool may spend usdCap = floor(flockCap × usd/flock
//     at the FLOCK/usd pool's spot price), where flockCap is the most FLOCK
//     its MT pool takes within the bound; its demand is min(reserve,
//     usdCap). A model without a pool demands nothing. The FLOCK buyback
//     demands its whole reserve.
//  2. The FLOCK/usd pool takes at most budget = MaxInForImpact. If the
//     demands D sum to more, each spends floor(demand × budget / D).
//  3. The spends are sold in one trade for FlockOut FLOCK, shared in
//     proportion to the usd in, rounded down; the dust of the models'
//     shares goes to the FLOCK buyback, which burns it.
//  4. Each model sells its FLOCK into its pool (it receives at most its
//     spot-price worth, so at most flockCap) and burns the MT; a share too
//     small to buy one base unit of MT is burned as FLOCK.
//
// A nil FLOCK/usd pool trades nothing. Duplicate models or an invalid pool
// are errors.
func ExecuteBuybacks(flockPool *Pool, flockReserve uint64, models []ModelReserve, p BuybackParams) (Buybacks, error) {
	ms := append([]ModelReserve(nil), models...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Model < ms[j].Model })
	for i := range ms {
		if i > 0 && ms[i].Model == ms[i-1].Model {
			return Buybacks{}, fmt.Errorf("econ: buyback: model %q twice", ms[i].Model)
		}
		if ms[i].Pool != nil {
			if err := ms[i].Pool.Validate(); err != nil {
				return Buybacks{}, fmt.Errorf("econ: buyback: pool of %q: %w", ms[i].Model, err)
			}
		}
	}
	if flockPool != nil {
		if err := flockPool.Validate(); err != nil {
			return Buybacks{}, fmt.Errorf("econ: buyback: FLOCK/usd pool: %w", err)
		}
	}
	res := Buybacks{Models: make([]ModelBuyback, len(ms))}
	for i, m := range ms {
		res.Models[i] = ModelBuyback{Model: m.Model, Reserve: m.Reserve, Carry: m.Reserve, PoolAfter: clonePool(m.Pool)}
	}
	res.Flock = FlockBuyback{Reserve: flockReserve, Carry: flockReserve}
	if flockPool == nil {
		return res, nil
	}
	fp := *flockPool
	res.FlockPoolAfter = clonePool(&fp)

	// 1. demands; the last one is the FLOCK buyback's.
	demand := make([]uint64, len(ms)+1)
	for i, m := range ms {
		if m.Pool == nil || m.Reserve == 0 {
			continue
		}
		flockCap := m.Pool.MaxInForImpact(p.MaxImpactBps, false)
		usdCap, err := MulDiv(flockCap, fp.ReserveB, fp.ReserveA)
		if err != nil {
			usdCap = ^uint64(0)
		}
		demand[i] = min(m.Reserve, usdCap)
	}
	demand[len(ms)] = flockReserve
	// 2. the FLOCK/usd pool's budget, shared pro rata.
	total := new(big.Int)
	for _, d := range demand {
		total.Add(total, bu(d))
	}
	budget := fp.MaxInForImpact(p.MaxImpactBps, false)
	spend := demand
	if total.Cmp(bu(budget)) > 0 {
		spend = make([]uint64, len(demand))
		for i, d := range demand {
			s := new(big.Int).Mul(bu(d), bu(budget))
			spend[i] = s.Quo(s, total).Uint64() // ≤ budget
		}
	}
	var usdIn uint64
	for _, s := range spend {
		usdIn += s // Σ ≤ max(total, budget) and total fits when ≤ budget
	}
	if usdIn == 0 {
		return res, nil
	}
	// 3. one trade, shared.
	flockOut, after, err := fp.SwapOut(usdIn, false)
	if errors.Is(err, ErrZeroOut) {
		return res, nil
	}
	if err != nil {
		return Buybacks{}, fmt.Errorf("econ: buyback: FLOCK/usd trade: %w", err)
	}
	res.UsdIn, res.FlockOut, res.FlockPoolAfter = usdIn, flockOut, &after
	dust := flockOut
	for i := range ms {
		mb := &res.Models[i]
		mb.UsdIn = spend[i]
		mb.Carry = mb.Reserve - spend[i]
		mb.FlockBought, _ = MulDiv(flockOut, spend[i], usdIn) // ≤ flockOut
		dust -= mb.FlockBought
	}
	res.Flock.UsdIn = spend[len(ms)]
	res.Flock.Carry = flockReserve - spend[len(ms)]
	res.Flock.FlockBurned = dust
	res.FlockBurned = dust
	// 4. FLOCK → MT, burned.
	for i, m := range ms {
		mb := &res.Models[i]
		if mb.FlockBought == 0 {
			continue
		}
		mtOut, pa, err := m.Pool.SwapOut(mb.FlockBought, false)
		switch {
		case errors.Is(err, ErrZeroOut):
			mb.FlockBurned = mb.FlockBought
			res.FlockBurned += mb.FlockBought
		case err != nil:
			return Buybacks{}, fmt.Errorf("econ: buyback: MT/FLOCK trade of %q: %w", m.Model, err)
		default:
			mb.FlockIn, mb.MTBurned, mb.PoolAfter = mb.FlockBought, mtOut, &pa
		}
	}
	return res, nil
}

func clonePool(p *Pool) *Pool {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
