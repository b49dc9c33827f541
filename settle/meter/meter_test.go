package meter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	testNet   = "testnet"
	testModel = "m"
	// Prices per 1M tokens: 1 usd unit per input token, 2 per output token.
	inPrice, outPrice = 1_000_000, 2_000_000
	promptTokens      = 10
)

// tokens is a runtime stand-in: it delivers one event per output token,
// up to the request's max_tokens or its own count, and counts its usage as
// a runtime does (what was delivered).
type tokens struct {
	n    int           // tokens it would generate
	gate chan struct{} // when set, each token waits for a send

	mu   sync.Mutex
	runs []*runtime.Request
}

func (b *tokens) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	b.mu.Lock()
	b.runs = append(b.runs, req)
	b.mu.Unlock()
	var r struct {
		MaxTokens int `json:"max_tokens"`
	}
	_ = json.Unmarshal(req.Body, &r)
	n := b.n
	if r.MaxTokens > 0 {
		n = min(n, r.MaxTokens)
	}
	return &tokenStream{ctx: ctx, n: n, gate: b.gate}, nil
}

func (b *tokens) ran() []*runtime.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*runtime.Request(nil), b.runs...)
}

type tokenStream struct {
	ctx       context.Context
	n, sent   int
	gate      chan struct{}
	cancelled bool
}

func (s *tokenStream) Recv() (runtime.Event, error) {
	if s.sent >= s.n {
		return runtime.Event{}, io.EOF
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-s.ctx.Done():
			s.cancelled = true
			return runtime.Event{}, s.ctx.Err()
		}
	}
	s.sent++
	return runtime.Event{Data: fmt.Appendf(nil, `{"token":%d}`, s.sent)}, nil
}

func (s *tokenStream) Usage() runtime.Usage {
	return runtime.Usage{PromptTokens: promptTokens, CompletionTokens: int64(s.sent)}
}

func (s *tokenStream) Finish() runtime.FinishReason {
	if s.sent < s.n {
		return runtime.FinishCancelled
	}
	return runtime.FinishLength
}

func (s *tokenStream) Close() error { return nil }

// fixture is one node's meter over a real receipt pool and a local account
// registry file.
type fixture struct {
	m       *Meter
	pool    *pool.Pool
	backend *tokens
	served  runtime.Backend
	user    crypto.PrivKey // the account's own key
	account peer.ID
	session crypto.PrivKey // a session key of the account
	node    peer.ID
	cfg     Config
}

func newFixture(t *testing.T, credit uint64, opts ...func(*Config)) *fixture {
	t.Helper()
	user, account := testkeys.New(t)
	session, sessionID := testkeys.New(t)
	path := filepath.Join(t.TempDir(), "accounts.toml")
	f := AccountsFile{Account: []RegistryAccount{{ID: account.String(), Credit: credit, SessionKeys: []string{sessionID.String()}}}}
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := pool.New(pool.Config{Datastore: store.NewMemory(), Verify: pool.ReceiptVerifier(receipt.Checker{NetworkID: testNet, Signers: reg})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pl.Close() })
	nodeKey, node := testkeys.New(t)
	cfg := Config{
		NetworkID: testNet, Key: nodeKey, Pool: pl, Payers: reg, EntryNode: true, MaxTokens: 100,
		LocalPrices: func(model string) (uint64, uint64, bool) { return inPrice, outPrice, model == testModel },
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	be := &tokens{n: 50}
	return &fixture{m: m, pool: pl, backend: be, served: m.Wrap(be), user: user, account: account, session: session, node: node, cfg: cfg}
}

// reconfigure replaces f's meter by one whose config edit changed.
func (f *fixture) reconfigure(t *testing.T, edit func(*Config)) {
	t.Helper()
	cfg := f.cfg
	edit(&cfg)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.m, f.served, f.cfg = m, m.Wrap(f.backend), cfg
}

func chat(body string) *runtime.Request {
	req, rerr := runtime.ParseRequest(runtime.APIChat, []byte(body))
	if rerr != nil {
		panic(rerr)
	}
	return req
}

// begin takes req at the HTTP API with the session key as API key.
func (f *fixture) begin(t *testing.T, req *runtime.Request, header map[string]string) (*Ticket, *runtime.Error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(string(req.Body)))
	if header == nil {
		key, err := receipt.EncodeSessionKey(f.session)
		if err != nil {
			t.Fatal(err)
		}
		header = map[string]string{"Authorization": "Bearer " + key}
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return f.m.Begin(r, req)
}

// serve takes req at the API, as begin does, and runs it through the
// metered backend to its end: the ticket (closed when t ends, if not
// before), the stream and the number of events delivered.
func (f *fixture) serve(t *testing.T, req *runtime.Request, header map[string]string) (*Ticket, runtime.Stream, int) {
	t.Helper()
	tk, rerr := f.begin(t, req, header)
	if rerr != nil {
		t.Fatal(rerr)
	}
	t.Cleanup(tk.Close)
	s, err := f.served.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tk, s, drain(t, s, -1)
}

// authorize returns an authorization, signed by the account's own key, that
// pays f's node at its prices for body and up to 5 output tokens, after
// edit when it is set.
func (f *fixture) authorize(t *testing.T, body string, edit func(a *receipt.Authorization)) []byte {
	t.Helper()
	a := receipt.NewAuthorization(testNet, f.account, testModel, time.Now(), time.Minute)
	a.Node, a.MaxOutputTokens, a.InputPrice, a.OutputPrice = f.node, 5, inPrice, outPrice
	a.MaxCharge, _ = receipt.MaxCharge([]byte(body), 5, inPrice, outPrice)
	a.RequestSHA256 = sha256.Sum256([]byte(body))
	if edit != nil {
		edit(&a)
	}
	env, err := receipt.SignAuthorization(a, f.user)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// drain reads s to its end, or stops after n events when n ≥ 0.
func drain(t *testing.T, s runtime.Stream, n int) int {
	t.Helper()
	got := 0
	for n < 0 || got < n {
		if _, err := s.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		got++
	}
	return got
}

func wantStatus(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != status || (code != "" && (re.Code == nil || *re.Code != code)) {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func TestServedRequestPaysOnce(t *testing.T) {
	f := newFixture(t, 1_000_000)
	req := chat(`{"model":"m","max_tokens":20,"messages":[]}`)
	tk, s, got := f.serve(t, req, nil)
	if got != 20 {
		t.Fatalf("delivered %d tokens, want 20", got)
	}
	sr, err := tk.Finish(context.Background(), s)
	if err != nil || sr == nil {
		t.Fatalf("Finish = %v, %v", sr, err)
	}
	want, _ := receipt.Charge(promptTokens, 20, inPrice, outPrice)
	if sr.Receipt.Node != f.node || sr.Receipt.OutputTokens != 20 || sr.Receipt.Charge != want ||
		sr.Authorization.Authorization.Account != f.account || sr.Authorization.Authorization.Node != f.node {
		t.Fatalf("receipt %+v", sr.Receipt)
	}
	if tk.ReceiptID() == "" || fmt.Sprintf("%x", sr.ID()) != tk.ReceiptID() {
		t.Fatalf("ticket's receipt id %s, receipt %x", tk.ReceiptID(), sr.ID())
	}
	// The receipt is in the pool, and it verifies as any node would check it.
	e, ok, err := f.pool.Get(context.Background(), pool.ID(sr.ID()))
	if err != nil || !ok || e.Charge != want {
		t.Fatalf("pool holds %+v %v %v", e, ok, err)
	}
	if _, err := receipt.Verify(context.Background(), sr.Envelope, receipt.Checker{NetworkID: testNet}); err != nil {
		t.Fatal(err)
	}
	// The node tries to be paid twice: the same payment serves no second
	// request.
	if _, err := f.served.Do(context.Background(), req); err == nil {
		t.Fatal("an authorization that was paid for served a second request")
	} else {
		wantStatus(t, err, http.StatusConflict, "authorization_replayed")
	}
}

func TestRefusedWhenCreditIsShort(t *testing.T) {
	// 20 output tokens at 2 per token plus the body's input: more than 30.
	f := newFixture(t, 30)
	_, rerr := f.begin(t, chat(`{"model":"m","max_tokens":20,"messages":[]}`), nil)
	wantStatus(t, rerr, http.StatusPaymentRequired, "insufficient_quota")
	if len(f.backend.ran()) != 0 {
		t.Fatal("the runtime ran")
	}
}

func TestPendingSpendHoldsCredit(t *testing.T) {
	// Credit for one request's maximum charge: a second request while the
	// first runs is refused before it runs.
	req := `{"model":"m","max_tokens":10,"messages":[]}`
	maxCharge, err := receipt.MaxCharge([]byte(req), 10, inPrice, outPrice)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, maxCharge+maxCharge/2)
	first, rerr := f.begin(t, chat(req), nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	_, rerr = f.begin(t, chat(req), nil)
	wantStatus(t, rerr, http.StatusPaymentRequired, "insufficient_quota")
	first.Close()
	second, rerr := f.begin(t, chat(req), nil)
	if rerr != nil {
		t.Fatalf("after the first request ended: %v", rerr)
	}
	second.Close()
}

func TestCancelledStreamBilledForWhatWasSent(t *testing.T) {
	f := newFixture(t, 1_000_000)
	f.backend.gate = make(chan struct{}, 5)
	req := chat(`{"model":"m","max_tokens":40,"stream":true,"messages":[]}`)
	tk, rerr := f.begin(t, req, nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer tk.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := f.served.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.backend.gate <- struct{}{} // one more token may go
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // the client leaves
	if _, err := s.Recv(); err == nil {
		t.Fatal("the stream went on after the client left")
	}
	_ = s.Close()
	sr, err := tk.Finish(context.Background(), s)
	if err != nil || sr == nil {
		t.Fatalf("Finish = %v, %v", sr, err)
	}
	want, _ := receipt.Charge(promptTokens, 5, inPrice, outPrice)
	if sr.Receipt.Finish != receipt.FinishCancelled || sr.Receipt.OutputTokens != 5 || sr.Receipt.Charge != want {
		t.Fatalf("receipt %+v, want cancelled after 5 tokens", sr.Receipt)
	}
}

func TestOutputCappedAtTheBudget(t *testing.T) {
	f := newFixture(t, 1_000_000)
	// The client asks for 500 tokens; the node's cap is 100, and the
	// authorization pays for no more.
	req := chat(`{"model":"m","max_tokens":500,"messages":[]}`)
	f.backend.n = 1000
	tk, s, got := f.serve(t, req, nil)
	if got != 100 {
		t.Fatalf("delivered %d tokens, want the budget of 100", got)
	}
	if runs := f.backend.ran(); len(runs) != 1 || !strings.Contains(string(runs[0].Body), `"max_tokens":100`) {
		t.Fatalf("the runtime ran %s", runs[0].Body)
	}
	sr, err := tk.Finish(context.Background(), s)
	if err != nil || sr.Receipt.OutputTokens != 100 || sr.Authorization.Authorization.MaxOutputTokens != 100 {
		t.Fatalf("receipt %+v, %v", sr, err)
	}
}

// TestReplayedAuthorizationRefused: an authorization the client signed,
// sent again after it was served, is refused before the runtime runs, at
// the API and over the inference protocol.
func TestReplayedAuthorizationRefused(t *testing.T) {
	f := newFixture(t, 1_000_000)
	body := `{"model":"m","max_tokens":5,"messages":[]}`
	env := f.authorize(t, body, nil)
	header := map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}
	tk, s, _ := f.serve(t, chat(body), header)
	if sr, err := tk.Finish(context.Background(), s); err != nil || sr == nil {
		t.Fatalf("Finish = %v, %v", sr, err)
	}
	tk.Close()
	runs := len(f.backend.ran())

	again := chat(body)
	tk, rerr := f.begin(t, again, header)
	if rerr == nil {
		_, err := f.served.Do(context.Background(), again)
		tk.Close()
		wantStatus(t, err, http.StatusConflict, "authorization_replayed")
	}
	// The same envelope arriving over the inference protocol.
	overWire := chat(body)
	overWire.Payment = received(env)
	_, err := f.served.Do(context.Background(), overWire)
	wantStatus(t, err, http.StatusConflict, "authorization_replayed")
	if got := len(f.backend.ran()); got != runs {
		t.Fatalf("the runtime ran %d more times", got-runs)
	}
}

// received is an authorization as the inference protocol hands it over.
type received []byte

func (r received) For(string) ([]byte, error) { return r, nil }
func (received) Paid([]byte)                  {}

// TestProviderChecksWhatItServes: a request that came over the inference
// protocol is served only under an authorization that pays this node, at
// its prices, for this body.
func TestProviderChecksWhatItServes(t *testing.T) {
	f := newFixture(t, 1_000_000)
	_, other := testkeys.New(t)
	body := `{"model":"m","max_tokens":5,"messages":[]}`
	sign := func(edit func(a *receipt.Authorization)) received { return f.authorize(t, body, edit) }
	tests := []struct {
		name string
		pay  runtime.Payment
		want string
	}{
		{"no payment", nil, "carries no authorization"},
		{"another payee", sign(func(a *receipt.Authorization) { a.Node = other }), "names node " + other.String()},
		{"no payee", sign(func(a *receipt.Authorization) { a.Node = "" }), "names no payee"},
		{"below the node's price", sign(func(a *receipt.Authorization) { a.OutputPrice = 1 }), "price"},
		{"another body", sign(func(a *receipt.Authorization) { a.RequestSHA256[0] ^= 1 }), "request_sha256"},
		{"another network", sign(func(a *receipt.Authorization) { a.NetworkID = "other" }), "network"},
		{"expired", sign(func(a *receipt.Authorization) {
			a.IssuedAtMs -= 3_600_000
			a.ExpiresAtMs -= 3_600_000
		}), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := chat(body)
			req.Payment = tt.pay
			_, err := f.served.Do(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
	if len(f.backend.ran()) != 0 {
		t.Fatal("the runtime ran")
	}
}

// TestClampRequest: the body the runtime runs asks for no more output
// than the authorization pays for, shared among several choices.
func TestClampRequest(t *testing.T) {
	a := &receipt.Authorization{MaxOutputTokens: 12, MaxCharge: 1 << 40}
	for _, tc := range []struct{ body, want string }{
		{`{"max_tokens":60}`, `{"max_tokens":12}`},
		{`{"max_tokens":5}`, `{"max_tokens":5}`},
		{`{"max_tokens":0}`, `{"max_tokens":12}`},
		{`{"max_tokens":-3}`, `{"max_tokens":12}`},
		{`{"max_tokens":"x"}`, `{"max_tokens":12}`},
		{`{}`, `{"max_tokens":12}`},
		{`{"max_tokens":null}`, `{"max_tokens":12}`},
		{`{"max_completion_tokens":99}`, `{"max_completion_tokens":12}`},
		{`{"max_tokens":99,"n":3}`, `{"max_tokens":4,"n":3}`},
		{`{"max_tokens":99,"best_of":4}`, `{"best_of":4,"max_tokens":3}`},
	} {
		run, rerr := clampRequest(&runtime.Request{API: runtime.APIChat, Body: []byte(tc.body)}, a)
		if rerr != nil || string(run.Body) != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.body, run.Body, rerr, tc.want)
		}
	}
	if _, rerr := clampRequest(&runtime.Request{API: runtime.APIChat, Body: []byte(`{"n":13}`)}, a); rerr == nil {
		t.Error("13 choices of a 12-token budget were not refused")
	}
}
