package pool

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// ID is a receipt id: the SHA-256 of the authorization envelope's bytes.
// One authorization pays at most once, network-wide.
type ID [32]byte

// String returns the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses an id written by ID.String.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return ID{}, fmt.Errorf("pool: receipt id %q is not 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Receipt is what a Verifier extracts from a valid receipt envelope.
type Receipt struct {
	// ID is the receipt id (SHA-256 of the authorization envelope).
	ID ID
	// Account is the paying account of the authorization.
	Account peer.ID
	// Node is the serving node that signed the receipt.
	Node peer.ID
	// Model is the model that served the request.
	Model string
	// IssuedAtMs is the authorization's issue time (Unix milliseconds); it
	// places the receipt in its epoch.
	IssuedAtMs uint64
	// Charge is the receipt's charge in usd base units.
	Charge uint64
	// Signer is the session key that signed the authorization for the
	// account; empty when the account signed it itself.
	Signer peer.ID
}

// Entry is a receipt as the pool holds it.
type Entry struct {
	Receipt
	// Digest is the SHA-256 of the receipt envelope: two receipts with the
	// same ID and different digests are a conflict.
	Digest [32]byte
	// Epoch is the epoch the receipt was issued in.
	Epoch uint64
	// SeenAtMs is when this node first stored the receipt (Unix ms).
	SeenAtMs int64
	// Local reports whether the receipt was added by this node (Add)
	// rather than received by gossip.
	Local bool
	// Settled reports whether the chain has settled the receipt
	// (MarkSettled); settled receipts no longer count as pending spend.
	Settled bool
	// Envelope is the receipt's signed envelope, the bytes as received.
	Envelope []byte
}

// Field numbers of the stored entry encoding (protobuf wire format). New
// fields get new numbers; decoders skip the ones they do not know.
const (
	fID         protowire.Number = 1
	fDigest     protowire.Number = 2
	fEpoch      protowire.Number = 3
	fAccount    protowire.Number = 4
	fNode       protowire.Number = 5
	fModel      protowire.Number = 6
	fIssuedAtMs protowire.Number = 7
	fCharge     protowire.Number = 8
	fSeenAtMs   protowire.Number = 9
	fLocal      protowire.Number = 10
	fSettled    protowire.Number = 11
	fEnvelope   protowire.Number = 12
	fSigner     protowire.Number = 13
)

// maxModelLen bounds the model name of a stored entry.
const maxModelLen = 256

// encodeEntry returns the stored form of e: protobuf wire format, fields in
// number order, so equal entries encode to equal bytes.
func encodeEntry(e Entry) []byte {
	b := make([]byte, 0, 160+len(e.Envelope)+len(e.Model))
	b = protowire.AppendTag(b, fID, protowire.BytesType)
	b = protowire.AppendBytes(b, e.ID[:])
	b = protowire.AppendTag(b, fDigest, protowire.BytesType)
	b = protowire.AppendBytes(b, e.Digest[:])
	b = appendVarint(b, fEpoch, e.Epoch)
	b = protowire.AppendTag(b, fAccount, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte(e.Account))
	b = protowire.AppendTag(b, fNode, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte(e.Node))
	if e.Model != "" {
		b = protowire.AppendTag(b, fModel, protowire.BytesType)
		b = protowire.AppendString(b, e.Model)
	}
	b = appendVarint(b, fIssuedAtMs, e.IssuedAtMs)
	b = appendVarint(b, fCharge, e.Charge)
	b = appendVarint(b, fSeenAtMs, uint64(e.SeenAtMs))
	if e.Local {
		b = appendVarint(b, fLocal, 1)
	}
	if e.Settled {
		b = appendVarint(b, fSettled, 1)
	}
	b = protowire.AppendTag(b, fEnvelope, protowire.BytesType)
	b = protowire.AppendBytes(b, e.Envelope)
	if e.Signer != "" {
		b = protowire.AppendTag(b, fSigner, protowire.BytesType)
		b = protowire.AppendBytes(b, []byte(e.Signer))
	}
	return b
}

func appendVarint(b []byte, n protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// errCorrupt is wrapped by every decodeEntry error.
var errCorrupt = errors.New("pool: corrupt stored entry")

// decodeEntry parses an entry written by encodeEntry. It never panics and
// checks what the pool relies on: id and digest of 32 bytes, valid peer
// IDs for account and node, a bounded model name, an envelope.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	var haveID, haveDigest bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Entry{}, fmt.Errorf("%w: %v", errCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		var err error
		switch {
		case num == fID && typ == protowire.BytesType:
			b, err = consumeFixed(b, e.ID[:], "id")
			haveID = true
		case num == fDigest && typ == protowire.BytesType:
			b, err = consumeFixed(b, e.Digest[:], "digest")
			haveDigest = true
		case num == fAccount && typ == protowire.BytesType:
			e.Account, b, err = consumePeerID(b)
		case num == fNode && typ == protowire.BytesType:
			e.Node, b, err = consumePeerID(b)
		case num == fSigner && typ == protowire.BytesType:
			e.Signer, b, err = consumePeerID(b)
		case num == fModel && typ == protowire.BytesType:
			var v []byte
			v, b, err = consumeBytes(b)
			if err == nil && len(v) > maxModelLen {
				err = fmt.Errorf("model name of %d bytes", len(v))
			}
			e.Model = string(v)
		case num == fEnvelope && typ == protowire.BytesType:
			var v []byte
			v, b, err = consumeBytes(b)
			e.Envelope = append([]byte(nil), v...)
		case typ == protowire.VarintType && num >= fEpoch && num <= fSettled:
			var v uint64
			v, b, err = consumeVarint(b)
			switch num {
			case fEpoch:
				e.Epoch = v
			case fIssuedAtMs:
				e.IssuedAtMs = v
			case fCharge:
				e.Charge = v
			case fSeenAtMs:
				e.SeenAtMs = int64(v)
			case fLocal:
				e.Local = v != 0
			case fSettled:
				e.Settled = v != 0
			default:
				err = fmt.Errorf("field %d is not a varint", num)
			}
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				err = protowire.ParseError(m)
			} else {
				b = b[m:]
			}
		}
		if err != nil {
			return Entry{}, fmt.Errorf("%w: field %d: %v", errCorrupt, num, err)
		}
	}
	switch {
	case !haveID || !haveDigest:
		return Entry{}, fmt.Errorf("%w: id or digest missing", errCorrupt)
	case e.Account == "" || e.Node == "":
		return Entry{}, fmt.Errorf("%w: account or node missing", errCorrupt)
	case len(e.Envelope) == 0:
		return Entry{}, fmt.Errorf("%w: envelope missing", errCorrupt)
	}
	return e, nil
}

func consumeBytes(b []byte) ([]byte, []byte, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, b, protowire.ParseError(n)
	}
	return v, b[n:], nil
}

// consumeFixed reads a bytes field that must be as long as dst into dst;
// what names the field in the error.
func consumeFixed(b []byte, dst []byte, what string) ([]byte, error) {
	v, b, err := consumeBytes(b)
	if err == nil && len(v) != len(dst) {
		err = fmt.Errorf("%s of %d bytes", what, len(v))
	}
	copy(dst, v)
	return b, err
}

// consumePeerID reads a bytes field that must be a peer ID.
func consumePeerID(b []byte) (peer.ID, []byte, error) {
	v, b, err := consumeBytes(b)
	if err != nil {
		return "", b, err
	}
	id, err := peer.IDFromBytes(v)
	return id, b, err
}

func consumeVarint(b []byte) (uint64, []byte, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, b, protowire.ParseError(n)
	}
	return v, b[n:], nil
}
