package ledger

import (
	"context"
	"encoding/json"
	"strings"
)

// DefaultUnbondingEpochs is the unbonding period of a genesis whose
// economics leave unbonding_epochs at 0 (DESIGN §9.6).
const DefaultUnbondingEpochs = 24

// StakeCheckpoint says that Amount counts in every epoch from Epoch until
// the next checkpoint.
type StakeCheckpoint struct {
	Epoch  uint64 `json:"epoch"`
	Amount uint64 `json:"amount"`
}

// Unbonding is unstaked MT that can be claimed from ReleaseEpoch on.
type Unbonding struct {
	Amount       uint64 `json:"amount"`
	ReleaseEpoch uint64 `json:"release_epoch"`
}

// StakePosition is an account's stake on a model (DESIGN §9.6): Staked MT
// is bonded (counting now or from the next epoch), Unbonding MT is on its
// way back. History holds the amount counting per epoch as checkpoints in
// ascending epoch order; it grows by at most two checkpoints per epoch in
// which the position changes. Opening holds, in ascending epoch order, the
// opening stake of each epoch in which an unstake lowered the amount
// counting (one entry per such epoch); in every other epoch the opening
// stake is the amount counting.
type StakePosition struct {
	Staked    uint64            `json:"staked"`
	History   []StakeCheckpoint `json:"history,omitempty"`
	Opening   []StakeCheckpoint `json:"opening,omitempty"`
	Unbonding []Unbonding       `json:"unbonding,omitempty"`
}

// At returns the amount counting in epoch e: the stake held at e's start
// less what was unstaked during e.
func (p StakePosition) At(e uint64) uint64 {
	var v uint64
	for _, c := range p.History {
		if c.Epoch > e {
			break
		}
		v = c.Amount
	}
	return v
}

// OpeningAt returns the opening stake of epoch e: what was staked at e's
// start. Stake added during e counts from e+1, and an unstake during e
// does not lower it (only At(e) and later epochs): it is the stake that
// fixes e's price discount (DESIGN §9.2).
func (p StakePosition) OpeningAt(e uint64) uint64 {
	for _, c := range p.Opening {
		if c.Epoch > e {
			break
		}
		if c.Epoch == e {
			return c.Amount
		}
	}
	return p.At(e)
}

// UnbondingTotal returns the MT unbonding, released or not.
func (p StakePosition) UnbondingTotal() uint64 {
	var v uint64
	for _, u := range p.Unbonding {
		v += u.Amount
	}
	return v
}

// set makes v count from epoch e on, dropping the checkpoints at or
// after e.
func (p *StakePosition) set(e, v uint64) {
	i := len(p.History)
	for i > 0 && p.History[i-1].Epoch >= e {
		i--
	}
	p.History = p.History[:i]
	if i == 0 && v == 0 || i > 0 && p.History[i-1].Amount == v {
		return
	}
	p.History = append(p.History, StakeCheckpoint{Epoch: e, Amount: v})
}

func (l *Ledger) unbondingEpochs() uint64 {
	if n := l.gen.Economics.UnbondingEpochs; n > 0 {
		return uint64(n)
	}
	return DefaultUnbondingEpochs
}

// stakeEpoch returns the epoch of block time t, 0 before genesis.
func (l *Ledger) stakeEpoch(t int64) uint64 {
	e, _ := l.EpochOf(t)
	return e
}

// stakeTarget checks a staking tx's sender and model and returns the
// sender's position on the model.
func (l *Ledger) stakeTarget(from, model string) (StakePosition, error) {
	if _, ok, err := l.s.get(pKeyOwner + from); err != nil {
		return StakePosition{}, err
	} else if ok {
		return StakePosition{}, fail(CodeSessionKeyStake, "%s is a session key: stakes belong to accounts", from)
	}
	if !validName(model) {
		return StakePosition{}, fail(CodeBadName, "bad model name %q", model)
	}
	if _, ok, err := l.model(model); err != nil {
		return StakePosition{}, err
	} else if !ok {
		return StakePosition{}, fail(CodeModelUnknown, "unknown model %q", model)
	}
	p, _, err := lookupJSON[StakePosition](&l.s, pStake+from+"/"+model)
	return p, err
}

func (l *Ledger) putStake(account, model string, p StakePosition) {
	l.s.putJSON(pStake+account+"/"+model, p)
	l.s.put(pStakeM+model+"/"+account, []byte{1})
}

func (l *Ledger) stake(from string, x Stake, b Block) error {
	if x.Amount == 0 {
		return fail(CodeBadAmount, "amount is zero")
	}
	p, err := l.stakeTarget(from, x.Model)
	if err != nil {
		return err
	}
	if err := l.debit(from, MTDenom(x.Model), x.Amount); err != nil {
		return err
	}
	s, ok := addOK(p.Staked, x.Amount)
	if !ok {
		return fail(CodeOverflow, "stake overflows")
	}
	cur := l.stakeEpoch(b.TimeMs)
	c := p.At(cur)
	p.Staked = s
	p.set(cur, c)
	p.set(cur+1, p.Staked)
	l.putStake(from, x.Model, p)
	return nil
}

func (l *Ledger) unstake(from string, x Unstake, b Block) error {
	if x.Amount == 0 {
		return fail(CodeBadAmount, "amount is zero")
	}
	p, err := l.stakeTarget(from, x.Model)
	if err != nil {
		return err
	}
	if x.Amount > p.Staked {
		return fail(CodeInsufficientStake, "%s has %d staked on %s, unstakes %d", from, p.Staked, x.Model, x.Amount)
	}
	cur := l.stakeEpoch(b.TimeMs)
	// What is unstaked leaves the counting part first.
	c := p.At(cur)
	// The first unstake of an epoch that lowers the counting part keeps
	// the epoch's opening stake (then c) for its discount.
	if n := len(p.Opening); c > 0 && (n == 0 || p.Opening[n-1].Epoch < cur) {
		p.Opening = append(p.Opening, StakeCheckpoint{Epoch: cur, Amount: c})
	}
	c -= min(c, x.Amount)
	p.Staked -= x.Amount
	p.set(cur, c)
	p.set(cur+1, p.Staked)
	// Entries already released merge into one, so that a position holds
	// at most unbonding_epochs+1 entries.
	rel := cur + l.unbondingEpochs()
	var out []Unbonding
	var done Unbonding
	for _, u := range p.Unbonding {
		if u.ReleaseEpoch <= cur {
			done.Amount += u.Amount
			done.ReleaseEpoch = max(done.ReleaseEpoch, u.ReleaseEpoch)
			continue
		}
		out = append(out, u)
	}
	if done.Amount > 0 {
		out = append([]Unbonding{done}, out...)
	}
	if n := len(out); n > 0 && out[n-1].ReleaseEpoch == rel {
		out[n-1].Amount += x.Amount
	} else {
		out = append(out, Unbonding{Amount: x.Amount, ReleaseEpoch: rel})
	}
	p.Unbonding = out
	l.putStake(from, x.Model, p)
	return nil
}

func (l *Ledger) claimUnbonded(from string, x ClaimUnbonded, b Block) error {
	p, err := l.stakeTarget(from, x.Model)
	if err != nil {
		return err
	}
	if len(p.Unbonding) == 0 {
		return fail(CodeNothingToClaim, "%s has nothing unbonding on %s", from, x.Model)
	}
	cur := l.stakeEpoch(b.TimeMs)
	var paid uint64
	var rest []Unbonding
	for _, u := range p.Unbonding {
		if u.ReleaseEpoch <= cur {
			paid += u.Amount
			continue
		}
		rest = append(rest, u)
	}
	if paid == 0 {
		return fail(CodeStillUnbonding, "the first unbonding of %s on %s releases in epoch %d (now %d)",
			from, x.Model, p.Unbonding[0].ReleaseEpoch, cur)
	}
	p.Unbonding = rest
	l.putStake(from, x.Model, p)
	return l.credit(from, MTDenom(x.Model), paid)
}

// StakeInfo is an account's stake on a model as the queries report it.
type StakeInfo struct {
	Account string `json:"account"`
	Model   string `json:"model"`
	// Epoch is the epoch of the last block's time; Counting is the amount
	// counting in it.
	Epoch    uint64 `json:"epoch"`
	Staked   uint64 `json:"staked"`
	Counting uint64 `json:"counting"`
	// Unbonding lists unstaked MT with the epoch from which ClaimUnbonded
	// pays it.
	Unbonding []Unbonding `json:"unbonding"`
}

func (l *Ledger) stakeInfo(account, model string, p StakePosition) StakeInfo {
	e := l.stakeEpoch(l.hd.TimeMs)
	u := p.Unbonding
	if u == nil {
		u = []Unbonding{}
	}
	return StakeInfo{Account: account, Model: model, Epoch: e, Staked: p.Staked, Counting: p.At(e), Unbonding: u}
}

// rollUp returns the account a session key signs for, or id itself.
func (l *Ledger) rollUp(r *kv, id string) (string, error) {
	b, ok, err := r.get(pKeyOwner + id)
	if err != nil || !ok {
		return id, err
	}
	return string(b), nil
}

// Stake returns an account's stake on a model; an account with no stake
// reports zeros. A session key reads its account's stake.
func (l *Ledger) Stake(ctx context.Context, account, model string) (StakeInfo, error) {
	r := l.reader(ctx)
	account, err := l.rollUp(r, account)
	if err != nil {
		return StakeInfo{}, err
	}
	p, _, err := lookupJSON[StakePosition](r, pStake+account+"/"+model)
	if err != nil {
		return StakeInfo{}, err
	}
	return l.stakeInfo(account, model, p), nil
}

// Stakes returns every stake position of an account, in ascending model
// order. A session key reads its account's stakes.
func (l *Ledger) Stakes(ctx context.Context, account string) ([]StakeInfo, error) {
	r := l.reader(ctx)
	account, err := l.rollUp(r, account)
	if err != nil {
		return nil, err
	}
	ents, err := r.scan(pStake + account + "/")
	if err != nil {
		return nil, err
	}
	out := make([]StakeInfo, 0, len(ents))
	for _, e := range ents {
		var p StakePosition
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, err
		}
		out = append(out, l.stakeInfo(account, strings.TrimPrefix(e.key, pStake+account+"/"), p))
	}
	return out, nil
}

// StakeAt returns the MT of a model counting for an account in epoch e:
// what the account held staked at e's start (stakes made during e−1 count
// in e, stakes made during e count from e+1) less what it unstaked during
// e. A session key reads its account's stake. For the current and past
// epochs the value is final except that an Unstake later in the current
// epoch lowers it; the discounts and emissions read it per epoch.
func (l *Ledger) StakeAt(ctx context.Context, account, model string, e uint64) (uint64, error) {
	r := l.reader(ctx)
	account, err := l.rollUp(r, account)
	if err != nil {
		return 0, err
	}
	p, _, err := lookupJSON[StakePosition](r, pStake+account+"/"+model)
	return p.At(e), err
}

// AccountStake is the amount counting for one account.
type AccountStake struct {
	Account string `json:"account"`
	Amount  uint64 `json:"amount"`
}

// StakeSnapshot is the stake counting on a model in one epoch.
type StakeSnapshot struct {
	Epoch uint64 `json:"epoch"`
	Model string `json:"model"`
	Total uint64 `json:"total"`
	// Accounts lists the accounts with a non-zero amount, in ascending
	// account order.
	Accounts []AccountStake `json:"accounts"`
}

// StakeSnapshot returns the stake counting on a model in epoch e, per
// account (see [Ledger.StakeAt]).
func (l *Ledger) StakeSnapshot(ctx context.Context, e uint64, model string) (StakeSnapshot, error) {
	return stakeSnapshot(l.reader(ctx), e, model)
}

func stakeSnapshot(r *kv, e uint64, model string) (StakeSnapshot, error) {
	out := StakeSnapshot{Epoch: e, Model: model, Accounts: []AccountStake{}}
	ents, err := r.scan(pStakeM + model + "/")
	if err != nil {
		return out, err
	}
	for _, x := range ents {
		a := strings.TrimPrefix(x.key, pStakeM+model+"/")
		p, _, err := lookupJSON[StakePosition](r, pStake+a+"/"+model)
		if err != nil {
			return out, err
		}
		v := p.At(e)
		if v == 0 {
			continue
		}
		out.Accounts = append(out.Accounts, AccountStake{Account: a, Amount: v})
		out.Total += v
	}
	return out, nil
}
