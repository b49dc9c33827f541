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
