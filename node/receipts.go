package node

import (
	"context"

	"github.com/fomonet/fomo/node/api"
	"github.com/libp2p/go-libp2p/core/peer"
)

// prices quotes models for GET /api/v1/prices/{model} (api.Prices).
type prices Node

func (p *prices) Quote(ctx context.Context, model string) (uint64, uint64, error) {
	return p.net.paid.Quote(ctx, model)
}

func (p *prices) For(ctx context.Context, model string, account peer.ID) (api.AccountPrice, error) {
	x, err := p.net.paid.PriceFor(ctx, account, model, p.opts.now())
	return api.AccountPrice{ListInput: x.ListInput, ListOutput: x.ListOutput, Input: x.Input, Output: x.Output,
		DiscountBps: x.DiscountBps}, err
}

func (p *prices) Payee(ctx context.Context, model string) (peer.ID, error) {
	n := (*Node)(p)
	if _, ok := n.models.Lookup(model); ok {
		return n.id, nil
	}
	return n.net.router.Choose(ctx, model)
}
