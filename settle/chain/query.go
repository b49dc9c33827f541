package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/settle/ledger"
)

// Query codes.
const (
	QueryOK       = 0
	QueryBad      = 1
	QueryNotFound = 2
	// QueryEpochOpen: the answer exists only once an epoch has closed (the
	// proof of inclusion of a receipt whose epoch is open); the log names
	// the epoch ("epoch 3 has not closed yet").
	QueryEpochOpen = 3
)

// ChainState is the answer to /chain.
type ChainState struct {
	Height    int64                    `json:"height"`
	AppHash   string                   `json:"app_hash"`
	NextEpoch uint64                   `json:"next_epoch"`
	Genesis   ledger.Genesis           `json:"genesis"`
	Supply    map[string]ledger.Supply `json:"supply"`
}

// AccountView is the answer to /account/<id>.
type AccountView struct {
	ID string `json:"id"`
	ledger.Account
	Node *ledger.Node `json:"node,omitempty"`
}

// RMOView is the answer to /rmo/<model> and an item of /rmos: the
// offering, its outcome at the last block's time ("open", "max_reached",
// "graduable", "failed"; "graduated" once it has) and how many accounts
// hold a position in it.
type RMOView struct {
	ledger.RMO
	Outcome     string `json:"outcome"`
	Positions   int    `json:"positions"`
	BlockTimeMs int64  `json:"block_time_ms"`
}

// Reserves is the answer to /reserves: the usd held for buybacks and
// carried over from epoch to epoch, the protocol's FLOCK buyback reserve
// and each model's MT buyback reserve (models with none left out).
type Reserves struct {
	FlockUSD uint64            `json:"flock_usd"`
	MTUSD    map[string]uint64 `json:"mt_usd"`
}

// MaxEpochsPerQuery bounds an /epochs page.
const MaxEpochsPerQuery = 100

// Query answers, in JSON: /chain, /account/<id>, /node/<id>,
// /model/<name>, /epoch/<n>, /epochs?after=&limit=, /receipt/<id hex>,
// /proof/<id hex> (ledger.ReceiptProof; QueryEpochOpen while the
// receipt's epoch is open),
// /validators, /pools, /pool/<id>, /rmos, /rmo/<model>, /supply/<denom>,
// /supply, /treasury, /reserves, /vesting/<account>/<model>,
// /stake/<account>/<model> (ledger.StakeInfo; zeros when none),
// /stakes/<account> (every position of the account),
// /rewards/<account>?from=&limit= (ledger.RewardsPage),
// /emissions?from=&limit= (ledger.EmissionsOverview) and
// /discount/<account>/<model>/<issued_ms> and
// /discount/<account>/<model>?epoch=N (ledger.Discount: the opening
// stake, discount and effective prices of the epoch of issued_ms, or of
// epoch N; a session key reads its account's). A missing item answers QueryNotFound
// with the item ("epoch 7", "model m") as its log.
func (a *App) Query(ctx context.Context, req *abcitypes.QueryRequest) (*abcitypes.QueryResponse, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.l == nil {
		return &abcitypes.QueryResponse{Code: QueryNotFound, Log: "the chain has not started"}, nil
	}
	v, found, err := a.query(ctx, req.Path)
	if qe, ok := errors.AsType[*queryError](err); ok {
		return &abcitypes.QueryResponse{Code: qe.code, Log: qe.msg, Codespace: Codespace}, nil
	}
	switch {
	case err != nil:
		return &abcitypes.QueryResponse{Code: QueryBad, Log: err.Error(), Codespace: Codespace}, nil
	case !found:
		// The code says "not found"; the log says what ("epoch 7").
		kind, arg, _ := trimPath(req.Path)
		return &abcitypes.QueryResponse{Code: QueryNotFound, Log: strings.TrimSpace(kind + " " + arg), Codespace: Codespace}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &abcitypes.QueryResponse{Value: b, Height: a.l.Height()}, nil
}

func (a *App) query(ctx context.Context, path string) (any, bool, error) {
	kind, arg, q := trimPath(path)
	l := a.l
	switch kind {
	case "chain":
		h, _ := l.AppHash(ctx)
		sup, err := l.Supply(ctx)
		return ChainState{Height: l.Height(), AppHash: hex.EncodeToString(h[:]), NextEpoch: l.NextEpoch(), Genesis: l.Genesis(), Supply: sup}, true, err
	case "account":
		acct, err := l.Account(ctx, arg)
		if err != nil {
			return nil, false, err
		}
		v := AccountView{ID: arg, Account: acct}
		if n, ok, err := l.Node(ctx, arg); err != nil {
			return nil, false, err
		} else if ok {
			v.Node = &n
		}
		return v, acct.Nonce > 0 || len(acct.Balances) > 0 || v.Node != nil, nil
	case "node":
		return ok3(l.Node(ctx, arg))
	case "model":
		return ok3(l.Model(ctx, arg))
	case "receipt":
		return ok3(l.Receipt(ctx, arg))
	case "proof":
		return proofQuery(ctx, l, arg)
	case "epoch":
		e, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("epoch %q is not a number", arg)
		}
		return ok3(l.Epoch(ctx, e))
	case "epochs":
		vals, err := url.ParseQuery(q)
		if err != nil {
			return nil, false, err
		}
		after, limit := uint64(0), uint64(MaxEpochsPerQuery)
		if s := vals.Get("after"); s != "" {
			if after, err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, false, fmt.Errorf("after %q is not a number", s)
			}
		}
		if s := vals.Get("limit"); s != "" {
			if limit, err = strconv.ParseUint(s, 10, 64); err != nil || limit == 0 {
				return nil, false, fmt.Errorf("limit %q is not a positive number", s)
			}
			limit = min(limit, MaxEpochsPerQuery)
		}
		out := struct {
			Epochs    []ledger.EpochSettlement `json:"epochs"`
			NextEpoch uint64                   `json:"next_epoch"`
		}{Epochs: []ledger.EpochSettlement{}, NextEpoch: l.NextEpoch()}
		for e := after; e < l.NextEpoch() && uint64(len(out.Epochs)) < limit; e++ {
			s, ok, err := l.Epoch(ctx, e)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out.Epochs = append(out.Epochs, s)
			}
		}
		return out, true, nil
	case "validators":
		vs, err := l.Validators(ctx)
		return vs, true, err
	case "pools":
		ps, err := l.Pools(ctx)
		return ps, true, err
	case "pool":
		return ok3(l.Pool(ctx, arg))
	case "rmos":
		rs, err := l.RMOs(ctx)
		if err != nil {
			return nil, false, err
		}
		out := make([]RMOView, 0, len(rs))
		for _, r := range rs {
			v, err := rmoView(ctx, l, r)
			if err != nil {
				return nil, false, err
			}
			out = append(out, v)
		}
		return out, true, nil
	case "rmo":
		r, ok, err := l.RMO(ctx, arg)
		if err != nil || !ok {
			return nil, ok, err
		}
		v, err := rmoView(ctx, l, r)
		return v, true, err
	case "supply":
		if arg == "" {
			s, err := l.Supply(ctx)
			return s, true, err
		}
		s, err := l.SupplyOf(ctx, arg)
		return s, true, err
	case "treasury":
		t, err := l.Treasury(ctx)
		return t, true, err
	case "reserves":
		flock, mt, err := l.Reserves(ctx)
		return Reserves{FlockUSD: flock, MTUSD: mt}, true, err
	case "vesting":
		acct, model, _ := strings.Cut(arg, "/")
		return ok3(l.Vesting(ctx, acct, model))
	case "stake":
		acct, model, _ := strings.Cut(arg, "/")
		v, err := l.Stake(ctx, acct, model)
		return v, true, err
	case "stakes":
		v, err := l.Stakes(ctx, arg)
		return v, true, err
	case "rewards":
		return rewardsQuery(ctx, l, arg, q)
	case "emissions":
		return emissionsQuery(ctx, l, q)
	case "discount":
		parts := strings.Split(arg, "/")
		if len(parts) == 2 && strings.HasPrefix(q, "epoch=") {
			e, err := strconv.ParseUint(strings.TrimPrefix(q, "epoch="), 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("epoch %q is not a number", strings.TrimPrefix(q, "epoch="))
			}
			return ok3(l.Discount(ctx, parts[0], parts[1], e))
		}
		if len(parts) != 3 {
			return nil, false, fmt.Errorf("discount path %q is not <account>/<model>/<issued_ms> or <account>/<model>?epoch=N", arg)
		}
		ms, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || ms < 0 {
			return nil, false, fmt.Errorf("issued_ms %q is not a non-negative number", parts[2])
		}
		return ok3(l.DiscountAt(ctx, parts[0], parts[1], ms))
	}
	return nil, false, fmt.Errorf("unknown query path %q", path)
}

func rmoView(ctx context.Context, l *ledger.Ledger, r ledger.RMO) (RMOView, error) {
	v := RMOView{RMO: r, BlockTimeMs: l.TimeMs(), Outcome: ledger.RMOGraduated}
	if r.Status != ledger.RMOGraduated {
		v.Outcome = r.Outcome(v.BlockTimeMs).String()
	}
	n, err := l.RMOPositions(ctx, r.Model)
	v.Positions = n
	return v, err
}

func ok3[T any](v T, ok bool, err error) (any, bool, error) { return v, ok, err }
