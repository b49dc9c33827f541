package api

import (
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// Rewards is the body of GET /api/v1/accounts/{id}/rewards: what an
// account was credited by the emissions (DESIGN §9.7), epoch by epoch in
// ascending order from ?from= on (at most ?limit=, 100 by default and at
// most), and its totals over every closed epoch. A session key reads its
// account's rewards; an account never credited has an empty list.
type Rewards struct {
	Account string         `json:"account"`
	Epochs  []EpochRewards `json:"epochs"`
	// Next is the from of the next page; 0 when this page is the last.
	Next uint64 `json:"next,omitempty"`
	// Totals are per denom (flock, mt:<model>), in denom order.
	Totals []Balance `json:"totals"`
}

// EpochRewards is what an account was credited in one epoch, by model.
type EpochRewards struct {
	Epoch  uint64        `json:"epoch"`
	Models []ModelReward `json:"models"`
}

// ModelReward is what an account was credited on one model in an epoch:
// its part of the model's emission as a user (by global_score), the
// issuer bonus when it is the model's issuer, and its parts of the
// stake-gated pools (by incentive_score) in flock and in the model's MT.
type ModelReward struct {
	Model           string `json:"model"`
	MTDenom         string `json:"mt_denom"`
	UserFlockBase   uint64 `json:"user_flock_base"`
	IssuerFlockBase uint64 `json:"issuer_flock_base"`
	GatedFlockBase  uint64 `json:"gated_flock_base"`
	GatedMTBase     uint64 `json:"gated_mt_base"`
}

// Emissions is the body of GET /api/v1/emissions: the emission reserve,
// the budget of the next epoch to close, and the emissions of closed
// epochs in ascending order from ?from= on (at most ?limit=). Enabled is
// false on a network whose genesis funds no emission reserve.
type Emissions struct {
	Enabled             bool            `json:"enabled"`
	ReserveFlockBase    uint64          `json:"reserve_flock_base"`
	NextEpoch           uint64          `json:"next_epoch"`
	NextBudgetFlockBase uint64          `json:"next_budget_flock_base"`
	Epochs              []EpochEmission `json:"epochs"`
	// Next is the from of the next page; 0 when this page is the last.
	Next uint64 `json:"next,omitempty"`
}

// EpochEmission is one epoch's emissions: its budget, what was paid out
// of the reserve, what stayed in it (Kept, of which Capped by the
// anti-farming cap), the reserve after, and the FLOCK/usd price the cap
// was taken at ("" without a price: nothing was allocated).
type EpochEmission struct {
	Epoch                 uint64          `json:"epoch"`
	BudgetFlockBase       uint64          `json:"budget_flock_base"`
	PaidFlockBase         uint64          `json:"paid_flock_base"`
	KeptFlockBase         uint64          `json:"kept_flock_base"`
	CappedFlockBase       uint64          `json:"capped_flock_base"`
	ReserveAfterFlockBase uint64          `json:"reserve_after_flock_base"`
	FlockPrice            string          `json:"flock_price"`
	Models                []ModelEmission `json:"models"`
	Gated                 []GatedEmission `json:"gated"`
}

// ModelEmission is one model's part of an epoch's budget: its gross
// usage, age factor and weight (gross × age factor, in usd base units),
// its share of the budget, the cap and what it held back, and what was
// paid to the issuer and the users.
type ModelEmission struct {
	Model           string `json:"model"`
	GrossUSDBase    uint64 `json:"gross_usd_base"`
	AgeFactor       string `json:"age_factor"`
	Weight          string `json:"weight"`
	ShareFlockBase  uint64 `json:"share_flock_base"`
	CapFlockBase    uint64 `json:"cap_flock_base"`
	CappedFlockBase uint64 `json:"capped_flock_base"`
	PaidFlockBase   uint64 `json:"paid_flock_base"`
	IssuerFlockBase uint64 `json:"issuer_flock_base"`
	UsersFlockBase  uint64 `json:"users_flock_base"`
}

// GatedEmission is one model's stake-gated releases in an epoch: each
// pool's release, what was paid, and the carry-over to the next epoch.
type GatedEmission struct {
	Model             string `json:"model"`
	MTDenom           string `json:"mt_denom"`
	ReleasedFlockBase uint64 `json:"released_flock_base"`
	PaidFlockBase     uint64 `json:"paid_flock_base"`
	CarryFlockBase    uint64 `json:"carry_flock_base"`
	ReleasedMTBase    uint64 `json:"released_mt_base"`
	PaidMTBase        uint64 `json:"paid_mt_base"`
	CarryMTBase       uint64 `json:"carry_mt_base"`
}

// rewardRoutes serves the rewards and emissions read from the chain.
func (s *Server) rewardRoutes() {
	s.mux.HandleFunc("GET /api/v1/accounts/{id}/rewards", func(w http.ResponseWriter, r *http.Request) {
		q, ok := pageQuery(w, r)
		if !ok {
			return
		}
		var p ledger.RewardsPage
		if s.chainGet(w, r, "/rewards/"+url.PathEscape(r.PathValue("id"))+q, "", &p) {
			writeJSON(w, http.StatusOK, rewardsView(p))
		}
	})
	s.mux.HandleFunc("GET /api/v1/emissions", func(w http.ResponseWriter, r *http.Request) {
		q, ok := pageQuery(w, r)
		if !ok {
			return
		}
		var o ledger.EmissionsOverview
		if s.chainGet(w, r, "/emissions"+q, "", &o) {
			writeJSON(w, http.StatusOK, emissionsView(o))
		}
	})
}

// pageQuery checks the from= and limit= of a paged route and returns them
// as the chain's query string; it answers 400 naming a bad one.
func pageQuery(w http.ResponseWriter, r *http.Request) (string, bool) {
	q := url.Values{}
	if v := r.URL.Query().Get("from"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "from", "from %q is not an epoch number", v))
			return "", false
		}
		q.Set("from", v)
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "limit", "limit %q is not a positive number", v))
			return "", false
		}
		q.Set("limit", v)
	}
	if len(q) == 0 {
		return "", true
	}
	return "?" + q.Encode(), true
}

func rewardsView(p ledger.RewardsPage) Rewards {
	out := Rewards{Account: p.Account, Epochs: make([]EpochRewards, 0, len(p.Epochs)), Next: p.Next, Totals: make([]Balance, 0, len(p.Totals))}
	for _, e := range p.Epochs {
		er := EpochRewards{Epoch: e.Epoch, Models: make([]ModelReward, 0, len(e.Models))}
		for _, m := range e.Models {
			er.Models = append(er.Models, ModelReward{Model: m.Model, MTDenom: ledger.MTDenom(m.Model), UserFlockBase: m.User,
				IssuerFlockBase: m.Issuer, GatedFlockBase: m.GatedFlock, GatedMTBase: m.GatedMT})
		}
		out.Epochs = append(out.Epochs, er)
	}
	for _, d := range slices.Sorted(maps.Keys(p.Totals)) {
		out.Totals = append(out.Totals, Balance{Denom: d, AmountBase: p.Totals[d]})
	}
	return out
}

func emissionsView(o ledger.EmissionsOverview) Emissions {
	out := Emissions{Enabled: o.Enabled, ReserveFlockBase: o.Reserve, NextEpoch: o.NextEpoch, NextBudgetFlockBase: o.NextBudget,
		Epochs: make([]EpochEmission, 0, len(o.Epochs)), Next: o.Next}
	one := new(big.Int).SetUint64(econ.FixedOne)
	for _, e := range o.Epochs {
		ee := EpochEmission{Epoch: e.Epoch, BudgetFlockBase: e.Budget, PaidFlockBase: e.Paid, KeptFlockBase: e.Kept, CappedFlockBase: e.Capped,
			ReserveAfterFlockBase: e.ReserveAfter, Models: make([]ModelEmission, 0, len(e.Models)), Gated: make([]GatedEmission, 0, len(e.Gated))}
		if !e.NoPrice {
			ee.FlockPrice = Ratio(new(big.Int).SetUint64(e.PriceNum), new(big.Int).SetUint64(e.PriceDen))
		}
		for _, m := range e.Models {
			me := ModelEmission{Model: m.Model, GrossUSDBase: m.Gross, AgeFactor: Ratio(new(big.Int).SetUint64(m.AgeFactor), one),
				ShareFlockBase: m.Share, CapFlockBase: m.Cap, CappedFlockBase: m.Capped, PaidFlockBase: m.Paid,
				IssuerFlockBase: m.Issuer, UsersFlockBase: m.Users}
			if weight, ok := new(big.Int).SetString(m.Weight, 10); ok {
				me.Weight = Ratio(weight, one)
			}
			ee.Models = append(ee.Models, me)
		}
		for _, g := range e.Gated {
			ee.Gated = append(ee.Gated, GatedEmission{Model: g.Model, MTDenom: ledger.MTDenom(g.Model),
				ReleasedFlockBase: g.Flock.Released, PaidFlockBase: g.Flock.Paid, CarryFlockBase: g.Flock.Carry,
				ReleasedMTBase: g.MT.Released, PaidMTBase: g.MT.Paid, CarryMTBase: g.MT.Carry})
		}
		out.Epochs = append(out.Epochs, ee)
	}
	return out
}
