package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestStakingDiscount: the test user buys the model's MT in its offering
// and stakes 10,000 MT (the 20% tier). From the next epoch on, a request
// paid with its session key is quoted and charged the discounted prices,
// the response's fomo object shows the discount and the list charge, and
// the chain includes the receipt, paid, with the discount recorded. A
// client-signed authorization claiming the 30% tier it does not hold is
// refused before the runtime runs.
func TestStakingDiscount(t *testing.T) {
	const u = econ.Unit
	c := newChainNet(t, func(g *networks.Genesis, self string) {
		g.Tiers[0].RaiseMin, g.Tiers[0].RaiseMax = 1_000*u, 10_000*u
		g.Balances[0].Flock = 30_000 * u
		g.Balances = append(g.Balances, networks.Balance{Account: self, Flock: 40_000 * u})
	})
	n, _ := c.start(t)
	ctx := context.Background()
	send := func(sk crypto.PrivKey, body any) {
		t.Helper()
		id, err := peer.IDFromPrivateKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		acct, _ := n.chain.app.Account(ctx, id.String())
		b, err := tx.Sign(tx.Tx{Nonce: acct.Nonce + 1, Body: body}, sk)
		if err != nil {
			t.Fatal(err)
		}
		code, out := postTx(t, n, b)
		var r api.TxResult
		if code != http.StatusOK || json.Unmarshal(out, &r) != nil || r.Code != 0 {
			t.Fatalf("%T: %d %s", body, code, out)
		}
	}
	send(n.key, ledger.LaunchRMO{Model: chainModel, RaiseMin: 1_000 * u, RaiseMax: 10_000 * u})
	send(testUserKey, ledger.Commit{Model: chainModel, Amount: 20_000 * u}) // sells the raise out: graduates
	send(testUserKey, ledger.Stake{Model: chainModel, Amount: 10_000 * u})
	staked := n.chain.app.EpochOf(uint64(n.chain.app.TimeMs()))
	for n.chain.app.EpochOf(uint64(time.Now().UnixMilli())) <= staked {
		time.Sleep(50 * time.Millisecond)
	}
	// The tier floor is 2,000,000 for both prices: 20% off is above it.
	const discIn, discOut = chainIn * 8 / 10, chainOut * 8 / 10

	code, body := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/prices/"+chainModel+"?account="+testSession.String())
	var p api.Price
	if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || p.InputPrice != discIn || p.OutputPrice != discOut ||
		p.ListInputPrice != chainIn || p.DiscountBps != 2_000 {
		t.Fatalf("prices for the session key's account: %d %s", code, body)
	}

	key, _ := receipt.EncodeSessionKey(testSessionKey)
	req := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":16}`)
	resp, b := post(t, n.APIAddr(), req, map[string]string{"Authorization": "Bearer " + key})
	var out struct{ Fomo *api.Fomo }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Fomo == nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	f := out.Fomo
	charge, _ := econ.Charge(f.InputTokens, f.OutputTokens, discIn, discOut)
	list, _ := econ.Charge(f.InputTokens, f.OutputTokens, chainIn, chainOut)
	if f.DiscountBps != 2_000 || f.Charge != charge || f.ListCharge != list || list <= charge {
		t.Fatalf("fomo object %+v: want discount 2000 bps, charge %d, list charge %d", f, charge, list)
	}
	var id [32]byte
	if _, err := hex.Decode(id[:], []byte(f.ReceiptID)); err != nil {
		t.Fatal(err)
	}
	waitIncluded(t, n, id)
	st, ok, err := n.chain.app.Receipt(ctx, id)
	if err != nil || !ok || !st.Paid || st.Charge != charge || st.Discount != list-charge {
		t.Fatalf("the chain's record %+v (%v %v): want it paid, charged %d with discount %d", st, ok, err, charge, list-charge)
	}

	// The 30% tier, claimed in a client-signed authorization: refused
	// before any token.
	runs := len(c.up.Requests())
	a := receipt.NewAuthorization(n.genesis.ID(), "", chainModel, time.Now(), receipt.MaxTTL)
	a.Node, a.MaxOutputTokens = n.ID(), 16
	a.InputPrice, a.OutputPrice = chainIn*7/10, chainOut*7/10
	a.MaxCharge, _ = receipt.Charge(uint64(len(req)), 16, a.InputPrice, a.OutputPrice)
	a.RequestSHA256 = sha256.Sum256(req)
	env, err := receipt.SignAuthorization(a, testUserKey)
	if err != nil {
		t.Fatal(err)
	}
	resp, b = post(t, n.APIAddr(), req, map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)})
	var e apiError
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e.Error.Code == nil || *e.Error.Code != "price_mismatch" {
		t.Fatalf("an unearned discount: %d %s", resp.StatusCode, b)
	}
	for _, w := range []string{testUser.String(), "discount 2000 bps", "pays 2400000/4800000"} {
		if !strings.Contains(e.Error.Message, w) {
			t.Errorf("the refusal %q does not say %q", e.Error.Message, w)
		}
	}
	if got := len(c.up.Requests()); got != runs {
		t.Fatalf("the runtime ran %d more times", got-runs)
	}
}
