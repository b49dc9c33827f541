package ledger

// Tx is a transaction as the ledger applies it: the chain layer has already
// verified the signed envelope (domain fomo/tx/v1) of {account, nonce, body}.
type Tx struct {
	Account string
	// Nonce must be the account's nonce plus one.
	Nonce uint64
	Body  Body
}

// Body is a transaction body.
type Body interface {
	// Type is the stable name of the body kind.
	Type() string
}

// Deposit credits an account with usd bought off chain (fiat or USDC);
// only the protocol key may send it. Deposits mint usd only: FLOCK and MT
// enter the chain through genesis, the pools and graduation, never by a
// deposit (DESIGN §8).
type Deposit struct {
	To     string
	Denom  string
	Amount uint64
}

// Withdraw debits the sender: usd or flock leaves the chain and is recorded
// in the denom's [Supply] as withdrawn (never as a burn). MT cannot be
// withdrawn: the design gives it no off-chain form (DESIGN §8 names usd and
// FLOCK only).
type Withdraw struct {
	Denom  string
	Amount uint64
}

// Transfer moves an amount from the sender to another account.
type Transfer struct {
	To     string
	Denom  string
	Amount uint64
}

// AuthorizeKey authorizes a session key to sign for the sender.
type AuthorizeKey struct {
	Key         string
	SpendLimit  uint64
	ExpiresAtMs int64
}

// RevokeKey revokes a session key.
type RevokeKey struct{ Key string }

// RegisterNode registers the sender as a node, bonding flock (or adds to its bond).
type RegisterNode struct{ Bond uint64 }

// UnbondNode returns the sender's bond and removes it from every model it serves.
type UnbondNode struct{}

// RegisterModel registers a model with the sender as issuer.
type RegisterModel struct {
	Name           string
	ManifestSHA256 string
	Tier           string
	InputPrice     uint64
	OutputPrice    uint64
}

// ServeModel declares that the sender's node serves a model.
type ServeModel struct{ Model string }

// TreasurySpend moves an amount from the treasury account to another
// account; only the protocol key may send it.
type TreasurySpend struct {
	To     string
	Denom  string
	Amount uint64
}

// SubmitReceipts includes a batch of verified receipts; any account may submit.
type SubmitReceipts struct{ Receipts []Receipt }

// Swap trades AmountIn of DenomIn against a protocol pool for the pool's
// other denom; any account may send it (DESIGN §9.4: how users buy FLOCK
// with usd, and MT after graduation). It fails with [CodeBelowMinOut] when
// the trade would give less than MinOut. Pool is a pool id ([PoolState]).
type Swap struct {
	Pool     string
	DenomIn  string
	AmountIn uint64
	MinOut   uint64
}

// LaunchRMO opens the offering of a model (DESIGN §9.5); only the model's
// issuer may send it. It pays the launch fee (flock) to the treasury.
// RaiseMin and RaiseMax (flock base units) must lie within the model's tier
// bounds; DurationMs is the raise window, 0 for the genesis default (and at
// most that default). FirstBuy, when non-zero, is flock the issuer commits
// first, at the curve's start price, capped at the first-buy share of the
// supply; the rest is refunded.
type LaunchRMO struct {
	Model      string
	RaiseMin   uint64
	RaiseMax   uint64
	DurationMs int64
	FirstBuy   uint64
}

// Commit commits Amount flock to a model's open offering: the principal
// buys MT on the bonding curve (delivered at graduation), the commit fee is
// paid on top, and whatever the curve cannot fill is refunded in the same
// tx. A commit that sells out the sale bucket graduates the offering.
type Commit struct {
	Model  string
	Amount uint64
}

// Graduate graduates an offering whose window is over with at least its
// minimum raised; any account may send it.
type Graduate struct{ Model string }

// Redeem returns the sender's principal from an offering that failed (its
// window over below the minimum); fees are not refunded.
type Redeem struct{ Model string }

// ClaimVested pays the sender the MT of a model vested to it so far.
type ClaimVested struct{ Model string }

// Stake moves Amount of the model's MT (mt:<model>) from the sender's
// balance into its stake on the model (DESIGN §9.6). It counts from the
// snapshot of the next epoch.
type Stake struct {
	Model  string
	Amount uint64
}

// Unstake stops Amount of the sender's stake on a model from counting at
// once (in the current epoch's snapshot too) and starts its unbonding: it
// can be claimed from the epoch unbonding_epochs after the current one.
type Unstake struct {
	Model  string
	Amount uint64
}

// ClaimUnbonded pays the sender the MT of a model that has finished
// unbonding.
type ClaimUnbonded struct{ Model string }

// Type implements Body.
func (Stake) Type() string { return "stake" }

// Type implements Body.
func (Unstake) Type() string { return "unstake" }

// Type implements Body.
func (ClaimUnbonded) Type() string { return "claim_unbonded" }

// Type implements Body.
func (Deposit) Type() string { return "deposit" }

// Type implements Body.
func (Withdraw) Type() string { return "withdraw" }

// Type implements Body.
func (Transfer) Type() string { return "transfer" }

// Type implements Body.
func (AuthorizeKey) Type() string { return "authorize_key" }

// Type implements Body.
func (RevokeKey) Type() string { return "revoke_key" }

// Type implements Body.
func (RegisterNode) Type() string { return "register_node" }

// Type implements Body.
func (UnbondNode) Type() string { return "unbond_node" }

// Type implements Body.
func (RegisterModel) Type() string { return "register_model" }

// Type implements Body.
func (ServeModel) Type() string { return "serve_model" }

// Type implements Body.
func (TreasurySpend) Type() string { return "treasury_spend" }

// Type implements Body.
func (SubmitReceipts) Type() string { return "submit_receipts" }

// Type implements Body.
func (Swap) Type() string { return "swap" }

// Type implements Body.
func (LaunchRMO) Type() string { return "launch_rmo" }

// Type implements Body.
func (Commit) Type() string { return "commit" }

// Type implements Body.
func (Graduate) Type() string { return "graduate" }

// Type implements Body.
func (Redeem) Type() string { return "redeem" }

// Type implements Body.
func (ClaimVested) Type() string { return "claim_vested" }

// Code is a stable reason code recorded in block results.
type Code string

// Reason codes. Their strings are part of the protocol: never renumber or rename.
const (
	OK                 Code = "ok"
	CodeBadTx          Code = "bad_tx"
	CodeBadNonce       Code = "bad_nonce"
	CodeBadAmount      Code = "bad_amount"
	CodeBadDenom       Code = "bad_denom"
	CodeBadName        Code = "bad_name"
	CodeNotProtocol    Code = "not_protocol"
	CodeInsufficient   Code = "insufficient_funds"
	CodeOverflow       Code = "overflow"
	CodeSelfTransfer   Code = "self_transfer"
	CodeKeyExists      Code = "key_exists"
	CodeKeyUnknown     Code = "key_unknown"
	CodeKeyExpired     Code = "key_expired"
	CodeKeySpendLimit  Code = "key_spend_limit"
	CodeNodeUnknown    Code = "node_unknown"
	CodeModelExists    Code = "model_exists"
	CodeModelUnknown   Code = "model_unknown"
	CodeTierUnknown    Code = "tier_unknown"
	CodePriceBelowTier Code = "price_below_floor"
	CodeAlreadyServing Code = "already_serving"
	CodeTooManyRcpts   Code = "too_many_receipts"
	CodeEmptyBatch     Code = "empty_batch"
	// CodeDepositNotUSD refuses a deposit of any denom but usd.
	CodeDepositNotUSD Code = "deposit_not_usd"
	// CodeNotWithdrawable refuses a withdrawal of a denom that cannot
	// leave the chain (mt:<model>).
	CodeNotWithdrawable Code = "not_withdrawable"
	// CodeTreasuryAccount refuses a tx sent from the treasury account and
	// a receipt charging it: the treasury moves only by TreasurySpend.
	CodeTreasuryAccount Code = "treasury_account"
	// CodePoolUnknown refuses a swap against a pool that does not exist.
	CodePoolUnknown Code = "pool_unknown"
	// CodeBelowMinOut refuses a swap that would give less than its min_out.
	CodeBelowMinOut Code = "below_min_out"
	// CodeSwapTooSmall refuses a swap too small to buy one base unit.
	CodeSwapTooSmall Code = "swap_too_small"
	// CodeNotIssuer refuses a launch by anyone but the model's issuer.
	CodeNotIssuer Code = "not_issuer"
	// CodeNotServed refuses a launch of a model no registered node serves.
	CodeNotServed Code = "model_not_served"
	// CodeRMOExists refuses a second launch of a model.
	CodeRMOExists Code = "rmo_exists"
	// CodeRMOUnknown refuses a commit, graduation or redemption of a model
	// that has no offering.
	CodeRMOUnknown Code = "rmo_unknown"
	// CodeBadRaise refuses raise bounds outside the tier's, or a bad window.
	CodeBadRaise Code = "bad_raise"
	// CodeRMONotOpen refuses a commit once the window is over, the bucket
	// sold out or the offering closed.
	CodeRMONotOpen Code = "rmo_not_open"
	// CodeCommitTooSmall refuses a commit that buys no base unit of MT.
	CodeCommitTooSmall Code = "commit_too_small"
	// CodeNotGraduable refuses Graduate before the window ends, below the
	// minimum, or after graduation.
	CodeNotGraduable Code = "not_graduable"
	// CodeNotFailed refuses Redeem unless the offering failed.
	CodeNotFailed Code = "rmo_not_failed"
	// CodeNothingToRedeem refuses Redeem by an account with no principal
	// left in the failed offering.
	CodeNothingToRedeem Code = "nothing_to_redeem"
	// CodeNothingToClaim refuses ClaimVested when nothing has vested
	// beyond what was claimed.
	CodeNothingToClaim Code = "nothing_to_claim"
	// CodeRMODisabled refuses a launch on a network whose offering
	// parameters are unusable (no curve).
	CodeRMODisabled Code = "rmo_disabled"
	// CodeInsufficientStake refuses an Unstake of more than is staked.
	CodeInsufficientStake Code = "insufficient_stake"
	// CodeStillUnbonding refuses a ClaimUnbonded when unbonding MT exists
	// but none has reached its release epoch.
	CodeStillUnbonding Code = "still_unbonding"
	// CodeSessionKeyStake refuses staking txs sent by a session key:
	// stakes belong to accounts.
	CodeSessionKeyStake Code = "session_key_stake"
	// Per-receipt codes.
	CodeDuplicate     Code = "duplicate_receipt"
	CodeEpochClosed   Code = "epoch_closed"
	CodeEpochFuture   Code = "epoch_future"
	CodeTooLate       Code = "too_late"
	CodeNotServing    Code = "node_not_serving"
	CodePriceMismatch Code = "price_mismatch"
	CodeBadCharge     Code = "bad_charge"
	CodeBadSigner     Code = "bad_signer"
	// CodeUnpaid marks a receipt recorded unpaid: the account could not pay.
	CodeUnpaid Code = "unpaid"
	// CodeDiscountMismatch refuses a receipt whose prices lie within the
	// list price and the tier floor (else CodePriceMismatch) but are not
	// the account's effective prices in the epoch it was issued in
	// (DESIGN §9.2): a discount the account's opening stake does not
	// earn, or one it earns withheld.
	CodeDiscountMismatch Code = "discount_mismatch"
)

// ReceiptResult is the outcome of one receipt of a SubmitReceipts batch.
type ReceiptResult struct {
	ID   string `json:"id"`
	Code Code   `json:"code"`
}

// TxResult is the outcome of one transaction. A failed tx changes nothing
// (not even the nonce). A SubmitReceipts tx succeeds as a whole and reports
// each receipt's code: a failing receipt fails alone.
type TxResult struct {
	Code     Code            `json:"code"`
	Log      string          `json:"log,omitempty"`
	Receipts []ReceiptResult `json:"receipts,omitempty"`
}

// Block is what the consensus engine finalized.
type Block struct {
	Height int64
	TimeMs int64
	Txs    []Tx
}

// BlockResult is the outcome of a block.
type BlockResult struct {
	Txs []TxResult `json:"txs"`
	// ClosedEpochs lists the epochs closed by this block, in order.
	ClosedEpochs []uint64 `json:"closed_epochs,omitempty"`
	AppHash      [32]byte `json:"-"`
}
