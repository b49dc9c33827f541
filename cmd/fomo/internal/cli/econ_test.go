package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// ledgerChain is a chain of one real ledger: each tx is applied in a block
// of its own, a second after the last, and queries answer from the ledger
// in the chain's JSON.
type ledgerChain struct {
	t      *testing.T
	mu     sync.Mutex
	l      *ledger.Ledger
	height int64
	now    int64
}

const genesisMs = 1_700_000_000_000

func (c *ledgerChain) Status() api.ChainStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return api.ChainStatus{ChainID: "fomo-test", Height: c.height}
}

func (c *ledgerChain) AppHashAfter(context.Context, int64) ([]byte, time.Time, error) {
	return nil, time.Time{}, errors.New("no blocks")
}

// block applies txs in a block dt ms after the last and checks that every
// denom is conserved.
func (c *ledgerChain) block(dt int64, txs ...ledger.Tx) (ledger.BlockResult, error) {
	c.height++
	c.now += dt
	res, err := c.l.ApplyBlock(context.Background(), ledger.Block{Height: c.height, TimeMs: c.now, Txs: txs})
	if err != nil {
		return res, err
	}
	return res, c.l.CheckConservation(context.Background())
}

// advance applies an empty block dt after the last.
func (c *ledgerChain) advance(dt time.Duration) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.block(dt.Milliseconds()); err != nil {
		c.t.Fatal(err)
	}
}

func (c *ledgerChain) SubmitTx(_ context.Context, b []byte) (api.TxResult, error) {
	st, err := tx.Open(b)
	if err != nil {
		return api.TxResult{}, &api.TxError{Reason: api.TxPreCheck, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.block(1000, st.Ledger())
	if err != nil {
		return api.TxResult{}, err // fails the command, hence the test
	}
	r := res.Txs[0]
	h := sha256.Sum256(b)
	out := api.TxResult{Hash: strings.ToUpper(hex.EncodeToString(h[:])), Height: c.height}
	if r.Code != ledger.OK {
		out.Code, out.Log = 1, string(r.Code)+": "+r.Log
	}
	return out, nil
}

func (c *ledgerChain) Query(ctx context.Context, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, found, err := c.query(ctx, path)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound{fmt.Errorf("not found: %s", strings.TrimPrefix(path, "/"))}
	}
	return json.Marshal(v)
}

// query answers the paths the econ and stake commands ask, as settle/chain
// does.
func (c *ledgerChain) query(ctx context.Context, path string) (any, bool, error) {
	l := c.l
	kind, arg, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	view := func(r ledger.RMO) (any, error) {
		out := r.Outcome(l.TimeMs()).String()
		if r.Status == ledger.RMOGraduated {
			out = ledger.RMOGraduated
		}
		n, err := l.RMOPositions(ctx, r.Model)
		return struct {
			ledger.RMO
			Outcome     string `json:"outcome"`
			Positions   int    `json:"positions"`
			BlockTimeMs int64  `json:"block_time_ms"`
		}{r, out, n, l.TimeMs()}, err
	}
	switch kind {
	case "account":
		a, err := l.Account(ctx, arg)
		return struct {
			ID string `json:"id"`
			ledger.Account
		}{arg, a}, a.Nonce > 0 || len(a.Balances) > 0, err
	case "rmos":
		rs, err := l.RMOs(ctx)
		out := []any{}
		for _, r := range rs {
			v, err := view(r)
			if err != nil {
				return nil, false, err
			}
			out = append(out, v)
		}
		return out, true, err
	case "rmo":
		r, ok, err := l.RMO(ctx, arg)
		if !ok || err != nil {
			return nil, ok, err
		}
		v, err := view(r)
		return v, true, err
	case "pools":
		ps, err := l.Pools(ctx)
		return ps, true, err
	case "pool":
		return l.Pool(ctx, arg)
	case "supply":
		s, err := l.Supply(ctx)
		return s, true, err
	case "treasury":
		t, err := l.Treasury(ctx)
		return t, true, err
	case "reserves":
		f, mt, err := l.Reserves(ctx)
		return map[string]any{"flock_usd": f, "mt_usd": mt}, true, err
	case "stakes":
		s, err := l.Stakes(ctx, arg)
		return s, true, err
	case "discount":
		arg, q, _ := strings.Cut(arg, "?epoch=")
		acct, model, _ := strings.Cut(arg, "/")
		e, err := strconv.ParseUint(q, 10, 64)
		if err != nil {
			return nil, false, err
		}
		return l.Discount(ctx, acct, model, e)
	}
	return nil, false, fmt.Errorf("unknown query path %q", path)
}

// econNet is a node over a ledgerChain whose genesis has the FLOCK/usd
// pool, offerings enabled and funded keys in home/keys: issuer (models
// m1, m2, m3, served by node n1), alice and bob.
type econNet struct {
	c    *ledgerChain
	url  string
	home string
}

// netKeys creates a key for each name under home/keys and returns their
// peer IDs by name.
func netKeys(t *testing.T, home string, names ...string) map[string]string {
	t.Helper()
	id := map[string]string{}
	for _, name := range names {
		sk, _, err := identity.LoadOrCreate(filepath.Join(home, "keys", name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		id[name] = identity.PeerID(sk).String()
	}
	return id
}

func newEconNet(t *testing.T) econNet {
	t.Helper()
	home := t.TempDir()
	id := netKeys(t, home, "issuer", "alice", "bob", "n1")
	const u = econ.Unit
	p := econ.DefaultRMOParams()
	g := ledger.Genesis{
		GenesisTimeMs: genesisMs, EpochMs: 3_600_000, GraceMs: 5_000, ProtocolKey: id["n1"], Params: econ.DefaultParams(),
		Tiers: []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000,
			RaiseMin: 1_000 * u, RaiseMax: 100_000 * u}},
		Accounts: []ledger.GenesisAccount{
			{ID: id["issuer"], Balances: map[string]uint64{ledger.DenomFlock: 200_000 * u}},
			{ID: id["alice"], Balances: map[string]uint64{ledger.DenomUSD: 1_000 * u, ledger.DenomFlock: 50_000 * u}},
			{ID: id["bob"], Balances: map[string]uint64{ledger.DenomFlock: 50_000 * u}},
		},
		Nodes:     []ledger.GenesisNode{{ID: id["n1"], Bond: 10 * u, Serves: []string{"m1", "m2", "m3"}}},
		PowerUnit: u, MaxValidators: 10,
		Economics: ledger.Economics{SwapFeeBps: 30, LaunchFee: p.LaunchFee, MTSupply: p.Supply, FirstBuyMaxBps: p.FirstBuyMaxBps,
			CommitFeeTreasuryBps: 100, CommitFeeIssuerBps: 50, RaiseWindowMs: 3_600_000,
			AllocSaleBps: 4_000, AllocLiquidityBps: 2_000, AllocIncentivesBps: 2_000, AllocIssuerBps: 1_000, AllocTreasuryBps: 1_000,
			IssuerVestingMs: 600_000, RaisePoolBps: 5_000, RaiseReservedBps: 2_000, RaiseIssuerBps: 3_000,
			FlockPoolFlock: 1_000_000 * u, FlockPoolUSD: 100_000 * u, BuybackMaxImpactBps: 100, CurveStartBps: 5_000},
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		g.Models = append(g.Models, ledger.GenesisModel{Name: m, Issuer: id["issuer"], Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: strings.Repeat("ab", 32)})
	}
	l, err := ledger.New(context.Background(), store.NewMemory(), g)
	if err != nil {
		t.Fatal(err)
	}
	c := &ledgerChain{t: t, l: l, now: genesisMs}
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(c)))
	t.Cleanup(srv.Close)
	return econNet{c: c, url: srv.URL, home: home}
}

// fomo runs a command against the net as the README shows it, with
// --api and --home added.
func (n econNet) fomo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runHome(t, n.home, append(args, "--api", n.url)...)
	if err != nil {
		t.Fatalf("fomo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func wantLines(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s: no match for %q in\n%s", what, re, out)
		}
	}
}

// TestEconCommands runs the offering, pool, swap, vesting, supply and
// treasury commands (those the README documents) against a real ledger:
// a raise that sells out and graduates at once, one that graduates after
// its window, one that fails and is redeemed, swaps through both kinds of
// pool, and the issuer's vesting claim.
func TestEconCommands(t *testing.T) {
	n := newEconNet(t)
	if out := n.fomo(t, "rmo", "list"); !strings.Contains(out, "no offering yet") {
		t.Fatalf("rmo list before any offering:\n%s", out)
	}
	if _, err := runHome(t, n.home, "rmo", "show", "m9", "--api", n.url); err == nil || err.Error() != "404 Not Found: model m9 has no offering" {
		t.Fatalf("rmo show of a model without an offering: %v", err)
	}

	// m1: launched with a first buy, then a commit beyond the maximum
	// sells the bucket out and graduates it in the same block.
	out := n.fomo(t, "rmo", "launch", "m1", "--raise-min", "1000", "--raise-max", "10000", "--first-buy", "100", "--key-name", "issuer")
	wantLines(t, "rmo launch", out, `included at height 1 \(tx [0-9A-F]{64}\)`, `paid +32867\.507390 flock`,
		`state +open`, `raise +98\.522168 flock raised of 1000\.000000 min, 10000\.000000 max`,
		`price +0\.012983\d* flock per MT now \(start 0\.012500, end 0\.037500\)`, `positions +1 accounts, 1 commits`)
	out = n.fomo(t, "rmo", "show", "m1")
	wantLines(t, "rmo show", out, `offering +m1 \(mt:m1\), tier small`, `sold +\d+\.\d{6} mt:m1 of 400000\.000000 for sale`)
	out = n.fomo(t, "rmo", "show", "m1", "--json")
	wantLines(t, "rmo show --json", out, `"raise_max_flock_base": 10000000000`, `"state": "open"`)
	out = n.fomo(t, "rmo", "commit", "m1", "--amount", "20000", "--key-name", "bob")
	wantLines(t, "rmo commit", out, `paid +\d+\.\d{6} flock`, `received +\d+\.\d{6} mt:m1`, `state +graduated`,
		`raise +10000\.000000 flock raised`, `graduated +at height 2: minted \d+\.\d{6} mt:m1`,
		`raise paid +5000\.000000 flock into pool mt:m1, 2000\.000000 reserved, 3000\.000000 to the issuer`)

	// The pools: FLOCK/usd from genesis, MT/FLOCK of m1 from graduation.
	out = n.fomo(t, "pool", "list")
	wantLines(t, "pool list", out, `flock +1000000\.000000 flock +100000\.000000 usd +30 +0\.100000`, `mt:m1 +200000\.000000 mt:m1 +5000\.000000 flock +30 +0\.025000`)
	out = n.fomo(t, "pool", "show", "flock")
	wantLines(t, "pool show flock", out, `pool +flock \(flock/usd\)`, `reserves +1000000\.000000 flock, 100000\.000000 usd`, `price +0\.100000 usd per flock`)
	out = n.fomo(t, "pool", "show", "mt:m1")
	wantLines(t, "pool show", out, `pool +mt:m1 \(mt:m1/flock\)`, `price +0\.025000 flock per mt:m1`, `seeded +at height 2`)
	if _, err := runHome(t, n.home, "pool", "show", "mt:m2", "--api", n.url); err == nil || !strings.Contains(err.Error(), "404 Not Found: no pool mt:m2") {
		t.Fatalf("pool show of a missing pool: %v", err)
	}

	// Swaps: usd for FLOCK, FLOCK for MT; a min-out above the quote is refused.
	out = n.fomo(t, "swap", "--from", "usd", "--to", "flock", "--amount", "10", "--min-out", "99", "--key-name", "alice")
	wantLines(t, "swap usd", out, `paid +10\.000000 usd`, `received +99\.69\d{4} flock`)
	out = n.fomo(t, "swap", "--from", "flock", "--to", "mt:m1", "--amount", "50", "--key-name", "alice")
	wantLines(t, "swap mt", out, `paid +50\.000000 flock`, `received +19\d\d\.\d{6} mt:m1`)
	if _, err := runHome(t, n.home, "swap", "--from", "usd", "--to", "flock", "--amount", "1", "--min-out", "100", "--key-name", "alice", "--api", n.url); err == nil ||
		!strings.Contains(err.Error(), "below_min_out") {
		t.Fatalf("swap below min-out: %v", err)
	}
	if _, err := runHome(t, n.home, "swap", "--from", "usd", "--to", "mt:m1", "--amount", "1", "--api", n.url); err == nil || !strings.Contains(err.Error(), "no pool trades usd for mt:m1") {
		t.Fatalf("swap without a pool: %v", err)
	}

	// m2 fails (below its minimum when the window ends) and is redeemed;
	// m3 passes its minimum and anyone graduates it after the window.
	n.fomo(t, "rmo", "launch", "m2", "--raise-min", "5000", "--raise-max", "10000", "--window", "1m", "--key-name", "issuer")
	n.fomo(t, "rmo", "launch", "m3", "--raise-min", "1000", "--raise-max", "10000", "--window", "1m", "--key-name", "issuer")
	n.fomo(t, "rmo", "commit", "m2", "--amount", "203", "--key-name", "alice")
	n.fomo(t, "rmo", "commit", "m3", "--amount", "2030", "--key-name", "alice")
	n.c.advance(time.Minute)
	out = n.fomo(t, "rmo", "list")
	wantLines(t, "rmo list", out, `MODEL +STATE +RAISED \(FLOCK\)`, `m1 +graduated +10000\.000000`, `m2 +failed +200\.000000 +5000\.000000`,
		`m3 +graduable +2000\.000000 +1000\.000000 +10000\.000000 +0\.\d+ +1 +20\d\d-`)
	if _, err := runHome(t, n.home, "rmo", "graduate", "m2", "--key-name", "bob", "--api", n.url); err == nil || !strings.Contains(err.Error(), "not_graduable") {
		t.Fatalf("graduate of a failed raise: %v", err)
	}
	out = n.fomo(t, "rmo", "redeem", "m2", "--key-name", "alice")
	wantLines(t, "rmo redeem", out, `received +200\.000000 flock`)
	out = n.fomo(t, "rmo", "graduate", "m3", "--key-name", "bob")
	wantLines(t, "rmo graduate", out, `state +graduated`, `minted \d+\.\d{6} mt:m3`)

	// The issuer's MT vests linearly from graduation.
	n.c.advance(5 * time.Minute)
	out = n.fomo(t, "vesting", "claim", "m1", "--key-name", "issuer")
	wantLines(t, "vesting claim", out, `received +\d+\.\d{6} mt:m1`)

	out = n.fomo(t, "supply")
	wantLines(t, "supply", out, `DENOM +MINTED +BURNED +WITHDRAWN +CIRCULATING`, `flock +\d+\.\d{6} +0\.000000 +0\.000000 +\d+\.\d{6}`,
		`mt:m1 +\d+\.\d{6}`, `usd +\d+\.\d{6}`)
	out = n.fomo(t, "treasury")
	wantLines(t, "treasury", out, `treasury \(account "treasury"\)`, `flock +\d+\.\d{6}`, `mt:m1 +100000\.000000`,
		`FLOCK buyback +0\.000000`)
}
