// Package receipt defines the signed objects of metered usage (DESIGN §6):
// a client's [Authorization] to pay for one request and a serving node's
// [Receipt] for it.
//
// Both are deterministic protobufs (package pb) sealed in libp2p signed
// envelopes, an authorization under domain fomo/auth/v1 by the paying
// account or one of its session keys ([SignAuthorization]), a receipt under
// domain fomo/receipt/v1 by the serving node ([SignReceipt]). A receipt
// embeds the authorization envelope byte for byte, and the receipt's
// identity is the SHA-256 of those bytes ([ID]): one authorization pays at
// most once. Nothing here re-encodes a signed payload: opened objects keep
// the bytes they were decoded from.
//
// [OpenAuthorization] and [OpenReceipt] check that an envelope is well
// formed, canonically encoded and correctly signed. [Verify] applies every
// validity rule of DESIGN §6 and reports a broken one as an [*Invalid]
// carrying a stable [Reason]; the rules that need chain state (prices,
// session keys, open epochs, settled ids) go through the small interfaces
// of a [Checker].
//
// [Charge] is the deterministic charge of DESIGN §9.2, and
// [EncodeSessionKey] and [DecodeSessionKey] convert session keys to and
// from the fomo_sk_ API keys that clients hand to nodes.
package receipt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fomonet/fomo/settle/receipt/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// AuthorizationHeader is the HTTP header that carries an authorization
// the client signed itself (base64 of its fomo/auth/v1 envelope), as
// `fomo chat` sends it.
const AuthorizationHeader = "X-Fomo-Authorization"

const (
	// AuthDomain is the signature domain of authorization envelopes.
	AuthDomain = "fomo/auth/v1"
	// ReceiptDomain is the signature domain of receipt envelopes.
	ReceiptDomain = "fomo/receipt/v1"

	// MaxAuthorizationSize bounds an authorization envelope; a valid one
	// is about 400 bytes.
	MaxAuthorizationSize = 2 << 10
	// MaxReceiptSize bounds a receipt envelope, authorization included.
	MaxReceiptSize = 4 << 10

	// NonceSize is the length of an authorization's nonce.
	NonceSize = 16
	// MaxTTL is the longest an authorization may be valid:
	// expires_at_ms ≤ issued_at_ms + 10 minutes.
	MaxTTL = 10 * time.Minute
	// ClockSkew is how far the client's and the serving node's clocks may
	// disagree: a receipt may complete up to ClockSkew after its
	// authorization expired, and start up to ClockSkew before it was
	// issued, since the receipt's times come from the node's clock and the
	// authorization's from the client's.
	ClockSkew = 30 * time.Second
)

// Envelope payload types.
var (
	authPayloadType    = []byte("/fomo/auth/1")
	receiptPayloadType = []byte("/fomo/receipt/1")
)

// maxName bounds a network id or model name.
const maxName = 64

// isName reports whether s is 1-64 of [a-z0-9._-], or with upper also of
// [A-Z].
func isName(s string, upper bool) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		case upper && 'A' <= c && c <= 'Z':
		default:
			return false
		}
	}
	return true
}

// Finish says how a response ended. The values are those of the runtime's
// finish reasons.
type Finish string

// Finish values.
const (
	FinishStop      Finish = "stop"
	FinishLength    Finish = "length"
	FinishCancelled Finish = "cancelled"
	FinishError     Finish = "error"
)

var finishToPB = map[Finish]pb.Finish{
	FinishStop:      pb.Finish_FINISH_STOP,
	FinishLength:    pb.Finish_FINISH_LENGTH,
	FinishCancelled: pb.Finish_FINISH_CANCELLED,
	FinishError:     pb.Finish_FINISH_ERROR,
}

// Valid reports whether f is one of the four finish values.
func (f Finish) Valid() bool {
	_, ok := finishToPB[f]
	return ok
}

func finishFromPB(f pb.Finish) Finish {
	for k, v := range finishToPB {
		if v == f {
			return k
		}
	}
	// Unknown values survive decoding so that Verify can name them.
	return Finish(fmt.Sprintf("finish(%d)", int32(f)))
}

// Authorization is a client's promise to pay for one request (DESIGN §6).
type Authorization struct {
	// NetworkID names the network: 1-64 of [A-Za-z0-9._-].
	NetworkID string
	// Account is the paying account.
	Account peer.ID
	// Signer is the key that signs: the account or one of its session keys.
	// Empty when signing means the signing key's.
	Signer peer.ID
	// Model is the model's name: 1-64 of [a-z0-9._-].
	Model string
	// Node is the only node that may serve the request; empty means any.
	Node peer.ID
	// EntryNode is the node the client sent the request to; may be empty.
	EntryNode peer.ID
	// Nonce makes the authorization unique; [NewAuthorization] draws it.
	Nonce [NonceSize]byte
	// MaxOutputTokens caps the response.
	MaxOutputTokens uint64
	// MaxCharge caps the charge, in usd base units.
	MaxCharge uint64
	// InputPrice and OutputPrice are the quoted prices, usd base units per
	// 1M tokens.
	InputPrice  uint64
	OutputPrice uint64
	// RequestSHA256 is the SHA-256 of the request body.
	RequestSHA256 [sha256.Size]byte
	// IssuedAtMs and ExpiresAtMs are Unix milliseconds.
	IssuedAtMs  uint64
	ExpiresAtMs uint64
}

// NewAuthorization returns an authorization of account for model on the
// network, with a fresh random nonce, issued at issued and expiring ttl
// later. The caller fills in the caps, prices, request hash and, if it
// wants, the payee and entry node.
func NewAuthorization(networkID string, account peer.ID, model string, issued time.Time, ttl time.Duration) Authorization {
	a := Authorization{
		NetworkID:   networkID,
		Account:     account,
		Model:       model,
		IssuedAtMs:  uint64(issued.UnixMilli()),
		ExpiresAtMs: uint64(issued.Add(ttl).UnixMilli()),
	}
	// crypto/rand.Read never fails; it aborts the program if the system
	// source is broken.
	_, _ = rand.Read(a.Nonce[:])
	return a
}

// Receipt is a serving node's account of one request (DESIGN §6).
type Receipt struct {
	// Authorization is the client's authorization envelope, byte for byte.
	Authorization []byte
	// Node is the serving node; it signs. Empty when signing means the
	// signing key's.
	Node peer.ID
	// InputTokens and OutputTokens are the tokens read and delivered.
	InputTokens  uint64
	OutputTokens uint64
	// Finish says how the response ended.
	Finish Finish
	// ResponseSHA256 is the SHA-256 of the response as delivered.
	ResponseSHA256 [sha256.Size]byte
	// StartedAtMs and CompletedAtMs are Unix milliseconds.
	StartedAtMs   uint64
	CompletedAtMs uint64
	// Charge is the node's computation of the charge, usd base units.
	Charge uint64
}

// ID returns a receipt's identity: the SHA-256 of the authorization
// envelope it carries. One authorization pays at most once network-wide.
func ID(authEnvelope []byte) [32]byte { return sha256.Sum256(authEnvelope) }

var deterministic = proto.MarshalOptions{Deterministic: true}

// payloadRecord is the record.Record sealed in an envelope. payload holds
// the exact bytes that were signed.
type payloadRecord struct {
	domain string
	codec  []byte
	// payload is the signed protobuf.
	payload []byte
}

func (r *payloadRecord) Domain() string                 { return r.domain }
func (r *payloadRecord) Codec() []byte                  { return r.codec }
func (r *payloadRecord) MarshalRecord() ([]byte, error) { return r.payload, nil }
func (r *payloadRecord) UnmarshalRecord(b []byte) error {
	r.payload = bytes.Clone(b)
	return nil
}

func authRecord(payload []byte) *payloadRecord {
	return &payloadRecord{domain: AuthDomain, codec: authPayloadType, payload: payload}
}

func receiptRecord(payload []byte) *payloadRecord {
	return &payloadRecord{domain: ReceiptDomain, codec: receiptPayloadType, payload: payload}
}

// seal signs a protobuf message under rec's domain and returns the
// envelope bytes.
func seal(m proto.Message, rec *payloadRecord, sk crypto.PrivKey, limit int) ([]byte, error) {
	payload, err := deterministic.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	rec.payload = payload
	env, err := record.Seal(rec, sk)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("envelope is %d bytes, more than %d", len(b), limit)
	}
	return b, nil
}

// signerID returns the peer ID of an Ed25519 signing key.
func signerID(sk crypto.PrivKey) (peer.ID, error) {
	if sk == nil {
		return "", errors.New("no signing key")
	}
	if sk.Type() != cryptopb.KeyType_Ed25519 {
		return "", fmt.Errorf("signing key is %s, want Ed25519", sk.Type())
	}
	return peer.IDFromPrivateKey(sk)
}

// validate checks every field's form (not the rules that relate fields to
// each other or to chain state: see Verify).
func (a *Authorization) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !isName(a.NetworkID, true) {
		add("network_id must be 1-64 of [A-Za-z0-9._-], got %.80q", a.NetworkID)
	}
	checkID := func(field string, id peer.ID, required bool) {
		if id == "" {
			if required {
				add("%s is required", field)
			}
			return
		}
		if err := checkPeerID(id); err != nil {
			add("%s %v", field, err)
		}
	}
	checkID("account", a.Account, true)
	checkID("signer", a.Signer, true)
	checkID("node", a.Node, false)
	checkID("entry_node", a.EntryNode, false)
	if !isName(a.Model, false) {
		add("model must be 1-64 of [a-z0-9._-], got %.80q", a.Model)
	}
	return errors.Join(errs...)
}

func (a *Authorization) toPB() *pb.Authorization {
	return &pb.Authorization{
		NetworkId:       a.NetworkID,
		Account:         []byte(a.Account),
		Signer:          []byte(a.Signer),
		Model:           a.Model,
		Node:            []byte(a.Node),
		EntryNode:       []byte(a.EntryNode),
		Nonce:           a.Nonce[:],
		MaxOutputTokens: a.MaxOutputTokens,
		MaxCharge:       a.MaxCharge,
		InputPrice:      a.InputPrice,
		OutputPrice:     a.OutputPrice,
		RequestSha256:   a.RequestSHA256[:],
		IssuedAtMs:      a.IssuedAtMs,
		ExpiresAtMs:     a.ExpiresAtMs,
	}
}

// checkPeerID checks that id is a peer ID that embeds an Ed25519 public
// key: every participant is an Ed25519 key (DESIGN §2).
func checkPeerID(id peer.ID) error {
	if isEd25519ID(id) {
		return nil
	}
	if _, err := peer.IDFromBytes([]byte(id)); err != nil {
		return fmt.Errorf("is not a peer ID: %v", err)
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("does not embed a public key: %v", err)
	}
	if pk.Type() != cryptopb.KeyType_Ed25519 {
		return fmt.Errorf("is a %s key, want Ed25519", pk.Type())
	}
	return nil
}

// ed25519IDPrefix starts every peer ID of an Ed25519 key: an identity
// multihash (0x00) of 36 bytes (0x24) holding the key's protobuf, type
// Ed25519 (0x08 0x01), 32 bytes of data (0x12 0x20).
const ed25519IDPrefix = "\x00\x24\x08\x01\x12\x20"

// isEd25519ID reports whether id is the peer ID of an Ed25519 key in the
// form libp2p writes it: every such ID passes checkPeerID's full decoding,
// which this skips; any other form takes the full decoding.
func isEd25519ID(id peer.ID) bool {
	return len(id) == len(ed25519IDPrefix)+ed25519PublicKeySize && id[:len(ed25519IDPrefix)] == ed25519IDPrefix
}

// idFromPB decodes a binary peer ID field; empty stays empty.
func idFromPB(field string, b []byte) (peer.ID, error) {
	if len(b) == 0 {
		return "", nil
	}
	id := peer.ID(b)
	if err := checkPeerID(id); err != nil {
		return "", fmt.Errorf("%s %v", field, err)
	}
	return id, nil
}

func authFromPB(p *pb.Authorization) (Authorization, error) {
	a := Authorization{
		NetworkID:       p.GetNetworkId(),
		Model:           p.GetModel(),
		Account:         peer.ID(p.GetAccount()),
		Signer:          peer.ID(p.GetSigner()),
		Node:            peer.ID(p.GetNode()),
		EntryNode:       peer.ID(p.GetEntryNode()),
		MaxOutputTokens: p.GetMaxOutputTokens(),
		MaxCharge:       p.GetMaxCharge(),
		InputPrice:      p.GetInputPrice(),
		OutputPrice:     p.GetOutputPrice(),
		IssuedAtMs:      p.GetIssuedAtMs(),
		ExpiresAtMs:     p.GetExpiresAtMs(),
	}
	var errs []error
	if n := len(p.GetNonce()); n != NonceSize {
		errs = append(errs, fmt.Errorf("nonce is %d bytes, want %d", n, NonceSize))
	} else {
		copy(a.Nonce[:], p.GetNonce())
	}
	if n := len(p.GetRequestSha256()); n != sha256.Size {
		errs = append(errs, fmt.Errorf("request_sha256 is %d bytes, want %d", n, sha256.Size))
	} else {
		copy(a.RequestSHA256[:], p.GetRequestSha256())
	}
	errs = append(errs, a.validate())
	if err := errors.Join(errs...); err != nil {
		return Authorization{}, err
	}
	return a, nil
}

// SignAuthorization checks a and returns it sealed in an envelope signed
// by sk, an Ed25519 key: the account's or one of its session keys'. An
// empty a.Signer becomes sk's peer ID and an empty a.Account the signer;
// a signer other than sk is an error. The validity window must satisfy
// issued_at_ms < expires_at_ms ≤ issued_at_ms + MaxTTL.
func SignAuthorization(a Authorization, sk crypto.PrivKey) ([]byte, error) {
	id, err := signerID(sk)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	if a.Signer == "" {
		a.Signer = id
	}
	if a.Account == "" {
		a.Account = a.Signer
	}
	if a.Signer != id {
		return nil, fmt.Errorf("authorization: signer is %s but the signing key is %s", a.Signer, id)
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	if err := checkWindow(&a); err != nil {
		return nil, fmt.Errorf("authorization: %s", err.Detail)
	}
	b, err := seal(a.toPB(), authRecord(nil), sk, MaxAuthorizationSize)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	return b, nil
}

// SignedAuthorization is an opened authorization envelope with a valid
// signature by its signer.
type SignedAuthorization struct {
	// Authorization is the decoded authorization.
	Authorization Authorization
	// Envelope is the envelope exactly as signed and received.
	Envelope []byte
	// Payload is the signed protobuf encoding of the authorization.
	Payload []byte
}

// ID returns the identity of the receipt that may pay this authorization.
func (s *SignedAuthorization) ID() [32]byte { return ID(s.Envelope) }

// open decodes an envelope of rec's type: it is at most limit bytes, in
// canonical encoding, signed by an Ed25519 key under rec's domain, with
// rec's payload type. check verifies the signature (see sigcheck.go);
// badSig is the reason given to a signature that does not verify. The
// payload must be the canonical encoding of m, which it is decoded into.
// It returns the signer.
func open(envelope []byte, rec *payloadRecord, limit int, badSig Reason, check sigCheck, m proto.Message) (peer.ID, *Invalid) {
	if len(envelope) > limit {
		return "", invalid(ReasonMalformed, "envelope is %d bytes, more than %d", len(envelope), limit)
	}
	var env recordpb.Envelope
	if err := proto.Unmarshal(envelope, &env); err != nil {
		return "", invalid(ReasonMalformed, "envelope: %v", err)
	}
	pk := env.GetPublicKey()
	if pk == nil {
		return "", invalid(ReasonMalformed, "envelope has no public key")
	}
	if pk.GetType() != cryptopb.KeyType_Ed25519 {
		return "", invalid(ReasonMalformed, "signed with a %s key, want Ed25519", pk.GetType())
	}
	if len(pk.GetData()) != ed25519PublicKeySize {
		return "", invalid(ReasonMalformed, "Ed25519 public key of %d bytes", len(pk.GetData()))
	}
	if !check(sigTuple{pub: pk.GetData(), domain: rec.domain, payloadType: env.GetPayloadType(), payload: env.GetPayload(), sig: env.GetSignature()}) {
		return "", invalid(badSig, "signature does not verify under domain %s", rec.domain)
	}
	if !bytes.Equal(env.GetPayloadType(), rec.codec) {
		return "", invalid(ReasonMalformed, "payload type %q, want %q", env.GetPayloadType(), rec.codec)
	}
	// One object, one encoding: reject re-encodings of a signed envelope
	// (unknown, repeated or reordered fields) so that equal objects have
	// equal bytes and equal ids.
	if len(env.ProtoReflect().GetUnknown()) > 0 {
		return "", invalid(ReasonMalformed, "envelope has unknown fields")
	}
	if !isCanonical(&env, envelope) {
		return "", invalid(ReasonMalformed, "envelope is not in canonical encoding")
	}
	signer := ed25519ID(pk.GetData())
	// Unmarshal copied the payload out of envelope: it is the caller's
	// to keep.
	rec.payload = env.GetPayload()
	if bad := decodePayload(rec.payload, m); bad != nil {
		return "", bad
	}
	return signer, nil
}

// decodePayload decodes a signed payload that must be the deterministic
// encoding of m with no unknown fields.
func decodePayload(payload []byte, m proto.Message) *Invalid {
	if err := proto.Unmarshal(payload, m); err != nil {
		return invalid(ReasonMalformed, "payload: %v", err)
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return invalid(ReasonMalformed, "payload has unknown fields")
	}
	if !isCanonical(m, payload) {
		return invalid(ReasonMalformed, "payload is not in canonical encoding")
	}
	return nil
}

// canonBufs holds buffers for isCanonical.
var canonBufs = sync.Pool{New: func() any { return new([]byte) }}

// isCanonical reports whether b is the deterministic encoding of m.
func isCanonical(m proto.Message, b []byte) bool {
	buf := canonBufs.Get().(*[]byte)
	canon, err := deterministic.MarshalAppend((*buf)[:0], m)
	ok := err == nil && bytes.Equal(canon, b)
	if cap(canon) <= 2*MaxReceiptSize {
		*buf = canon
		canonBufs.Put(buf)
	}
	return ok
}

// ed25519ID returns the peer ID of the raw 32-byte Ed25519 key pub, as
// peer.IDFromPublicKey does: the identity multihash of the key's
// protobuf.
func ed25519ID(pub []byte) peer.ID {
	return peer.ID(ed25519IDPrefix + string(pub))
}

// OpenAuthorization decodes and authenticates an authorization envelope:
// it is well formed and canonically encoded, its signature over domain
// fomo/auth/v1 verifies, the payload is a canonical Authorization whose
// fields are well formed, and the envelope's key is the authorization's
// signer. It does not check whether the signer may sign for the account,
// nor any other validity rule: see [Verify]. Errors are [*Invalid] with
// reason malformed or bad_client_signature. The result keeps the received
// bytes.
func OpenAuthorization(envelope []byte) (*SignedAuthorization, error) {
	return opened(openAuthorization(envelope, verifyOne))
}

// opened returns what an open function returns as the exported functions
// do: an error that is nil, not a nil *Invalid, when v opened.
func opened[T any](v *T, bad *Invalid) (*T, error) {
	if bad != nil {
		return nil, bad
	}
	return v, nil
}

func openAuthorization(envelope []byte, check sigCheck) (*SignedAuthorization, *Invalid) {
	rec := authRecord(nil)
	var p pb.Authorization
	signer, bad := open(envelope, rec, MaxAuthorizationSize, ReasonBadClientSignature, check, &p)
	if bad != nil {
		return nil, bad
	}
	a, err := authFromPB(&p)
	if err != nil {
		return nil, invalid(ReasonMalformed, "authorization: %v", err)
	}
	if signer != a.Signer {
		return nil, invalid(ReasonBadClientSignature, "signed by %s but the signer is %s", signer, a.Signer)
	}
	return &SignedAuthorization{Authorization: a, Envelope: bytes.Clone(envelope), Payload: rec.payload}, nil
}

func (r *Receipt) toPB() *pb.Receipt {
	return &pb.Receipt{
		Authorization:  r.Authorization,
		Node:           []byte(r.Node),
		InputTokens:    r.InputTokens,
		OutputTokens:   r.OutputTokens,
		Finish:         finishToPB[r.Finish],
		ResponseSha256: r.ResponseSHA256[:],
		StartedAtMs:    r.StartedAtMs,
		CompletedAtMs:  r.CompletedAtMs,
		Charge:         r.Charge,
	}
}

func receiptFromPB(p *pb.Receipt) (Receipt, error) {
	r := Receipt{
		Authorization: p.GetAuthorization(),
		InputTokens:   p.GetInputTokens(),
		OutputTokens:  p.GetOutputTokens(),
		Finish:        finishFromPB(p.GetFinish()),
		StartedAtMs:   p.GetStartedAtMs(),
		CompletedAtMs: p.GetCompletedAtMs(),
		Charge:        p.GetCharge(),
	}
	var errs []error
	node, err := idFromPB("node", p.GetNode())
	switch {
	case err != nil:
		errs = append(errs, err)
	case node == "":
		errs = append(errs, errors.New("node is required"))
	}
	r.Node = node
	if n := len(p.GetResponseSha256()); n != sha256.Size {
		errs = append(errs, fmt.Errorf("response_sha256 is %d bytes, want %d", n, sha256.Size))
	} else {
		copy(r.ResponseSHA256[:], p.GetResponseSha256())
	}
	if len(r.Authorization) == 0 {
		errs = append(errs, errors.New("authorization is required"))
	}
	if r.CompletedAtMs < r.StartedAtMs {
		errs = append(errs, fmt.Errorf("completed_at_ms %d is before started_at_ms %d", r.CompletedAtMs, r.StartedAtMs))
	}
	return r, errors.Join(errs...)
}

// SignReceipt returns r sealed in an envelope signed by sk, the serving
// node's Ed25519 key. An empty r.Node becomes sk's peer ID; another node
// is an error. r.Authorization must open ([OpenAuthorization]) and the
// finish must be known; the other rules of [Verify] are not checked here,
// so a node should compute the charge with [Charge] and keep within the
// authorization's caps.
func SignReceipt(r Receipt, sk crypto.PrivKey) ([]byte, error) {
	if err := r.claim(sk); err != nil {
		return nil, err
	}
	if !r.Finish.Valid() {
		return nil, fmt.Errorf("receipt: unknown finish %q", r.Finish)
	}
	if r.CompletedAtMs < r.StartedAtMs {
		return nil, fmt.Errorf("receipt: completed_at_ms %d is before started_at_ms %d", r.CompletedAtMs, r.StartedAtMs)
	}
	if _, bad := openAuthorization(r.Authorization, verifyOne); bad != nil {
		return nil, fmt.Errorf("receipt: %w", bad)
	}
	b, _, err := r.seal(sk)
	return b, err
}

// claim sets r.Node to the peer ID of sk if it is empty and checks that sk
// is the node's key.
func (r *Receipt) claim(sk crypto.PrivKey) error {
	id, err := signerID(sk)
	if err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if r.Node == "" {
		r.Node = id
	}
	if r.Node != id {
		return fmt.Errorf("receipt: node is %s but the signing key is %s", r.Node, id)
	}
	return nil
}

// seal signs r with sk and returns the envelope and the signed payload.
func (r *Receipt) seal(sk crypto.PrivKey) (envelope, payload []byte, err error) {
	rec := receiptRecord(nil)
	envelope, err = seal(r.toPB(), rec, sk, MaxReceiptSize)
	if err != nil {
		return nil, nil, fmt.Errorf("receipt: %w", err)
	}
	return envelope, rec.payload, nil
}

// SignOpened signs a receipt for an authorization the signer has opened
// and checked already (sa; r.Authorization must be its envelope), and
// returns it opened, as Verify would: the serving node's own receipt
// needs no second check of the authorization's signature. The rules that
// relate the receipt to its authorization (finish, payee, times, output
// cap, charge) are checked before signing.
func SignOpened(r Receipt, sa *SignedAuthorization, sk crypto.PrivKey) (*SignedReceipt, error) {
	if err := r.claim(sk); err != nil {
		return nil, err
	}
	if sa == nil || !bytes.Equal(r.Authorization, sa.Envelope) {
		return nil, errors.New("receipt: the authorization is not the opened one")
	}
	sr := &SignedReceipt{Receipt: r, Authorization: sa}
	if bad := checkReceipt(sr); bad != nil {
		return nil, fmt.Errorf("receipt: %w", bad)
	}
	var err error
	if sr.Envelope, sr.Payload, err = r.seal(sk); err != nil {
		return nil, err
	}
	return sr, nil
}

// SignedReceipt is an opened receipt envelope whose node signature and
// authorization signature both verify.
type SignedReceipt struct {
	// Receipt is the decoded receipt. Receipt.Authorization holds the same
	// bytes as Authorization.Envelope.
	Receipt Receipt
	// Authorization is the opened authorization the receipt carries.
	Authorization *SignedAuthorization
	// Envelope is the receipt envelope exactly as signed and received.
	Envelope []byte
	// Payload is the signed protobuf encoding of the receipt.
	Payload []byte
}

// ID returns the receipt's identity, the SHA-256 of its authorization
// envelope.
func (s *SignedReceipt) ID() [32]byte { return ID(s.Receipt.Authorization) }

// OpenReceipt decodes and authenticates a receipt envelope and the
// authorization envelope inside it: both are well formed and canonically
// encoded, the node's signature over domain fomo/receipt/v1 is by the
// receipt's node, and the authorization opens as with
// [OpenAuthorization]. It checks no other validity rule: see [Verify].
// Errors are [*Invalid] with reason malformed, bad_node_signature or
// bad_client_signature. The result keeps the received bytes; the
// authorization is never re-encoded.
func OpenReceipt(envelope []byte) (*SignedReceipt, error) {
	return opened(openReceipt(envelope, verifyOne))
}

func openReceipt(envelope []byte, check sigCheck) (*SignedReceipt, *Invalid) {
	rec := receiptRecord(nil)
	var p pb.Receipt
	signer, bad := open(envelope, rec, MaxReceiptSize, ReasonBadNodeSignature, check, &p)
	if bad != nil {
		return nil, bad
	}
	r, err := receiptFromPB(&p)
	if err != nil {
		return nil, invalid(ReasonMalformed, "receipt: %v", err)
	}
	if signer != r.Node {
		return nil, invalid(ReasonBadNodeSignature, "signed by %s but the node is %s", signer, r.Node)
	}
	sa, bad := openAuthorization(r.Authorization, check)
	if bad != nil {
		bad.Detail = "authorization: " + bad.Detail
		return nil, bad
	}
	return &SignedReceipt{Receipt: r, Authorization: sa, Envelope: bytes.Clone(envelope), Payload: rec.payload}, nil
}
