package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// post sends a chat request body with extra headers and returns the status
// and body.
func post(t *testing.T, api string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// receiptsOf lists the receipts a node holds for account.
func receiptsOf(t *testing.T, n *Node, account peer.ID) []api.ReceiptView {
	t.Helper()
	code, body := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/receipts?account="+account.String())
	if code != 200 {
		t.Fatalf("receipts: %d %s", code, body)
	}
	var page struct{ Receipts []api.ReceiptView }
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	return page.Receipts
}

// waitReceipts polls until the node holds want receipts of account.
func waitReceipts(t *testing.T, n *Node, account peer.ID, want int) []api.ReceiptView {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs := receiptsOf(t, n, account)
		if len(rs) >= want || time.Now().After(deadline) {
			if len(rs) != want {
				t.Fatalf("node %s holds %d receipts of %s, want %d", n.ID(), len(rs), account, want)
			}
			return rs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRequestsNeedAKey(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.Auth.OpenAccessKey = ""
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n := startNode(t, cfg)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
	strangerKey, _ := testkeys.New(t)
	stranger, err := receipt.EncodeSessionKey(strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, header, want string }{
		{"no key", "", "didn't provide an API key"},
		{"not a session key", "Bearer sk-abc", "invalid API key"},
		{"not bearer", "Basic xyz", "Bearer"},
		{"unknown session key", "Bearer " + stranger, "not a session key of any account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			resp, b := post(t, n.APIAddr(), body, h)
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil ||
				e.Error.Code != "invalid_api_key" || !strings.Contains(e.Error.Message, tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
	// The session key of a registered account is accepted, and the answer
	// carries the receipt.
	key, _ := receipt.EncodeSessionKey(testSessionKey)
	resp, b := post(t, n.APIAddr(), body, map[string]string{"Authorization": "Bearer " + key})
	var out struct {
		Usage struct {
			PromptTokens     uint64 `json:"prompt_tokens"`
			CompletionTokens uint64 `json:"completion_tokens"`
		} `json:"usage"`
		Fomo *api.Fomo `json:"fomo"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	env, _ := base64.StdEncoding.DecodeString(out.Fomo.Receipt)
	sr, err := receipt.Verify(context.Background(), env, receipt.Checker{NetworkID: n.genesis.ID()})
	if err != nil {
		t.Fatal(err)
	}
	a := sr.Authorization.Authorization
	if got := resp.Header.Get("X-Fomo-Receipt"); got != out.Fomo.ReceiptID || sr.Receipt.Node != n.ID() {
		t.Fatalf("receipt id %s by %s, header %q", out.Fomo.ReceiptID, sr.Receipt.Node, got)
	}
	if a.Account != testUser || a.Signer != testSession {
		t.Fatalf("authorization by %s for %s, want %s for %s", a.Signer, a.Account, testSession, testUser)
	}
	if sr.Receipt.OutputTokens != out.Usage.CompletionTokens || sr.Receipt.InputTokens != out.Usage.PromptTokens {
		t.Fatalf("receipt counts %d/%d, usage %+v", sr.Receipt.InputTokens, sr.Receipt.OutputTokens, out.Usage)
	}
}

// TestCancelledStreamIsBilledForWhatWasDelivered: a client that leaves a
// stream early pays for the tokens it was sent, not for max_tokens.
func TestCancelledStreamIsBilledForWhatWasDelivered(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("slow"), runtimetest.WithTokens(200),
		runtimetest.WithTokenDelay(10*time.Millisecond))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"slow": up})
	req := chatRequest("slow", true)
	req.MaxTokens = 200
	s, err := client("http://"+n.APIAddr()).CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 5 {
		ev, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ev.Choices {
			if c.Delta.Content != "" {
				got++
			}
		}
	}
	s.Close()
	rs := waitReceipts(t, n, testUser, 1)
	r := rs[0]
	// The relay may have sent a few more events than the client read
	// before the cancellation reached the upstream; never the rest.
	if r.Finish != "cancelled" || r.OutputTokens < uint64(got) || r.OutputTokens > uint64(got)+5 {
		t.Fatalf("cancelled after %d tokens: receipt %+v", got, r)
	}
}

// TestPendingSpendAcrossNodes: an account whose credit covers three
// requests gets 402 on the fourth while the three are unsettled, although
// each request entered at a different node.
func TestPendingSpendAcrossNodes(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("paid"), runtimetest.WithTokens(64))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	payer, payerID := testkeys.New(t)
	// Prices 1 and 2 base units per token: a 3-word prompt and 8 output
	// tokens cost 3 + 16 = 19. The authorization's max_charge must cover
	// the body's 78 bytes as input: 78 + 16 = 94. Credit 4×19 + 94 − 1
	// covers four requests, not a fifth.
	const charge, maxCharge = 19, 94
	dir := t.TempDir()
	reg := filepath.Join(dir, "accounts.toml")
	f := meter.AccountsFile{Account: []meter.RegistryAccount{
		{ID: testUser.String(), Credit: 1e15, SessionKeys: []string{testSession.String()}},
		{ID: payerID.String(), Credit: 4*charge + maxCharge - 1},
	}}
	b, _ := f.Encode()
	if err := os.WriteFile(reg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for i := range 3 {
		cfg := testConfig()
		cfg.Auth.Accounts = reg
		cfg.P2P.AdvertInterval = configs.Duration(200 * time.Millisecond)
		if i == 0 {
			cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL, Models: []string{"paid"}}}
		} else {
			cfg.P2P.Bootstrap = []string{nodes[0].host.ListenAddrs()[0]}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	announceAt(t, nodes[1], "paid", reg, 1e6, 2e6)
	netID := nodes[0].genesis.ID()

	body := []byte(`{"model":"paid","messages":[{"role":"user","content":"a b c"}],"max_tokens":8}`)
	// authorize signs the payer's authorization for body, paying node0.
	authorize := func(entry peer.ID) map[string]string {
		a := receipt.NewAuthorization(netID, "", "paid", time.Now(), time.Minute)
		a.EntryNode, a.Node = entry, nodes[0].ID()
		a.MaxOutputTokens, a.MaxCharge = 8, maxCharge
		a.InputPrice, a.OutputPrice = 1e6, 2e6
		a.RequestSHA256 = sha256.Sum256(body)
		env, err := receipt.SignAuthorization(a, payer)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}
	}
	request := func(entry *Node) (*http.Response, []byte) {
		h := authorize(entry.ID())
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, b := post(t, entry.APIAddr(), body, h)
			// Until the provider's advert and manifest prices have spread.
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusUnauthorized || time.Now().After(deadline) {
				return resp, b
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sameAuthorizationEverywhere := func(t *testing.T, nodes []*Node) (*http.Response, []byte) {
		h := authorize("")
		type result struct {
			resp *http.Response
			body []byte
		}
		results := make(chan result, len(nodes))
		for _, n := range nodes {
			go func() {
				resp, b := post(t, n.APIAddr(), body, h)
				results <- result{resp, b}
			}()
		}
		var ok *result
		for range nodes {
			r := <-results
			if r.resp.StatusCode == 200 {
				if ok != nil {
					t.Fatalf("one authorization served twice: %s and %s", ok.body, r.body)
				}
				ok = &r
			}
		}
		if ok == nil {
			t.Fatal("the authorization was served nowhere")
		}
		return ok.resp, ok.body
	}
	for i, entry := range []*Node{nodes[0], nodes[1], nodes[2]} {
		resp, b := request(entry)
		var out struct{ Fomo *api.Fomo }
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil || out.Fomo.Charge != charge {
			t.Fatalf("request %d at node%d: %d %s", i+1, i, resp.StatusCode, b)
		}
	}
	// One authorization sent to the three nodes at once (all of them can
	// forward by now) is served once: by its payee, node0.
	if resp, b := sameAuthorizationEverywhere(t, nodes); !strings.Contains(string(b), `"charge":19`) {
		t.Fatalf("request 4 at all nodes: %d %s", resp.StatusCode, b)
	}
	// Every node learns the four receipts by gossip; the fifth request
	// is refused wherever it enters.
	for i, n := range nodes {
		waitReceipts(t, n, payerID, 4)
		resp, b := request(n)
		var e struct {
			Error struct{ Type, Code, Message string }
		}
		if resp.StatusCode != http.StatusPaymentRequired || json.Unmarshal(b, &e) != nil || e.Error.Type != "insufficient_quota" {
			t.Fatalf("fifth request at node%d: %d %s", i, resp.StatusCode, b)
		}
	}
}

// TestAuthorizationServedOnce: a client-signed authorization pays for one
// request; sending it again is refused.
func TestAuthorizationServedOnce(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"u": up})
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"once"}],"max_tokens":4}`)
	a := receipt.NewAuthorization(n.genesis.ID(), "", "m", time.Now(), time.Minute)
	a.MaxOutputTokens, a.MaxCharge = 4, 0
	a.RequestSHA256 = sha256.Sum256(body)
	sign := func(a receipt.Authorization) map[string]string {
		env, err := receipt.SignAuthorization(a, testUserKey)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}
	}
	// It must name the node that serves it: one authorization sent to
	// several nodes at once is served by its payee only.
	if resp, b := post(t, n.APIAddr(), body, sign(a)); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "names no node") {
		t.Fatalf("no payee: %d %s", resp.StatusCode, b)
	}
	other := a
	_, other.Node = testkeys.New(t)
	if resp, b := post(t, n.APIAddr(), body, sign(other)); resp.StatusCode == 200 {
		t.Fatalf("another node's authorization was served here: %d %s", resp.StatusCode, b)
	}
	a.Node = n.ID()
	h := sign(a)
	if resp, b := post(t, n.APIAddr(), body, h); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, n.APIAddr(), body, h); resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "authorization_replayed") {
		t.Fatalf("second use: %d %s", resp.StatusCode, b)
	}
	// The same authorization for another body is refused too.
	if resp, b := post(t, n.APIAddr(), []byte(`{"model":"m","messages":[]}`), h); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(string(b), "request_sha256") {
		t.Fatalf("other body: %d %s", resp.StatusCode, b)
	}
}

// TestStreamCarriesReceipt: in a stream the receipt comes in the usage
// chunk, sent last; without usage, in a chunk of its own.
func TestStreamCarriesReceipt(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"u": up})
	for _, tc := range []struct {
		name, options string
		usage         bool
	}{
		{"with usage", `,"stream_options":{"include_usage":true}`, true},
		{"without usage", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"model":"m","messages":[{"role":"user","content":"stream it"}],"max_tokens":6,"stream":true` + tc.options + `}`)
			resp, b := post(t, n.APIAddr(), body, nil)
			events := strings.Split(strings.TrimSpace(string(b)), "\n\n")
			if resp.StatusCode != 200 || len(events) < 3 || events[len(events)-1] != "data: [DONE]" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			var last struct {
				Choices []json.RawMessage `json:"choices"`
				Usage   *struct {
					CompletionTokens uint64 `json:"completion_tokens"`
				} `json:"usage"`
				Fomo *api.Fomo `json:"fomo"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-2], "data: ")), &last); err != nil {
				t.Fatal(err)
			}
			if last.Fomo == nil || last.Fomo.ReceiptID != resp.Header.Get("X-Fomo-Receipt") || last.Fomo.OutputTokens != 6 ||
				len(last.Choices) != 0 || (last.Usage != nil) != tc.usage {
				t.Fatalf("last chunk %s", events[len(events)-2])
			}
			for _, ev := range events[:len(events)-2] {
				if strings.Contains(ev, `"fomo"`) {
					t.Fatalf("fomo object before the last chunk: %s", ev)
				}
			}
		})
	}
}
