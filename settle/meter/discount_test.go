package meter

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// staked is a Discounts where the listed accounts have a 20% discount on
// testModel (80% of each price) and every other account none.
type staked struct {
	accounts map[peer.ID]bool
	err      error
	asked    []peer.ID
}

const discountBps = 2_000

func (s *staked) Discount(_ context.Context, account peer.ID, model string, _ uint64) (uint64, uint64, uint32, bool, error) {
	s.asked = append(s.asked, account)
	if s.err != nil {
		return 0, 0, 0, false, s.err
	}
	if model != testModel {
		return 0, 0, 0, false, nil
	}
	if s.accounts[account] {
		return inPrice * 8 / 10, outPrice * 8 / 10, discountBps, true, nil
	}
	return inPrice, outPrice, 0, true, nil
}

// TestStakedAccountQuotedItsDiscount: the authorization a node signs for a
// staked account's session key quotes the account's discounted prices
// (the key rolled up to its account), the receipt charges them, and an
// account without stake is quoted list prices.
func TestStakedAccountQuotedItsDiscount(t *testing.T) {
	d := &staked{accounts: map[peer.ID]bool{}}
	f := newFixture(t, 1_000_000, func(c *Config) { c.Discounts = d })
	body := `{"model":"m","max_tokens":20,"messages":[]}`

	tk, s, _ := f.serve(t, chat(body), nil)
	sr, err := tk.Finish(context.Background(), s)
	if err != nil || sr == nil {
		t.Fatalf("Finish = %v, %v", sr, err)
	}
	if a := sr.Authorization.Authorization; a.InputPrice != inPrice || a.OutputPrice != outPrice {
		t.Fatalf("an account without stake was quoted %d/%d", a.InputPrice, a.OutputPrice)
	}
	tk.Close()

	d.accounts[f.account] = true
	d.asked = nil
	tk, s, _ = f.serve(t, chat(body), nil)
	sr, err = tk.Finish(context.Background(), s)
	if err != nil || sr == nil {
		t.Fatalf("Finish = %v, %v", sr, err)
	}
	a := sr.Authorization.Authorization
	if a.InputPrice != inPrice*8/10 || a.OutputPrice != outPrice*8/10 {
		t.Fatalf("a staked account was quoted %d/%d, want %d/%d", a.InputPrice, a.OutputPrice, inPrice*8/10, outPrice*8/10)
	}
	want, _ := receipt.Charge(promptTokens, 20, a.InputPrice, a.OutputPrice)
	if sr.Receipt.Charge != want {
		t.Fatalf("charge %d, want %d", sr.Receipt.Charge, want)
	}
	for _, x := range d.asked {
		if x != f.account {
			t.Fatalf("the discount of %s was asked, not the account %s", x, f.account)
		}
	}
	want2 := Price{ListInput: inPrice, ListOutput: outPrice, Input: inPrice * 8 / 10, Output: outPrice * 8 / 10, DiscountBps: discountBps}
	if p, err := f.m.PriceFor(context.Background(), f.account, testModel, f.m.now()); err != nil || p != want2 {
		t.Fatalf("PriceFor = %+v %v", p, err)
	}
	if in, out, bps := tk.Pricing(); in != inPrice || out != outPrice || bps != discountBps {
		t.Fatalf("the ticket's pricing: %d %d %d", in, out, bps)
	}

	// The chain cannot answer: no authorization at a guessed price.
	d.err = errors.New("chain down")
	_, rerr := f.begin(t, chat(body), nil)
	wantStatus(t, rerr, http.StatusServiceUnavailable, "")
}

// TestProviderRefusesAnUnearnedDiscount: an authorization priced below
// the account's effective prices is refused before the runtime runs,
// whether it came over the inference protocol or was signed by the client
// at this node's API, with an error naming the account, the list price,
// the discount and the expected price; one at the account's discounted
// prices is served.
func TestProviderRefusesAnUnearnedDiscount(t *testing.T) {
	d := &staked{accounts: map[peer.ID]bool{}}
	f := newFixture(t, 1_000_000, func(c *Config) { c.Discounts = d })
	body := `{"model":"m","max_tokens":5,"messages":[]}`
	discounted := func(a *receipt.Authorization) {
		a.InputPrice, a.OutputPrice = inPrice*8/10, outPrice*8/10
		a.MaxCharge, _ = receipt.MaxCharge([]byte(body), 5, a.InputPrice, a.OutputPrice)
	}
	env := f.authorize(t, body, discounted)
	req := chat(body)
	req.Payment = received(env)
	_, err := f.served.Do(context.Background(), req)
	wantStatus(t, err, http.StatusUnauthorized, "price_mismatch")
	for _, s := range []string{f.account.String(), "list price 1000000/2000000", "discount 0 bps", "pays 1000000/2000000", "quotes 800000/1600000"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("the error %q does not say %q", err, s)
		}
	}
	header := map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(f.authorize(t, body, discounted))}
	api := chat(body)
	tk, rerr := f.begin(t, api, header)
	if rerr != nil {
		t.Fatal(rerr)
	}
	_, err = f.served.Do(context.Background(), api)
	tk.Close()
	wantStatus(t, err, http.StatusUnauthorized, "price_mismatch")
	if n := len(f.backend.ran()); n != 0 {
		t.Fatalf("the runtime ran %d times", n)
	}

	// Staked, the same prices are the account's: served. List prices
	// now withhold its discount and are refused.
	d.accounts[f.account] = true
	req = chat(body)
	req.Payment = received(f.authorize(t, body, nil))
	_, err = f.served.Do(context.Background(), req)
	wantStatus(t, err, http.StatusUnauthorized, "price_mismatch")
	if !strings.Contains(err.Error(), "discount 2000 bps") {
		t.Fatalf("the error %q does not name the discount", err)
	}
	req = chat(body)
	req.Payment = received(f.authorize(t, body, discounted))
	s, err := f.served.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, -1); got == 0 {
		t.Fatal("nothing was served")
	}
	s.Close()
	// A model this node does not serve is refused as before.
	req = chat(`{"model":"other","max_tokens":5,"messages":[]}`)
	req.Payment = received(f.authorize(t, `{"model":"other","max_tokens":5,"messages":[]}`, func(a *receipt.Authorization) { a.Model = "other" }))
	_, err = f.served.Do(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), string(receipt.ReasonUnknownModel)) {
		t.Fatalf("a model not served here: %v", err)
	}
}
