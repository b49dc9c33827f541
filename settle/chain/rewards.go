package chain

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/fomonet/fomo/settle/ledger"
)

// pageArgs parses the from= and limit= of a paged query: from is the
// first epoch (0 by default), limit at most MaxEpochsPerQuery (the
// default).
func pageArgs(q string) (from uint64, limit int, err error) {
	vals, err := url.ParseQuery(q)
	if err != nil {
		return 0, 0, err
	}
	limit = MaxEpochsPerQuery
	if s := vals.Get("from"); s != "" {
		if from, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("from %q is not a number", s)
		}
	}
	if s := vals.Get("limit"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return 0, 0, fmt.Errorf("limit %q is not a positive number", s)
		}
		limit = int(min(n, MaxEpochsPerQuery))
	}
	return from, limit, nil
}

// rewardsQuery answers /rewards/<account>?from=&limit=
// (ledger.RewardsPage).
func rewardsQuery(ctx context.Context, l *ledger.Ledger, account, q string) (any, bool, error) {
	from, limit, err := pageArgs(q)
	if err != nil {
		return nil, false, err
	}
	v, err := l.Rewards(ctx, account, from, limit)
	return v, err == nil, err
}

// emissionsQuery answers /emissions?from=&limit=
// (ledger.EmissionsOverview).
func emissionsQuery(ctx context.Context, l *ledger.Ledger, q string) (any, bool, error) {
	from, limit, err := pageArgs(q)
	if err != nil {
		return nil, false, err
	}
	v, err := l.Emissions(ctx, from, limit)
	return v, err == nil, err
}
