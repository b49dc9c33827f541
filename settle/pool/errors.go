package pool

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Reasons the pool gives for refusing a receipt (Stats counts them; they
// are stable snake_case strings). A Verifier's *VerifyError supplies its
// own reasons.
const (
	// ReasonMalformed: the message could not be decoded.
	ReasonMalformed = "malformed"
	// ReasonVerifyFailed: the Verifier failed without judging the receipt
	// (an error that is not a *VerifyError).
	ReasonVerifyFailed = "verify_failed"
	// ReasonDuplicate: the pool already holds this exact receipt.
	ReasonDuplicate = "duplicate"
	// ReasonConflict: the pool holds another receipt for the same
	// authorization; the new one is kept as evidence.
	ReasonConflict = "conflict"
	// ReasonEpochClosed: the receipt was issued in an epoch that is closed.
	ReasonEpochClosed = "epoch_closed"
	// ReasonClosed: the pool was closing.
	ReasonClosed = "closed"
	// ReasonStore: the datastore failed.
	ReasonStore = "store_error"
)

// Sentinel errors; the typed errors below match them with errors.Is.
var (
	// ErrDuplicate: the pool already holds this receipt.
	ErrDuplicate = errors.New("pool: duplicate receipt")
	// ErrConflict: the pool holds a different receipt for the same
	// authorization.
	ErrConflict = errors.New("pool: another receipt exists for this authorization")
	// ErrEpochClosed: the receipt's epoch is closed.
	ErrEpochClosed = errors.New("pool: the receipt's epoch is closed")
	// ErrInsufficientQuota: the account cannot cover the authorization
	// (the API answers 402, OpenAI error type insufficient_quota).
	ErrInsufficientQuota = errors.New("pool: insufficient quota")
	// ErrClosed: the pool is closed.
	ErrClosed = errors.New("pool: closed")
)

// VerifyError is the error a Verifier returns for an invalid receipt. Its
// Reason is a stable snake_case code. Ignore marks failures that depend on
// state peers may not share yet (chain height, clock) rather than on the
// message itself: the topic validator then ignores the message instead of
// rejecting it, so the forwarder is not penalised.
type VerifyError struct {
	Reason string
	Ignore bool
	Err    error
}

// Error implements error.
func (e *VerifyError) Error() string {
	if e.Err == nil {
		return "pool: invalid receipt: " + e.Reason
	}
	return "pool: invalid receipt: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// DuplicateError is returned by Add for a receipt the pool already holds;
// Entry is the held one.
type DuplicateError struct{ Entry Entry }

// Error implements error.
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("pool: duplicate receipt %s", e.Entry.ID)
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// ConflictError is returned by Add for a receipt whose authorization
// already paid for another receipt. The new receipt was kept as evidence
// against its node (Pool.Evidence).
type ConflictError struct {
	// Held is the receipt the pool counts.
	Held Entry
	// Conflict is the refused receipt, kept as evidence.
	Conflict Entry
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("pool: receipt %s already paid to node %s; the receipt from node %s is kept as evidence",
		e.Held.ID, e.Held.Node, e.Conflict.Node)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// EpochClosedError is returned by Add for a receipt of a closed epoch.
type EpochClosedError struct{ Epoch uint64 }

// Error implements error.
func (e *EpochClosedError) Error() string {
	return fmt.Sprintf("pool: the receipt's epoch %d is closed", e.Epoch)
}

// Is makes errors.Is(err, ErrEpochClosed) true.
func (e *EpochClosedError) Is(target error) bool { return target == ErrEpochClosed }

// QuotaError is returned by Admit when balance − pending − max_charge
// would be negative.
type QuotaError struct {
	Account   peer.ID
	Balance   uint64
	Pending   uint64
	MaxCharge uint64
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("pool: insufficient quota for account %s: balance %d, pending %d, max charge %d",
		e.Account, e.Balance, e.Pending, e.MaxCharge)
}

// Is makes errors.Is(err, ErrInsufficientQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrInsufficientQuota }

// KeyLimitError is returned by Reserve when a session key's spend limit
// cannot cover a request: left − pending − max_charge would be negative,
// pending counting the key's receipts not yet settled and its requests in
// progress.
type KeyLimitError struct {
	Key       peer.ID
	Left      uint64
	Pending   uint64
	MaxCharge uint64
}

// Error implements error.
func (e *KeyLimitError) Error() string {
	return fmt.Sprintf("pool: session key %s has %d left of its spend limit, %d pending, max charge %d",
		e.Key, e.Left, e.Pending, e.MaxCharge)
}

// Is makes errors.Is(err, ErrInsufficientQuota) true.
func (e *KeyLimitError) Is(target error) bool { return target == ErrInsufficientQuota }

// ErrAmbiguousID: a receipt id prefix matches more than one receipt.
var ErrAmbiguousID = errors.New("pool: ambiguous receipt id prefix")

// AmbiguousIDError is returned by Find for a prefix that matches more
// than one receipt.
type AmbiguousIDError struct {
	Prefix string
	// Count is how many receipts the prefix matches.
	Count int
}

// Error implements error.
func (e *AmbiguousIDError) Error() string {
	return fmt.Sprintf("receipt id prefix %s matches %d receipts: give more digits", e.Prefix, e.Count)
}

// Is makes errors.Is(err, ErrAmbiguousID) true.
func (e *AmbiguousIDError) Is(target error) bool { return target == ErrAmbiguousID }
