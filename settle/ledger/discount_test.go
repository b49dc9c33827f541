package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

// discountGenesis is stakeGenesis with tiers small enough for its MT:
// ≥ 100 → 10%, ≥ 300 → 20%, ≥ 600 → 30%; alice and bob hold usd.
func discountGenesis() Genesis {
	g := stakeGenesis(2)
	g.Params.DiscountTiers = []econ.DiscountTier{{MinStake: 100, DiscountBps: 1_000}, {MinStake: 300, DiscountBps: 2_000}, {MinStake: 600, DiscountBps: 3_000}}
	g.SessionKeys[0].SpendLimit = econ.Unit
	return g
}

// priced is a receipt of m1 by account (signed by signer) at the given
// prices, issued at the chain's time.
func priced(c *chain, seed, account, signer string, in, out uint64) Receipt {
	r := Receipt{ID: sha256.Sum256([]byte(seed)), Account: account, Signer: signer, Model: "m1", Node: "n1",
		IssuedAtMs: c.now, InputTokens: 1_000, OutputTokens: 100, InputPrice: in, OutputPrice: out}
	r.Charge, _ = econ.Charge(r.InputTokens, r.OutputTokens, in, out)
	return r
}

// submit includes receipts in the next block (1 ms later, same epoch)
// and returns their codes in the order given.
func submit(c *chain, rs ...Receipt) []Code {
	c.t.Helper()
	for i := range rs {
		rs[i].IssuedAtMs = c.now + 1
	}
	res := c.block(1, c.tx("n2", SubmitReceipts{Receipts: rs}))
	byID := map[string]Code{}
	for _, x := range res.Txs[0].Receipts {
		byID[x.ID] = x.Code
	}
	out := make([]Code, len(rs))
	for i := range rs {
		out[i] = byID[rs[i].IDHex()]
	}
	return out
}

func discountAt(t *testing.T, c *chain, account string) Discount {
	t.Helper()
	d, ok, err := c.l.DiscountAt(context.Background(), account, "m1", c.now)
	if err != nil || !ok {
		t.Fatalf("discount of %s: %v %v", account, ok, err)
	}
	return d
}

// TestDiscountSnapshotTiming: a stake made in epoch e gives its discount
// from e+1; an unstake in e keeps e's discount and drops it from e+1; a
// session key's receipt gets its account's discount; stake split across
// accounts gives neither the tier of the sum.
func TestDiscountSnapshotTiming(t *testing.T) {
	c := newChain(t, discountGenesis())
	c.setup()
	ctx := context.Background()
	// m1 is 200000/600000 with floors 150000/300000.
	const listIn, listOut = 200_000, 600_000
	c.must("alice", Stake{Model: "m1", Amount: 300}) // epoch 0
	c.must("bob", Stake{Model: "m1", Amount: 60})
	if d := discountAt(t, c, "alice"); d.OpeningStake != 0 || d.DiscountBps != 0 || d.InputPrice != listIn {
		t.Fatalf("epoch 0, staked in epoch 0: %+v", d)
	}
	if got := submit(c, priced(c, "e0-20", "alice", "alice", 160_000, 480_000), priced(c, "e0-list", "alice", "alice", listIn, listOut)); got[0] != CodeDiscountMismatch || got[1] != OK {
		t.Fatalf("epoch 0 codes %v", got)
	}
	c.block(epochMs) // epoch 1
	d := discountAt(t, c, "alice")
	if d.Epoch != 1 || d.OpeningStake != 300 || d.DiscountBps != 2_000 || d.InputPrice != 160_000 || d.OutputPrice != 480_000 ||
		d.ListInputPrice != listIn || d.FloorInputPrice != 150_000 || d.FloorOutputPrice != 300_000 {
		t.Fatalf("epoch 1: %+v", d)
	}
	// Read through the session key: the account's discount.
	if k, _, _ := c.l.DiscountAt(ctx, "ak", "m1", c.now); k != d {
		t.Fatalf("the session key reads %+v, the account %+v", k, d)
	}
	c.must("alice", Unstake{Model: "m1", Amount: 250}) // counting drops to 50 now
	c.must("alice", Stake{Model: "m1", Amount: 500})   // counts from epoch 2
	c.must("alice", Unstake{Model: "m1", Amount: 10})
	if v, _ := c.l.StakeAt(ctx, "alice", "m1", 1); v != 40 {
		t.Fatalf("counting in epoch 1 after the unstakes: %d", v)
	}
	if got := submit(c,
		priced(c, "e1-key", "alice", "ak", 160_000, 480_000),    // the session key: the account's discount
		priced(c, "e1-list", "alice", "alice", listIn, listOut), // withheld discount
		priced(c, "e1-30", "alice", "alice", 150_000, 420_000),  // next epoch's tier, early
		priced(c, "e1-bob-10", "bob", "bob", 180_000, 540_000),  // bob's 60 is below the first tier
	); fmt.Sprint(got) != fmt.Sprint([]Code{OK, CodeDiscountMismatch, CodeDiscountMismatch, CodeDiscountMismatch}) {
		t.Fatalf("epoch 1 codes %v", got)
	}
	key := priced(c, "e1-key", "alice", "ak", 0, 0)
	if st, _, _ := c.l.Receipt(ctx, key.IDHex()); st.Discount != 260-208 || st.Charge != 208 {
		t.Fatalf("the session key's receipt: %+v", st)
	}
	c.block(epochMs) // epoch 2: 540 staked, 540 opening
	if d := discountAt(t, c, "alice"); d.OpeningStake != 540 || d.DiscountBps != 2_000 {
		t.Fatalf("epoch 2: %+v", d)
	}
	// bob's 60 and alice's 40 more would be 600 between them: no one
	// gets the tier of the sum.
	c.must("bob", Stake{Model: "m1", Amount: 40})
	c.block(epochMs) // epoch 3
	if b := discountAt(t, c, "bob"); b.OpeningStake != 100 || b.DiscountBps != 1_000 {
		t.Fatalf("bob in epoch 3: %+v", b)
	}
	if a := discountAt(t, c, "alice"); a.OpeningStake != 540 || a.DiscountBps != 2_000 {
		t.Fatalf("alice in epoch 3: %+v", a)
	}
	// Past epochs keep their discounts.
	for _, x := range []struct {
		e    uint64
		want uint32
	}{{0, 0}, {1, 2_000}, {2, 2_000}, {3, 2_000}} {
		if d, _, _ := c.l.Discount(ctx, "alice", "m1", x.e); d.DiscountBps != x.want {
			t.Fatalf("alice in epoch %d: %+v", x.e, d)
		}
	}
	if _, ok, err := c.l.Discount(ctx, "alice", "m9", 1); ok || err != nil {
		t.Fatalf("an unknown model: %v %v", ok, err)
	}
}

// TestDiscountProperty: over random stake and unstake histories, the
// discount of every account and epoch follows from its opening stake (a
// model kept here), and a receipt priced below or above the account's
// effective prices is refused — discount_mismatch between the floor and
// the list price, price_mismatch outside — while one priced exactly is
// included.
func TestDiscountProperty(t *testing.T) {
	tiers := discountGenesis().Params.DiscountTiers
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			c := newChain(t, discountGenesis())
			c.setup()
			accts := []string{"alice", "bob"}
			staked := map[string]uint64{}  // now
			opening := map[string]uint64{} // at the current epoch's start
			epoch := uint64(0)
			n := 0
			for range 60 {
				if r.IntN(4) == 0 {
					c.block(epochMs)
					epoch++
					for _, a := range accts {
						opening[a] = staked[a]
					}
				}
				a := accts[r.IntN(2)]
				if r.IntN(2) == 0 {
					amt := 1 + r.Uint64N(300)
					if res := c.block(1, c.tx(a, Stake{Model: "m1", Amount: amt})); res.Txs[0].Code == OK {
						staked[a] += amt
					}
				} else if staked[a] > 0 {
					amt := 1 + r.Uint64N(staked[a])
					c.must(a, Unstake{Model: "m1", Amount: amt})
					staked[a] -= amt
				}
				a = accts[r.IntN(2)]
				d := discountAt(t, c, a)
				want := econ.DiscountBps(opening[a], tiers)
				if d.Epoch != epoch || d.OpeningStake != opening[a] || d.DiscountBps != want {
					t.Fatalf("%s in epoch %d: %+v, want opening %d, %d bps", a, epoch, d, opening[a], want)
				}
				n++
				lo, hi := r.Uint64N(60_000)+1, r.Uint64N(60_000)+1
				signer := a
				if a == "alice" && r.IntN(2) == 0 {
					signer = "ak"
				}
				rs := []Receipt{
					priced(c, fmt.Sprint(n, "-exact"), a, signer, d.InputPrice, d.OutputPrice),
					priced(c, fmt.Sprint(n, "-in-low"), a, signer, d.InputPrice-lo, d.OutputPrice),
					priced(c, fmt.Sprint(n, "-out-low"), a, signer, d.InputPrice, d.OutputPrice-lo),
					priced(c, fmt.Sprint(n, "-in-high"), a, signer, d.InputPrice+hi, d.OutputPrice),
					priced(c, fmt.Sprint(n, "-out-high"), a, signer, d.InputPrice, d.OutputPrice+hi),
				}
				got := submit(c, rs...)
				if got[0] != OK {
					t.Fatalf("%s at its effective prices %+v: %s", a, d, got[0])
				}
				for i, x := range rs[1:] {
					want := CodeDiscountMismatch
					if x.InputPrice < d.FloorInputPrice || x.OutputPrice < d.FloorOutputPrice ||
						x.InputPrice > d.ListInputPrice || x.OutputPrice > d.ListOutputPrice {
						want = CodePriceMismatch
					}
					if got[i+1] != want {
						t.Fatalf("%s quoting %d/%d against %+v: %s, want %s", a, x.InputPrice, x.OutputPrice, d, got[i+1], want)
					}
				}
			}
		})
	}
}

// TestDiscountStakeNotPooled: stake split across accounts is never added
// up: 60 MT each on alice and bob (120 between them, past the 100 tier)
// gives neither a discount, and alice's receipt at the 10% price is
// refused while bob's stake alone reaching the tier gives bob, not alice,
// the discount.
func TestDiscountStakeNotPooled(t *testing.T) {
	c := newChain(t, discountGenesis())
	c.setup()
	c.must("alice", Stake{Model: "m1", Amount: 60})
	c.must("bob", Stake{Model: "m1", Amount: 60})
	c.block(epochMs)
	for _, a := range []string{"alice", "bob"} {
		if d := discountAt(t, c, a); d.OpeningStake != 60 || d.DiscountBps != 0 {
			t.Fatalf("%s: %+v", a, d)
		}
	}
	if got := submit(c, priced(c, "alice-10", "alice", "alice", 180_000, 540_000)); got[0] != CodeDiscountMismatch {
		t.Fatalf("alice at 10%%: %s", got[0])
	}
	c.must("bob", Stake{Model: "m1", Amount: 40})
	c.block(epochMs)
	if a, b := discountAt(t, c, "alice"), discountAt(t, c, "bob"); a.DiscountBps != 0 || b.DiscountBps != 1_000 {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	if got := submit(c, priced(c, "alice-10-again", "alice", "alice", 180_000, 540_000),
		priced(c, "bob-10", "bob", "bob", 180_000, 540_000)); got[0] != CodeDiscountMismatch || got[1] != OK {
		t.Fatalf("codes %v", got)
	}
}
