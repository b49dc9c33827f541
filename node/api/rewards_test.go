package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/store"
)

// rewardsLedger is a Chain over a real ledger that answers the rewards
// and emissions queries as settle/chain does.
type rewardsLedger struct{ l *ledger.Ledger }

type notFound struct{ error }

func (notFound) Is(target error) bool { return target == api.ErrNotFound }

func (rewardsLedger) Status() api.ChainStatus { return api.ChainStatus{ChainID: "fomo-test"} }
func (rewardsLedger) AppHashAfter(context.Context, int64) ([]byte, time.Time, error) {
	return nil, time.Time{}, errors.New("no blocks")
}
func (rewardsLedger) SubmitTx(context.Context, []byte) (api.TxResult, error) {
	return api.TxResult{}, errors.New("read only")
}

func (c rewardsLedger) Query(ctx context.Context, path string) ([]byte, error) {
	p, raw, _ := strings.Cut(path, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	from, _ := strconv.ParseUint(q.Get("from"), 10, 64)
	limit := 100
	if s := q.Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	var v any
	switch {
	case strings.HasPrefix(p, "/rewards/"):
		v, err = c.l.Rewards(ctx, strings.TrimPrefix(p, "/rewards/"), from, limit)
	case p == "/emissions":
		v, err = c.l.Emissions(ctx, from, limit)
	default:
		return nil, notFound{fmt.Errorf("not found: %s", p)}
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type noModels struct{}

func (noModels) Do(context.Context, *runtime.Request) (runtime.Stream, error) {
	return nil, errors.New("no models")
}
func (noModels) Models() []runtime.Model            { return nil }
func (noModels) Model(string) (runtime.Model, bool) { return runtime.Model{}, false }

const (
	genesisMs = 1_700_000_000_000
	epochMs   = 60_000
)

// emissionLedger is a network with emissions (a 1,000 FLOCK reserve, 10
// FLOCK the first epoch, FLOCK at 0.1 usd) and models m1 and m2 of
// issuer, served by n1; alice and bob use m1 in epoch 0.
func emissionLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	const u = econ.Unit
	p := econ.DefaultRMOParams()
	g := ledger.Genesis{
		GenesisTimeMs: genesisMs, EpochMs: epochMs, GraceMs: 5_000, ProtocolKey: "n1", Params: econ.DefaultParams(),
		Tiers: []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000,
			RaiseMin: 1_000 * u, RaiseMax: 100_000 * u}},
		Accounts: []ledger.GenesisAccount{
			{ID: "alice", Balances: map[string]uint64{ledger.DenomUSD: 100 * u}},
			{ID: "bob", Balances: map[string]uint64{ledger.DenomUSD: 100 * u}},
		},
		Nodes: []ledger.GenesisNode{{ID: "n1", Bond: 10 * u, Serves: []string{"m1", "m2"}}},
		Economics: ledger.Economics{SwapFeeBps: 30, LaunchFee: p.LaunchFee, MTSupply: p.Supply, FirstBuyMaxBps: p.FirstBuyMaxBps,
			CommitFeeTreasuryBps: 100, CommitFeeIssuerBps: 50, RaiseWindowMs: 3_600_000,
			AllocSaleBps: 4_000, AllocLiquidityBps: 2_000, AllocIncentivesBps: 2_000, AllocIssuerBps: 1_000, AllocTreasuryBps: 1_000,
			IssuerVestingMs: 600_000, RaisePoolBps: 5_000, RaiseReservedBps: 2_000, RaiseIssuerBps: 3_000,
			FlockPoolFlock: 1_000 * u, FlockPoolUSD: 100 * u, BuybackMaxImpactBps: 100, CurveStartBps: 5_000,
			EmissionReserveFlock: 1_000 * u, EmissionFirstEpochFlock: 10 * u, EmissionHalfLifeMs: 5 * epochMs,
			AgeHorizonMs: 10 * epochMs, AgeFloorBps: 2_500, EmissionCapBps: 10_000, IssuerBonusBps: 1_000, AlphaBps: 9_000,
			IncentiveReleaseMs: 4 * epochMs},
	}
	for _, m := range []string{"m1", "m2"} {
		g.Models = append(g.Models, ledger.GenesisModel{Name: m, Issuer: "issuer", Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: strings.Repeat("ab", 32)})
	}
	ctx := context.Background()
	l, err := ledger.New(ctx, store.NewMemory(), g)
	if err != nil {
		t.Fatal(err)
	}
	var rs []ledger.Receipt
	for i, a := range []string{"alice", "bob"} {
		r := ledger.Receipt{ID: sha256.Sum256([]byte(a)), Account: a, Signer: a, Model: "m1", Node: "n1", IssuedAtMs: genesisMs + 500,
			InputTokens: uint64(i+1) * 1_000_000, OutputTokens: 1_000_000, InputPrice: 200_000, OutputPrice: 600_000}
		r.Charge, _ = econ.Charge(r.InputTokens, r.OutputTokens, r.InputPrice, r.OutputPrice)
		rs = append(rs, r)
	}
	blocks := []ledger.Block{
		{Height: 1, TimeMs: genesisMs + 1_000, Txs: []ledger.Tx{{Account: "n1", Nonce: 1, Body: ledger.SubmitReceipts{Receipts: rs}}}},
		{Height: 2, TimeMs: genesisMs + epochMs + 6_000},   // closes epoch 0
		{Height: 3, TimeMs: genesisMs + 2*epochMs + 6_000}, // closes epoch 1
	}
	for _, b := range blocks {
		res, err := l.ApplyBlock(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Txs {
			if r.Code != ledger.OK {
				t.Fatalf("block %d: %s %s", b.Height, r.Code, r.Log)
			}
		}
	}
	return l
}

// TestRewardsRoutes: GET /api/v1/accounts/{id}/rewards and GET
// /api/v1/emissions answer the ledger's rewards and emissions in base
// units, and refuse bad paging arguments and accounts with 400.
func TestRewardsRoutes(t *testing.T) {
	l := emissionLedger(t)
	ctx := t.Context()
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(rewardsLedger{l})))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := l.Epoch(ctx, 0)
	if err != nil || st.Emissions == nil || len(st.Emissions.Models) != 1 {
		t.Fatalf("epoch 0: %+v, %v", st.Emissions, err)
	}
	m1 := st.Emissions.Models[0]
	var aliceGot uint64
	for _, u := range m1.Users {
		if u.Account == "alice" {
			aliceGot = u.Amount
		}
	}
	if aliceGot == 0 || m1.Issuer == 0 {
		t.Fatalf("the settlement paid alice %d, the issuer %d", aliceGot, m1.Issuer)
	}

	r, err := c.Rewards(ctx, "alice", 0, 0)
	want := &api.Rewards{Account: "alice", Epochs: []api.EpochRewards{{Epoch: 0, Models: []api.ModelReward{{Model: "m1", MTDenom: "mt:m1",
		UserFlockBase: aliceGot}}}}, Totals: []api.Balance{{Denom: "flock", AmountBase: aliceGot}}}
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Fatalf("Rewards(alice) =\n%+v, %v\nwant\n%+v", r, err, want)
	}
	r, err = c.Rewards(ctx, "issuer", 0, 1)
	if err != nil || len(r.Epochs) != 1 || r.Epochs[0].Models[0].IssuerFlockBase != m1.Issuer || r.Epochs[0].Models[0].UserFlockBase != 0 {
		t.Fatalf("Rewards(issuer) = %+v, %v", r, err)
	}
	r, err = c.Rewards(ctx, "alice", 1, 5)
	if err != nil || r.Epochs == nil || len(r.Epochs) != 0 || len(r.Totals) != 1 {
		t.Fatalf("Rewards(alice) from epoch 1 = %+v, %v", r, err)
	}
	var raw map[string]any
	if err := c.Do(ctx, http.MethodGet, "/api/v1/accounts/alice/rewards", "", nil, &raw); err != nil {
		t.Fatal(err)
	}
	m := raw["epochs"].([]any)[0].(map[string]any)["models"].([]any)[0].(map[string]any)
	for _, k := range []string{"model", "mt_denom", "user_flock_base", "issuer_flock_base", "gated_flock_base", "gated_mt_base"} {
		if _, ok := m[k]; !ok {
			t.Errorf("a model reward has no %q: %v", k, m)
		}
	}
	if _, ok := raw["next"]; ok {
		t.Errorf("the last page has a next: %v", raw)
	}

	e, err := c.Emissions(ctx, 0, 0)
	if err != nil || !e.Enabled || len(e.Epochs) != 2 || e.NextEpoch != 2 || e.ReserveFlockBase != st.Emissions.ReserveAfter || e.NextBudgetFlockBase == 0 {
		t.Fatalf("Emissions = %+v, %v", e, err)
	}
	e0 := e.Epochs[0]
	if e0.BudgetFlockBase != 10*econ.Unit || e0.PaidFlockBase != st.Emissions.Paid || e0.KeptFlockBase != e0.BudgetFlockBase-e0.PaidFlockBase ||
		e0.FlockPrice != "0.100519893884077600" || e0.ReserveAfterFlockBase != st.Emissions.ReserveAfter {
		t.Fatalf("epoch 0 = %+v", e0)
	}
	// Both models are 66 s old of a 600 s horizon: age factor 0.89.
	wantM2 := api.ModelEmission{Model: "m2", AgeFactor: "0.890000000000000000", Weight: "0.000000000000000000"}
	if len(e0.Models) != 2 || e0.Models[1] != wantM2 {
		t.Fatalf("epoch 0 models %+v, want m2 %+v", e0.Models, wantM2)
	}
	if x := e0.Models[0]; x.Model != "m1" || x.GrossUSDBase != 1_800_000 || x.GrossUSDBase != st.Gross || x.Weight != "1602000.000000000000000000" ||
		x.PaidFlockBase != x.IssuerFlockBase+x.UsersFlockBase || x.IssuerFlockBase != m1.Issuer {
		t.Fatalf("epoch 0 m1 %+v (gross %d)", x, st.Gross)
	}
	if e, err := c.Emissions(ctx, 0, 1); err != nil || len(e.Epochs) != 1 || e.Next != 1 {
		t.Fatalf("Emissions(0, 1) = %+v, %v", e, err)
	}

	for _, tc := range []struct{ path, param, msg string }{
		{"/api/v1/accounts/alice/rewards?from=x", "from", `from "x" is not an epoch number`},
		{"/api/v1/accounts/alice/rewards?limit=0", "limit", `limit "0" is not a positive number`},
		{"/api/v1/emissions?from=-1", "from", `from "-1" is not an epoch number`},
		{"/api/v1/emissions?limit=x", "limit", `limit "x" is not a positive number`},
		{"/api/v1/accounts/-x/rewards", "", `ledger: bad account "-x"`},
	} {
		err := c.Do(ctx, http.MethodGet, tc.path, "", nil, &raw)
		ce, ok := errors.AsType[*client.Error](err)
		if !ok || ce.StatusCode != http.StatusBadRequest || ce.Param != tc.param || ce.Message != tc.msg {
			t.Errorf("%s: %v (%+v), want 400 %q on %q", tc.path, err, ce, tc.msg, tc.param)
		}
	}
}
