package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

// prices quotes models for GET /api/v1/prices/{model} (api.Prices).
type prices Node

func (p *prices) Quote(ctx context.Context, model string) (uint64, uint64, error) {
	return p.net.paid.Quote(ctx, model)
}

func (p *prices) Payee(ctx context.Context, model string) (peer.ID, error) {
	n := (*Node)(p)
	if _, ok := n.models.Lookup(model); ok {
		return n.id, nil
	}
	return n.net.router.Choose(ctx, model)
}
