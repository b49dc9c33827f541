package node

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
)

// startChainNode starts a node that is the only validator of a new chain.
func startChainNode(t *testing.T) *Node {
	t.Helper()
	n, _ := newChainNet(t).start(t)
	return n
}

type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func postTx(t *testing.T, n *Node, b []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post("http://"+n.APIAddr()+"/api/v1/txs", "application/octet-stream", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestRefusedTxIsABadRequest(t *testing.T) {
	n := startChainNode(t)
	sign := func(nonce uint64, body any) []byte {
		b, err := tx.Sign(tx.Tx{Nonce: nonce, Body: body}, n.key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name, code string
		tx         []byte
		want       []string
	}{
		{"tampered receipts", "empty_batch", sign(1, tx.SubmitReceipts{Envelopes: [][]byte{[]byte("not a receipt"), []byte("nor this")}}),
			[]string{"receipts[0] (id ", "receipts[1] (id ", "malformed"}},
		{"bad nonce", "bad_nonce", sign(7, ledger.Transfer{To: n.id.String(), Denom: "usd", Amount: 1}), []string{"nonce 7, want 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postTx(t, n, tc.tx)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if e.Error.Code == nil || *e.Error.Code != tc.code {
				t.Errorf("code %v, want %q", e.Error.Code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Error.Message, w) {
					t.Errorf("message %q does not contain %q", e.Error.Message, w)
				}
			}
		})
	}
}

func TestChainNotFoundSaysItOnce(t *testing.T) {
	n := startChainNode(t)
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/epochs/999", "epoch 999"},
		{"/api/v1/models/nope", "model nope"},
	} {
		code, body := testhttp.Get(t, "http://"+n.APIAddr()+tc.path)
		if code != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404: %s", tc.path, code, body)
		}
		var e apiError
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if m := e.Error.Message; strings.Count(strings.ToLower(m), "not found") != 1 || !strings.Contains(m, tc.want) {
			t.Errorf("%s: message %q, want %q said not found once", tc.path, m, tc.want)
		}
	}
}
