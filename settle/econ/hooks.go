package econ

// The steps of DESIGN §9.4–9.7 run after the §9.3 split at epoch close, in a
// fixed order: the buybacks ([ExecuteBuybacks], buyback.go), then the
// emissions ([EmissionBudget], [AllocateEmissions], [SplitModelEmission] and
// [SplitGated], emission.go).
