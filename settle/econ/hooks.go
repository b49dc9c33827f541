package econ

// The steps of DESIGN §9.4–9.7 run after the §9.3 split at epoch close, in a
// fixed order: the buybacks ([ExecuteBuybacks], buyback.go), then the
// emissions. The emission hook below is still the identity: no emissions are
// paid.

// EmissionBudget is the §9.7 hook: the epoch's emission budget from the
// previous one. Not implemented yet: emissions are zero.
func EmissionBudget(previous uint64) uint64 { return 0 }
