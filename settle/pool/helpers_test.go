package pool

import (
	"crypto/rand"
	"testing"

	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// The tests sign receipts in the network's format (package receipt) and
// verify them with ReceiptVerifier. Prices are 1 usd unit per input token
// and nothing per output token, so a receipt's charge is its input tokens.

const testNet = "testnet"

// testVerify is the tests' Verifier.
var testVerify = ReceiptVerifier(receipt.Checker{NetworkID: testNet})

// signAuth returns an authorization envelope of the account whose key is
// sk, with a fresh nonce.
func signAuth(t testing.TB, sk crypto.PrivKey, model string, issuedAtMs, maxCharge uint64) []byte {
	t.Helper()
	a := receipt.Authorization{
		NetworkID: testNet, Model: model, MaxOutputTokens: 1 << 20, MaxCharge: maxCharge,
		InputPrice: 1_000_000, OutputPrice: 0, IssuedAtMs: issuedAtMs, ExpiresAtMs: issuedAtMs + 60_000,
	}
	_, _ = rand.Read(a.Nonce[:])
	env, err := receipt.SignAuthorization(a, sk)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// signReceipt returns a receipt envelope for auth signed by node, charging
// charge (input tokens) for output tokens.
func signReceipt(t testing.TB, auth []byte, node crypto.PrivKey, charge uint64, output int) []byte {
	t.Helper()
	sa, err := receipt.OpenAuthorization(auth)
	if err != nil {
		t.Fatal(err)
	}
	issued := sa.Authorization.IssuedAtMs
	env, err := receipt.SignReceipt(receipt.Receipt{
		Authorization: auth, InputTokens: charge, OutputTokens: uint64(output), Finish: receipt.FinishStop,
		StartedAtMs: issued + 1, CompletedAtMs: issued + 2, Charge: charge,
	}, node)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// authorizationOf returns the authorization envelope inside a receipt
// envelope.
func authorizationOf(t testing.TB, env []byte) []byte {
	t.Helper()
	sr, err := receipt.OpenReceipt(env)
	if err != nil {
		t.Fatal(err)
	}
	return sr.Receipt.Authorization
}

// tamper flips a bit of the signature at the end of a signed envelope.
func tamper(env []byte) []byte {
	out := append([]byte(nil), env...)
	out[len(out)-1] ^= 0x01
	return out
}
