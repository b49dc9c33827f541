package chain

import (
	"context"
	"encoding/json"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// TestRewardsQueries: /rewards/<account> and /emissions answer pages of
// the ledger's queries and refuse bad paging arguments and accounts.
func TestRewardsQueries(t *testing.T) {
	w := newWorld(t)
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	finalize(t, a, 1, t0+epochMs+6000) // closes epoch 0
	user := w.user.id.String()
	for _, tc := range []struct {
		path string
		code uint32
		log  string
	}{
		{"/rewards/" + user, QueryOK, ""},
		{"/rewards/" + user + "?from=3&limit=1000", QueryOK, ""},
		{"/rewards/" + user + "?from=x", QueryBad, `from "x" is not a number`},
		{"/rewards/" + user + "?limit=0", QueryBad, `limit "0" is not a positive number`},
		{"/rewards/bad/id", QueryBad, `ledger: bad account "bad/id"`},
		{"/emissions", QueryOK, ""},
		{"/emissions?from=0&limit=2", QueryOK, ""},
		{"/emissions?limit=-1", QueryBad, `limit "-1" is not a positive number`},
	} {
		r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: tc.path})
		if err != nil || r.Code != tc.code || r.Log != tc.log {
			t.Fatalf("%s: %+v %v", tc.path, r, err)
		}
	}
	r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/rewards/" + user})
	var p ledger.RewardsPage
	if err := json.Unmarshal(r.Value, &p); err != nil || p.Account != user || p.Epochs == nil || len(p.Epochs) != 0 || p.Totals == nil {
		t.Fatalf("rewards: %s %v", r.Value, err)
	}
	r, _ = a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/emissions"})
	var o ledger.EmissionsOverview
	if err := json.Unmarshal(r.Value, &o); err != nil || o.Enabled || o.NextEpoch != 1 || o.Epochs == nil {
		t.Fatalf("emissions: %s %v", r.Value, err)
	}
}
