package meter

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// placeholders are API keys the OpenAI SDKs send when the user has none
// to give: they always send one.
var placeholders = []string{"Bearer sk-anything", "Bearer none", "Bearer sk-placeholder", "bearer EMPTY", "Bearer ", "Bearer"}

// wantPaidBy checks that the request's authorization is signed by signer
// for account.
func wantPaidBy(t *testing.T, tk *Ticket, account, signer peer.ID) {
	t.Helper()
	if a := tk.g.base; a.Account != account || a.Signer != signer {
		t.Fatalf("authorization for account %s signed by %s, want account %s signed by %s", a.Account, a.Signer, account, signer)
	}
}

func TestPlaceholderKeyPaidByOpenAccess(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.reconfigure(t, func(c *Config) { c.OpenKey = f.session })
	sessionID, _ := peer.IDFromPrivateKey(f.session)
	for _, h := range append([]string{""}, placeholders...) {
		header := map[string]string{}
		if h != "" {
			header["Authorization"] = h
		}
		tk, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), header)
		if rerr != nil {
			t.Fatalf("%q on a node with open access: %v", h, rerr)
		}
		wantPaidBy(t, tk, f.account, sessionID)
		tk.Close()
	}
	// A key the client means as a session key is never replaced by the
	// open-access key: a malformed one is refused.
	for _, h := range []string{"Bearer fomo_sk_", "Bearer fomo_sk_not-a-key", "Basic dXNlcjpwYXNz"} {
		_, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{"Authorization": h})
		wantStatus(t, rerr, http.StatusUnauthorized, "invalid_api_key")
	}
	// A valid session key of another account pays for itself (here: it
	// is unknown, so it is refused, not paid by the open-access key).
	other, _ := newKey(t)
	_, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{"Authorization": "Bearer " + other})
	wantStatus(t, rerr, http.StatusUnauthorized, "invalid_api_key")
}

func TestPlaceholderKeyRefusedWithoutOpenAccess(t *testing.T) {
	f := newFixture(t, 1_000_000)
	for _, h := range placeholders {
		_, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{"Authorization": h})
		wantStatus(t, rerr, http.StatusUnauthorized, "invalid_api_key")
		if !strings.Contains(rerr.Message, receipt.SessionKeyPrefix) {
			t.Fatalf("%q: the message does not say which key is expected: %s", h, rerr.Message)
		}
	}
	_, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{})
	wantStatus(t, rerr, http.StatusUnauthorized, "invalid_api_key")
}

// accountsOf is a fixed Accounts.
type accountsOf map[peer.ID]peer.ID

func (a accountsOf) AccountOf(_ context.Context, signer peer.ID) (peer.ID, bool) {
	acc, ok := a[signer]
	return acc, ok
}

func TestGatewayPaysFromTheKeysAccount(t *testing.T) {
	f := newFixture(t, 1_000_000)
	sessionID, _ := peer.IDFromPrivateKey(f.session)
	// A gateway: no payers, its user's key signs, the genesis says whose
	// session key it is.
	f.reconfigure(t, func(c *Config) {
		c.Payers, c.EntryNode, c.UserKey = nil, false, f.session
		c.Accounts = accountsOf{sessionID: f.account}
	})
	for _, h := range append([]string{""}, placeholders...) {
		header := map[string]string{}
		if h != "" {
			header["Authorization"] = h
		}
		tk, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), header)
		if rerr != nil {
			t.Fatalf("%q at a gateway: %v", h, rerr)
		}
		wantPaidBy(t, tk, f.account, sessionID)
		tk.Close()
	}
	// The session key sent by the client is resolved to its account too.
	tk, rerr := f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	wantPaidBy(t, tk, f.account, sessionID)
	tk.Close()
	// An account's own key, or a key the gateway does not know, signs for
	// itself.
	key, id := newKey(t)
	tk, rerr = f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{"Authorization": "Bearer " + key})
	if rerr != nil {
		t.Fatal(rerr)
	}
	wantPaidBy(t, tk, id, id)
	tk.Close()
	_, rerr = f.begin(t, chat(`{"model":"m","max_tokens":5,"messages":[]}`), map[string]string{"Authorization": "Bearer fomo_sk_x"})
	wantStatus(t, rerr, http.StatusUnauthorized, "invalid_api_key")
}

// newKey returns a new session key, encoded as an API key, and its id.
func newKey(t *testing.T) (string, peer.ID) {
	t.Helper()
	sk, id := testkeys.New(t)
	key, err := receipt.EncodeSessionKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}
