// Package models publishes and resolves model manifests on the network's
// private DHT and announces which nodes serve a model.
//
// A [Manifest] is written by an issuer as TOML ([LoadTOML]), encoded as a
// deterministic protobuf (pb.Manifest) and signed with the issuer's key in
// a libp2p envelope whose domain is fomo/manifest/v1 ([Sign]). The envelope
// bytes are stored unchanged at /fomo-model/<name>; the DHT's [Validator]
// accepts a value only when the signature is valid, the signer is the
// manifest's issuer, the key names the manifest and every field is valid,
// and keeps the highest seq. Serving nodes provide
// CIDv1(raw, sha256("fomo/model/"+name)) ([CID]). A [Service] puts, gets,
// provides and finds, and republishes and re-provides on a timer.
package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/fomonet/fomo/p2p/models/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"
)

const (
	// Domain is the signature domain of manifest envelopes.
	Domain = "fomo/manifest/v1"
	// Namespace is the DHT key namespace of manifests: /fomo-model/<name>.
	Namespace = "fomo-model"
	// MaxEnvelopeSize bounds a signed manifest; one DHT message carries it.
	MaxEnvelopeSize = 256 << 10
)

// payloadType is the envelope payload type of a manifest.
var payloadType = []byte("/fomo/manifest/1")

// Field limits.
const (
	maxShort       = 64
	maxURIs        = 16
	maxURI         = 2048
	maxTemplate    = 64 << 10
	maxDescription = 4 << 10
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)
	labelRE = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)
)

// Weights identifies a model's weight file.
type Weights struct {
	// SHA256 is the file's SHA-256, 64 lowercase hex digits.
	SHA256 string `toml:"sha256" json:"sha256"`
	// Size is the file's size in bytes.
	Size uint64 `toml:"size" json:"size"`
	// URIs are where the file can be fetched (http, https, hf, ipfs, s3, file…).
	URIs []string `toml:"uris" json:"uris,omitempty"`
}

// Manifest describes a model deployment (DESIGN §4).
type Manifest struct {
	// Name is unique on the network: [a-z0-9._-]{1,64}.
	Name string `toml:"name" json:"name"`
	// Seq orders versions; the highest valid one wins.
	Seq uint64 `toml:"seq" json:"seq"`
	// Issuer is the issuer's account; it signs the manifest. Empty in a TOML
	// file means the signing key's.
	Issuer peer.ID `toml:"issuer" json:"issuer"`
	// Architecture names the model family, e.g. llama.
	Architecture string `toml:"architecture" json:"architecture"`
	// Quantization names the weight format, e.g. q4_k_m or bf16.
	Quantization string `toml:"quantization" json:"quantization"`
	// ContextLength is the context window in tokens.
	ContextLength uint64 `toml:"context_length" json:"context_length"`
	// Weights identifies the weight file.
	Weights Weights `toml:"weights" json:"weights"`
	// ChatTemplate is the chat template (a name or the template itself).
	ChatTemplate string `toml:"chat_template" json:"chat_template,omitempty"`
	// Tier names the genesis tier the model is priced in.
	Tier string `toml:"tier" json:"tier"`
	// InputPrice and OutputPrice are usd base units per 1M tokens.
	InputPrice  uint64 `toml:"input_price" json:"input_price"`
	OutputPrice uint64 `toml:"output_price" json:"output_price"`
	// Description is free text.
	Description string `toml:"description" json:"description,omitempty"`
}

// FieldError is a manifest error about one field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "manifest: " + e.Field + ": " + e.Msg }

// Validate checks every field and returns all problems, each naming its
// field. The issuer must be set.
func (m *Manifest) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(m.Name) {
		add("name", "must be 1-64 of [a-z0-9._-], got %q", m.Name)
	}
	if m.Issuer == "" {
		add("issuer", "required")
	} else if err := m.Issuer.Validate(); err != nil {
		add("issuer", "not a peer ID: %v", err)
	} else if _, err := m.Issuer.ExtractPublicKey(); err != nil {
		add("issuer", "must embed its public key (an Ed25519 peer ID): %v", err)
	}
	if !labelRE.MatchString(m.Architecture) {
		add("architecture", "must be 1-64 of [A-Za-z0-9._+-], got %q", m.Architecture)
	}
	if !labelRE.MatchString(m.Quantization) {
		add("quantization", "must be 1-64 of [A-Za-z0-9._+-], got %q", m.Quantization)
	}
	if m.ContextLength == 0 || m.ContextLength > 1<<24 {
		add("context_length", "must be 1..%d, got %d", 1<<24, m.ContextLength)
	}
	if b, err := hex.DecodeString(m.Weights.SHA256); err != nil || len(b) != sha256.Size || m.Weights.SHA256 != strings.ToLower(m.Weights.SHA256) {
		add("weights.sha256", "must be 64 lowercase hex digits, got %q", m.Weights.SHA256)
	}
	if m.Weights.Size == 0 {
		add("weights.size", "must be positive")
	}
	if len(m.Weights.URIs) > maxURIs {
		add("weights.uris", "at most %d, got %d", maxURIs, len(m.Weights.URIs))
	}
	for i, u := range m.Weights.URIs {
		pu, err := url.Parse(u)
		if len(u) > maxURI || err != nil || pu.Scheme == "" || !utf8.ValidString(u) {
			add(fmt.Sprintf("weights.uris[%d]", i), "must be an absolute URI of at most %d bytes, got %.80q", maxURI, u)
		}
	}
	if len(m.ChatTemplate) > maxTemplate || !utf8.ValidString(m.ChatTemplate) {
		add("chat_template", "must be valid UTF-8 of at most %d bytes", maxTemplate)
	}
	if !nameRE.MatchString(m.Tier) {
		add("tier", "must be 1-64 of [a-z0-9._-], got %q", m.Tier)
	}
	if len(m.Description) > maxDescription || !utf8.ValidString(m.Description) {
		add("description", "must be valid UTF-8 of at most %d bytes", maxDescription)
	}
	return errors.Join(errs...)
}

// toPB converts a valid manifest to its protobuf.
func (m *Manifest) toPB() *pb.Manifest {
	sum, _ := hex.DecodeString(m.Weights.SHA256)
	return &pb.Manifest{
		Name:          m.Name,
		Seq:           m.Seq,
		Issuer:        []byte(m.Issuer),
		Architecture:  m.Architecture,
		Quantization:  m.Quantization,
		ContextLength: m.ContextLength,
		Weights:       &pb.Weights{Sha256: sum, Size: m.Weights.Size, Uris: m.Weights.URIs},
		ChatTemplate:  m.ChatTemplate,
		Tier:          m.Tier,
		InputPrice:    m.InputPrice,
		OutputPrice:   m.OutputPrice,
		Description:   m.Description,
	}
}

func fromPB(p *pb.Manifest) (Manifest, error) {
	issuer, err := peer.IDFromBytes(p.GetIssuer())
	if err != nil {
		return Manifest{}, &FieldError{Field: "issuer", Msg: "not a peer ID: " + err.Error()}
	}
	w := p.GetWeights()
	return Manifest{
		Name:          p.GetName(),
		Seq:           p.GetSeq(),
		Issuer:        issuer,
		Architecture:  p.GetArchitecture(),
		Quantization:  p.GetQuantization(),
		ContextLength: p.GetContextLength(),
		Weights:       Weights{SHA256: hex.EncodeToString(w.GetSha256()), Size: w.GetSize(), URIs: w.GetUris()},
		ChatTemplate:  p.GetChatTemplate(),
		Tier:          p.GetTier(),
		InputPrice:    p.GetInputPrice(),
		OutputPrice:   p.GetOutputPrice(),
		Description:   p.GetDescription(),
	}, nil
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// manifestRecord is the record.Record sealed in the envelope. payload holds
// the exact bytes that were signed.
type manifestRecord struct {
	payload []byte
}

func (*manifestRecord) Domain() string                   { return Domain }
func (*manifestRecord) Codec() []byte                    { return payloadType }
func (r *manifestRecord) MarshalRecord() ([]byte, error) { return r.payload, nil }
func (r *manifestRecord) UnmarshalRecord(b []byte) error {
	r.payload = bytes.Clone(b)
	return nil
}

// Sign validates m and returns it sealed in an envelope signed by sk. An
// empty m.Issuer becomes sk's peer ID; a different one is an error.
func Sign(m Manifest, sk crypto.PrivKey) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("manifest: signing key: %w", err)
	}
	if m.Issuer == "" {
		m.Issuer = id
	}
	if m.Issuer != id {
		return nil, fmt.Errorf("manifest: issuer is %s but the signing key is %s", m.Issuer, id)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	payload, err := deterministic.Marshal(m.toPB())
	if err != nil {
		return nil, fmt.Errorf("manifest: encoding: %w", err)
	}
	env, err := record.Seal(&manifestRecord{payload: payload}, sk)
	if err != nil {
		return nil, fmt.Errorf("manifest: signing: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("manifest: encoding envelope: %w", err)
	}
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("manifest: signed manifest is %d bytes, more than %d", len(b), MaxEnvelopeSize)
	}
	return b, nil
}

// Signed is an opened, verified manifest envelope.
type Signed struct {
	// Manifest is the decoded manifest.
	Manifest Manifest
	// Envelope is the envelope exactly as signed and stored.
	Envelope []byte
	// Payload is the signed protobuf encoding of the manifest.
	Payload []byte
}

// Hash returns the SHA-256 of the signed manifest payload: the manifest's
// identity that the chain's model registry binds to its name.
func (s *Signed) Hash() [32]byte { return sha256.Sum256(s.Payload) }

// ErrInvalid wraps every reason Open rejects an envelope.
var ErrInvalid = errors.New("invalid signed manifest")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Open decodes and verifies a signed manifest: the envelope is well formed
// and in its canonical encoding, the signature over domain fomo/manifest/v1
// is valid, the payload is the manifest's deterministic encoding with no
// unknown fields, the signer is the manifest's issuer, and every field is
// valid. It never re-encodes what was signed: Envelope and Payload are the
// received bytes.
func Open(envelope []byte) (*Signed, error) {
	if len(envelope) > MaxEnvelopeSize {
		return nil, invalid("%d bytes, more than %d", len(envelope), MaxEnvelopeSize)
	}
	rec := &manifestRecord{}
	env, err := record.ConsumeTypedEnvelope(envelope, rec)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if !bytes.Equal(env.PayloadType, payloadType) {
		return nil, invalid("payload type %q, want %q", env.PayloadType, payloadType)
	}
	// One manifest, one envelope: reject other encodings of the same
	// envelope (unknown or repeated fields), so equal records compare equal.
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, envelope) {
		return nil, invalid("envelope is not in canonical encoding")
	}
	var p pb.Manifest
	if err := proto.Unmarshal(rec.payload, &p); err != nil {
		return nil, invalid("payload: %v", err)
	}
	if len(p.ProtoReflect().GetUnknown()) > 0 || len(p.GetWeights().ProtoReflect().GetUnknown()) > 0 {
		return nil, invalid("payload has unknown fields")
	}
	if canon, err := deterministic.Marshal(&p); err != nil || !bytes.Equal(canon, rec.payload) {
		return nil, invalid("payload is not a canonical manifest encoding (unknown or repeated fields)")
	}
	m, err := fromPB(&p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, invalid("signer key: %v", err)
	}
	if signer != m.Issuer {
		return nil, invalid("signed by %s but the issuer is %s", signer, m.Issuer)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &Signed{Manifest: m, Envelope: bytes.Clone(envelope), Payload: rec.payload}, nil
}

// ParseTOML decodes a manifest file strictly (an unknown key is an error
// that names it) and validates it. An empty issuer is allowed here: Sign
// fills it from the signing key.
func ParseTOML(b []byte) (Manifest, error) {
	m, err := DecodeTOML(b)
	if err != nil {
		return Manifest{}, err
	}
	if err := m.ValidateUnsigned(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// DecodeTOML decodes a manifest file strictly (an unknown key is an error
// that names it) without validating it, for a caller that fills fields in
// (the weights' hash and size from the file) before ValidateUnsigned.
func DecodeTOML(b []byte) (Manifest, error) {
	var m Manifest
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&m)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return Manifest{}, fmt.Errorf("manifest: line %d: %s: %s", perr.Position.Line, perr.LastKey, perr.Message)
			}
			return Manifest{}, fmt.Errorf("manifest: line %d: %s", perr.Position.Line, perr.Message)
		}
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for _, k := range und {
			errs = append(errs, &FieldError{Field: k.String(), Msg: "unknown key"})
		}
		return Manifest{}, errors.Join(errs...)
	}
	return m, nil
}

// ValidateUnsigned validates a manifest that Sign has not yet given an
// issuer: an empty issuer passes, the rest must be valid.
func (m Manifest) ValidateUnsigned() error {
	if m.Issuer == "" {
		// Validate the rest with a placeholder issuer.
		m.Issuer = placeholderIssuer
	}
	return m.Validate()
}

// placeholderIssuer is a syntactically valid Ed25519 peer ID used only to
// validate a manifest file whose issuer Sign will fill in.
var placeholderIssuer = func() peer.ID {
	pk, err := crypto.UnmarshalEd25519PublicKey(make([]byte, 32))
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		panic(err)
	}
	return id
}()

// LoadTOML reads and parses the manifest file at path.
func LoadTOML(path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	m, err := ParseTOML(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// VerifyWeights checks that the file at path has the size and SHA-256 that
// m names.
func VerifyWeights(path string, m Manifest) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("weights of %s: %w", m.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("weights of %s: %w", m.Name, err)
	}
	if uint64(st.Size()) != m.Weights.Size {
		return fmt.Errorf("weights of %s: %s is %d bytes, the manifest says %d", m.Name, path, st.Size(), m.Weights.Size)
	}
	got, _, err := hashWeights(f)
	if err != nil {
		return fmt.Errorf("weights of %s: %w", m.Name, err)
	}
	if got != m.Weights.SHA256 {
		return fmt.Errorf("weights of %s: %s has sha256 %s, the manifest says %s", m.Name, path, got, m.Weights.SHA256)
	}
	return nil
}

// FileWeights returns the SHA-256, in lowercase hex, and the size of the
// file at path: the Weights fields (URIs aside) a manifest names it by.
func FileWeights(path string) (Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return Weights{}, err
	}
	defer f.Close()
	sum, n, err := hashWeights(f)
	if err != nil {
		return Weights{}, err
	}
	return Weights{SHA256: sum, Size: n}, nil
}

// hashWeights reads r to its end and returns its SHA-256, in lowercase
// hex, and how many bytes it had.
func hashWeights(r io.Reader) (string, uint64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), uint64(n), nil
}
