package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/fomonet/fomo/settle/ledger"
)

// Discounts is the body of GET /api/v1/discounts/{account}: the staking
// discount (DESIGN §9.2) of an account, in this epoch and the next, on
// each model it has stake on (counting now, at this epoch's start or for
// the next), as of the last block. A session key reads its account's.
type Discounts struct {
	Account string `json:"account"`
	// Epoch is the epoch of the last block's time.
	Epoch  uint64          `json:"epoch"`
	Models []ModelDiscount `json:"models"`
}

// ModelDiscount is an account's discount on one model. The discount of an
// epoch is fixed by the opening stake (what was staked at its start):
// stake added during an epoch counts from the next one, and an unstake
// lowers the next epochs' discount, not the current one's. CountingBase is
// the stake counting now (emissions), which an unstake lowers at once.
type ModelDiscount struct {
	Model        string `json:"model"`
	MTDenom      string `json:"mt_denom"`
	CountingBase uint64 `json:"counting_base"`
	// This epoch's and the next's, as the chain stands now.
	Now  EpochDiscount `json:"now"`
	Next EpochDiscount `json:"next"`
}

// EpochDiscount is the discount of one epoch: the opening stake, the
// discount in bps, and the model's list and effective prices (usd base
// units per 1M tokens; never below the tier floor).
type EpochDiscount struct {
	Epoch            uint64 `json:"epoch"`
	OpeningStakeBase uint64 `json:"opening_stake_base"`
	DiscountBps      uint32 `json:"discount_bps"`
	ListInputPrice   uint64 `json:"list_input_price"`
	ListOutputPrice  uint64 `json:"list_output_price"`
	InputPrice       uint64 `json:"input_price"`
	OutputPrice      uint64 `json:"output_price"`
}

func epochDiscount(d ledger.Discount) EpochDiscount {
	return EpochDiscount{Epoch: d.Epoch, OpeningStakeBase: d.OpeningStake, DiscountBps: d.DiscountBps,
		ListInputPrice: d.ListInputPrice, ListOutputPrice: d.ListOutputPrice, InputPrice: d.InputPrice, OutputPrice: d.OutputPrice}
}

// discountRoutes serves the discounts read from the chain.
func (s *Server) discountRoutes() {
	s.mux.HandleFunc("GET /api/v1/discounts/{account}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("account")
		var xs []ledger.StakeInfo
		if !s.chainGet(w, r, "/stakes/"+url.PathEscape(a), "", &xs) {
			return
		}
		out := Discounts{Account: a, Models: []ModelDiscount{}}
		for _, x := range xs {
			out.Account, out.Epoch = x.Account, x.Epoch
			md := ModelDiscount{Model: x.Model, MTDenom: ledger.MTDenom(x.Model), CountingBase: x.Counting}
			for _, e := range []struct {
				epoch uint64
				dst   *EpochDiscount
			}{{x.Epoch, &md.Now}, {x.Epoch + 1, &md.Next}} {
				var d ledger.Discount
				path := "/discount/" + url.PathEscape(x.Account) + "/" + url.PathEscape(x.Model) + "?epoch=" + strconv.FormatUint(e.epoch, 10)
				if !s.chainGet(w, r, path, "", &d) {
					return
				}
				*e.dst = epochDiscount(d)
			}
			if md.CountingBase > 0 || md.Now.OpeningStakeBase > 0 || md.Next.OpeningStakeBase > 0 {
				out.Models = append(out.Models, md) // not only unbonding MT
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
}
