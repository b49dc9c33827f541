package chain

import (
	"context"
	"fmt"

	"github.com/fomonet/fomo/settle/pool"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Discounts reads the staking discounts of DESIGN §9.2 from the chain's
// state: an account pays, in an authorization issued in epoch e, the list
// prices less the discount of the tier its opening stake in e reaches,
// never below the tier floor. It is the receipt pool's price rule
// (pool.PriceRule) on a network with a chain, and the meter's source of
// the prices it quotes and accepts (settle/meter's Discounts).
type Discounts struct{ App *App }

var _ pool.PriceRule = Discounts{}

// Discount returns the effective prices of model for account (or the
// account of a session key) in an authorization issued at atMs, and the
// discount in bps; ok is false when the model is not registered.
func (d Discounts) Discount(ctx context.Context, account peer.ID, model string, atMs uint64) (in, out uint64, bps uint32, ok bool, err error) {
	x, ok, err := d.App.Discount(ctx, account.String(), model, atMs)
	if err != nil || !ok {
		return 0, 0, 0, false, err
	}
	return x.InputPrice, x.OutputPrice, x.DiscountBps, true, nil
}

// Allowed implements pool.PriceRule: the quoted prices are the account's
// effective prices in the epoch the authorization was issued in. A quote
// issued in an epoch the chain has not reached yet is not judged
// (pool.ErrRegistryBehind): stake txs still to come in the chain's
// current epoch may change that epoch's opening stake, and the chain
// judges the receipt when it is submitted.
func (d Discounts) Allowed(ctx context.Context, q pool.Quote) (bool, error) {
	if h := d.App.Height(); h == 0 {
		return false, fmt.Errorf("the chain has no block yet: %w", pool.ErrRegistryBehind)
	}
	if e, now := d.App.EpochOf(q.IssuedAtMs), d.App.EpochOf(uint64(max(d.App.TimeMs(), 0))); e > now {
		return false, fmt.Errorf("the quote's epoch %d is ahead of the chain's %d: %w", e, now, pool.ErrRegistryBehind)
	}
	in, out, _, ok, err := d.Discount(ctx, q.Account, q.Model, q.IssuedAtMs)
	if err != nil || !ok {
		return false, err
	}
	return q.InputPrice == in && q.OutputPrice == out, nil
}
