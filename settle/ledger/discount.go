package ledger

import (
	"context"

	"github.com/fomonet/fomo/settle/econ"
)

// Discount is the price an account pays for a model in one epoch (DESIGN
// §9.2): the discount of the tier its opening stake reaches, applied to
// each list price, never below the model tier's floor.
type Discount struct {
	Account string `json:"account"`
	Model   string `json:"model"`
	Epoch   uint64 `json:"epoch"`
	// OpeningStake is the MT of the model the account had staked at the
	// epoch's start ([StakePosition.OpeningAt]).
	OpeningStake uint64 `json:"opening_stake"`
	DiscountBps  uint32 `json:"discount_bps"`
	// List and floor prices of the model, usd base units per 1M tokens.
	ListInputPrice   uint64 `json:"list_input_price"`
	ListOutputPrice  uint64 `json:"list_output_price"`
	FloorInputPrice  uint64 `json:"floor_input_price"`
	FloorOutputPrice uint64 `json:"floor_output_price"`
	// InputPrice and OutputPrice are the effective prices: the only ones
	// a receipt of the account for the model issued in the epoch may
	// quote.
	InputPrice  uint64 `json:"input_price"`
	OutputPrice uint64 `json:"output_price"`
}

// Discount returns the prices account pays for model in epoch e; ok is
// false when the model is not registered. A session key reads its
// account's discount.
func (l *Ledger) Discount(ctx context.Context, account, model string, e uint64) (Discount, bool, error) {
	r := l.reader(ctx)
	account, err := l.rollUp(r, account)
	if err != nil {
		return Discount{}, false, err
	}
	m, ok, err := lookupJSON[Model](r, pModel+model)
	if err != nil || !ok {
		return Discount{}, ok, err
	}
	d, err := l.discountOf(r, account, m, e)
	return d, err == nil, err
}

// DiscountAt is [Ledger.Discount] in the epoch of issuedAtMs (epoch 0
// before genesis).
func (l *Ledger) DiscountAt(ctx context.Context, account, model string, issuedAtMs int64) (Discount, bool, error) {
	e, _ := l.EpochOf(issuedAtMs)
	return l.Discount(ctx, account, model, e)
}

// discountOf computes account's prices for m in epoch e from its opening
// stake; account is an account, not a session key.
func (l *Ledger) discountOf(r *kv, account string, m Model, e uint64) (Discount, error) {
	p, _, err := lookupJSON[StakePosition](r, pStake+account+"/"+m.Name)
	if err != nil {
		return Discount{}, err
	}
	t, _ := l.tier(m.Tier)
	d := Discount{
		Account: account, Model: m.Name, Epoch: e, OpeningStake: p.OpeningAt(e),
		ListInputPrice: m.InputPrice, ListOutputPrice: m.OutputPrice,
		FloorInputPrice: t.MinInputPrice, FloorOutputPrice: t.MinOutputPrice,
	}
	d.DiscountBps = econ.DiscountBps(d.OpeningStake, l.gen.Params.DiscountTiers)
	d.InputPrice = econ.EffectivePrice(m.InputPrice, t.MinInputPrice, d.DiscountBps)
	d.OutputPrice = econ.EffectivePrice(m.OutputPrice, t.MinOutputPrice, d.DiscountBps)
	return d, nil
}
