// Package ledger is the deterministic state machine of the fomo settlement
// chain (DESIGN §8, §9.1–9.5): accounts and balances per denom, session keys,
// the node and model registries, per-model epoch escrow, buyback reserves,
// the treasury, the protocol pools and swaps, the offerings (RMO) with their
// graduation and vesting, and the epoch close that runs the §9.3 revenue
// split and the §9.4 buybacks and burns.
//
// The ledger is driven by blocks ([Ledger.ApplyBlock]) and keeps its state in
// an injected go-datastore under the /fomo/ledger namespace. It uses no wall
// clock, goroutines, floats or randomness, and never lets map iteration order
// reach state or output: two ledgers fed the same genesis and blocks hold the
// same state and report the same [Ledger.AppHash] (an incremental hash of
// every block's write set) and [Ledger.StateHash] (a hash of the whole state).
//
// Ordering rules: transactions apply in block order; the receipts of one
// SubmitReceipts transaction apply in ascending receipt id order, whatever
// order they were listed in; epoch close walks receipts by (model, id).
//
// Signatures are not checked here: the chain layer opens and verifies the
// signed tx and receipt envelopes and hands the ledger plain structs.
package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/fomonet/fomo/settle/econ"
)

// Denominations.
const (
	DenomUSD   = "usd"
	DenomFlock = "flock"
	// DenomMTPrefix prefixes the per-model token denom: "mt:<model>".
	DenomMTPrefix = "mt:"
)

// TreasuryAccount is the well-known account of the protocol treasury
// (DESIGN §9: dust, the treasury share of the net split, launch and commit
// fees). It is an ordinary account in the state, so its balances show
// through [Ledger.Account] and the account queries, but no transaction may
// be sent from it: it is spent only by the protocol key's [TreasurySpend].
// Real accounts are peer IDs, so no key can own this name.
const TreasuryAccount = "treasury"

// Supply is what entered and left the chain for one denom (DESIGN §9.8).
// Conservation holds when, for every denom, the state's holdings (balances,
// bonds, escrows, reserves) + Burned + Withdrawn == Minted.
type Supply struct {
	// Minted counts the genesis allocation (balances and node bonds) and
	// every later issuance: deposits for usd, graduation mints for MT.
	Minted uint64 `json:"minted"`
	// Burned is what buybacks destroyed.
	Burned uint64 `json:"burned"`
	// Withdrawn is what Withdraw moved off chain (usd and flock only).
	Withdrawn uint64 `json:"withdrawn"`
}

// MTDenom returns the denom of a model's token.
func MTDenom(model string) string { return DenomMTPrefix + model }

// Tier is one entry of the genesis tier catalogue (DESIGN §9.1).
type Tier struct {
	Name           string `json:"name"`
	CostPerMTok    uint64 `json:"cost_per_mtok"`
	MinInputPrice  uint64 `json:"min_input_price"`
	MinOutputPrice uint64 `json:"min_output_price"`
	RaiseMin       uint64 `json:"raise_min"`
	RaiseMax       uint64 `json:"raise_max"`
}

// GenesisAccount is an account funded at genesis.
type GenesisAccount struct {
	ID       string            `json:"id"`
	Balances map[string]uint64 `json:"balances"`
}

// Genesis is the initial state and the fixed parameters of a network.
type Genesis struct {
	GenesisTimeMs int64            `json:"genesis_time_ms"`
	EpochMs       int64            `json:"epoch_ms"`
	GraceMs       int64            `json:"grace_ms"`
	ProtocolKey   string           `json:"protocol_key"`
	Params        econ.Params      `json:"params"`
	Tiers         []Tier           `json:"tiers"`
	Accounts      []GenesisAccount `json:"accounts"`
	// MaxReceiptsPerTx bounds a SubmitReceipts batch (default 1,000).
	MaxReceiptsPerTx int `json:"max_receipts_per_tx"`
	// LateReceiptMs is how long after its authorization was issued a
	// receipt is still charged when its own epoch has closed: it is then
	// charged in the oldest open epoch (default DefaultLateReceiptMs). A
	// receipt a client holds must not become free because its serving node
	// crashed or the chain was slow.
	LateReceiptMs int64 `json:"late_receipt_ms,omitempty"`
	// ReceiptRetentionEpochs is how many epochs after its own an epoch's
	// per-receipt records (each receipt's state and the epoch's ids, which
	// proofs of inclusion are built from) are kept: once epoch e +
	// ReceiptRetentionEpochs has closed, epoch e's are pruned, a bounded
	// number per block, oldest first. 0 means
	// [Genesis.RetentionEpochs]'s default. It must be at least
	// [Genesis.MinRetentionEpochs], so that a pruned id is always refused
	// as too late and can never be charged twice.
	ReceiptRetentionEpochs uint64 `json:"receipt_retention_epochs,omitempty"`
	// PowerUnit is the bond (flock base units) per unit of voting power and
	// MaxValidators the size of the validator set (see [Ledger.Validators]).
	PowerUnit     uint64 `json:"power_unit,omitempty"`
	MaxValidators int    `json:"max_validators,omitempty"`
	// Economics are the economic parameters beyond Params.
	Economics Economics `json:"economics"`
	// Nodes are registered at genesis with their bonds (flock that enters
	// the supply as bonded) and the genesis models they serve; the genesis
	// validators must be among them, or the first epoch close would leave
	// the chain without validators.
	Nodes []GenesisNode `json:"nodes,omitempty"`
	// SessionKeys are authorized at genesis.
	SessionKeys []GenesisSessionKey `json:"session_keys,omitempty"`
	// Models are registered at genesis.
	Models []GenesisModel `json:"models,omitempty"`
}

// Economics are the economic parameters of DESIGN §9 that econ.Params
// does not hold. The ledger takes every value literally (zero is zero):
// defaults are applied where the network genesis is read
// (configs/networks). Most belong to steps not implemented yet (pools,
// the offering, staking, emissions): the ledger genesis carries them so
// that those steps read them from here. Bps are basis points; durations
// are milliseconds of block time; amounts are base units.
type Economics struct {
	SwapFeeBps           uint32 `json:"swap_fee_bps"`
	LaunchFee            uint64 `json:"launch_fee"`
	MTSupply             uint64 `json:"mt_supply"`
	FirstBuyMaxBps       uint32 `json:"first_buy_max_bps"`
	CommitFeeTreasuryBps uint32 `json:"commit_fee_treasury_bps"`
	CommitFeeIssuerBps   uint32 `json:"commit_fee_issuer_bps"`
	RaiseWindowMs        int64  `json:"raise_window_ms"`
	AllocSaleBps         uint32 `json:"alloc_sale_bps"`
	AllocLiquidityBps    uint32 `json:"alloc_liquidity_bps"`
	AllocIncentivesBps   uint32 `json:"alloc_incentives_bps"`
	AllocIssuerBps       uint32 `json:"alloc_issuer_bps"`
	AllocTreasuryBps     uint32 `json:"alloc_treasury_bps"`
	IssuerVestingMs      int64  `json:"issuer_vesting_ms"`
	RaisePoolBps         uint32 `json:"raise_pool_bps"`
	RaiseReservedBps     uint32 `json:"raise_reserved_bps"`
	RaiseIssuerBps       uint32 `json:"raise_issuer_bps"`
	// UnbondingEpochs is how many epochs an unstake takes (§9.6).
	UnbondingEpochs    uint32 `json:"unbonding_epochs"`
	EmissionHalfLifeMs int64  `json:"emission_half_life_ms"`
	AgeFloorBps        uint32 `json:"age_floor_bps"`
	AgeHorizonMs       int64  `json:"age_horizon_ms"`
	EmissionCapBps     uint32 `json:"emission_cap_bps"`
	IssuerBonusBps     uint32 `json:"issuer_bonus_bps"`
	AlphaBps           uint32 `json:"alpha_bps"`
	IncentiveReleaseMs int64  `json:"incentive_release_ms"`
	// FlockPoolFlock and FlockPoolUSD seed the protocol FLOCK/usd pool at
	// genesis: both are minted into the pool and counted in the supply.
	// Both zero means the network has no pool (and its buybacks carry
	// over); one zero is invalid.
	FlockPoolFlock uint64 `json:"flock_pool_flock,omitempty"`
	FlockPoolUSD   uint64 `json:"flock_pool_usd,omitempty"`
	// BuybackMaxImpactBps bounds how far one epoch's buybacks move each
	// pool's price (§9.4); the rest of a reserve carries over.
	BuybackMaxImpactBps uint32 `json:"buyback_max_impact_bps,omitempty"`
	// CurveStartBps is the offering curve's start price in bps of its
	// average price (§9.5); 0 leaves the network without offerings.
	CurveStartBps uint32 `json:"curve_start_bps,omitempty"`
	// EmissionReserveFlock is the genesis emission reserve (§9.7), minted
	// into a reserve record; 0 leaves the network without emissions and
	// without stake-gated releases. EmissionFirstEpochFlock is the first
	// epoch's budget; 0 takes reserve × (1 − retention), so that the
	// decaying budgets sum to the reserve.
	EmissionReserveFlock    uint64 `json:"emission_reserve_flock,omitempty"`
	EmissionFirstEpochFlock uint64 `json:"emission_first_epoch_flock,omitempty"`
}

// RMOParams returns the offering parameters of econ's curve and
// graduation math, read from the genesis: the genesis is the one source of
// their values (econ.DefaultRMOParams mirrors the network defaults).
func (e Economics) RMOParams() econ.RMOParams {
	return econ.RMOParams{
		Supply:             e.MTSupply,
		SaleBps:            e.AllocSaleBps,
		LiquidityBps:       e.AllocLiquidityBps,
		IncentivesBps:      e.AllocIncentivesBps,
		IssuerBps:          e.AllocIssuerBps,
		TreasuryBps:        e.AllocTreasuryBps,
		CommitFeeBps:       e.CommitFeeTreasuryBps + e.CommitFeeIssuerBps,
		CommitFeeIssuerBps: e.CommitFeeIssuerBps,
		FirstBuyMaxBps:     e.FirstBuyMaxBps,
		LaunchFee:          e.LaunchFee,
		RaiseWindowMs:      e.RaiseWindowMs,
		CurveStartBps:      e.CurveStartBps,
		RaiseLiquidityBps:  e.RaisePoolBps,
		RaiseReservedBps:   e.RaiseReservedBps,
		RaiseIssuerBps:     e.RaiseIssuerBps,
		IssuerVestingMs:    e.IssuerVestingMs,
		PoolFeeBps:         e.SwapFeeBps,
	}
}

// BuybackParams returns the §9.4 buyback parameters read from the genesis.
func (e Economics) BuybackParams() econ.BuybackParams {
	return econ.BuybackParams{MaxImpactBps: e.BuybackMaxImpactBps}
}

// Validate checks the bounds that keep every split conserving: no share
// above 10,000 bps, no group of shares above 10,000 in all, no negative
// duration. (The network genesis also requires the groups to sum to
// exactly 10,000.)
func (e Economics) Validate() error {
	// Sums in 64 bits: shares of up to 2^32−1 each cannot wrap them.
	sum := func(vs ...uint32) uint64 {
		var t uint64
		for _, v := range vs {
			t += uint64(v)
		}
		return t
	}
	for _, b := range []struct {
		name string
		v    uint64
	}{
		{"swap_fee_bps", sum(e.SwapFeeBps)}, {"first_buy_max_bps", sum(e.FirstBuyMaxBps)}, {"age_floor_bps", sum(e.AgeFloorBps)},
		{"emission_cap_bps", sum(e.EmissionCapBps)}, {"issuer_bonus_bps", sum(e.IssuerBonusBps)}, {"alpha_bps", sum(e.AlphaBps)},
		{"commit_fee_treasury_bps + commit_fee_issuer_bps", sum(e.CommitFeeTreasuryBps, e.CommitFeeIssuerBps)},
		{"alloc_*_bps", sum(e.AllocSaleBps, e.AllocLiquidityBps, e.AllocIncentivesBps, e.AllocIssuerBps, e.AllocTreasuryBps)},
		{"raise_*_bps", sum(e.RaisePoolBps, e.RaiseReservedBps, e.RaiseIssuerBps)},
	} {
		if b.v > 10_000 {
			return fmt.Errorf("economics: %s is %d, above 10000", b.name, b.v)
		}
	}
	if (e.FlockPoolFlock == 0) != (e.FlockPoolUSD == 0) {
		return errors.New("economics: flock_pool_flock and flock_pool_usd must both be zero or both positive")
	}
	if e.CurveStartBps > 10_000 {
		return fmt.Errorf("economics: curve_start_bps is %d, above 10000", e.CurveStartBps)
	}
	if e.RaiseWindowMs < 0 || e.IssuerVestingMs < 0 || e.EmissionHalfLifeMs < 0 || e.AgeHorizonMs < 0 || e.IncentiveReleaseMs < 0 {
		return errors.New("economics: a duration is negative")
	}
	return nil
}

// GenesisNode is a node registered at genesis.
type GenesisNode struct {
	ID     string   `json:"id"`
	Bond   uint64   `json:"bond"`
	Serves []string `json:"serves,omitempty"`
}

// GenesisSessionKey is a session key authorized at genesis.
type GenesisSessionKey struct {
	Account     string `json:"account"`
	Key         string `json:"key"`
	SpendLimit  uint64 `json:"spend_limit"`
	ExpiresAtMs int64  `json:"expires_at_ms"`
}

// GenesisModel is a model registered at genesis.
type GenesisModel struct {
	Name           string `json:"name"`
	Issuer         string `json:"issuer"`
	ManifestSHA256 string `json:"manifest_sha256"`
	Tier           string `json:"tier"`
	InputPrice     uint64 `json:"input_price"`
	OutputPrice    uint64 `json:"output_price"`
}

// Account is the state of one account.
type Account struct {
	Balances map[string]uint64 `json:"balances,omitempty"`
	// Nonce is the number of transactions the account has had applied; the
	// next transaction must carry Nonce+1.
	Nonce uint64 `json:"nonce"`
	// Overdrawn is set when a receipt of the account could not be paid and
	// cleared when the account is credited.
	Overdrawn bool `json:"overdrawn,omitempty"`
	// UnpaidUSD is the total of receipts recorded unpaid.
	UnpaidUSD uint64 `json:"unpaid_usd,omitempty"`
}

// SessionKey is a key an account authorized to sign on its behalf.
type SessionKey struct {
	Key         string `json:"key"`
	SpendLimit  uint64 `json:"spend_limit"`
	Spent       uint64 `json:"spent"`
	ExpiresAtMs int64  `json:"expires_at_ms"`
}

// Node is a registered node; its id is its account.
type Node struct {
	ID   string `json:"id"`
	Bond uint64 `json:"bond"`
}

// Model is a registered model.
type Model struct {
	Name           string   `json:"name"`
	Issuer         string   `json:"issuer"`
	ManifestSHA256 string   `json:"manifest_sha256"`
	Tier           string   `json:"tier"`
	InputPrice     uint64   `json:"input_price"`
	OutputPrice    uint64   `json:"output_price"`
	Nodes          []string `json:"nodes,omitempty"`
}

// Receipt is what the ledger needs of one verified receipt.
type Receipt struct {
	ID [32]byte `json:"-"`
	// Account pays; Signer is the account itself or one of its session keys.
	Account      string `json:"account"`
	Signer       string `json:"signer"`
	Model        string `json:"model"`
	Node         string `json:"node"`
	EntryNode    string `json:"entry_node,omitempty"`
	IssuedAtMs   int64  `json:"issued_at_ms"`
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
	InputPrice   uint64 `json:"input_price"`
	OutputPrice  uint64 `json:"output_price"`
	Charge       uint64 `json:"charge"`
}

// IDHex returns the receipt id in lower-case hex.
func (r *Receipt) IDHex() string { return hex.EncodeToString(r.ID[:]) }

// validName reports whether s is a usable registry/account name: 1–128
// characters of [A-Za-z0-9._-] starting with a letter or digit (so that no
// name is a datastore path element such as "..").
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 || strings.IndexByte("._-", s[0]) >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-", c) >= 0) {
			return false
		}
	}
	return true
}

// validDenom reports whether d is usd, flock or mt:<name>.
func validDenom(d string) bool {
	if d == DenomUSD || d == DenomFlock {
		return true
	}
	return strings.HasPrefix(d, DenomMTPrefix) && validName(d[len(DenomMTPrefix):])
}
