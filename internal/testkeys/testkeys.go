// Package testkeys makes Ed25519 identities for tests: a fresh random one
// (New, or MustNew for a package-level variable) or a deterministic one
// derived from a seed byte (Seeded), each as the libp2p private key and the
// peer ID (account address) it belongs to; and Seal signs a record with one.
//
// It is a leaf: it imports only the standard library and go-libp2p's core
// crypto, peer and record packages, so any package's tests may use it.
package testkeys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// New returns a random Ed25519 key and its peer ID; it fails tb on error.
func New(tb testing.TB) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	sk, pid, err := random()
	if err != nil {
		tb.Fatalf("testkeys: %v", err)
	}
	return sk, pid
}

// MustNew is New for a package-level variable, where there is no
// testing.TB: it panics on error.
func MustNew() (crypto.PrivKey, peer.ID) {
	sk, pid, err := random()
	if err != nil {
		panic("testkeys: " + err.Error())
	}
	return sk, pid
}

func random() (crypto.PrivKey, peer.ID, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generating a key: %w", err)
	}
	pid, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, "", fmt.Errorf("peer ID: %w", err)
	}
	return sk, pid, nil
}

// Seeded returns the Ed25519 key whose 32-byte seed is seed repeated, and its
// peer ID. The same seed always gives the same key, so golden vectors signed
// with it stay stable.
func Seeded(tb testing.TB, seed byte) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	sk, err := crypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		tb.Fatalf("testkeys: key from seed %d: %v", seed, err)
	}
	return sk, id(tb, sk)
}

func id(tb testing.TB, sk crypto.PrivKey) peer.ID {
	tb.Helper()
	pid, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		tb.Fatalf("testkeys: peer ID: %v", err)
	}
	return pid
}

// Seal signs rec with sk as a libp2p signed envelope, as is (without the
// checks of the package that owns the record), and returns its encoding; it
// fails tb on error.
func Seal(tb testing.TB, rec record.Record, sk crypto.PrivKey) []byte {
	tb.Helper()
	env, err := record.Seal(rec, sk)
	if err != nil {
		tb.Fatalf("testkeys: sealing a record: %v", err)
	}
	b, err := env.Marshal()
	if err != nil {
		tb.Fatalf("testkeys: encoding an envelope: %v", err)
	}
	return b
}
