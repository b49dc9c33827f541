package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The rewards index: what each account earned from the §9.7 emissions,
// written at epoch close from the epoch's EpochEmissions, so that one
// account's rewards are read without scanning every settlement. Records
// are written only for accounts credited a non-zero amount, only on a
// network with emissions, and never pruned.
//
// State:
//
//	/rewards/<account>/<epoch>  EpochRewards (the account's rewards of a closed epoch)

const pRewards = "/rewards/"

// ModelReward is what one account was credited on one model in one
// epoch. Every amount is in base units: User, Issuer and GatedFlock in
// flock, GatedMT in the model's MT (MTDenom(Model)).
type ModelReward struct {
	Model string `json:"model"`
	// User is the account's part of the model's emission, by global_score.
	User uint64 `json:"user,omitempty"`
	// Issuer is the issuer bonus, paid to the model's issuer.
	Issuer uint64 `json:"issuer,omitempty"`
	// GatedFlock and GatedMT are the account's parts of the model's
	// stake-gated pools (reserved FLOCK, MT incentives), by incentive_score.
	GatedFlock uint64 `json:"gated_flock,omitempty"`
	GatedMT    uint64 `json:"gated_mt,omitempty"`
}

// EpochRewards is one account's rewards in one closed epoch, by model
// name.
type EpochRewards struct {
	Epoch  uint64        `json:"epoch"`
	Models []ModelReward `json:"models"`
}

// RewardsPage is an account's rewards: the closed epochs in which it was
// credited any, in ascending epoch order from a first epoch on, and its
// totals over every closed epoch.
type RewardsPage struct {
	// Account is the account the rewards were credited to (a session key's
	// account when a session key was asked for).
	Account string         `json:"account"`
	Epochs  []EpochRewards `json:"epochs"`
	// Next is the first epoch of the next page; 0 when this page is the
	// last.
	Next uint64 `json:"next,omitempty"`
	// Totals is the sum of every reward of the account, per denom (flock,
	// mt:<model>), whatever the page.
	Totals map[string]uint64 `json:"totals"`
}

// ErrBadPage is returned by the paged queries for a limit that is not
// positive.
var ErrBadPage = errors.New("ledger: the page limit must be positive")

// indexRewards writes the rewards index of epoch e from its emissions.
func (l *Ledger) indexRewards(e uint64, em *EpochEmissions) {
	by := map[string]map[string]*ModelReward{}
	at := func(account, model string) *ModelReward {
		ms := by[account]
		if ms == nil {
			ms = map[string]*ModelReward{}
			by[account] = ms
		}
		r := ms[model]
		if r == nil {
			r = &ModelReward{Model: model}
			ms[model] = r
		}
		return r
	}
	// Each amount is at most the epoch's budget or a pool's release: the
	// sums below cannot overflow.
	for _, m := range em.Models {
		if m.Issuer > 0 {
			at(m.IssuerID, m.Model).Issuer += m.Issuer
		}
		for _, u := range m.Users {
			if u.Amount > 0 {
				at(u.Account, m.Model).User += u.Amount
			}
		}
	}
	for _, g := range em.Gated {
		for _, u := range g.Flock.Users {
			if u.Amount > 0 {
				at(u.Account, g.Model).GatedFlock += u.Amount
			}
		}
		for _, u := range g.MT.Users {
			if u.Amount > 0 {
				at(u.Account, g.Model).GatedMT += u.Amount
			}
		}
	}
	for _, a := range sortedKeys(by) {
		ms := by[a]
		rec := EpochRewards{Epoch: e, Models: make([]ModelReward, 0, len(ms))}
		for _, m := range sortedKeys(ms) {
			rec.Models = append(rec.Models, *ms[m])
		}
		l.s.putJSON(pRewards+a+"/"+epochKey(e), rec)
	}
}

// Rewards returns an account's rewards from the emissions: the closed
// epochs from from on in which it was credited any, oldest first, at most
// limit of them, and its totals over every closed epoch. A session key
// reads its account's rewards; an account never credited has none. It
// reads the account's index only, not the settlements.
func (l *Ledger) Rewards(ctx context.Context, account string, from uint64, limit int) (RewardsPage, error) {
	if !validName(account) {
		return RewardsPage{}, fmt.Errorf("ledger: bad account %q", account)
	}
	if limit <= 0 {
		return RewardsPage{}, ErrBadPage
	}
	r := l.reader(ctx)
	account, err := l.rollUp(r, account)
	if err != nil {
		return RewardsPage{}, err
	}
	out := RewardsPage{Account: account, Epochs: []EpochRewards{}, Totals: map[string]uint64{}}
	prefix := pRewards + account + "/"
	ents, err := r.scan(prefix)
	if err != nil {
		return RewardsPage{}, err
	}
	add := func(denom string, v uint64) error {
		if v == 0 {
			return nil
		}
		n, ok := addOK(out.Totals[denom], v)
		if !ok {
			return fmt.Errorf("ledger: rewards of %s: %s total overflows", account, denom)
		}
		out.Totals[denom] = n
		return nil
	}
	for _, en := range ents {
		e, err := strconv.ParseUint(strings.TrimPrefix(en.key, prefix), 10, 64)
		if err != nil {
			return RewardsPage{}, fmt.Errorf("ledger: bad rewards key %s", en.key)
		}
		var rec EpochRewards
		if err := jsonUnmarshal(en.val, &rec); err != nil {
			return RewardsPage{}, err
		}
		for _, m := range rec.Models {
			err := errors.Join(add(DenomFlock, m.User), add(DenomFlock, m.Issuer), add(DenomFlock, m.GatedFlock), add(MTDenom(m.Model), m.GatedMT))
			if err != nil {
				return RewardsPage{}, err
			}
		}
		switch {
		case e < from:
		case len(out.Epochs) < limit:
			out.Epochs = append(out.Epochs, rec)
		case out.Next == 0:
			out.Next = e
		}
	}
	return out, nil
}

// EmissionsOverview is the §9.7 emissions as the queries report them:
// the reserve and the next budget now, and a page of closed epochs with
// what each emitted.
type EmissionsOverview struct {
	// Enabled is false on a network whose genesis funds no emission
	// reserve; nothing else is set then.
	Enabled bool `json:"enabled"`
	// Reserve is the FLOCK left in the emission reserve; NextBudget the
	// budget of NextEpoch, the next epoch to close (E(e) bounded by the
	// reserve).
	Reserve    uint64 `json:"reserve"`
	NextEpoch  uint64 `json:"next_epoch"`
	NextBudget uint64 `json:"next_budget"`
	// Epochs are the closed epochs from the page's first on, oldest first.
	Epochs []EpochEmissionSummary `json:"epochs"`
	// Next is the first epoch of the next page; 0 when this page is the
	// last.
	Next uint64 `json:"next,omitempty"`
}

// EpochEmissionSummary is an epoch's emissions without the per-account
// lists. Budget == Paid + Kept; Capped is the part of Kept that the
// anti-farming cap held back (the rest: the split's dust, a model's user
// part nobody could take, the whole budget without a price or usage).
type EpochEmissionSummary struct {
	Epoch         uint64 `json:"epoch"`
	Budget        uint64 `json:"budget"`
	Paid          uint64 `json:"paid"`
	Capped        uint64 `json:"capped"`
	Kept          uint64 `json:"kept"`
	ReserveBefore uint64 `json:"reserve_before"`
	ReserveAfter  uint64 `json:"reserve_after"`
	// PriceNum/PriceDen is the FLOCK/usd price the cap was taken at;
	// NoPrice means there was none and nothing was allocated.
	PriceNum uint64 `json:"price_num,omitempty"`
	PriceDen uint64 `json:"price_den,omitempty"`
	NoPrice  bool   `json:"no_price,omitempty"`
	// Models lists every registered model of the allocation, by name (none
	// when nothing was allocated); Gated the stake-gated releases.
	Models []ModelEmissionSummary `json:"models"`
	Gated  []GatedSummary         `json:"gated"`
}

// ModelEmissionSummary is one model's part of an epoch's budget: its
// gross usage (usd) and weight, its share, the cap on it, and what was
// paid (Paid == Issuer + Users; Share − Capped − Paid returned to the
// reserve).
type ModelEmissionSummary struct {
	Model string `json:"model"`
	Gross uint64 `json:"gross"`
	// AgeFactor is 1e18 fixed point; Weight = Gross × AgeFactor (decimal).
	AgeFactor uint64 `json:"age_factor"`
	Weight    string `json:"weight"`
	Share     uint64 `json:"share"`
	Cap       uint64 `json:"cap"`
	Capped    uint64 `json:"capped"`
	Paid      uint64 `json:"paid"`
	Issuer    uint64 `json:"issuer"`
	Users     uint64 `json:"users"`
}

// GatedSummary is one model's stake-gated releases in an epoch.
type GatedSummary struct {
	Model string    `json:"model"`
	Flock GatedPool `json:"flock"`
	MT    GatedPool `json:"mt"`
}

// GatedPool is one stake-gated pool's release: Released + CarryIn ==
// Paid + Carry.
type GatedPool struct {
	Released uint64 `json:"released"`
	CarryIn  uint64 `json:"carry_in"`
	Paid     uint64 `json:"paid"`
	Carry    uint64 `json:"carry"`
}

// Emissions returns the emission reserve, the next epoch's budget and the
// emissions of the closed epochs from from on, oldest first, at most limit
// of them.
func (l *Ledger) Emissions(ctx context.Context, from uint64, limit int) (EmissionsOverview, error) {
	if limit <= 0 {
		return EmissionsOverview{}, ErrBadPage
	}
	out := EmissionsOverview{NextEpoch: l.NextEpoch(), Epochs: []EpochEmissionSummary{}}
	if !l.gen.emissionsOn() {
		return out, nil
	}
	out.Enabled = true
	r := l.reader(ctx)
	var err error
	if out.Reserve, err = r.getU64(kEmReserve); err != nil {
		return EmissionsOverview{}, err
	}
	p, err := l.gen.EmissionParams()
	if err != nil {
		return EmissionsOverview{}, err
	}
	if out.NextBudget, err = l.nextBudget(r, p); err != nil {
		return EmissionsOverview{}, err
	}
	out.NextBudget = min(out.NextBudget, out.Reserve)
	for e := from; e < out.NextEpoch; e++ {
		if len(out.Epochs) == limit {
			out.Next = e
			break
		}
		st, ok, err := lookupJSON[EpochSettlement](r, pEpoch+epochKey(e))
		if err != nil {
			return EmissionsOverview{}, err
		}
		if ok && st.Emissions != nil {
			out.Epochs = append(out.Epochs, summarize(st))
		}
	}
	return out, nil
}

// summarize is the summary of a settlement's emissions.
func summarize(st EpochSettlement) EpochEmissionSummary {
	em := st.Emissions
	s := EpochEmissionSummary{
		Epoch: st.Epoch, Budget: em.Budget, Paid: em.Paid, Kept: em.Budget - em.Paid,
		ReserveBefore: em.ReserveBefore, ReserveAfter: em.ReserveAfter,
		PriceNum: em.PriceNum, PriceDen: em.PriceDen, NoPrice: em.NoPrice,
		Models: []ModelEmissionSummary{}, Gated: make([]GatedSummary, 0, len(em.Gated)),
	}
	if a := em.Allocation; a != nil {
		s.Capped = a.Capped
		gross := map[string]uint64{}
		for _, m := range st.Models {
			gross[m.Model] = m.Split.Gross
		}
		paid := map[string]ModelRewards{}
		for _, m := range em.Models {
			paid[m.Model] = m
		}
		for _, me := range a.Models {
			ms := ModelEmissionSummary{Model: me.Model, Gross: gross[me.Model], AgeFactor: me.AgeFactor, Weight: me.Weight,
				Share: me.Share, Cap: me.Cap, Capped: me.Capped}
			if mr, ok := paid[me.Model]; ok {
				ms.Issuer = mr.Issuer
				for _, u := range mr.Users {
					ms.Users += u.Amount // ≤ the model's amount
				}
				ms.Paid = ms.Issuer + ms.Users
			}
			s.Models = append(s.Models, ms)
		}
	}
	for _, g := range em.Gated {
		s.Gated = append(s.Gated, GatedSummary{Model: g.Model,
			Flock: GatedPool{Released: g.Flock.Release, CarryIn: g.Flock.CarryIn, Paid: g.Flock.Release + g.Flock.CarryIn - g.Flock.Carry, Carry: g.Flock.Carry},
			MT:    GatedPool{Released: g.MT.Release, CarryIn: g.MT.CarryIn, Paid: g.MT.Release + g.MT.CarryIn - g.MT.Carry, Carry: g.MT.Carry},
		})
	}
	return s
}
