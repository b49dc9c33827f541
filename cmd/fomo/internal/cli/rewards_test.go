package cli

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// rewardsChain is a ledgerChain that also answers /rewards/<account> and
// /emissions, as settle/chain does.
type rewardsChain struct{ *ledgerChain }

func (c rewardsChain) Query(ctx context.Context, path string) ([]byte, error) {
	p, raw, _ := strings.Cut(path, "?")
	kind, arg, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if kind != "rewards" && kind != "emissions" {
		return c.ledgerChain.Query(ctx, path)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	from, _ := strconv.ParseUint(q.Get("from"), 10, 64)
	limit := 100
	if s := q.Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var v any
	if kind == "rewards" {
		v, err = c.l.Rewards(ctx, arg, from, limit)
	} else {
		v, err = c.l.Emissions(ctx, from, limit)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// newRewardsNet is a node over a rewardsChain like newEconNet's, with
// emissions: a reserve of 1,000 FLOCK whose first budget is 10 FLOCK, and
// n1 its key too. It returns the net and the accounts by key name.
func newRewardsNet(t *testing.T, reserve uint64) (econNet, map[string]string) {
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
			{ID: id["alice"], Balances: map[string]uint64{ledger.DenomUSD: 1_000 * u}},
			{ID: id["bob"], Balances: map[string]uint64{ledger.DenomUSD: 1_000 * u, ledger.DenomFlock: 50_000 * u}},
		},
		Nodes:     []ledger.GenesisNode{{ID: id["n1"], Bond: 10 * u, Serves: []string{"m1", "m2"}}},
		PowerUnit: u, MaxValidators: 10,
		Economics: ledger.Economics{SwapFeeBps: 30, LaunchFee: p.LaunchFee, MTSupply: p.Supply, FirstBuyMaxBps: p.FirstBuyMaxBps,
			CommitFeeTreasuryBps: 100, CommitFeeIssuerBps: 50, RaiseWindowMs: 3_600_000,
			AllocSaleBps: 4_000, AllocLiquidityBps: 2_000, AllocIncentivesBps: 2_000, AllocIssuerBps: 1_000, AllocTreasuryBps: 1_000,
			IssuerVestingMs: 600_000, RaisePoolBps: 5_000, RaiseReservedBps: 2_000, RaiseIssuerBps: 3_000,
			FlockPoolFlock: 1_000_000 * u, FlockPoolUSD: 100_000 * u, BuybackMaxImpactBps: 100, CurveStartBps: 5_000,
			EmissionReserveFlock: reserve, EmissionFirstEpochFlock: min(reserve, 10*u), EmissionHalfLifeMs: 180 * 24 * 3_600_000,
			AgeHorizonMs: 180 * 24 * 3_600_000, AgeFloorBps: 2_500, EmissionCapBps: 10_000, IssuerBonusBps: 1_000, AlphaBps: 9_000,
			IncentiveReleaseMs: 10 * 3_600_000},
	}
	for _, m := range []string{"m1", "m2"} {
		g.Models = append(g.Models, ledger.GenesisModel{Name: m, Issuer: id["issuer"], Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: strings.Repeat("ab", 32)})
	}
	l, err := ledger.New(context.Background(), store.NewMemory(), g)
	if err != nil {
		t.Fatal(err)
	}
	c := &ledgerChain{t: t, l: l, now: genesisMs}
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(rewardsChain{c})))
	t.Cleanup(srv.Close)
	return econNet{c: c, url: srv.URL, home: home}, id
}

// use has node n1 submit one receipt of m1 for each account, in a block
// of its own.
func use(t *testing.T, n econNet, nonce uint64, accounts ...string) {
	t.Helper()
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	var rs []ledger.Receipt
	for i, a := range accounts {
		r := ledger.Receipt{ID: sha256.Sum256([]byte(a + strconv.FormatUint(nonce, 10))), Account: a, Signer: a, Model: "m1", Node: n.c.l.Genesis().Nodes[0].ID,
			IssuedAtMs: n.c.now, InputTokens: uint64(i+1) * 1_000_000, OutputTokens: 1_000_000, InputPrice: 200_000, OutputPrice: 600_000}
		r.Charge, _ = econ.Charge(r.InputTokens, r.OutputTokens, r.InputPrice, r.OutputPrice)
		rs = append(rs, r)
	}
	res, err := n.c.block(1000, ledger.Tx{Account: n.c.l.Genesis().Nodes[0].ID, Nonce: nonce, Body: ledger.SubmitReceipts{Receipts: rs}})
	if err != nil || res.Txs[0].Code != ledger.OK {
		t.Fatalf("receipts: %v %+v", err, res.Txs)
	}
}

// TestRewardsCommands: alice uses m1, bob uses and stakes it after its
// offering graduates; fomo rewards show prints what each was credited by
// epoch and model (the issuer its bonus, a node nothing), fomo emissions
// the reserve, the next budget and each epoch's emissions by model.
func TestRewardsCommands(t *testing.T) {
	n, id := newRewardsNet(t, 1_000*econ.Unit)
	n.fomo(t, "rmo", "launch", "m1", "--raise-min", "1000", "--raise-max", "10000", "--key-name", "issuer")
	n.fomo(t, "rmo", "commit", "m1", "--amount", "20000", "--key-name", "bob")
	n.fomo(t, "stake", "m1", "--amount", "100", "--key-name", "bob")
	out := n.fomo(t, "rewards", "show", "--key-name", "alice")
	wantLines(t, "rewards show before any close", out, "^"+id["alice"]+" has no rewards\n$")
	n.c.advance(time.Hour + 5*time.Second) // closes epoch 0: no usage, nothing paid
	use(t, n, 1, id["alice"], id["bob"])
	n.c.advance(time.Hour) // closes epoch 1
	use(t, n, 2, id["alice"])
	n.c.advance(time.Hour) // closes epoch 2

	out = n.fomo(t, "rewards", "show", "--key-name", "alice")
	wantLines(t, "rewards show alice", out, `rewards of `+id["alice"],
		`EPOCH +MODEL +AS USER +ISSUER BONUS +GATED FLOCK +GATED MT`,
		`\n1 +m1 +[1-9]\d*\.\d{6} flock +0\.000000 flock +0\.000000 flock +0\.000000 mt:m1\n`,
		`\n2 +m1 +[1-9]\d*\.\d{6} flock +0\.000000 flock +0\.000000 flock +0\.000000 mt:m1\n`,
		`\ntotal +\d+\.\d{6} flock\n$`)
	out = n.fomo(t, "rewards", "show", id["bob"])
	wantLines(t, "rewards show bob", out, `\n1 +m1 +[1-9]\d*\.\d{6} flock +0\.000000 flock +[1-9]\d*\.\d{6} flock +[1-9]\d*\.\d{6} mt:m1\n`,
		`\ntotal +\d+\.\d{6} flock\n +\d+\.\d{6} mt:m1\n$`)
	out = n.fomo(t, "rewards", "show", "--key-name", "issuer")
	wantLines(t, "rewards show issuer", out, `\n1 +m1 +0\.000000 flock +0\.99\d{4} flock +0\.000000 flock`)
	out = n.fomo(t, "rewards", "show", "--key-name", "n1")
	wantLines(t, "rewards show n1", out, "^"+id["n1"]+" has no rewards\n$")

	// Pages: the first epoch only, then the rest.
	out = n.fomo(t, "rewards", "show", "--key-name", "alice", "--limit", "1")
	wantLines(t, "rewards show --limit 1", out, `\n1 +m1 `, `more from epoch 2: --from 2\n$`)
	if strings.Contains(out, "\n2 ") {
		t.Errorf("rewards show --limit 1 shows epoch 2:\n%s", out)
	}
	out = n.fomo(t, "rewards", "show", "--key-name", "alice", "--from", "2", "--json")
	var r api.Rewards
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("rewards show --json: %v\n%s", err, out)
	}
	acct, err := n.c.l.Account(t.Context(), id["alice"])
	if err != nil {
		t.Fatal(err)
	}
	if r.Account != id["alice"] || len(r.Epochs) != 1 || r.Epochs[0].Epoch != 2 || r.Next != 0 || len(r.Totals) != 1 ||
		r.Totals[0] != (api.Balance{Denom: "flock", AmountBase: acct.Balances[ledger.DenomFlock]}) {
		t.Fatalf("rewards show --json = %+v; alice holds %v", r, acct.Balances)
	}
	wantLines(t, "rewards show --json", out, `"user_flock_base": [1-9]\d*`, `"gated_mt_base": 0`)
	if _, err := runHome(t, n.home, "rewards", "show", "a:b", "--api", n.url); err == nil || err.Error() != `400 Bad Request: ledger: bad account "a:b"` {
		t.Fatalf("rewards show of a bad account: %v", err)
	}

	out = n.fomo(t, "emissions")
	wantLines(t, "emissions", out, `reserve +9\d\d\.\d{6} flock left`, `next budget +9\.\d{6} flock \(epoch 3\)`,
		`EPOCH +BUDGET \(FLOCK\) +PAID +KEPT +CAPPED +RESERVE AFTER +FLOCK PRICE \(USD\)`,
		`\n +0 +10\.000000 +0\.000000 +10\.000000 +0\.000000 +1000\.000000 +0\.1\d{5}`,
		`\n +1 +9\.\d{6} +\d\.\d{6} +\d\.\d{6} +\d\.\d{6} +9\d\d\.\d{6} +0\.1\d{5}`,
		`EPOCH +MODEL +GROSS \(USD\) +AGE FACTOR +SHARE \(FLOCK\) +CAP +PAID +ISSUER +USERS`,
		`\n +1 +m1 +1\.800000 +0\.99\d{4} +9\.\d{6} +\d+\.\d{6} +[1-9]\.\d{6} +0\.9\d{5} +\d\.\d{6}`,
		`\n +1 +m2 +0\.000000 +0\.99\d{4} +0\.000000 +0\.000000 +0\.000000 +0\.000000 +0\.000000`,
		`EPOCH +GATED POOL +RELEASED FLOCK +PAID +CARRY +RELEASED MT +PAID +CARRY`,
		`\n +1 +m1 +\d+\.\d{6} +[1-9]\d*\.\d{6} +0\.000000 +\d+\.\d{6} +[1-9]\d*\.\d{6} +0\.000000`)
	out = n.fomo(t, "emissions", "--from", "1", "--limit", "1")
	wantLines(t, "emissions --from 1 --limit 1", out, `\n +1 +9\.\d{6}`, `more from epoch 2: --from 2\n$`)
	if strings.Contains(out, "\n     0 ") {
		t.Errorf("emissions --from 1 shows epoch 0:\n%s", out)
	}
	out = n.fomo(t, "emissions", "--json")
	var e api.Emissions
	if err := json.Unmarshal([]byte(out), &e); err != nil || !e.Enabled || len(e.Epochs) != 3 || e.NextEpoch != 3 {
		t.Fatalf("emissions --json: %+v %v\n%s", e, err, out)
	}
	wantLines(t, "emissions --json", out, `"budget_flock_base": 10000000`, `"reserve_flock_base": 9\d{8}`)
}

// TestEmissionsOffCommand: on a network without an emission reserve,
// fomo emissions says so.
func TestEmissionsOffCommand(t *testing.T) {
	n, _ := newRewardsNet(t, 0)
	out := n.fomo(t, "emissions")
	wantLines(t, "emissions", out, "^this network has no emissions: its genesis funds no emission reserve\n$")
}
