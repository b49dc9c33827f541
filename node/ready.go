package node

import (
	"context"

	"github.com/fomonet/fomo/node/api"
)

// readiness answers /readyz: one check per runtime (its health) and, with
// the chain, one that the chain is synced.
type readiness Node

func (rd *readiness) Ready(ctx context.Context) []api.ReadyCheck {
	n := (*Node)(rd)
	var checks []api.ReadyCheck
	for _, rt := range n.models.Runtimes() {
		h := rt.Health(ctx)
		c := api.ReadyCheck{Name: "runtime " + rt.Name(), OK: h.OK}
		if !h.OK {
			c.Detail = h.Status
			if h.Detail != "" {
				c.Detail += ": " + h.Detail
			}
		}
		checks = append(checks, c)
	}
	if n.chain != nil {
		st := n.chain.cons.Status()
		c := api.ReadyCheck{Name: "chain", OK: !st.CatchingUp}
		if st.CatchingUp {
			c.Detail = "catching up"
		}
		checks = append(checks, c)
	}
	return checks
}
