package econ

// The steps of DESIGN §9.4–9.7 run after the §9.3 split at epoch close. They
// are declared here so the ledger can call them in a fixed order; in this
// version each is the identity: the buyback reserves accumulate usd and no
// emissions are paid.

// BuybackResult is what a §9.4 buyback executed: usd spent and tokens burned.
type BuybackResult struct {
	Model      string `json:"model,omitempty"`
	UsdSpent   uint64 `json:"usd_spent"`
	TokenBurnt uint64 `json:"token_burnt"`
}

// ExecuteBuybacks is the §9.4 hook: it would swap the reserves through the
// protocol pools and burn the proceeds. Not implemented yet: it spends nothing.
func ExecuteBuybacks(mtReserve, flockReserve uint64) (mt, flock BuybackResult) {
	return BuybackResult{}, BuybackResult{}
}

// EmissionBudget is the §9.7 hook: the epoch's emission budget from the
// previous one. Not implemented yet: emissions are zero.
func EmissionBudget(previous uint64) uint64 { return 0 }
