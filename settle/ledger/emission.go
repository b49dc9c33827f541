package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fomonet/fomo/settle/econ"
)

// The §9.7 emissions at epoch close. They run only on a network whose
// genesis funds an emission reserve (Economics.EmissionReserveFlock > 0):
// elsewhere nothing below is read or written, and every settlement stays
// as it was.
//
// State:
//
//	/emission/reserve         uint64 FLOCK of the emission reserve
//	/emission/budget          uint64 FLOCK budget of the last closed epoch
//	/emission/release/<model> ModelRelease (what the gated pools released)
//	/emission/born/<model>    uint64 block time of a model's registration

const (
	kEmReserve = "/emission/reserve"
	kEmBudget  = "/emission/budget"
	pEmRelease = "/emission/release/"
	pEmBorn    = "/emission/born/"
)

// ModelRelease tracks a graduated model's stake-gated pools: what the
// linear release has let out of the escrow's graduation totals, and what of
// that was not paid (the carry-over, still held in the escrow).
type ModelRelease struct {
	FlockReleased uint64 `json:"flock_released"`
	MTReleased    uint64 `json:"mt_released"`
	FlockCarry    uint64 `json:"flock_carry"`
	MTCarry       uint64 `json:"mt_carry"`
}

// EpochEmissions is the §9.7 section of an epoch's settlement.
// ReserveBefore − ReserveAfter == Paid: what a model or its users did not
// take (capped, dust, unallocated) stays in the reserve.
type EpochEmissions struct {
	// Budget is E(e): the first epoch's budget, then the previous one's ×
	// retention, bounded by the reserve.
	Budget        uint64 `json:"budget"`
	ReserveBefore uint64 `json:"reserve_before"`
	ReserveAfter  uint64 `json:"reserve_after"`
	// PriceNum/PriceDen is the FLOCK/usd pool price (usd base units per
	// FLOCK base unit) the cap is taken at; NoPrice means no pool or an
	// empty one: nothing is allocated and the budget stays in the reserve.
	PriceNum uint64 `json:"price_num,omitempty"`
	PriceDen uint64 `json:"price_den,omitempty"`
	NoPrice  bool   `json:"no_price,omitempty"`
	// Allocation is the cross-model split of the budget.
	Allocation *econ.EmissionAllocation `json:"allocation,omitempty"`
	// Models are the per-model rewards of the models paid an amount.
	Models []ModelRewards `json:"models"`
	// Gated are the releases of the stake-gated pools, by model.
	Gated []GatedRelease `json:"gated"`
	// Paid is the FLOCK credited out of the reserve (issuers and users).
	Paid uint64 `json:"paid"`
}

// ModelRewards is one model's emission split.
type ModelRewards struct {
	Model string `json:"model"`
	// IssuerID is the model's issuer, credited the Issuer bonus.
	IssuerID string `json:"issuer_id"`
	econ.ModelRewards
}

// GatedRelease is one model's stake-gated releases in an epoch: the
// reserved FLOCK and the MT incentives, each shared by incentive_score.
type GatedRelease struct {
	Model string          `json:"model"`
	Flock econ.GatedSplit `json:"flock"`
	MT    econ.GatedSplit `json:"mt"`
}

// EmissionReserve returns the FLOCK left in the emission reserve.
func (l *Ledger) EmissionReserve(ctx context.Context) (uint64, error) {
	return l.reader(ctx).getU64(kEmReserve)
}

// ModelRelease returns what a model's stake-gated pools have released and
// carry over.
func (l *Ledger) ModelRelease(ctx context.Context, model string) (ModelRelease, bool, error) {
	return getOpt[ModelRelease](ctx, l, pEmRelease+model)
}

// emissionsOn reports whether the network has emissions.
func (g *Genesis) emissionsOn() bool { return g.Economics.EmissionReserveFlock > 0 }

// EmissionParams returns the §9.7 parameters of the genesis, the retention
// from the half-life and the epoch length.
func (g *Genesis) EmissionParams() (econ.EmissionParams, error) {
	e := g.Economics
	num, den, err := econ.RetentionForHalfLife(g.EpochMs, e.EmissionHalfLifeMs)
	if err != nil {
		return econ.EmissionParams{}, err
	}
	p := econ.EmissionParams{
		RetentionNum: num, RetentionDen: den,
		AgeWindowMs: e.AgeHorizonMs, AgeFloorBps: e.AgeFloorBps,
		CapRatioBps: e.EmissionCapBps, IssuerBonusBps: e.IssuerBonusBps,
		Alpha:     econ.FixedOne / 10_000 * uint64(e.AlphaBps),
		ReleaseMs: e.IncentiveReleaseMs,
	}
	return p, p.Validate()
}

// FirstEmissionBudget is E(1): EmissionFirstEpochFlock when set, else
// reserve × (1 − retention), so that the geometric series of budgets sums
// to the reserve (ours).
func (g *Genesis) FirstEmissionBudget(p econ.EmissionParams) uint64 {
	if v := g.Economics.EmissionFirstEpochFlock; v > 0 {
		return v
	}
	r := g.Economics.EmissionReserveFlock
	kept, _ := econ.MulDiv(r, p.RetentionNum, p.RetentionDen)
	if r-kept == 0 {
		return r
	}
	return r - kept
}

// emissions runs the §9.7 step of epoch e's close, after the split and
// the buybacks. usage is the epoch's paid charges per model and account
// (accounts, not session keys); models the epoch's model settlements.
func (l *Ledger) emissions(e uint64, b Block, models []ModelSettlement, usage map[string]map[string]uint64) (*EpochEmissions, error) {
	p, err := l.gen.EmissionParams()
	if err != nil {
		return nil, fmt.Errorf("ledger: emissions: %w", err)
	}
	reserve, err := l.s.getU64(kEmReserve)
	if err != nil {
		return nil, err
	}
	out := &EpochEmissions{ReserveBefore: reserve, Models: []ModelRewards{}, Gated: []GatedRelease{}}
	budget, err := l.nextBudget(&l.s, p)
	if err != nil {
		return nil, err
	}
	// Kept when it has decayed to zero: an absent budget means the first
	// epoch's.
	l.s.putU64Kept(kEmBudget, budget)
	out.Budget = min(budget, reserve)

	// participants builds the list of a model's accounts with usage or stake.
	// It is built once per model and close: the emission split and the
	// gated release share it.
	built := map[string][]econ.Participant{}
	participants := func(model string) ([]econ.Participant, error) {
		if ps, ok := built[model]; ok {
			return ps, nil
		}
		snap, err := stakeSnapshot(&l.s, e, model)
		if err != nil {
			return nil, err
		}
		byAcct := map[string]*econ.Participant{}
		for a, u := range usage[model] {
			byAcct[a] = &econ.Participant{Account: a, Usage: u}
		}
		for _, s := range snap.Accounts {
			if x, ok := byAcct[s.Account]; ok {
				x.Stake = s.Amount
			} else {
				byAcct[s.Account] = &econ.Participant{Account: s.Account, Stake: s.Amount}
			}
		}
		ps := make([]econ.Participant, 0, len(byAcct))
		for _, x := range byAcct {
			ps = append(ps, *x)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].Account < ps[j].Account })
		built[model] = ps
		return ps, nil
	}

	// The FLOCK/usd price after the buybacks.
	fp, hasPool, err := l.pool(PoolFlockUSD)
	if err != nil {
		return nil, err
	}
	if !hasPool || fp.Pool.ReserveA == 0 || fp.Pool.ReserveB == 0 {
		out.NoPrice = true
	} else {
		out.PriceNum, out.PriceDen = fp.Pool.ReserveB, fp.Pool.ReserveA
	}
	if !out.NoPrice && out.Budget > 0 {
		// Every registered model takes part: one without paid usage has
		// zero weight and is listed with zero.
		gross := map[string]uint64{}
		for _, ms := range models {
			gross[ms.Model] = ms.Split.Gross
		}
		ments, err := l.s.scan(pModel)
		if err != nil {
			return nil, err
		}
		acts := make([]econ.ModelActivity, 0, len(ments))
		issuers := map[string]string{}
		for _, en := range ments {
			var m Model
			if err := jsonUnmarshal(en.val, &m); err != nil {
				return nil, err
			}
			issuers[m.Name] = m.Issuer
			born, err := l.modelBornMs(m.Name)
			if err != nil {
				return nil, err
			}
			acts = append(acts, econ.ModelActivity{Model: m.Name, Gross: gross[m.Name], AgeMs: b.TimeMs - born})
		}
		alloc, err := econ.AllocateEmissions(out.Budget, acts, p, out.PriceNum, out.PriceDen)
		if err != nil {
			return nil, fmt.Errorf("ledger: emissions: %w", err)
		}
		out.Allocation = &alloc
		for _, me := range alloc.Models {
			if me.Amount == 0 {
				continue
			}
			ps, err := participants(me.Model)
			if err != nil {
				return nil, err
			}
			mr, err := econ.SplitModelEmission(me.Amount, ps, p)
			if err != nil {
				return nil, fmt.Errorf("ledger: emissions of %s: %w", me.Model, err)
			}
			rec := ModelRewards{Model: me.Model, IssuerID: issuers[me.Model], ModelRewards: mr}
			if ok, err := l.creditReward(rec.IssuerID, DenomFlock, mr.Issuer); err != nil {
				return nil, err
			} else if !ok {
				rec.Unallocated += rec.Issuer // returns to the reserve
				rec.Issuer = 0
			}
			out.Paid += rec.Issuer
			for i := range rec.Users {
				u := &rec.Users[i]
				if ok, err := l.creditReward(u.Account, DenomFlock, u.Amount); err != nil {
					return nil, err
				} else if !ok {
					rec.Unallocated += u.Amount // returns to the reserve
					u.Amount = 0
				}
				out.Paid += u.Amount
			}
			out.Models = append(out.Models, rec)
		}
	}
	out.ReserveAfter = reserve - out.Paid // Paid ≤ budget ≤ reserve
	l.s.putU64(kEmReserve, out.ReserveAfter)

	// The stake-gated pools of every graduated model.
	ents, err := l.s.scan(pMEscrow)
	if err != nil {
		return nil, err
	}
	for _, en := range ents {
		model := strings.TrimPrefix(en.key, pMEscrow)
		g, err := l.gatedRelease(model, b, p, participants)
		if err != nil {
			return nil, err
		}
		if g != nil {
			out.Gated = append(out.Gated, *g)
		}
	}
	l.indexRewards(e, out)
	return out, nil
}

// nextBudget is the budget of the next epoch to close, before it is
// bounded by the reserve: the first epoch's, then the last one's ×
// retention.
func (l *Ledger) nextBudget(r *kv, p econ.EmissionParams) (uint64, error) {
	pv, ok, err := r.lookupU64(kEmBudget)
	if err != nil || !ok {
		return l.gen.FirstEmissionBudget(p), err
	}
	return econ.EmissionBudget(pv, p.RetentionNum, p.RetentionDen)
}

// modelBornMs is when a model's age starts: its graduation, else its
// registration (recorded on networks with emissions), else the genesis
// (a genesis model).
func (l *Ledger) modelBornMs(model string) (int64, error) {
	r, ok, err := l.rmo(model)
	if err != nil {
		return 0, err
	}
	if ok && r.Status == RMOGraduated {
		return r.GraduatedMs, nil
	}
	t, ok, err := l.s.lookupU64(pEmBorn + model)
	if err != nil || !ok {
		return l.gen.GenesisTimeMs, err
	}
	return int64(t), nil
}

// gatedRelease releases what is due of a model's stake-gated pools and
// shares it, with the carry-over, by incentive_score; what is not paid
// stays in the escrow as the next carry-over.
func (l *Ledger) gatedRelease(model string, b Block, p econ.EmissionParams, participants func(string) ([]econ.Participant, error)) (*GatedRelease, error) {
	r, ok, err := l.rmo(model)
	if err != nil || !ok || r.Status != RMOGraduated || r.Graduation == nil {
		return nil, err
	}
	var esc ModelEscrow
	if err := l.s.getJSON(pMEscrow+model, &esc); err != nil {
		return nil, err
	}
	rel, _, err := lookupJSON[ModelRelease](&l.s, pEmRelease+model)
	if err != nil {
		return nil, err
	}
	dueF, err := econ.Claimable(r.Graduation.RaiseReserved, rel.FlockReleased, r.GraduatedMs, b.TimeMs, p.ReleaseMs)
	if err != nil {
		return nil, err
	}
	dueM, err := econ.Claimable(r.Graduation.Incentives, rel.MTReleased, r.GraduatedMs, b.TimeMs, p.ReleaseMs)
	if err != nil {
		return nil, err
	}
	if dueF == 0 && dueM == 0 && rel.FlockCarry == 0 && rel.MTCarry == 0 {
		return nil, nil
	}
	ps, err := participants(model)
	if err != nil {
		return nil, err
	}
	out := &GatedRelease{Model: model}
	if out.Flock, err = econ.SplitGated(dueF, rel.FlockCarry, ps); err != nil {
		return nil, err
	}
	if out.MT, err = econ.SplitGated(dueM, rel.MTCarry, ps); err != nil {
		return nil, err
	}
	pay := func(denom string, s *econ.GatedSplit, held *uint64) error {
		for i := range s.Users {
			u := &s.Users[i]
			if u.Amount > *held { // the escrow holds every release: unreachable
				return errors.New("ledger: gated release above the escrow")
			}
			ok, err := l.creditReward(u.Account, denom, u.Amount)
			if err != nil {
				return err
			}
			if ok {
				*held -= u.Amount
			} else {
				s.Carry += u.Amount // stays in the escrow
				u.Amount = 0
			}
		}
		return nil
	}
	if err := pay(DenomFlock, &out.Flock, &esc.ReservedFlock); err != nil {
		return nil, err
	}
	if err := pay(MTDenom(model), &out.MT, &esc.IncentivesMT); err != nil {
		return nil, err
	}
	rel.FlockReleased += dueF
	rel.MTReleased += dueM
	rel.FlockCarry, rel.MTCarry = out.Flock.Carry, out.MT.Carry
	l.s.putJSON(pEmRelease+model, rel)
	l.s.putJSON(pMEscrow+model, esc)
	return out, nil
}

// creditReward credits a reward; it reports false, crediting nothing, when
// the balance would overflow or there is no recipient (the reward then
// stays where it was held).
func (l *Ledger) creditReward(id, denom string, amount uint64) (bool, error) {
	if amount == 0 || id == "" {
		return amount == 0, nil
	}
	err := l.credit(id, denom, amount)
	var te *txErr
	if errors.As(err, &te) {
		return false, nil
	}
	return err == nil, err
}
