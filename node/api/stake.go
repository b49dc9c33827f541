package api

import (
	"net/http"
	"net/url"

	"github.com/fomonet/fomo/settle/ledger"
)

// Stakes is the body of GET /api/v1/stakes/{account}: every stake
// position of an account (DESIGN §9.6), in model order, as of the last
// block. A session key reads its account's stakes; an account with none
// has an empty list.
type Stakes struct {
	Account   string          `json:"account"`
	Positions []StakePosition `json:"positions"`
}

// StakePosition is an account's stake on one model. StakedBase is the MT
// bonded; it all counts from the epoch after Epoch, while CountingBase is
// what counts in Epoch (stakes made during Epoch count from the next one).
type StakePosition struct {
	Model   string `json:"model"`
	MTDenom string `json:"mt_denom"`
	// Epoch is the epoch of the last block's time.
	Epoch        uint64 `json:"epoch"`
	StakedBase   uint64 `json:"staked_base"`
	CountingBase uint64 `json:"counting_base"`
	// UnbondingBase is the MT unstaked and not yet claimed, ClaimableBase
	// the part of it released (ClaimUnbonded pays it now).
	UnbondingBase uint64           `json:"unbonding_base"`
	ClaimableBase uint64           `json:"claimable_base"`
	Unbonding     []StakeUnbonding `json:"unbonding"`
}

// StakeUnbonding is unstaked MT that ClaimUnbonded pays from ReleaseEpoch
// on; Claimable says that epoch has come.
type StakeUnbonding struct {
	AmountBase   uint64 `json:"amount_base"`
	ReleaseEpoch uint64 `json:"release_epoch"`
	Claimable    bool   `json:"claimable"`
}

// stakeRoutes serves the stake positions read from the chain.
func (s *Server) stakeRoutes() {
	s.mux.HandleFunc("GET /api/v1/stakes/{account}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("account")
		var xs []ledger.StakeInfo
		if s.chainGet(w, r, "/stakes/"+url.PathEscape(a), "", &xs) {
			writeJSON(w, http.StatusOK, stakesView(a, xs))
		}
	})
}

// stakesView is the positions of account as the chain answers them; the
// account is the chain's (a session key's account) when it names one.
func stakesView(account string, xs []ledger.StakeInfo) Stakes {
	out := Stakes{Account: account, Positions: make([]StakePosition, 0, len(xs))}
	for _, x := range xs {
		out.Account = x.Account
		p := StakePosition{Model: x.Model, MTDenom: ledger.MTDenom(x.Model), Epoch: x.Epoch, StakedBase: x.Staked, CountingBase: x.Counting,
			Unbonding: make([]StakeUnbonding, 0, len(x.Unbonding))}
		for _, u := range x.Unbonding {
			c := u.ReleaseEpoch <= x.Epoch
			p.Unbonding = append(p.Unbonding, StakeUnbonding{AmountBase: u.Amount, ReleaseEpoch: u.ReleaseEpoch, Claimable: c})
			p.UnbondingBase += u.Amount
			if c {
				p.ClaimableBase += u.Amount
			}
		}
		out.Positions = append(out.Positions, p)
	}
	return out
}
