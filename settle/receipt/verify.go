package receipt

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Reason names the validity rule a receipt or authorization breaks. The
// values are stable: they appear in logs, API errors and stored evidence.
type Reason string

// Reasons. Each names one rule of DESIGN §6.
const (
	// ReasonMalformed: an envelope or payload does not decode, is not in
	// canonical encoding, is too large, or has a field of the wrong form.
	ReasonMalformed Reason = "malformed"
	// ReasonBadClientSignature: the authorization's signature does not
	// verify, or its key is not the authorization's signer.
	ReasonBadClientSignature Reason = "bad_client_signature"
	// ReasonBadNodeSignature: the receipt's signature does not verify, or
	// its key is not the receipt's node.
	ReasonBadNodeSignature Reason = "bad_node_signature"
	// ReasonWrongNetwork: the authorization names another network.
	ReasonWrongNetwork Reason = "wrong_network"
	// ReasonPayeeMismatch: the authorization names a node other than the
	// one that signed the receipt.
	ReasonPayeeMismatch Reason = "payee_mismatch"
	// ReasonUnknownModel: the model is not registered or not active.
	ReasonUnknownModel Reason = "unknown_model"
	// ReasonPriceMismatch: the quoted prices are not the model's.
	ReasonPriceMismatch Reason = "price_mismatch"
	// ReasonOutputOverCap: more output tokens than max_output_tokens.
	ReasonOutputOverCap Reason = "output_over_cap"
	// ReasonChargeMismatch: the receipt's charge is not the deterministic
	// charge of its tokens at the quoted prices.
	ReasonChargeMismatch Reason = "charge_mismatch"
	// ReasonChargeOverMax: the deterministic charge exceeds max_charge (or
	// does not fit in 64 bits).
	ReasonChargeOverMax Reason = "charge_over_max"
	// ReasonBadExpiry: expires_at_ms is not after issued_at_ms or is more
	// than MaxTTL after it.
	ReasonBadExpiry Reason = "bad_expiry"
	// ReasonExpired: the receipt completed more than ClockSkew after the
	// authorization expired.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: the receipt started more than ClockSkew before the
	// authorization was issued.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonUnknownFinish: the finish is not stop, length, cancelled or
	// error.
	ReasonUnknownFinish Reason = "unknown_finish"
	// ReasonUnknownSigner: the signer is neither the account nor a session
	// key the account ever authorized.
	ReasonUnknownSigner Reason = "unknown_signer"
	// ReasonSignerNotAuthorized: the signer is a session key of the
	// account that may not sign this authorization (expired, revoked, or
	// out of spend).
	ReasonSignerNotAuthorized Reason = "signer_not_authorized"
	// ReasonEpochClosed: the authorization was issued in an epoch that is
	// closed.
	ReasonEpochClosed Reason = "epoch_closed"
	// ReasonReplay: a receipt for the same authorization was seen or
	// settled before.
	ReasonReplay Reason = "replay"
)

// Reasons returns every reason, in the order Verify checks its rule.
func Reasons() []Reason {
	return []Reason{
		ReasonMalformed,
		ReasonBadNodeSignature,
		ReasonBadClientSignature,
		ReasonWrongNetwork,
		ReasonBadExpiry,
		ReasonUnknownFinish,
		ReasonPayeeMismatch,
		ReasonNotYetValid,
		ReasonExpired,
		ReasonOutputOverCap,
		ReasonChargeMismatch,
		ReasonChargeOverMax,
		ReasonUnknownModel,
		ReasonPriceMismatch,
		ReasonUnknownSigner,
		ReasonSignerNotAuthorized,
		ReasonEpochClosed,
		ReasonReplay,
	}
}

// Invalid is the error of a receipt or authorization that breaks a
// validity rule.
type Invalid struct {
	// Reason names the rule.
	Reason Reason
	// Detail says what was wrong, for people.
	Detail string
}

func (e *Invalid) Error() string {
	if e.Detail == "" {
		return "invalid receipt: " + string(e.Reason)
	}
	return "invalid receipt: " + string(e.Reason) + ": " + e.Detail
}

func invalid(reason Reason, format string, args ...any) *Invalid {
	return &Invalid{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason of an [*Invalid] in err's chain, or "" if
// there is none.
func ReasonOf(err error) Reason {
	var inv *Invalid
	if errors.As(err, &inv) {
		return inv.Reason
	}
	return ""
}

// ErrUnknownSigner is returned (possibly wrapped) by [Signers] for a
// signer that was never authorized for the account.
var ErrUnknownSigner = errors.New("unknown signer")

// Prices gives a model's registered prices, usd base units per 1M tokens;
// ok is false when the model is not registered or not active.
type Prices interface {
	Prices(model string) (in, out uint64, ok bool)
}

// Signers says whether signer, a session key other than the account
// itself, may sign an authorization for account issued at atMs
// (authorized, unexpired, with spend left). It returns nil if so, an error
// wrapping [ErrUnknownSigner] if the key was never authorized for the
// account, and any other error otherwise.
type Signers interface {
	Authorized(account, signer peer.ID, atMs uint64) error
}

// Epochs says whether the epoch containing issuedAtMs is still open.
type Epochs interface {
	Open(issuedAtMs uint64) bool
}

// Seen says whether a receipt with this id was seen or settled before.
type Seen interface {
	Seen(id [32]byte) bool
}

// Checker supplies what Verify needs beyond the receipt itself. Every
// zero field skips its rules.
type Checker struct {
	// NetworkID is this network's id; authorizations for others are
	// wrong_network.
	NetworkID string
	// Prices checks unknown_model and price_mismatch.
	Prices Prices
	// Signers checks unknown_signer and signer_not_authorized for
	// authorizations signed by a session key. An account's own key is
	// always authorized.
	Signers Signers
	// Epochs checks epoch_closed.
	Epochs Epochs
	// Seen checks replay.
	Seen Seen
}

// Verify opens a receipt envelope ([OpenReceipt]) and checks every validity
// rule of DESIGN §6, in the order of [Reasons]: both signatures, the
// network, the validity window (expires_at_ms ≤ issued_at_ms + MaxTTL),
// the finish, the payee, the receipt's times against the window (with
// ClockSkew of tolerance), the output cap, the charge (equal to
// [Charge] at the quoted prices, and at most max_charge), then through chk
// the model's prices, the signer's authorization, the epoch and replay.
// A broken rule is an [*Invalid] naming it; a cancelled ctx returns
// ctx.Err() before the checks that consult chk.
func Verify(ctx context.Context, envelope []byte, chk Checker) (*SignedReceipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sr, bad := openReceipt(envelope, verifyOne)
	if bad != nil {
		return nil, bad
	}
	return checkAll(ctx, sr, chk)
}

// checkAll applies the rules of Verify to an opened receipt.
func checkAll(ctx context.Context, sr *SignedReceipt, chk Checker) (*SignedReceipt, error) {
	a := &sr.Authorization.Authorization
	if bad := checkAuthorization(a, chk.NetworkID); bad != nil {
		return nil, bad
	}
	if bad := checkReceipt(sr); bad != nil {
		return nil, bad
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if bad := checkState(a, sr.ID(), chk); bad != nil {
		return nil, bad
	}
	return sr, nil
}

// VerifyAuthorization opens an authorization envelope
// ([OpenAuthorization]) and checks the rules of DESIGN §6 that concern the
// authorization alone, as Verify does: network, validity window, prices,
// signer, epoch and replay. A node runs it before serving a request; it
// does not compare expires_at_ms with the current time, which the caller
// knows.
func VerifyAuthorization(ctx context.Context, envelope []byte, chk Checker) (*SignedAuthorization, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sa, bad := openAuthorization(envelope, verifyOne)
	if bad != nil {
		return nil, bad
	}
	if bad := checkAuthorization(&sa.Authorization, chk.NetworkID); bad != nil {
		return nil, bad
	}
	if bad := checkState(&sa.Authorization, sa.ID(), chk); bad != nil {
		return nil, bad
	}
	return sa, nil
}

// checkWindow checks issued_at_ms < expires_at_ms ≤ issued_at_ms + MaxTTL.
func checkWindow(a *Authorization) *Invalid {
	if a.ExpiresAtMs <= a.IssuedAtMs {
		return invalid(ReasonBadExpiry, "expires_at_ms %d is not after issued_at_ms %d", a.ExpiresAtMs, a.IssuedAtMs)
	}
	if a.ExpiresAtMs-a.IssuedAtMs > uint64(MaxTTL.Milliseconds()) {
		return invalid(ReasonBadExpiry, "valid for %d ms, more than %d", a.ExpiresAtMs-a.IssuedAtMs, MaxTTL.Milliseconds())
	}
	return nil
}

// checkAuthorization checks the stateless rules of an authorization.
func checkAuthorization(a *Authorization, networkID string) *Invalid {
	if networkID != "" && a.NetworkID != networkID {
		return invalid(ReasonWrongNetwork, "authorization is for network %q, this is %q", a.NetworkID, networkID)
	}
	return checkWindow(a)
}

// checkReceipt checks the stateless rules that relate a receipt to its
// authorization.
func checkReceipt(sr *SignedReceipt) *Invalid {
	r := &sr.Receipt
	a := &sr.Authorization.Authorization
	if !r.Finish.Valid() {
		return invalid(ReasonUnknownFinish, "finish %q", r.Finish)
	}
	if a.Node != "" && a.Node != r.Node {
		return invalid(ReasonPayeeMismatch, "authorization pays %s, receipt signed by %s", a.Node, r.Node)
	}
	skew := uint64(ClockSkew.Milliseconds())
	if addSat(r.StartedAtMs, skew) < a.IssuedAtMs {
		return invalid(ReasonNotYetValid, "started at %d, authorization issued at %d", r.StartedAtMs, a.IssuedAtMs)
	}
	if r.CompletedAtMs > addSat(a.ExpiresAtMs, skew) {
		return invalid(ReasonExpired, "completed at %d, authorization expired at %d", r.CompletedAtMs, a.ExpiresAtMs)
	}
	if r.OutputTokens > a.MaxOutputTokens {
		return invalid(ReasonOutputOverCap, "%d output tokens, cap %d", r.OutputTokens, a.MaxOutputTokens)
	}
	want, err := Charge(r.InputTokens, r.OutputTokens, a.InputPrice, a.OutputPrice)
	if err != nil {
		return invalid(ReasonChargeOverMax, "%v", err)
	}
	if r.Charge != want {
		return invalid(ReasonChargeMismatch, "charge %d, want %d", r.Charge, want)
	}
	if want > a.MaxCharge {
		return invalid(ReasonChargeOverMax, "charge %d, max_charge %d", want, a.MaxCharge)
	}
	return nil
}

// checkState checks the rules that need chain state.
func checkState(a *Authorization, id [32]byte, chk Checker) *Invalid {
	if chk.Prices != nil {
		in, out, ok := chk.Prices.Prices(a.Model)
		if !ok {
			return invalid(ReasonUnknownModel, "model %q is not active", a.Model)
		}
		if in != a.InputPrice || out != a.OutputPrice {
			return invalid(ReasonPriceMismatch, "quoted %d/%d, model %q costs %d/%d", a.InputPrice, a.OutputPrice, a.Model, in, out)
		}
	}
	if chk.Signers != nil && a.Signer != a.Account {
		if err := chk.Signers.Authorized(a.Account, a.Signer, a.IssuedAtMs); err != nil {
			if errors.Is(err, ErrUnknownSigner) {
				return invalid(ReasonUnknownSigner, "%s is not a key of %s: %v", a.Signer, a.Account, err)
			}
			return invalid(ReasonSignerNotAuthorized, "%s may not sign for %s: %v", a.Signer, a.Account, err)
		}
	}
	if chk.Epochs != nil && !chk.Epochs.Open(a.IssuedAtMs) {
		return invalid(ReasonEpochClosed, "issued at %d, in a closed epoch", a.IssuedAtMs)
	}
	if chk.Seen != nil && chk.Seen.Seen(id) {
		return invalid(ReasonReplay, "receipt %x was seen before", id)
	}
	return nil
}

// addSat returns a+b, or the largest uint64 if that overflows.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}
