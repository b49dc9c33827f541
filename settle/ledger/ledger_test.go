package ledger

import (
	"context"
	"errors"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

func TestReasonCodes(t *testing.T) {
	c := newChain(t, testGenesis())
	c.setup()
	c.must("alice", AuthorizeKey{Key: "k1", SpendLimit: 1000, ExpiresAtMs: t0 + 10*epochMs})
	tests := []struct {
		name    string
		account string
		nonce   uint64 // 0: next nonce
		body    Body
		want    Code
	}{
		{"nil body", "alice", 0, nil, CodeBadTx},
		{"bad nonce", "alice", 99, Transfer{To: "bob", Denom: DenomUSD, Amount: 1}, CodeBadNonce},
		{"deposit not protocol", "alice", 0, Deposit{To: "alice", Denom: DenomUSD, Amount: 1}, CodeNotProtocol},
		{"deposit bad denom", protocol, 0, Deposit{To: "alice", Denom: "eur", Amount: 1}, CodeBadDenom},
		{"deposit zero", protocol, 0, Deposit{To: "alice", Denom: DenomUSD}, CodeBadAmount},
		{"deposit bad recipient", protocol, 0, Deposit{To: "a/b", Denom: DenomUSD, Amount: 1}, CodeBadName},
		{"withdraw too much", "alice", 0, Withdraw{Denom: DenomUSD, Amount: 11 * econ.Unit}, CodeInsufficient},
		{"transfer self", "alice", 0, Transfer{To: "alice", Denom: DenomUSD, Amount: 1}, CodeSelfTransfer},
		{"transfer too much", "bob", 0, Transfer{To: "alice", Denom: DenomUSD, Amount: 1}, CodeInsufficient},
		{"key exists", "alice", 0, AuthorizeKey{Key: "k1", SpendLimit: 1, ExpiresAtMs: t0 + epochMs*10}, CodeKeyExists},
		{"key expired", "alice", 0, AuthorizeKey{Key: "k2", SpendLimit: 1, ExpiresAtMs: t0}, CodeKeyExpired},
		{"key bad name", "alice", 0, AuthorizeKey{Key: "", SpendLimit: 1, ExpiresAtMs: t0 + epochMs}, CodeBadName},
		{"revoke unknown", "alice", 0, RevokeKey{Key: "zz"}, CodeKeyUnknown},
		{"register node no bond", "bob", 0, RegisterNode{}, CodeBadAmount},
		{"register node no flock", "bob", 0, RegisterNode{Bond: 1}, CodeInsufficient},
		{"unbond unknown", "bob", 0, UnbondNode{}, CodeNodeUnknown},
		{"model bad name", "issuer", 0, RegisterModel{Name: "a b", ManifestSHA256: manifest, Tier: "small", InputPrice: 1e6, OutputPrice: 1e6}, CodeBadName},
		{"model bad manifest", "issuer", 0, RegisterModel{Name: "m2", ManifestSHA256: "xyz", Tier: "small", InputPrice: 1e6, OutputPrice: 1e6}, CodeBadTx},
		{"model unknown tier", "issuer", 0, RegisterModel{Name: "m2", ManifestSHA256: manifest, Tier: "huge", InputPrice: 1e6, OutputPrice: 1e6}, CodeTierUnknown},
		{"model below floor", "issuer", 0, RegisterModel{Name: "m2", ManifestSHA256: manifest, Tier: "small", InputPrice: 1, OutputPrice: 1e6}, CodePriceBelowTier},
		{"model exists", "issuer", 0, RegisterModel{Name: "m1", ManifestSHA256: manifest, Tier: "small", InputPrice: 1e6, OutputPrice: 1e6}, CodeModelExists},
		{"serve not node", "bob", 0, ServeModel{Model: "m1"}, CodeNodeUnknown},
		{"serve unknown model", "n1", 0, ServeModel{Model: "nope"}, CodeModelUnknown},
		{"serve twice", "n1", 0, ServeModel{Model: "m1"}, CodeAlreadyServing},
		{"empty batch", "n1", 0, SubmitReceipts{}, CodeEmptyBatch},
		{"batch too big", "n1", 0, SubmitReceipts{Receipts: make([]Receipt, 1001)}, CodeTooManyRcpts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := c.tx(tc.account, tc.body)
			if tc.nonce != 0 {
				tx.Nonce = tc.nonce
			}
			r := c.block(0, tx).Txs[0]
			if r.Code != tc.want {
				t.Fatalf("code = %s (%s), want %s", r.Code, r.Log, tc.want)
			}
			// A failed tx leaves the nonce where it was.
			a, _ := c.l.Account(context.Background(), tc.account)
			if a.Nonce != c.nonces[tc.account] {
				t.Fatalf("nonce moved")
			}
		})
	}
}

func TestReceiptReasonCodes(t *testing.T) {
	c := newChain(t, testGenesis())
	c.setup()
	c.must("alice", AuthorizeKey{Key: "k1", SpendLimit: 500, ExpiresAtMs: c.now + 5_000})
	c.must("n1", RegisterModel{Name: "m2", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000})
	now := c.now + 1
	ok := rcpt("ok", "alice", "alice", "n1", "", now, 1000, 1000)
	badCharge := rcpt("charge", "alice", "alice", "n1", "", now, 1000, 1000)
	badCharge.Charge++
	price := rcpt("price", "alice", "alice", "n1", "", now, 1000, 1000)
	price.InputPrice = 300_000
	price.Charge, _ = econ.Charge(1000, 1000, 300_000, 600_000)
	below := rcpt("below", "alice", "alice", "n1", "", now, 1000, 1000)
	below.InputPrice = 100_000
	below.Charge, _ = econ.Charge(1000, 1000, 100_000, 600_000)
	unknownModel := rcpt("um", "alice", "alice", "n1", "", now, 1, 1)
	unknownModel.Model = "nope"
	notServed := rcpt("ns", "alice", "alice", "n1", "", now, 1, 1)
	notServed.Model = "m2"
	future := rcpt("fut", "alice", "alice", "n1", "", t0+5*epochMs, 1, 1)
	tests := []struct {
		name string
		r    Receipt
		want Code
	}{
		{"ok", ok, OK},
		{"duplicate", ok, CodeDuplicate},
		{"bad charge", badCharge, CodeBadCharge},
		{"price above list", price, CodePriceMismatch},
		{"price below floor", below, CodePriceMismatch},
		{"unknown model", unknownModel, CodeModelUnknown},
		{"node not serving", rcpt("nsv", "alice", "alice", "e1", "", now, 1, 1), CodeNotServing},
		{"model not served", notServed, CodeNotServing},
		{"bad signer", rcpt("sig", "alice", "mallory", "n1", "", now, 1, 1), CodeBadSigner},
		{"key ok", rcpt("k-ok", "alice", "k1", "n1", "", now, 100, 100), OK},
		{"key spend limit", rcpt("k-lim", "alice", "k1", "n1", "", now, 1000, 1000), CodeKeySpendLimit},
		{"key expired", rcpt("k-exp", "alice", "k1", "n1", "", now+5_000, 1, 1), CodeKeyExpired},
		{"before genesis", rcpt("old", "alice", "alice", "n1", "", t0-1, 1, 1), CodeEpochClosed},
		{"future epoch", future, CodeEpochFuture},
		{"bad account", rcpt("ba", "a/b", "a/b", "n1", "", now, 1, 1), CodeBadTx},
		{"unpaid", rcpt("poor", "bob", "bob", "n1", "", now, 1000, 1000), CodeUnpaid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{tc.r}})).Txs[0]
			if r.Code != OK || len(r.Receipts) != 1 || r.Receipts[0].Code != tc.want {
				t.Fatalf("result = %+v, want receipt code %s", r, tc.want)
			}
		})
	}
	// A receipt of a closed epoch is charged in the oldest open epoch,
	// recording the epoch it was issued in.
	c.block(epochMs + graceMs)
	late := rcpt("late", "alice", "alice", "n1", "", now, 1, 1)
	r := c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{late}})).Txs[0]
	if r.Receipts[0].Code != OK {
		t.Fatalf("late receipt: %+v", r)
	}
	st, found, err := c.l.Receipt(context.Background(), late.IDHex())
	if err != nil || !found || st.Epoch != c.l.NextEpoch() || st.Epoch == 0 || st.IssuedEpoch == nil || *st.IssuedEpoch != 0 {
		t.Fatalf("late receipt state = %+v (found %v, err %v), next epoch %d", st, found, err, c.l.NextEpoch())
	}
	// Past the late window (a day by default) it is refused.
	c.block(DefaultLateReceiptMs)
	tooLate := rcpt("too-late", "alice", "alice", "n1", "", now, 1, 1)
	r = c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{tooLate}})).Txs[0]
	if r.Receipts[0].Code != CodeTooLate {
		t.Fatalf("receipt a day late: %+v", r)
	}
	// One issued by a clock slightly ahead of the block time is charged in
	// the block's epoch.
	ahead := rcpt("ahead", "alice", "alice", "n1", "", c.now+ClockSkewMs-1, 1, 1)
	r = c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{ahead}})).Txs[0]
	if r.Receipts[0].Code != OK {
		t.Fatalf("receipt from a clock ahead: %+v", r)
	}
	bob, _ := c.l.Account(context.Background(), "bob")
	if !bob.Overdrawn || bob.UnpaidUSD == 0 || bob.Balances[DenomUSD] != 0 {
		t.Fatalf("bob = %+v", bob)
	}
	c.must(protocol, Deposit{To: "bob", Denom: DenomUSD, Amount: 1})
	bob, _ = c.l.Account(context.Background(), "bob")
	if bob.Overdrawn {
		t.Fatal("top-up did not clear overdrawn")
	}
}

func TestIdempotence(t *testing.T) {
	c := newChain(t, testGenesis())
	c.setup()
	r := rcpt("once", "alice", "alice", "n1", "e1", c.now, 5000, 5000)
	before, _ := c.l.Account(context.Background(), "alice")
	// Twice in one batch, then again in a later block by another submitter.
	res := c.block(1, c.tx("n1", SubmitReceipts{Receipts: []Receipt{r, r}}))
	if got := res.Txs[0].Receipts; got[0].Code != OK || got[1].Code != CodeDuplicate {
		t.Fatalf("batch = %+v", got)
	}
	res = c.block(1, c.tx("n2", SubmitReceipts{Receipts: []Receipt{r}}))
	if got := res.Txs[0].Receipts; got[0].Code != CodeDuplicate {
		t.Fatalf("resubmit = %+v", got)
	}
	after, _ := c.l.Account(context.Background(), "alice")
	if before.Balances[DenomUSD]-after.Balances[DenomUSD] != r.Charge {
		t.Fatalf("charged %d, want %d", before.Balances[DenomUSD]-after.Balances[DenomUSD], r.Charge)
	}
	// After the epoch closes the id still settles once.
	c.block(epochMs + graceMs)
	res = c.block(1, c.tx("n2", SubmitReceipts{Receipts: []Receipt{r}}))
	if got := res.Txs[0].Receipts; got[0].Code != CodeDuplicate {
		t.Fatalf("after close = %+v", got)
	}
}

func TestBlockErrors(t *testing.T) {
	c := newChain(t, testGenesis())
	ctx := context.Background()
	if _, err := c.l.ApplyBlock(ctx, Block{Height: 2, TimeMs: t0}); err == nil {
		t.Fatal("height gap accepted")
	}
	c.block(10)
	if _, err := c.l.ApplyBlock(ctx, Block{Height: 2, TimeMs: t0}); err == nil {
		t.Fatal("time going back accepted")
	}
	g := testGenesis()
	g.Params.IssuerBps = 1
	if _, err := New(ctx, c.l.d, testGenesis()); err == nil {
		t.Fatal("re-initialised a datastore")
	}
	l2, err := Open(ctx, c.l.d)
	if err != nil || l2.Height() != 1 {
		t.Fatalf("Open: %v height %d", err, l2.Height())
	}
	if err := g.Validate(); err == nil {
		t.Fatal("bad params accepted")
	}
}

func TestUnbondNode(t *testing.T) {
	c := newChain(t, testGenesis())
	c.setup()
	c.must("n1", UnbondNode{})
	m, _, _ := c.l.Model(context.Background(), "m1")
	if len(m.Nodes) != 1 || m.Nodes[0] != "n2" {
		t.Fatalf("nodes = %v", m.Nodes)
	}
	a, _ := c.l.Account(context.Background(), "n1")
	if a.Balances[DenomFlock] != 1000*econ.Unit {
		t.Fatalf("bond not returned: %+v", a)
	}
	r := c.block(1, c.tx("n2", SubmitReceipts{Receipts: []Receipt{rcpt("x", "alice", "alice", "n1", "", c.now, 1, 1)}})).Txs[0]
	if r.Receipts[0].Code != CodeNotServing {
		t.Fatalf("%+v", r)
	}
}

func TestValidators(t *testing.T) {
	g := testGenesis()
	g.MaxValidators = 2
	c := newChain(t, g)
	c.must("n1", RegisterNode{Bond: 5 * econ.Unit})
	c.must("n2", RegisterNode{Bond: 7 * econ.Unit})
	c.must("e1", RegisterNode{Bond: 7 * econ.Unit})
	c.must("issuer", RegisterNode{Bond: econ.Unit / 2})
	vs, err := c.l.Validators(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Validator{{"e1", 7}, {"n2", 7}}
	if len(vs) != 2 || vs[0] != want[0] || vs[1] != want[1] {
		t.Fatalf("validators = %+v, want %+v", vs, want)
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[string]bool{"alice": true, "llama-3.1-8b": true, "..": false, ".x": false, "a/b": false, "": false, "12D3KooW": true} {
		if validName(s) != want {
			t.Errorf("validName(%q) = %v", s, !want)
		}
	}
}

func TestCheckTx(t *testing.T) {
	c := newChain(t, testGenesis())
	ctx := context.Background()
	before, _ := c.l.AppHash(ctx)
	r, err := c.l.CheckTx(ctx, Tx{Account: "alice", Nonce: 1, Body: Transfer{To: "bob", Denom: DenomUSD, Amount: 1}})
	if err != nil || r.Code != OK {
		t.Fatalf("%+v %v", r, err)
	}
	r, _ = c.l.CheckTx(ctx, Tx{Account: "alice", Nonce: 2, Body: Transfer{To: "bob", Denom: DenomUSD, Amount: 1}})
	if r.Code != CodeBadNonce {
		t.Fatalf("%+v", r)
	}
	after, _ := c.l.AppHash(ctx)
	if before != after {
		t.Fatal("CheckTx changed the state")
	}
	c.must("alice", Transfer{To: "bob", Denom: DenomUSD, Amount: 1})
}

// TestReopen checks that a ledger reopened over its datastore carries on
// with the same app hash as one that never stopped.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	a, b := newChain(t, testGenesis()), newChain(t, testGenesis())
	for _, c := range []*chain{a, b} {
		c.setup()
		c.must("alice", Transfer{To: "bob", Denom: DenomUSD, Amount: 5})
	}
	l2, err := Open(ctx, b.l.d)
	if err != nil {
		t.Fatal(err)
	}
	b.l = l2
	ha, _ := a.l.AppHash(ctx)
	hb, _ := b.l.AppHash(ctx)
	if ha != hb {
		t.Fatal("app hash lost on reopen")
	}
	ra := a.block(epochMs+graceMs, a.tx("bob", Transfer{To: "alice", Denom: DenomUSD, Amount: 1}))
	rb := b.block(epochMs+graceMs, b.tx("bob", Transfer{To: "alice", Denom: DenomUSD, Amount: 1}))
	if ra.AppHash != rb.AppHash || ra.Txs[0].Code != OK {
		t.Fatalf("diverged after reopen: %+v %+v", ra, rb)
	}
	if _, err := Open(ctx, store.NewMemory()); !errors.Is(err, ErrNoGenesis) {
		t.Fatalf("Open(empty) = %v", err)
	}
}
