package node

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testhttp"
	apiclient "github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/settle/receipt"
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

// TestReceiptProofVerifiesAgainstSettlement: once the epoch of receipts a
// real chain included has closed, GET /api/v1/receipts/{id}/proof (whole
// id or unique prefix) answers a proof of inclusion that verifies against
// the receipts root of the epoch's settlement, and fails for another id or
// a tampered path; while a receipt's epoch is open there is no proof (409
// epoch_open).
func TestReceiptProofVerifiesAgainstSettlement(t *testing.T) {
	ctx := context.Background()
	n, _ := newChainNet(t).start(t)
	c, err := apiclient.New("http://" + n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	// include serves a request and waits until the chain has included
	// its receipt; it returns the receipt's id and epoch.
	include := func(i int) ([32]byte, uint64) {
		t.Helper()
		body := fmt.Appendf(nil, `{"model":"m","messages":[{"role":"user","content":"proof %d"}],"max_tokens":16}`, i)
		env := userAuthorization(t, n.genesis.ID(), n.ID(), body, time.Now())
		resp, b := post(t, n.APIAddr(), body, map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		id := receipt.ID(env)
		waitIncluded(t, n, id)
		st, ok, err := n.chain.app.Receipt(ctx, id)
		if err != nil || !ok {
			t.Fatalf("receipt %x included but the chain has no record: %v", id[:8], err)
		}
		return id, st.Epoch
	}
	var ids [][32]byte
	epochs := map[[32]byte]uint64{}
	for i := range 3 {
		id, e := include(i)
		ids, epochs[id] = append(ids, id), e
	}
	// Wait until the API serves the settlement of every receipt's epoch
	// (the committed state, which follows the app's by a block).
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			_, err := c.Epoch(ctx, epochs[id])
			if err == nil {
				break
			}
			if !apiclient.IsNotFound(err) || time.Now().After(deadline) {
				t.Fatalf("epoch %d not closed by height %d: %v", epochs[id], n.chain.app.Height(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, id := range ids {
		arg := hex.EncodeToString(id[:])
		if i == 1 {
			arg = arg[:16] // the prefix receipts list prints
		}
		p, err := c.ReceiptProof(ctx, arg)
		if err != nil {
			t.Fatalf("receipt %x of closed epoch %d: want its proof of inclusion; the ledger has no included receipt with this id, or the proof failed: %v",
				id[:8], epochs[id], err)
		}
		if p.ID != hex.EncodeToString(id[:]) || p.Epoch != epochs[id] {
			t.Fatalf("proof of receipt %x (epoch %d): %+v", id[:8], epochs[id], p)
		}
		s, err := c.Epoch(ctx, p.Epoch)
		if err != nil {
			t.Fatal(err)
		}
		root, err := merkle.ParseHash(s.ReceiptsRoot)
		if err != nil {
			t.Fatalf("epoch %d's receipts root %q: %v", s.Epoch, s.ReceiptsRoot, err)
		}
		if p.ReceiptsRoot != s.ReceiptsRoot || p.Proof.Count != s.Receipts {
			t.Fatalf("proof of receipt %x names root %s of %d receipts; epoch %d's settlement has %s of %d",
				id[:8], p.ReceiptsRoot, p.Proof.Count, s.Epoch, s.ReceiptsRoot, s.Receipts)
		}
		if err := p.Proof.Verify(root, id); err != nil {
			t.Fatalf("proof of receipt %x does not verify against epoch %d's root: %v", id[:8], s.Epoch, err)
		}
		other := id
		other[0] ^= 1
		if p.Proof.Verify(root, other) == nil {
			t.Fatalf("proof of receipt %x verifies for another id", id[:8])
		}
		if len(p.Proof.Path) > 0 {
			tampered := p.Proof
			tampered.Path = slices.Clone(p.Proof.Path)
			tampered.Path[0][0] ^= 1
			if tampered.Verify(root, id) == nil {
				t.Fatalf("proof of receipt %x verifies with a tampered path", id[:8])
			}
		}
	}

	// While its epoch is open a receipt has no root to be proved against.
	// (Checked when the epoch is still open after the answer: on a slow
	// machine it may have closed in between.)
	id, e := include(3)
	if n.chain.app.NextEpoch() <= e {
		_, err := c.ReceiptProof(ctx, hex.EncodeToString(id[:]))
		if n.chain.app.NextEpoch() <= e {
			ce, ok := errors.AsType[*apiclient.Error](err)
			if !ok || ce.StatusCode != http.StatusConflict || ce.Code != "epoch_open" || !strings.Contains(ce.Message, fmt.Sprintf("epoch %d has not closed yet", e)) {
				t.Fatalf("proof of a receipt of open epoch %d: %v, want 409 epoch_open naming the epoch", e, err)
			}
			return
		}
	}
	t.Logf("epoch %d closed before its receipt's proof was asked for: the answer of an open epoch is not checked", e)
}
