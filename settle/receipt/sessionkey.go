package receipt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// SessionKeyPrefix starts every encoded session key, the API key a client
// gives a node (Authorization: Bearer fomo_sk_…).
const SessionKeyPrefix = "fomo_sk_"

// maxSessionKey bounds an encoded session key: an Ed25519 key encodes in
// 99 characters.
const maxSessionKey = 256

var sessionKeyEncoding = base64.RawURLEncoding.Strict()

// EncodeSessionKey encodes an Ed25519 private key as an API key:
// "fomo_sk_" followed by the unpadded base64url of the key's libp2p
// protobuf encoding ([crypto.MarshalPrivateKey]). The result is a secret.
func EncodeSessionKey(sk crypto.PrivKey) (string, error) {
	if sk == nil {
		return "", errors.New("session key: no key")
	}
	if sk.Type() != cryptopb.KeyType_Ed25519 {
		return "", fmt.Errorf("session key: %s key, want Ed25519", sk.Type())
	}
	b, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return "", fmt.Errorf("session key: %w", err)
	}
	return SessionKeyPrefix + sessionKeyEncoding.EncodeToString(b), nil
}

// DecodeSessionKey decodes an API key made by [EncodeSessionKey]. It
// accepts only the canonical encoding of an Ed25519 key whose public half
// matches its seed. Errors never quote the key.
func DecodeSessionKey(s string) (crypto.PrivKey, error) {
	rest, ok := strings.CutPrefix(s, SessionKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("session key: does not start with %q", SessionKeyPrefix)
	}
	if len(s) > maxSessionKey {
		return nil, fmt.Errorf("session key: %d characters, more than %d", len(s), maxSessionKey)
	}
	// The decoder skips newlines; a key has none.
	b, err := sessionKeyEncoding.DecodeString(rest)
	if err != nil || strings.ContainsAny(rest, "\r\n") {
		return nil, errors.New("session key: not unpadded base64url after the prefix")
	}
	sk, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("session key: not a private key: %v", err)
	}
	if sk.Type() != cryptopb.KeyType_Ed25519 {
		return nil, fmt.Errorf("session key: %s key, want Ed25519", sk.Type())
	}
	raw, err := sk.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, errors.New("session key: bad Ed25519 key")
	}
	seed := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(seed[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
		return nil, errors.New("session key: public key does not match the seed")
	}
	if canon, err := crypto.MarshalPrivateKey(sk); err != nil || !bytes.Equal(canon, b) {
		return nil, errors.New("session key: not in canonical encoding")
	}
	return sk, nil
}
