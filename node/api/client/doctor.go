package client

import (
	"context"

	"github.com/fomonet/fomo/node/api"
)

// Doctor asks the node what stands between it and earning (GET
// /api/v1/doctor). A diagnosis takes up to half a minute (DHT and chain
// lookups); the client's timeout must allow it.
func (c *Client) Doctor(ctx context.Context) (*api.DoctorReport, error) {
	return get[api.DoctorReport](ctx, c, "/api/v1/doctor")
}
