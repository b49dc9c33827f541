// Package tx is the settlement chain's signed transaction: a deterministic
// protobuf {account, nonce, body} sealed in a libp2p signed envelope with
// domain fomo/tx/v1, signed by the account's own key (DESIGN §8). Open
// authenticates and decodes one without re-encoding anything signed: the
// receipts a SubmitReceipts carries keep their bytes.
package tx

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fomonet/fomo/settle/chain/tx/pb"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"
)

const (
	// Domain is the signature domain of transactions.
	Domain = "fomo/tx/v1"
	// MaxTxSize bounds a transaction; a batch of 1,000 receipts is about
	// 1 MB.
	MaxTxSize = 4 << 20
	// MaxReceipts bounds the receipts of one SubmitReceipts.
	MaxReceipts = 4096
	// maxString bounds every string field.
	maxString = 256
)

// PayloadType is the envelope's payload type.
var PayloadType = []byte("/fomo/tx/v1")

// SubmitReceipts is the body that includes receipts: their envelopes as
// received.
type SubmitReceipts struct{ Envelopes [][]byte }

// Tx is a transaction before signing. Body is one of the ledger's body
// values (ledger.Deposit, ledger.Transfer, …) or a SubmitReceipts.
type Tx struct {
	Account string
	Nonce   uint64
	Body    any
}

// Signed is an opened transaction whose signature verifies and whose
// signer is its account.
type Signed struct {
	Tx
	// Envelope is the transaction as received.
	Envelope []byte
}

// Ledger returns the transaction for the ledger; a SubmitReceipts's body
// is returned as is (its receipts still to be verified).
func (s *Signed) Ledger() ledger.Tx {
	b, _ := s.Body.(ledger.Body)
	return ledger.Tx{Account: s.Account, Nonce: s.Nonce, Body: b}
}

// Type implements ledger.Body, so that a SubmitReceipts can stand in a
// ledger.Tx until its receipts are verified.
func (SubmitReceipts) Type() string { return "submit_receipts" }

type payload struct{ b []byte }

func (r *payload) Domain() string                 { return Domain }
func (r *payload) Codec() []byte                  { return PayloadType }
func (r *payload) MarshalRecord() ([]byte, error) { return r.b, nil }
func (r *payload) UnmarshalRecord(b []byte) error { r.b = bytes.Clone(b); return nil }

var deterministic = proto.MarshalOptions{Deterministic: true}

// Sign encodes t and seals it with sk, the account's key. An empty
// t.Account becomes sk's peer ID.
func Sign(t Tx, sk crypto.PrivKey) ([]byte, error) {
	signer, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	if t.Account == "" {
		t.Account = signer.String()
	}
	if t.Account != signer.String() {
		return nil, fmt.Errorf("tx: account %s cannot be signed by %s", t.Account, signer)
	}
	m := &pb.Tx{Account: t.Account, Nonce: t.Nonce}
	switch b := t.Body.(type) {
	case ledger.Deposit:
		m.Body = &pb.Tx_Deposit{Deposit: &pb.Deposit{To: b.To, Denom: b.Denom, Amount: b.Amount}}
	case ledger.Withdraw:
		m.Body = &pb.Tx_Withdraw{Withdraw: &pb.Withdraw{Denom: b.Denom, Amount: b.Amount}}
	case ledger.Transfer:
		m.Body = &pb.Tx_Transfer{Transfer: &pb.Transfer{To: b.To, Denom: b.Denom, Amount: b.Amount}}
	case ledger.AuthorizeKey:
		m.Body = &pb.Tx_AuthorizeKey{AuthorizeKey: &pb.AuthorizeKey{Key: b.Key, SpendLimit: b.SpendLimit, ExpiresAtMs: b.ExpiresAtMs}}
	case ledger.RevokeKey:
		m.Body = &pb.Tx_RevokeKey{RevokeKey: &pb.RevokeKey{Key: b.Key}}
	case ledger.RegisterNode:
		m.Body = &pb.Tx_RegisterNode{RegisterNode: &pb.RegisterNode{Bond: b.Bond}}
	case ledger.UnbondNode:
		m.Body = &pb.Tx_UnbondNode{UnbondNode: &pb.UnbondNode{}}
	case ledger.RegisterModel:
		m.Body = &pb.Tx_RegisterModel{RegisterModel: &pb.RegisterModel{Name: b.Name, ManifestSha256: b.ManifestSHA256,
			Tier: b.Tier, InputPrice: b.InputPrice, OutputPrice: b.OutputPrice}}
	case ledger.ServeModel:
		m.Body = &pb.Tx_ServeModel{ServeModel: &pb.ServeModel{Model: b.Model}}
	case ledger.TreasurySpend:
		m.Body = &pb.Tx_TreasurySpend{TreasurySpend: &pb.TreasurySpend{To: b.To, Denom: b.Denom, Amount: b.Amount}}
	case SubmitReceipts:
		m.Body = &pb.Tx_SubmitReceipts{SubmitReceipts: &pb.SubmitReceipts{Receipts: b.Envelopes}}
	case ledger.Swap:
		m.Body = &pb.Tx_Swap{Swap: &pb.Swap{Pool: b.Pool, DenomIn: b.DenomIn, AmountIn: b.AmountIn, MinOut: b.MinOut}}
	case ledger.LaunchRMO:
		m.Body = &pb.Tx_LaunchRmo{LaunchRmo: &pb.LaunchRMO{Model: b.Model, RaiseMin: b.RaiseMin, RaiseMax: b.RaiseMax,
			DurationMs: b.DurationMs, FirstBuy: b.FirstBuy}}
	case ledger.Commit:
		m.Body = &pb.Tx_Commit{Commit: &pb.Commit{Model: b.Model, Amount: b.Amount}}
	case ledger.Graduate:
		m.Body = &pb.Tx_Graduate{Graduate: &pb.Graduate{Model: b.Model}}
	case ledger.Redeem:
		m.Body = &pb.Tx_Redeem{Redeem: &pb.Redeem{Model: b.Model}}
	case ledger.ClaimVested:
		m.Body = &pb.Tx_ClaimVested{ClaimVested: &pb.ClaimVested{Model: b.Model}}
	case ledger.Stake:
		m.Body = &pb.Tx_Stake{Stake: &pb.Stake{Model: b.Model, Amount: b.Amount}}
	case ledger.Unstake:
		m.Body = &pb.Tx_Unstake{Unstake: &pb.Unstake{Model: b.Model, Amount: b.Amount}}
	case ledger.ClaimUnbonded:
		m.Body = &pb.Tx_ClaimUnbonded{ClaimUnbonded: &pb.ClaimUnbonded{Model: b.Model}}
	default:
		return nil, fmt.Errorf("tx: unknown body %T", t.Body)
	}
	if err := check(m); err != nil {
		return nil, err
	}
	p, err := deterministic.Marshal(m)
	if err != nil {
		return nil, err
	}
	env, err := record.Seal(&payload{b: p}, sk)
	if err != nil {
		return nil, err
	}
	out, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	if len(out) > MaxTxSize {
		return nil, fmt.Errorf("tx: %d bytes, more than %d", len(out), MaxTxSize)
	}
	return out, nil
}

// ErrMalformed and ErrSignature classify Open's errors.
var (
	ErrMalformed = errors.New("tx: malformed")
	ErrSignature = errors.New("tx: bad signature")
)

// Open authenticates and decodes a transaction: at most MaxTxSize bytes,
// canonical envelope and payload encodings, an Ed25519 signature over
// domain fomo/tx/v1 by the account named in it, and well-formed fields.
func Open(b []byte) (*Signed, error) {
	if len(b) > MaxTxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxTxSize)
	}
	rec := &payload{}
	env, err := record.ConsumeTypedEnvelope(b, rec)
	if err != nil {
		if errors.Is(err, record.ErrInvalidSignature) {
			return nil, fmt.Errorf("%w: signature does not verify under domain %s", ErrSignature, Domain)
		}
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.PublicKey.Type() != cryptopb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: signed with a %s key, want Ed25519", ErrMalformed, env.PublicKey.Type())
	}
	if !bytes.Equal(env.PayloadType, PayloadType) {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, env.PayloadType, PayloadType)
	}
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: envelope is not in canonical encoding", ErrMalformed)
	}
	var m pb.Tx
	if err := proto.Unmarshal(rec.b, &m); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return nil, fmt.Errorf("%w: payload has unknown fields", ErrMalformed)
	}
	if canon, err := deterministic.Marshal(&m); err != nil || !bytes.Equal(canon, rec.b) {
		return nil, fmt.Errorf("%w: payload is not in canonical encoding", ErrMalformed)
	}
	if err := check(&m); err != nil {
		return nil, err
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signer: %v", ErrMalformed, err)
	}
	if signer.String() != m.Account {
		return nil, fmt.Errorf("%w: account %s is not the signer %s", ErrSignature, m.Account, signer)
	}
	s := &Signed{Tx: Tx{Account: m.Account, Nonce: m.Nonce}, Envelope: b}
	switch body := m.Body.(type) {
	case *pb.Tx_Deposit:
		s.Body = ledger.Deposit{To: body.Deposit.GetTo(), Denom: body.Deposit.GetDenom(), Amount: body.Deposit.GetAmount()}
	case *pb.Tx_Withdraw:
		s.Body = ledger.Withdraw{Denom: body.Withdraw.GetDenom(), Amount: body.Withdraw.GetAmount()}
	case *pb.Tx_Transfer:
		s.Body = ledger.Transfer{To: body.Transfer.GetTo(), Denom: body.Transfer.GetDenom(), Amount: body.Transfer.GetAmount()}
	case *pb.Tx_AuthorizeKey:
		k := body.AuthorizeKey
		s.Body = ledger.AuthorizeKey{Key: k.GetKey(), SpendLimit: k.GetSpendLimit(), ExpiresAtMs: k.GetExpiresAtMs()}
	case *pb.Tx_RevokeKey:
		s.Body = ledger.RevokeKey{Key: body.RevokeKey.GetKey()}
	case *pb.Tx_RegisterNode:
		s.Body = ledger.RegisterNode{Bond: body.RegisterNode.GetBond()}
	case *pb.Tx_UnbondNode:
		s.Body = ledger.UnbondNode{}
	case *pb.Tx_RegisterModel:
		r := body.RegisterModel
		s.Body = ledger.RegisterModel{Name: r.GetName(), ManifestSHA256: r.GetManifestSha256(), Tier: r.GetTier(),
			InputPrice: r.GetInputPrice(), OutputPrice: r.GetOutputPrice()}
	case *pb.Tx_ServeModel:
		s.Body = ledger.ServeModel{Model: body.ServeModel.GetModel()}
	case *pb.Tx_TreasurySpend:
		ts := body.TreasurySpend
		s.Body = ledger.TreasurySpend{To: ts.GetTo(), Denom: ts.GetDenom(), Amount: ts.GetAmount()}
	case *pb.Tx_SubmitReceipts:
		s.Body = SubmitReceipts{Envelopes: body.SubmitReceipts.GetReceipts()}
	case *pb.Tx_Swap:
		w := body.Swap
		s.Body = ledger.Swap{Pool: w.GetPool(), DenomIn: w.GetDenomIn(), AmountIn: w.GetAmountIn(), MinOut: w.GetMinOut()}
	case *pb.Tx_LaunchRmo:
		r := body.LaunchRmo
		s.Body = ledger.LaunchRMO{Model: r.GetModel(), RaiseMin: r.GetRaiseMin(), RaiseMax: r.GetRaiseMax(),
			DurationMs: r.GetDurationMs(), FirstBuy: r.GetFirstBuy()}
	case *pb.Tx_Commit:
		s.Body = ledger.Commit{Model: body.Commit.GetModel(), Amount: body.Commit.GetAmount()}
	case *pb.Tx_Graduate:
		s.Body = ledger.Graduate{Model: body.Graduate.GetModel()}
	case *pb.Tx_Redeem:
		s.Body = ledger.Redeem{Model: body.Redeem.GetModel()}
	case *pb.Tx_ClaimVested:
		s.Body = ledger.ClaimVested{Model: body.ClaimVested.GetModel()}
	case *pb.Tx_Stake:
		s.Body = ledger.Stake{Model: body.Stake.GetModel(), Amount: body.Stake.GetAmount()}
	case *pb.Tx_Unstake:
		s.Body = ledger.Unstake{Model: body.Unstake.GetModel(), Amount: body.Unstake.GetAmount()}
	case *pb.Tx_ClaimUnbonded:
		s.Body = ledger.ClaimUnbonded{Model: body.ClaimUnbonded.GetModel()}
	}
	return s, nil
}

// check validates the fields of a transaction.
func check(m *pb.Tx) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if _, err := peer.Decode(m.GetAccount()); err != nil {
		return bad("account %.80q is not a peer ID", m.GetAccount())
	}
	if m.GetNonce() == 0 {
		return bad("nonce 0 (an account's first tx has nonce 1)")
	}
	var strs []string
	switch b := m.Body.(type) {
	case nil:
		return bad("no body")
	case *pb.Tx_Deposit:
		strs = []string{b.Deposit.GetTo(), b.Deposit.GetDenom()}
	case *pb.Tx_Withdraw:
		strs = []string{b.Withdraw.GetDenom()}
	case *pb.Tx_Transfer:
		strs = []string{b.Transfer.GetTo(), b.Transfer.GetDenom()}
	case *pb.Tx_TreasurySpend:
		strs = []string{b.TreasurySpend.GetTo(), b.TreasurySpend.GetDenom()}
	case *pb.Tx_AuthorizeKey:
		if _, err := peer.Decode(b.AuthorizeKey.GetKey()); err != nil {
			return bad("authorize_key.key is not a peer ID")
		}
	case *pb.Tx_RevokeKey:
		strs = []string{b.RevokeKey.GetKey()}
	case *pb.Tx_RegisterModel:
		r := b.RegisterModel
		strs = []string{r.GetName(), r.GetManifestSha256(), r.GetTier()}
	case *pb.Tx_ServeModel:
		strs = []string{b.ServeModel.GetModel()}
	case *pb.Tx_Swap:
		strs = []string{b.Swap.GetPool(), b.Swap.GetDenomIn()}
	case *pb.Tx_LaunchRmo:
		strs = []string{b.LaunchRmo.GetModel()}
	case *pb.Tx_Commit:
		strs = []string{b.Commit.GetModel()}
	case *pb.Tx_Graduate:
		strs = []string{b.Graduate.GetModel()}
	case *pb.Tx_Redeem:
		strs = []string{b.Redeem.GetModel()}
	case *pb.Tx_ClaimVested:
		strs = []string{b.ClaimVested.GetModel()}
	case *pb.Tx_Stake:
		strs = []string{b.Stake.GetModel()}
	case *pb.Tx_Unstake:
		strs = []string{b.Unstake.GetModel()}
	case *pb.Tx_ClaimUnbonded:
		strs = []string{b.ClaimUnbonded.GetModel()}
	case *pb.Tx_SubmitReceipts:
		n := len(b.SubmitReceipts.GetReceipts())
		if n == 0 || n > MaxReceipts {
			return bad("submit_receipts has %d receipts; 1 to %d allowed", n, MaxReceipts)
		}
	}
	for _, s := range strs {
		if len(s) > maxString {
			return bad("a field of %d bytes, more than %d", len(s), maxString)
		}
	}
	return nil
}
