package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/fomonet/fomo/node/api"
)

// pageValues is the from= and limit= of a paged route; a limit ≤ 0 leaves
// the node's default.
func pageValues(from uint64, limit int) string {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q.Encode()
}

// Rewards returns what an account was credited by the emissions, epoch by
// epoch from epoch from on (at most limit epochs; ≤ 0 for the node's
// default), and its totals over every closed epoch (GET
// /api/v1/accounts/{id}/rewards). An account never credited has an empty
// list; Next is the from of the next page.
func (c *Client) Rewards(ctx context.Context, account string, from uint64, limit int) (*api.Rewards, error) {
	return get[api.Rewards](ctx, c, "/api/v1/accounts/"+url.PathEscape(account)+"/rewards?"+pageValues(from, limit))
}

// Emissions returns the emission reserve, the next epoch's budget and the
// emissions of the closed epochs from epoch from on (at most limit; ≤ 0
// for the node's default) (GET /api/v1/emissions).
func (c *Client) Emissions(ctx context.Context, from uint64, limit int) (*api.Emissions, error) {
	return get[api.Emissions](ctx, c, "/api/v1/emissions?"+pageValues(from, limit))
}
