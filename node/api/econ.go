package api

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// The economics endpoints (offerings, pools, supply, treasury, buyback
// reserves) share one convention: every amount is an integer of base units
// (10^6 per whole unit, see econ.Unit) in a field whose name ends in _base,
// its denom named by the field (raised_flock_base, flock_buyback_usd_base)
// or by a denom field next to it; every price is a decimal string with 18
// digits after the point, floored, such as "0.012500000000000000".

// PriceDecimals is the number of digits after the point of a price.
const PriceDecimals = 18

// Offering is the body of GET /api/v1/rmos/{model} and an item of GET
// /api/v1/rmos: a model's offering (DESIGN §9.5) as of the last block.
type Offering struct {
	Model  string `json:"model"`
	Issuer string `json:"issuer"`
	Tier   string `json:"tier"`
	// State is "open", "max_reached" (graduates in the same block),
	// "graduable" (anyone may send Graduate), "failed" (buyers redeem
	// their principal) or "graduated", at the last block's time.
	State string `json:"state"`
	// MTDenom is the model's token, sold on the curve for flock.
	MTDenom           string `json:"mt_denom"`
	RaiseMinFlockBase uint64 `json:"raise_min_flock_base"`
	RaiseMaxFlockBase uint64 `json:"raise_max_flock_base"`
	// RaisedFlockBase is the principal committed (fees excluded);
	// RedeemedFlockBase what Redeem returned of it after a failed raise.
	RaisedFlockBase   uint64 `json:"raised_flock_base"`
	RedeemedFlockBase uint64 `json:"redeemed_flock_base"`
	// SaleMTBase is the sale bucket, SoldMTBase what the curve sold of it.
	SaleMTBase uint64 `json:"sale_mt_base"`
	SoldMTBase uint64 `json:"sold_mt_base"`
	// CommitFeeBps is the fee paid on top of every commit; the fees paid
	// so far went to the treasury and the issuer.
	CommitFeeBps          uint32 `json:"commit_fee_bps"`
	FeesTreasuryFlockBase uint64 `json:"fees_treasury_flock_base"`
	FeesIssuerFlockBase   uint64 `json:"fees_issuer_flock_base"`
	// PriceStart, PriceNow and PriceEnd are the curve's marginal prices
	// in flock per MT: at the start, at what is sold, at the sold-out end.
	PriceStart string `json:"price_start"`
	PriceNow   string `json:"price_now"`
	PriceEnd   string `json:"price_end"`
	// WindowStart and WindowEnd bound the raise in block time.
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Commits counts the commits (the first buy included); Positions the
	// accounts that hold a position.
	Commits      uint64 `json:"commits"`
	Positions    int    `json:"positions"`
	LaunchHeight int64  `json:"launch_height"`
	// BlockTime is the time of the last block, at which State is read.
	BlockTime time.Time `json:"block_time"`
	// FirstBuy is the issuer's first buy at launch, if any.
	FirstBuy   *OfferingFirstBuy   `json:"first_buy,omitempty"`
	Graduation *OfferingGraduation `json:"graduation,omitempty"`
}

// OfferingFirstBuy is the issuer's first buy at launch.
type OfferingFirstBuy struct {
	MTBase             uint64 `json:"mt_base"`
	PrincipalFlockBase uint64 `json:"principal_flock_base"`
}

// OfferingGraduation is what graduating an offering minted and paid.
type OfferingGraduation struct {
	Height int64     `json:"height"`
	Time   time.Time `json:"time"`
	// MintedMTBase is the MT minted: buyers, liquidity, incentives, the
	// issuer's vesting and the treasury (the unsold part of the sale is
	// never minted).
	MintedMTBase     uint64 `json:"minted_mt_base"`
	BuyersMTBase     uint64 `json:"buyers_mt_base"`
	LiquidityMTBase  uint64 `json:"liquidity_mt_base"`
	IncentivesMTBase uint64 `json:"incentives_mt_base"`
	IssuerMTBase     uint64 `json:"issuer_mt_base"`
	TreasuryMTBase   uint64 `json:"treasury_mt_base"`
	// The raise's split: the MT/FLOCK pool's seed, the model's reserved
	// FLOCK and the issuer's hosting share.
	RaisePoolFlockBase     uint64 `json:"raise_pool_flock_base"`
	RaiseReservedFlockBase uint64 `json:"raise_reserved_flock_base"`
	RaiseIssuerFlockBase   uint64 `json:"raise_issuer_flock_base"`
	// Pool is the id of the model's MT/FLOCK pool.
	Pool string `json:"pool"`
}

// Pool is the body of GET /api/v1/pools/{id} and an item of GET
// /api/v1/pools: a protocol-owned constant-product pool (DESIGN §9.4).
// Its id is the denom of its asset A: "flock" for FLOCK/usd, "mt:<model>"
// for a model's MT/FLOCK pool.
type Pool struct {
	ID     string `json:"id"`
	DenomA string `json:"denom_a"`
	DenomB string `json:"denom_b"`
	// Model is the model of an MT/FLOCK pool.
	Model        string `json:"model,omitempty"`
	ReserveABase uint64 `json:"reserve_a_base"`
	ReserveBBase uint64 `json:"reserve_b_base"`
	// FeeBps is the swap fee, kept in the reserves.
	FeeBps uint32 `json:"fee_bps"`
	// Price is the spot price of A in B (ReserveB ÷ ReserveA), fee excluded.
	Price        string `json:"price"`
	SeededHeight int64  `json:"seeded_height"`
}

// DenomSupply is an item of GET /api/v1/supply: what entered and left the
// chain for one denom. Circulating is what the chain holds: minted −
// burned − withdrawn.
type DenomSupply struct {
	Denom           string `json:"denom"`
	MintedBase      uint64 `json:"minted_base"`
	BurnedBase      uint64 `json:"burned_base"`
	WithdrawnBase   uint64 `json:"withdrawn_base"`
	CirculatingBase uint64 `json:"circulating_base"`
}

// Balance is an amount of one denom.
type Balance struct {
	Denom      string `json:"denom"`
	AmountBase uint64 `json:"amount_base"`
}

// Treasury is the body of GET /api/v1/treasury: the balances of the
// treasury account, in denom order.
type Treasury struct {
	Account  string    `json:"account"`
	Balances []Balance `json:"balances"`
}

// Reserves is the body of GET /api/v1/reserves: the usd held for buybacks
// and carried over from epoch to epoch (DESIGN §9.4), the protocol's FLOCK
// buyback reserve and each model's MT buyback reserve.
type Reserves struct {
	FlockBuybackUSDBase uint64         `json:"flock_buyback_usd_base"`
	Models              []ModelReserve `json:"models"`
}

// ModelReserve is a model's MT buyback reserve.
type ModelReserve struct {
	Model            string `json:"model"`
	MTBuybackUSDBase uint64 `json:"mt_buyback_usd_base"`
}

// chainRMO is an offering as the chain answers /rmo/<model>.
type chainRMO struct {
	ledger.RMO
	Outcome     string `json:"outcome"`
	Positions   int    `json:"positions"`
	BlockTimeMs int64  `json:"block_time_ms"`
}

// chainReserves is the chain's answer to /reserves.
type chainReserves struct {
	FlockUSD uint64            `json:"flock_usd"`
	MTUSD    map[string]uint64 `json:"mt_usd"`
}

// econRoutes serves the offerings, pools, supply, treasury and buyback
// reserves read from the chain.
func (s *Server) econRoutes() {
	s.mux.HandleFunc("GET /api/v1/rmos", func(w http.ResponseWriter, r *http.Request) {
		var rs []chainRMO
		if s.chainGet(w, r, "/rmos", "", &rs) {
			out := make([]Offering, 0, len(rs))
			for _, x := range rs {
				out = append(out, offering(x))
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
	s.mux.HandleFunc("GET /api/v1/rmos/{model}", func(w http.ResponseWriter, r *http.Request) {
		m := r.PathValue("model")
		var x chainRMO
		if s.chainGet(w, r, "/rmo/"+url.PathEscape(m), "model "+m+" has no offering", &x) {
			writeJSON(w, http.StatusOK, offering(x))
		}
	})
	s.mux.HandleFunc("GET /api/v1/pools", func(w http.ResponseWriter, r *http.Request) {
		var ps []ledger.PoolState
		if s.chainGet(w, r, "/pools", "", &ps) {
			out := make([]Pool, 0, len(ps))
			for _, p := range ps {
				out = append(out, poolView(p))
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
	s.mux.HandleFunc("GET /api/v1/pools/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var p ledger.PoolState
		if s.chainGet(w, r, "/pool/"+url.PathEscape(id), "no pool "+id+` (pools are "flock" and "mt:<model>" for a graduated model)`, &p) {
			writeJSON(w, http.StatusOK, poolView(p))
		}
	})
	s.mux.HandleFunc("GET /api/v1/supply", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]ledger.Supply
		if s.chainGet(w, r, "/supply", "", &m) {
			out := make([]DenomSupply, 0, len(m))
			for _, d := range slices.Sorted(maps.Keys(m)) {
				x := m[d]
				out = append(out, DenomSupply{Denom: d, MintedBase: x.Minted, BurnedBase: x.Burned, WithdrawnBase: x.Withdrawn,
					CirculatingBase: x.Minted - min(x.Minted, x.Burned+x.Withdrawn)})
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
	s.mux.HandleFunc("GET /api/v1/treasury", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]uint64
		if s.chainGet(w, r, "/treasury", "", &m) {
			out := Treasury{Account: ledger.TreasuryAccount, Balances: []Balance{}}
			for _, d := range slices.Sorted(maps.Keys(m)) {
				out.Balances = append(out.Balances, Balance{Denom: d, AmountBase: m[d]})
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
	s.mux.HandleFunc("GET /api/v1/reserves", func(w http.ResponseWriter, r *http.Request) {
		var x chainReserves
		if s.chainGet(w, r, "/reserves", "", &x) {
			out := Reserves{FlockBuybackUSDBase: x.FlockUSD, Models: []ModelReserve{}}
			for _, m := range slices.Sorted(maps.Keys(x.MTUSD)) {
				out.Models = append(out.Models, ModelReserve{Model: m, MTBuybackUSDBase: x.MTUSD[m]})
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
}

// chainGet runs a chain query and decodes its answer into v; on failure it
// writes the error and returns false: a missing item is a 404 saying
// missing (or the chain's own words when missing is empty), any other
// error a 400 with the chain's words, as the other chain routes answer.
func (s *Server) chainGet(w http.ResponseWriter, r *http.Request, path, missing string, v any) bool {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	b, err := s.opts.Chain.Query(ctx, path)
	switch {
	case errors.Is(err, ErrNotFound):
		if missing == "" {
			missing = notFoundMessage(err)
		}
		writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "", "%s", missing))
		return false
	case err != nil:
		writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "%v", err))
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "the chain's answer to %s: %v", path, err))
		return false
	}
	return true
}

func offering(x chainRMO) Offering {
	o := Offering{
		Model: x.Model, Issuer: x.Issuer, Tier: x.Tier, State: x.Outcome, MTDenom: ledger.MTDenom(x.Model),
		RaiseMinFlockBase: x.Curve.RaiseMin, RaiseMaxFlockBase: x.Curve.RaiseMax,
		RaisedFlockBase: x.State.Raised, RedeemedFlockBase: x.Redeemed,
		SaleMTBase: x.Curve.Bucket, SoldMTBase: x.State.Sold,
		CommitFeeBps: x.Curve.FeeBps, FeesTreasuryFlockBase: x.FeeTreasury, FeesIssuerFlockBase: x.FeeIssuer,
		PriceStart: curvePrice(x.Curve, 0), PriceNow: curvePrice(x.Curve, x.State.Sold), PriceEnd: curvePrice(x.Curve, x.Curve.Bucket),
		WindowStart: time.UnixMilli(x.StartMs).UTC(), WindowEnd: time.UnixMilli(x.EndMs).UTC(),
		Commits: x.Commits, Positions: x.Positions, LaunchHeight: x.LaunchHeight,
		BlockTime: time.UnixMilli(x.BlockTimeMs).UTC(),
	}
	if x.Status == ledger.RMOGraduated {
		o.State = ledger.RMOGraduated
	}
	if f := x.FirstBuy; f != nil {
		o.FirstBuy = &OfferingFirstBuy{MTBase: f.Tokens, PrincipalFlockBase: f.Principal}
	}
	if g := x.Graduation; g != nil {
		o.Graduation = &OfferingGraduation{Height: x.GraduatedHeight, Time: time.UnixMilli(x.GraduatedMs).UTC(),
			MintedMTBase: g.Minted, BuyersMTBase: g.Buyers, LiquidityMTBase: g.Liquidity, IncentivesMTBase: g.Incentives,
			IssuerMTBase: g.Issuer, TreasuryMTBase: g.Treasury, RaisePoolFlockBase: g.RaiseLiquidity,
			RaiseReservedFlockBase: g.RaiseReserved, RaiseIssuerFlockBase: g.RaiseIssuer, Pool: ledger.ModelPoolID(x.Model)}
	}
	return o
}

func poolView(p ledger.PoolState) Pool {
	return Pool{ID: p.ID, DenomA: p.DenomA, DenomB: p.DenomB, Model: p.Model, ReserveABase: p.Pool.ReserveA, ReserveBBase: p.Pool.ReserveB,
		FeeBps: p.Pool.FeeBps, Price: Ratio(new(big.Int).SetUint64(p.Pool.ReserveB), new(big.Int).SetUint64(p.Pool.ReserveA)),
		SeededHeight: p.SeededHeight}
}

// curvePrice is the curve's marginal price at sold, "" for a curve with
// no bucket.
func curvePrice(c econ.Curve, sold uint64) string {
	if c.Bucket == 0 {
		return ""
	}
	return Ratio(c.PriceAt(sold))
}

// Ratio writes num ÷ den as a decimal with PriceDecimals digits after the
// point, floored; "" when den is zero.
func Ratio(num, den *big.Int) string {
	if den.Sign() == 0 {
		return ""
	}
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(PriceDecimals), nil)
	q := new(big.Int).Quo(new(big.Int).Mul(num, scale), den)
	whole, frac := new(big.Int).QuoRem(q, scale, new(big.Int))
	f := frac.String()
	return whole.String() + "." + strings.Repeat("0", PriceDecimals-len(f)) + f
}
