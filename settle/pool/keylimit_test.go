package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
)

// TestReserveKeyLimit: a session key's spend limit holds its receipts not
// yet settled and its requests in progress, across a reopen of the pool,
// so that parallel requests cannot together spend past it.
func TestReserveKeyLimit(t *testing.T) {
	ctx := context.Background()
	_, acct := testkeys.New(t)
	sessKey, sess := testkeys.New(t)
	nodeKey, _ := testkeys.New(t)
	d := store.NewMemory()
	p := newLocalPool(t, Config{Datastore: d})
	const left, maxCharge = 25, 10
	limit := KeyLimit{Key: sess, Left: left}
	r1, err := p.Reserve(acct, 1000, maxCharge, limit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reserve(acct, 1000, maxCharge, limit); err != nil {
		t.Fatal(err)
	}
	// A third would let the key spend 30 > 25, although the account could pay.
	_, err = p.Reserve(acct, 1000, maxCharge, limit)
	var kl *KeyLimitError
	if !errors.As(err, &kl) || !errors.Is(err, ErrInsufficientQuota) || kl.Key != sess || kl.Pending != 20 {
		t.Fatalf("third reservation: %v", err)
	}
	// The account's own key (no limit) is not held back by the session key.
	if _, err := p.Reserve(acct, 1000, maxCharge); err != nil {
		t.Fatalf("the account's own request: %v", err)
	}
	// The first request's receipt (charge 8) replaces its reservation.
	a := receipt.Authorization{NetworkID: testNet, Account: acct, Model: "m", MaxOutputTokens: 1 << 20, MaxCharge: maxCharge,
		InputPrice: 1_000_000, IssuedAtMs: 1, ExpiresAtMs: 60_001}
	_, _ = rand.Read(a.Nonce[:])
	auth, err := receipt.SignAuthorization(a, sessKey)
	if err != nil {
		t.Fatal(err)
	}
	e, err := p.Add(ctx, signReceipt(t, auth, nodeKey, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	if e.Signer != sess {
		t.Fatalf("entry signer %s, want the session key %s", e.Signer, sess)
	}
	r1()
	// 8 pending + 10 reserved: 7 left, not 10.
	if _, err := p.Reserve(acct, 1000, maxCharge, limit); err == nil {
		t.Fatal("reserved past the limit with a receipt pending")
	}
	if _, err := p.Reserve(acct, 1000, 7, limit); err != nil {
		t.Fatalf("the 7 left: %v", err)
	}
	// Reopened, the pool counts the key's pending receipt again.
	p.Close()
	p2 := newLocalPool(t, Config{Datastore: d})
	if _, err := p2.Reserve(acct, 1000, 18, limit); err == nil {
		t.Fatal("after reopening, reserved past the limit with a receipt pending")
	}
	if _, err := p2.Reserve(acct, 1000, 17, limit); err != nil {
		t.Fatal(err)
	}
	// Settled, it no longer counts: the chain's spent figure has it.
	if err := p2.MarkSettled(ctx, []ID{e.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Reserve(acct, 1000, 8, limit); err != nil {
		t.Fatalf("after settling: %v", err)
	}
}
