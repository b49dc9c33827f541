package node

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/receipt"
)

// TestGenerationCappedByAuthorization: a client asking for more tokens in
// the body than its authorization pays for gets no more than it pays for,
// and the receipt counts what it got. The runtime is asked for the budget,
// not the body's max_tokens.
func TestGenerationCappedByAuthorization(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(64))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Auth.DefaultMaxTokens = 5
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n := startNode(t, cfg)
	type answer struct {
		Usage struct {
			CompletionTokens uint64 `json:"completion_tokens"`
		} `json:"usage"`
		Fomo *api.Fomo `json:"fomo"`
	}
	ask := func(body []byte, h map[string]string) answer {
		t.Helper()
		resp, b := post(t, n.APIAddr(), body, h)
		var out answer
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if out.Fomo.OutputTokens != out.Usage.CompletionTokens {
			t.Fatalf("receipt counts %d output tokens, the client got %d", out.Fomo.OutputTokens, out.Usage.CompletionTokens)
		}
		return out
	}
	signed := func(body []byte, maxOut uint64) map[string]string {
		a := receipt.NewAuthorization(n.genesis.ID(), "", "m", time.Now(), time.Minute)
		a.Node = n.ID()
		a.MaxOutputTokens = maxOut
		a.RequestSHA256 = sha256.Sum256(body)
		env, err := receipt.SignAuthorization(a, testUserKey)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}
	}
	for _, tc := range []struct {
		name   string
		body   string
		maxOut uint64
		want   uint64
	}{
		{"body asks 60, authorization pays 1", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":60}`, 1, 1},
		{"max_completion_tokens asks 60, authorization pays 2", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":60}`, 2, 2},
		{"body sets no cap, authorization pays 3", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 3, 3},
		{"body asks less than paid for", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2}`, 10, 2},
	} {
		t.Run("client-signed/"+tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if got := ask(body, signed(body, tc.maxOut)).Usage.CompletionTokens; got != tc.want {
				t.Fatalf("got %d tokens, want %d", got, tc.want)
			}
		})
	}
	// A node signing for its client caps at auth.default_max_tokens.
	key, _ := receipt.EncodeSessionKey(testSessionKey)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":60}`)
	if got := ask(body, map[string]string{"Authorization": "Bearer " + key}).Usage.CompletionTokens; got != 5 {
		t.Fatalf("bearer: got %d tokens, want auth.default_max_tokens 5", got)
	}
}
