package ledger

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/fomonet/fomo/settle/econ"
)

// PoolFlockUSD is the id of the protocol FLOCK/usd pool seeded at genesis.
// A model's MT/FLOCK pool, seeded at graduation, has the id of its MT
// denom ([ModelPoolID]): a pool's id is the denom of its asset A.
const PoolFlockUSD = DenomFlock

// ModelPoolID returns the id of a model's MT/FLOCK pool: "mt:<model>".
func ModelPoolID(model string) string { return MTDenom(model) }

// PoolState is a protocol-owned constant-product pool (DESIGN §9.4): A in
// ReserveA, B in ReserveB, its price the price of A in B. The liquidity is
// locked: there are no liquidity shares and nothing withdraws it; the swap
// fee stays in the reserves.
type PoolState struct {
	ID     string `json:"id"`
	DenomA string `json:"denom_a"`
	DenomB string `json:"denom_b"`
	// Model is the model of an MT/FLOCK pool (empty for FLOCK/usd).
	Model string    `json:"model,omitempty"`
	Pool  econ.Pool `json:"pool"`
	// SeededHeight is the height of the block that seeded the pool (0:
	// genesis).
	SeededHeight int64 `json:"seeded_height"`
}

// PriceE18 returns the spot price of A in B in 1e18 fixed point, 0 when it
// does not fit.
func (p PoolState) PriceE18() uint64 {
	v, err := p.Pool.PriceE18()
	if err != nil {
		return 0
	}
	return v
}

func (l *Ledger) pool(id string) (PoolState, bool, error) {
	return lookupJSON[PoolState](&l.s, pPool+id)
}

func (l *Ledger) putPool(p PoolState) { l.s.putJSON(pPool+p.ID, p) }

// swap trades against a pool: the input leaves the sender, the output
// reaches it, and the pool keeps the whole input, fee included.
func (l *Ledger) swap(from string, s Swap) error {
	if s.AmountIn == 0 {
		return fail(CodeBadAmount, "amount_in is zero")
	}
	if s.Pool == "" || !validDenom(s.Pool) {
		return fail(CodePoolUnknown, "bad pool id %q", s.Pool)
	}
	p, ok, err := l.pool(s.Pool)
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodePoolUnknown, "no pool %q", s.Pool)
	}
	var aToB bool
	var denomOut string
	switch s.DenomIn {
	case p.DenomA:
		aToB, denomOut = true, p.DenomB
	case p.DenomB:
		denomOut = p.DenomA
	default:
		return fail(CodeBadDenom, "pool %s trades %s and %s, not %q", p.ID, p.DenomA, p.DenomB, s.DenomIn)
	}
	out, after, err := p.Pool.SwapOut(s.AmountIn, aToB)
	switch {
	case errors.Is(err, econ.ErrZeroOut):
		return fail(CodeSwapTooSmall, "%d %s buys no base unit of %s", s.AmountIn, s.DenomIn, denomOut)
	case errors.Is(err, econ.ErrOverflow):
		return fail(CodeOverflow, "pool %s reserve overflows", p.ID)
	case err != nil:
		return fail(CodePoolUnknown, "pool %s: %v", p.ID, err)
	}
	if out < s.MinOut {
		return fail(CodeBelowMinOut, "%d %s out, below min_out %d", out, denomOut, s.MinOut)
	}
	if err := l.debit(from, s.DenomIn, s.AmountIn); err != nil {
		return err
	}
	if err := l.credit(from, denomOut, out); err != nil {
		return err
	}
	p.Pool = after
	l.putPool(p)
	return nil
}

// Pools returns every pool in ascending id order: the FLOCK/usd pool
// ("flock") and the MT/FLOCK pool of each graduated model ("mt:<model>").
func (l *Ledger) Pools(ctx context.Context) ([]PoolState, error) {
	ents, err := l.reader(ctx).scan(pPool)
	if err != nil {
		return nil, err
	}
	out := make([]PoolState, 0, len(ents))
	for _, e := range ents {
		var p PoolState
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Pool returns one pool by id ([PoolFlockUSD] or [ModelPoolID]).
func (l *Ledger) Pool(ctx context.Context, id string) (PoolState, bool, error) {
	return getOpt[PoolState](ctx, l, pPool+id)
}

// SupplyOf returns the minted, burned and withdrawn totals of one denom
// (zero for a denom that never had any).
func (l *Ledger) SupplyOf(ctx context.Context, denom string) (Supply, error) {
	m, err := l.Supply(ctx)
	return m[denom], err
}
