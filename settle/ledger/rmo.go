package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/fomonet/fomo/settle/econ"
)

// RMO statuses.
const (
	RMOOpen      = "open"
	RMOGraduated = "graduated"
)

// RMO is a model's offering (DESIGN §9.5): a raise of flock on the linear
// bonding curve over the sale bucket of its MT supply. While it is not
// graduated, the principal raised and not redeemed (Raised − Redeemed) is
// held in its escrow; fees went to the treasury and the issuer at commit.
type RMO struct {
	Model  string `json:"model"`
	Issuer string `json:"issuer"`
	Tier   string `json:"tier"`
	// Params are the offering parameters of the genesis at launch.
	Params econ.RMOParams  `json:"params"`
	Curve  econ.Curve      `json:"curve"`
	State  econ.CurveState `json:"state"`
	// StartMs and EndMs bound the raise window in block time; it is over
	// from the first block at or after EndMs.
	StartMs      int64 `json:"start_ms"`
	EndMs        int64 `json:"end_ms"`
	LaunchHeight int64 `json:"launch_height"`
	// FirstBuy is the issuer's bundled first buy, if any.
	FirstBuy *econ.Fill `json:"first_buy,omitempty"`
	// Commits counts successful commits, the first buy included; Fees*
	// sum the commit fees paid.
	Commits     uint64 `json:"commits"`
	FeeTreasury uint64 `json:"fee_treasury"`
	FeeIssuer   uint64 `json:"fee_issuer"`
	// Redeemed is the principal returned by Redeem after a failed raise.
	Redeemed uint64 `json:"redeemed,omitempty"`
	// Status is RMOOpen until graduation, then RMOGraduated. A failed raise
	// stays RMOOpen with its window over: see Outcome.
	Status string `json:"status"`
	// Graduation is what graduating minted and paid, and when.
	Graduation      *econ.Graduation `json:"graduation,omitempty"`
	GraduatedHeight int64            `json:"graduated_height,omitempty"`
	GraduatedMs     int64            `json:"graduated_ms,omitempty"`
}

// Escrow returns the flock the offering holds: the principal raised and not
// redeemed, until graduation pays it out.
func (r RMO) Escrow() uint64 {
	if r.Status == RMOGraduated {
		return 0
	}
	return r.State.Raised - r.Redeemed
}

// Outcome returns the stage of the raise at block time nowMs.
func (r RMO) Outcome(nowMs int64) econ.Outcome {
	return r.Curve.Outcome(r.State, nowMs >= r.EndMs)
}

// RMOPosition is one buyer's part of an offering: the MT bought (delivered
// at graduation) and the principal paid (returned if the raise fails).
type RMOPosition struct {
	Tokens    uint64 `json:"tokens"`
	Principal uint64 `json:"principal"`
	Redeemed  bool   `json:"redeemed,omitempty"`
}

// ModelEscrow holds what graduation set aside for a model's stake-gated
// pools (§9.7): the reserved FLOCK (its share of the raise) and the MT
// incentives bucket. On a network with emissions they are released
// linearly from graduation at each epoch close (emission.go); what is
// released but not paid stays here as the carry-over.
type ModelEscrow struct {
	ReservedFlock uint64 `json:"reserved_flock"`
	IncentivesMT  uint64 `json:"incentives_mt"`
}

// Vesting is MT of a model vesting linearly to an account from StartMs
// over DurationMs; Claimed has been paid out.
type Vesting struct {
	Model      string `json:"model"`
	Total      uint64 `json:"total"`
	Claimed    uint64 `json:"claimed"`
	StartMs    int64  `json:"start_ms"`
	DurationMs int64  `json:"duration_ms"`
}

func (l *Ledger) rmo(model string) (RMO, bool, error) { return lookupJSON[RMO](&l.s, pRMO+model) }

func (l *Ledger) launchRMO(from string, x LaunchRMO, b Block) error {
	if !validName(x.Model) {
		return fail(CodeBadName, "bad model name %q", x.Model)
	}
	m, ok, err := l.model(x.Model)
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodeModelUnknown, "unknown model %q", x.Model)
	}
	if m.Issuer != from {
		return fail(CodeNotIssuer, "%s is not the issuer of %s", from, x.Model)
	}
	if _, ok, err := l.rmo(x.Model); err != nil {
		return err
	} else if ok {
		return fail(CodeRMOExists, "%s already launched its offering", x.Model)
	}
	served := false
	for _, n := range m.Nodes {
		if _, ok, err := l.node(n); err != nil {
			return err
		} else if ok {
			served = true
			break
		}
	}
	if !served {
		return fail(CodeNotServed, "no registered node serves %s", x.Model)
	}
	p := l.gen.Economics.RMOParams()
	if err := p.Validate(); err != nil {
		return fail(CodeRMODisabled, "offering parameters: %v", err)
	}
	t, _ := l.tier(m.Tier)
	if x.RaiseMin == 0 || x.RaiseMin > x.RaiseMax || x.RaiseMin < t.RaiseMin || x.RaiseMax > t.RaiseMax {
		return fail(CodeBadRaise, "raise %d..%d outside tier %s bounds %d..%d", x.RaiseMin, x.RaiseMax, t.Name, t.RaiseMin, t.RaiseMax)
	}
	dur := x.DurationMs
	if dur == 0 {
		dur = p.RaiseWindowMs
	}
	if dur < 0 || dur > p.RaiseWindowMs {
		return fail(CodeBadRaise, "duration %d ms not in 1..%d", x.DurationMs, p.RaiseWindowMs)
	}
	c, err := econ.NewCurve(p, x.RaiseMin, x.RaiseMax)
	if err != nil {
		return fail(CodeBadRaise, "%v", err)
	}
	if err := l.debit(from, DenomFlock, p.LaunchFee); err != nil {
		return err
	}
	if err := l.addTreasury(DenomFlock, p.LaunchFee); err != nil {
		return err
	}
	r := RMO{Model: x.Model, Issuer: from, Tier: m.Tier, Params: p, Curve: c, StartMs: b.TimeMs, EndMs: b.TimeMs + dur,
		LaunchHeight: b.Height, Status: RMOOpen}
	if x.FirstBuy > 0 {
		f, st, err := c.FirstBuy(r.State, x.FirstBuy)
		if err != nil {
			return commitErr(err)
		}
		if err := l.fill(&r, from, x.FirstBuy, f, st); err != nil {
			return err
		}
		r.FirstBuy = &f
	}
	return l.settleRMO(&r, b)
}

// commitErr maps an econ error of the curve to a tx failure.
func commitErr(err error) error {
	switch {
	case errors.Is(err, econ.ErrSoldOut):
		return fail(CodeRMONotOpen, "%v", err)
	case errors.Is(err, econ.ErrZeroOut), errors.Is(err, econ.ErrZeroAmount):
		return fail(CodeCommitTooSmall, "%v", err)
	case errors.Is(err, econ.ErrOverflow):
		return fail(CodeOverflow, "%v", err)
	}
	return fail(CodeBadTx, "%v", err)
}

// fill books one commit of amountIn by buyer: the amount leaves the buyer
// less its refund, the fees reach the treasury and the issuer, the
// principal stays in the offering's escrow and the position grows.
func (l *Ledger) fill(r *RMO, buyer string, amountIn uint64, f econ.Fill, st econ.CurveState) error {
	if err := l.debit(buyer, DenomFlock, amountIn-f.Refund); err != nil {
		return err
	}
	if err := l.addTreasury(DenomFlock, f.FeeTreasury); err != nil {
		return err
	}
	if err := l.credit(r.Issuer, DenomFlock, f.FeeIssuer); err != nil {
		return err
	}
	k := pRMOBuy + r.Model + "/" + buyer
	pos, _, err := lookupJSON[RMOPosition](&l.s, k)
	if err != nil {
		return err
	}
	pos.Tokens += f.Tokens       // ≤ the sale bucket
	pos.Principal += f.Principal // ≤ raise_max
	l.s.putJSON(k, pos)
	r.State = st
	r.Commits++
	r.FeeTreasury += f.FeeTreasury
	r.FeeIssuer += f.FeeIssuer
	return nil
}

// settleRMO stores the offering, graduating it first when the bucket sold out.
func (l *Ledger) settleRMO(r *RMO, b Block) error {
	if r.Status == RMOOpen && r.Outcome(b.TimeMs) == econ.OutcomeMaxReached {
		if err := l.graduate(r, b); err != nil {
			return err
		}
	}
	l.s.putJSON(pRMO+r.Model, *r)
	return nil
}

func (l *Ledger) openRMO(model string) (RMO, error) {
	if !validName(model) {
		return RMO{}, fail(CodeBadName, "bad model name %q", model)
	}
	r, ok, err := l.rmo(model)
	if err != nil {
		return RMO{}, err
	}
	if !ok {
		return RMO{}, fail(CodeRMOUnknown, "%s has no offering", model)
	}
	return r, nil
}

func (l *Ledger) commit(from string, x Commit, b Block) error {
	if x.Amount == 0 {
		return fail(CodeBadAmount, "amount is zero")
	}
	r, err := l.openRMO(x.Model)
	if err != nil {
		return err
	}
	if r.Status != RMOOpen || b.TimeMs >= r.EndMs {
		return fail(CodeRMONotOpen, "the offering of %s is closed", x.Model)
	}
	f, st, err := r.Curve.Commit(r.State, x.Amount)
	if err != nil {
		return commitErr(err)
	}
	if err := l.fill(&r, from, x.Amount, f, st); err != nil {
		return err
	}
	return l.settleRMO(&r, b)
}

func (l *Ledger) graduateTx(x Graduate, b Block) error {
	r, err := l.openRMO(x.Model)
	if err != nil {
		return err
	}
	if r.Status != RMOOpen {
		return fail(CodeNotGraduable, "%s already graduated", x.Model)
	}
	if o := r.Outcome(b.TimeMs); o != econ.OutcomeGraduable && o != econ.OutcomeMaxReached {
		return fail(CodeNotGraduable, "the offering of %s is %s", x.Model, o)
	}
	// settleRMO graduates a sold-out offering only; a graduable one (its
	// window over with at least its minimum raised) graduates here.
	if err := l.graduate(&r, b); err != nil {
		return err
	}
	l.s.putJSON(pRMO+r.Model, r)
	return nil
}

// graduate mints the model's MT into its buckets (econ.Graduate) and pays
// out the raise: the buyers' MT to the buyers, liquidity MT and the pool
// share of the raise into the locked MT/FLOCK pool, the reserved share of
// the raise and the incentives MT into the model's escrow, the issuer
// share of the raise to the issuer, the issuer's MT into vesting, the
// treasury MT to the treasury.
func (l *Ledger) graduate(r *RMO, b Block) error {
	g, err := econ.Graduate(r.Params, r.Curve, r.State, b.TimeMs >= r.EndMs)
	if err != nil {
		return fail(CodeNotGraduable, "%v", err)
	}
	mt := MTDenom(r.Model)
	if err := l.recordSupply(mt, supplyMint, g.Minted); err != nil {
		return err
	}
	ents, err := l.s.scan(pRMOBuy + r.Model + "/")
	if err != nil {
		return err
	}
	var buyers uint64
	for _, e := range ents {
		var pos RMOPosition
		if err := json.Unmarshal(e.val, &pos); err != nil {
			return err
		}
		if err := l.credit(strings.TrimPrefix(e.key, pRMOBuy+r.Model+"/"), mt, pos.Tokens); err != nil {
			return err
		}
		buyers += pos.Tokens
	}
	if buyers != g.Buyers {
		return errors.New("ledger: graduation: positions do not sum to the MT sold")
	}
	l.putPool(PoolState{ID: ModelPoolID(r.Model), DenomA: mt, DenomB: DenomFlock, Model: r.Model, Pool: g.Pool, SeededHeight: b.Height})
	l.s.putJSON(pMEscrow+r.Model, ModelEscrow{ReservedFlock: g.RaiseReserved, IncentivesMT: g.Incentives})
	if err := l.credit(r.Issuer, DenomFlock, g.RaiseIssuer); err != nil {
		return err
	}
	if g.Issuer > 0 {
		l.s.putJSON(pVest+r.Issuer+"/"+r.Model, Vesting{Model: r.Model, Total: g.Issuer, StartMs: b.TimeMs, DurationMs: r.Params.IssuerVestingMs})
	}
	if err := l.addTreasury(mt, g.Treasury); err != nil {
		return err
	}
	r.Status, r.Graduation, r.GraduatedHeight, r.GraduatedMs = RMOGraduated, &g, b.Height, b.TimeMs
	return nil
}

func (l *Ledger) redeem(from string, x Redeem, b Block) error {
	r, err := l.openRMO(x.Model)
	if err != nil {
		return err
	}
	if r.Status != RMOOpen || r.Outcome(b.TimeMs) != econ.OutcomeFailed {
		return fail(CodeNotFailed, "the offering of %s has not failed", x.Model)
	}
	k := pRMOBuy + r.Model + "/" + from
	pos, ok, err := lookupJSON[RMOPosition](&l.s, k)
	if err != nil {
		return err
	}
	if !ok || pos.Redeemed || pos.Principal == 0 {
		return fail(CodeNothingToRedeem, "%s has no principal in the offering of %s", from, x.Model)
	}
	v, err := r.Curve.Redeem(r.State, true, pos.Principal)
	if err != nil || v > r.Escrow() {
		return fail(CodeNothingToRedeem, "redeem %d: %v", pos.Principal, err)
	}
	pos.Redeemed = true
	l.s.putJSON(k, pos)
	r.Redeemed += v
	l.s.putJSON(pRMO+r.Model, r)
	return l.credit(from, DenomFlock, v)
}

func (l *Ledger) claimVested(from string, x ClaimVested, b Block) error {
	if !validName(x.Model) {
		return fail(CodeBadName, "bad model name %q", x.Model)
	}
	k := pVest + from + "/" + x.Model
	v, ok, err := lookupJSON[Vesting](&l.s, k)
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodeNothingToClaim, "%s has no vesting of %s", from, x.Model)
	}
	c, err := econ.Claimable(v.Total, v.Claimed, v.StartMs, b.TimeMs, v.DurationMs)
	if err != nil {
		return err
	}
	if c == 0 {
		return fail(CodeNothingToClaim, "nothing of %s has vested beyond what %s claimed", x.Model, from)
	}
	v.Claimed += c
	l.s.putJSON(k, v)
	return l.credit(from, MTDenom(x.Model), c)
}

// RMO returns a model's offering.
func (l *Ledger) RMO(ctx context.Context, model string) (RMO, bool, error) {
	return getOpt[RMO](ctx, l, pRMO+model)
}

// RMOs returns every offering, open, failed or graduated, in ascending
// model order.
func (l *Ledger) RMOs(ctx context.Context) ([]RMO, error) {
	ents, err := l.reader(ctx).scan(pRMO)
	if err != nil {
		return nil, err
	}
	out := make([]RMO, 0, len(ents))
	for _, e := range ents {
		var r RMO
		if err := json.Unmarshal(e.val, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RMOPosition returns an account's position in a model's offering.
func (l *Ledger) RMOPosition(ctx context.Context, model, account string) (RMOPosition, bool, error) {
	return getOpt[RMOPosition](ctx, l, pRMOBuy+model+"/"+account)
}

// Vesting returns the MT of a model vesting to an account.
func (l *Ledger) Vesting(ctx context.Context, account, model string) (Vesting, bool, error) {
	return getOpt[Vesting](ctx, l, pVest+account+"/"+model)
}

// ModelEscrow returns what graduation set aside for a model's stake-gated
// pools.
func (l *Ledger) ModelEscrow(ctx context.Context, model string) (ModelEscrow, bool, error) {
	return getOpt[ModelEscrow](ctx, l, pMEscrow+model)
}
