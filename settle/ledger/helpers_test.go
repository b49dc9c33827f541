package ledger

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

const (
	protocol = "protocol"
	epochMs  = 60_000
	graceMs  = 5_000
	t0       = 1_000_000
)

var manifest = "aa00000000000000000000000000000000000000000000000000000000000000"[:64]

func testGenesis() Genesis {
	return Genesis{
		GenesisTimeMs: t0,
		EpochMs:       epochMs,
		GraceMs:       graceMs,
		ProtocolKey:   protocol,
		Params:        econ.DefaultParams(),
		Tiers: []Tier{
			{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000},
			{Name: "large", CostPerMTok: 1_000_000, MinInputPrice: 2_000_000, MinOutputPrice: 4_000_000},
		},
		Accounts: []GenesisAccount{
			{ID: "alice", Balances: map[string]uint64{DenomUSD: 10 * econ.Unit}},
			{ID: "n1", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
			{ID: "n2", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
			{ID: "e1", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
			{ID: "issuer", Balances: map[string]uint64{DenomFlock: 5 * econ.Unit}},
		},
	}
}

// chain drives a ledger block by block and tracks nonces.
type chain struct {
	t      testing.TB
	l      *Ledger
	height int64
	now    int64
	nonces map[string]uint64
}

func newChain(t testing.TB, g Genesis) *chain {
	t.Helper()
	l, err := New(context.Background(), store.NewMemory(), g)
	if err != nil {
		t.Fatal(err)
	}
	return &chain{t: t, l: l, now: g.GenesisTimeMs, nonces: map[string]uint64{}}
}

// tx builds a tx from account with its next nonce.
func (c *chain) tx(account string, body Body) Tx {
	c.nonces[account]++
	return Tx{Account: account, Nonce: c.nonces[account], Body: body}
}

// block applies txs in a block at time now+dt; failed txs roll back their nonce.
func (c *chain) block(dt int64, txs ...Tx) BlockResult {
	c.t.Helper()
	c.height++
	c.now += dt
	res, err := c.l.ApplyBlock(context.Background(), Block{Height: c.height, TimeMs: c.now, Txs: txs})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, tx := range txs {
		a, err := c.l.Account(context.Background(), tx.Account)
		if err != nil {
			c.t.Fatal(err)
		}
		c.nonces[tx.Account] = a.Nonce
	}
	if err := c.l.CheckConservation(context.Background()); err != nil {
		c.t.Fatalf("height %d: %v", c.height, err)
	}
	return res
}

// must applies one tx and fails the test unless it succeeds.
func (c *chain) must(account string, body Body) TxResult {
	c.t.Helper()
	r := c.block(1, c.tx(account, body)).Txs[0]
	if r.Code != OK {
		c.t.Fatalf("%s %s: %s %s", account, body.Type(), r.Code, r.Log)
	}
	return r
}

// setup registers nodes n1, n2, e1 and model m1 (tier small) served by n1, n2.
func (c *chain) setup() {
	c.t.Helper()
	for _, n := range []string{"n1", "n2", "e1"} {
		c.must(n, RegisterNode{Bond: 100 * econ.Unit})
	}
	c.must("issuer", RegisterModel{Name: "m1", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000})
	c.must("n1", ServeModel{Model: "m1"})
	c.must("n2", ServeModel{Model: "m1"})
}

// rcpt builds a receipt of m1 at list prices.
func rcpt(seed string, account, signer, node, entry string, issued int64, in, out uint64) Receipt {
	r := Receipt{
		ID: sha256.Sum256([]byte(seed)), Account: account, Signer: signer, Model: "m1", Node: node, EntryNode: entry,
		IssuedAtMs: issued, InputTokens: in, OutputTokens: out, InputPrice: 200_000, OutputPrice: 600_000,
	}
	r.Charge, _ = econ.Charge(in, out, r.InputPrice, r.OutputPrice)
	return r
}
