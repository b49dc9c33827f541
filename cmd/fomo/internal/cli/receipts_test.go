package cli

import (
	"crypto/rand"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// receiptNode serves a pool holding n receipts and returns its address
// and the pool.
func receiptNode(t *testing.T, n int) (string, *pool.Pool) {
	t.Helper()
	p, err := pool.New(pool.Config{Datastore: store.NewMemory(), Verify: pool.ReceiptVerifier(receipt.Checker{NetworkID: "testnet"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	acct, _ := testkeys.New(t)
	node, _ := testkeys.New(t)
	for range n {
		if _, err := p.Add(t.Context(), signedReceipt(t, acct, node)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(noModels{}, api.WithReceipts(p)))
	t.Cleanup(srv.Close)
	return srv.URL, p
}

func signedReceipt(t *testing.T, acct, node crypto.PrivKey) []byte {
	t.Helper()
	now := uint64(time.Now().UnixMilli())
	a := receipt.Authorization{NetworkID: "testnet", Model: "m", MaxOutputTokens: 100, MaxCharge: 1000, InputPrice: 1_000_000,
		IssuedAtMs: now, ExpiresAtMs: now + 60_000}
	_, _ = rand.Read(a.Nonce[:])
	auth, err := receipt.SignAuthorization(a, acct)
	if err != nil {
		t.Fatal(err)
	}
	env, err := receipt.SignReceipt(receipt.Receipt{Authorization: auth, InputTokens: 3, OutputTokens: 2,
		Finish: receipt.FinishStop, StartedAtMs: now + 1, CompletedAtMs: now + 2, Charge: 3}, node)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestReceiptIDPrefixes: the ids receipts list prints, and any unique
// prefix of 8 hex digits or more, work with receipts show and verify.
func TestReceiptIDPrefixes(t *testing.T) {
	url, _ := receiptNode(t, 3)
	out, err := run(t, "receipts", "list", "--api", url)
	if err != nil {
		t.Fatalf("receipts list: %v\n%s", err, out)
	}
	listed := regexp.MustCompile(`(?m)^([0-9a-f]{8,64})\s`).FindAllStringSubmatch(out, -1)
	if len(listed) != 3 {
		t.Fatalf("receipts list printed %d ids:\n%s", len(listed), out)
	}
	for _, m := range listed {
		id := m[1]
		out, err := run(t, "receipts", "show", id, "--api", url)
		if err != nil || !strings.Contains(out, `"id": "`+id) {
			t.Fatalf("receipts show %s (as listed): %v\n%s", id, err, out)
		}
		full := strings.TrimSuffix(strings.SplitN(strings.SplitN(out, `"id": "`, 2)[1], `"`, 2)[0], "")
		for _, arg := range []string{full, full[:8], strings.ToUpper(full[:10])} {
			if out, err := run(t, "receipts", "show", arg, "--api", url); err != nil || !strings.Contains(out, full) {
				t.Fatalf("receipts show %s: %v\n%s", arg, err, out)
			}
		}
		if out, err := run(t, "receipts", "verify", id, "--api", url); err != nil || !strings.Contains(out, "valid") {
			t.Fatalf("receipts verify %s: %v\n%s", id, err, out)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"00000000", "receipt 00000000 not found on this node"},
		{"abc", `receipt id "abc": give the id or a prefix of it, 8 to 64 hex digits`},
		{"nothexxx", `receipt id "nothexxx": give the id or a prefix of it, 8 to 64 hex digits`},
	} {
		_, err := run(t, "receipts", "show", tc.arg, "--api", url)
		if got := ErrorMessage(err); got != tc.want {
			t.Errorf("receipts show %s: %q, want %q", tc.arg, got, tc.want)
		}
	}
}
