package pool

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/receipt"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

type prices map[string][2]uint64

func (p prices) Prices(model string) (uint64, uint64, bool) {
	v, ok := p[model]
	return v[0], v[1], ok
}

type openBefore uint64

func (o openBefore) Open(ms uint64) bool { return ms < uint64(o) }

// realReceipt signs a receipt in the network's format: 1000 input and 500
// output tokens at 150000/600000 per 1M, a charge of 450.
func realReceipt(t *testing.T, client, node crypto.PrivKey, model string, issuedMs uint64, charge uint64) ([]byte, []byte) {
	t.Helper()
	acct, _ := peer.IDFromPrivateKey(client)
	a := receipt.Authorization{
		NetworkID: "testnet", Account: acct, Model: model, MaxOutputTokens: 1000, MaxCharge: 10_000,
		InputPrice: 150_000, OutputPrice: 600_000, IssuedAtMs: issuedMs, ExpiresAtMs: issuedMs + 60_000,
	}
	a.Nonce[0] = byte(issuedMs)
	authEnv, err := receipt.SignAuthorization(a, client)
	if err != nil {
		t.Fatal(err)
	}
	return authEnv, signRealReceipt(t, authEnv, node, issuedMs, charge)
}

func signRealReceipt(t *testing.T, authEnv []byte, node crypto.PrivKey, issuedMs, charge uint64) []byte {
	t.Helper()
	env, err := receipt.SignReceipt(receipt.Receipt{
		Authorization: authEnv, InputTokens: 1000, OutputTokens: 500, Finish: receipt.FinishStop,
		StartedAtMs: issuedMs + 10, CompletedAtMs: issuedMs + 20, Charge: charge,
	}, node)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestReceiptVerifier runs the pool over the network's receipt format and
// checks that each reason class gets its verdict.
func TestReceiptVerifier(t *testing.T) {
	ctx := context.Background()
	client, acct := testkeys.New(t)
	node, nodeID := testkeys.New(t)
	other, otherID := testkeys.New(t)
	_, forwarder := testkeys.New(t)
	const closeMs = 1_000_000
	p := newLocalPool(t, Config{Verify: ReceiptVerifier(receipt.Checker{
		NetworkID: "testnet",
		Prices:    prices{"m": {150_000, 600_000}},
		Epochs:    openBefore(closeMs),
	})})

	authEnv, env := realReceipt(t, client, node, "m", 1000, 450)
	e, err := p.Add(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != ID(sha256.Sum256(authEnv)) || e.Account != acct || e.Node != nodeID || e.Model != "m" ||
		e.IssuedAtMs != 1000 || e.Charge != 450 || p.Pending(acct) != 450 {
		t.Fatalf("entry %+v", e)
	}

	_, mismatch := realReceipt(t, client, node, "m", 2000, 449)
	_, unknown := realReceipt(t, client, node, "x", 3000, 450)
	_, closed := realReceipt(t, client, node, "m", closeMs+1, 450)
	_, fresh := realReceipt(t, client, node, "m", 4000, 450)
	cases := []struct {
		name   string
		data   []byte
		want   pubsub.ValidationResult
		reason string
	}{
		{"valid", fresh, pubsub.ValidationAccept, ""},
		{"malformed", []byte{1, 2, 3}, pubsub.ValidationReject, string(receipt.ReasonMalformed)},
		{"forged node signature", tamper(signRealReceipt(t, authEnv, other, 1000, 450)), pubsub.ValidationReject,
			string(receipt.ReasonBadNodeSignature)},
		{"charge mismatch", mismatch, pubsub.ValidationReject, string(receipt.ReasonChargeMismatch)},
		{"unknown model", unknown, pubsub.ValidationIgnore, string(receipt.ReasonUnknownModel)},
		{"closed epoch", closed, pubsub.ValidationIgnore, string(receipt.ReasonEpochClosed)},
		{"duplicate", env, pubsub.ValidationIgnore, ReasonDuplicate},
		{"replay at another node", signRealReceipt(t, authEnv, other, 1000, 450), pubsub.ValidationIgnore, ReasonConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdict(t, ctx, p, forwarder, tc.data, tc.want, tc.reason)
		})
	}
	ev, err := p.Evidence(ctx, e.ID)
	if err != nil || len(ev) != 1 || ev[0].Node != otherID {
		t.Fatalf("evidence %+v, %v", ev, err)
	}
	var ve *VerifyError
	if _, err := p.Add(ctx, mismatch); !errors.As(err, &ve) || ve.Reason != string(receipt.ReasonChargeMismatch) || ve.Ignore {
		t.Fatalf("Add of an invalid receipt: %v", err)
	}
	if got := p.Pending(acct); got != 900 {
		t.Fatalf("pending %d, want 900", got)
	}
}
