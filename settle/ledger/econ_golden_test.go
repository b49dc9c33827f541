package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

// econEconomics are the network defaults (configs/networks) with a short
// raise window and vesting, so that a vector spans a few epochs of 60 s,
// and a FLOCK/usd pool of 1,000,000 FLOCK and 100,000 usd.
func econEconomics() Economics {
	p := econ.DefaultRMOParams()
	return Economics{
		SwapFeeBps: 30, LaunchFee: p.LaunchFee, MTSupply: p.Supply, FirstBuyMaxBps: p.FirstBuyMaxBps,
		CommitFeeTreasuryBps: 100, CommitFeeIssuerBps: 50, RaiseWindowMs: 5 * epochMs,
		AllocSaleBps: 4_000, AllocLiquidityBps: 2_000, AllocIncentivesBps: 2_000, AllocIssuerBps: 1_000, AllocTreasuryBps: 1_000,
		IssuerVestingMs: 10 * epochMs, RaisePoolBps: 5_000, RaiseReservedBps: 2_000, RaiseIssuerBps: 3_000,
		UnbondingEpochs: 24, FlockPoolFlock: 1_000_000 * econ.Unit, FlockPoolUSD: 100_000 * econ.Unit,
		BuybackMaxImpactBps: 100, CurveStartBps: 5_000,
	}
}

// econGenesis is testGenesis with the economics above, raise bounds of
// 1,000–100,000 FLOCK on both tiers, and funded buyers.
func econGenesis() Genesis {
	g := testGenesis()
	g.Economics = econEconomics()
	for i := range g.Tiers {
		g.Tiers[i].RaiseMin, g.Tiers[i].RaiseMax = 1_000*econ.Unit, 100_000*econ.Unit
	}
	g.Accounts = []GenesisAccount{
		{ID: "alice", Balances: map[string]uint64{DenomUSD: 10_000 * econ.Unit, DenomFlock: 50_000 * econ.Unit}},
		{ID: "bob", Balances: map[string]uint64{DenomUSD: 1_000 * econ.Unit, DenomFlock: 50_000 * econ.Unit}},
		{ID: "carol", Balances: map[string]uint64{DenomFlock: 1_000 * econ.Unit}},
		{ID: "n1", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
		{ID: "n2", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
		{ID: "e1", Balances: map[string]uint64{DenomFlock: 1000 * econ.Unit}},
		{ID: "issuer", Balances: map[string]uint64{DenomFlock: 100_000 * econ.Unit}},
	}
	return g
}

// econScenario is the input of a pools/buyback/offering golden vector:
// blocks of transactions after the common setup (nodes n1, n2, e1; model
// m1 of issuer, tier small, served by n1 and n2).
type econScenario struct {
	// Economics fields present here replace econEconomics' values.
	Economics json.RawMessage `json:"economics,omitempty"`
	// DiscountTiers, when present, replace the genesis discount tiers
	// ([] for a network without discounts).
	DiscountTiers *[]econ.DiscountTier `json:"discount_tiers,omitempty"`
	// Stakers are genesis accounts holding this much MT of m1 and 1,000
	// usd.
	Stakers map[string]uint64 `json:"stakers,omitempty"`
	Steps   []struct {
		// DtMs is the time from the previous block.
		DtMs int64    `json:"dt_ms"`
		Txs  []econTx `json:"txs"`
	} `json:"steps"`
	// Accounts whose balances the outcome shows; Vesting (account, model)
	// pairs; Epochs whose settlements it shows.
	Accounts []string    `json:"accounts"`
	Vesting  [][2]string `json:"vesting"`
	Epochs   []uint64    `json:"epochs"`
	// Stakes are (account, model) pairs whose stake every step shows;
	// StakeEpochs are epochs whose stake snapshot of StakeModel the
	// outcome shows.
	Stakes      [][2]string `json:"stakes,omitempty"`
	StakeModel  string      `json:"stake_model,omitempty"`
	StakeEpochs []uint64    `json:"stake_epochs,omitempty"`
	// Discounts are (account, model) pairs whose discount every step
	// shows, at the step's block time.
	Discounts [][2]string `json:"discounts,omitempty"`
}

// econTx is one transaction of a vector: the sender and exactly one body.
type econTx struct {
	From     string         `json:"from"`
	Swap     *Swap          `json:"swap,omitempty"`
	Launch   *LaunchRMO     `json:"launch,omitempty"`
	Commit   *Commit        `json:"commit,omitempty"`
	Graduate *Graduate      `json:"graduate,omitempty"`
	Redeem   *Redeem        `json:"redeem,omitempty"`
	Claim    *ClaimVested   `json:"claim,omitempty"`
	Register *RegisterModel `json:"register,omitempty"`
	Serve    *ServeModel    `json:"serve,omitempty"`
	Stake    *Stake         `json:"stake,omitempty"`
	Unstake  *Unstake       `json:"unstake,omitempty"`
	Unbonded *ClaimUnbonded `json:"claim_unbonded,omitempty"`
	// Receipts of the listed model, issued at the block's time, submitted
	// by From: at the account's effective prices (its discount), or with
	// DiscountBps off the list prices (down to the tier floor) when set.
	Receipts []struct {
		Seed        string  `json:"seed"`
		Account     string  `json:"account"`
		Model       string  `json:"model"`
		Node        string  `json:"node"`
		In          uint64  `json:"in"`
		Out         uint64  `json:"out"`
		DiscountBps *uint32 `json:"discount_bps,omitempty"`
	} `json:"receipts,omitempty"`
}

type econStepOut struct {
	Height int64      `json:"height"`
	TimeMs int64      `json:"time_ms"`
	Closed []uint64   `json:"closed_epochs,omitempty"`
	Txs    []TxResult `json:"txs"`
	// Vesting is the claimant's vesting after a step with a claim.
	Vesting []Vesting `json:"vesting,omitempty"`
	// Stakes are the scenario's stakes after the step.
	Stakes []StakeInfo `json:"stakes,omitempty"`
	// Discounts are the scenario's discounts after the step.
	Discounts []Discount `json:"discounts,omitempty"`
}

type econOutcome struct {
	Steps    []econStepOut                `json:"steps"`
	Balances map[string]map[string]uint64 `json:"balances"`
	Pools    []PoolState                  `json:"pools"`
	RMOs     []RMO                        `json:"rmos"`
	// Positions are the shown accounts' positions in each offering.
	Positions map[string]map[string]RMOPosition `json:"positions"`
	Escrows   map[string]ModelEscrow            `json:"model_escrows"`
	Vesting   []Vesting                         `json:"vesting"`
	Supply    map[string]Supply                 `json:"supply"`
	Reserves  struct {
		Flock uint64            `json:"flock"`
		MT    map[string]uint64 `json:"mt"`
	} `json:"reserves"`
	Epochs         []EpochSettlement `json:"epochs"`
	StakeSnapshots []StakeSnapshot   `json:"stake_snapshots,omitempty"`
	AppHash        string            `json:"app_hash"`
}

func runEconScenario(t *testing.T, sc econScenario) econOutcome {
	t.Helper()
	ctx := context.Background()
	g := econGenesis()
	if len(sc.Economics) > 0 {
		if err := json.Unmarshal(sc.Economics, &g.Economics); err != nil {
			t.Fatal(err)
		}
	}
	if sc.DiscountTiers != nil {
		g.Params.DiscountTiers = *sc.DiscountTiers
	}
	for _, a := range sortedKeys(sc.Stakers) {
		g.Accounts = append(g.Accounts, GenesisAccount{ID: a, Balances: map[string]uint64{
			DenomUSD: 1_000 * econ.Unit, MTDenom("m1"): sc.Stakers[a]}})
	}
	c := newChain(t, g)
	c.setup()
	var out econOutcome
	for _, st := range sc.Steps {
		var txs []Tx
		for _, x := range st.Txs {
			var b Body
			switch {
			case x.Swap != nil:
				b = *x.Swap
			case x.Launch != nil:
				b = *x.Launch
			case x.Commit != nil:
				b = *x.Commit
			case x.Graduate != nil:
				b = *x.Graduate
			case x.Redeem != nil:
				b = *x.Redeem
			case x.Claim != nil:
				b = *x.Claim
			case x.Register != nil:
				r := *x.Register
				r.ManifestSHA256 = manifest
				b = r
			case x.Serve != nil:
				b = *x.Serve
			case x.Stake != nil:
				b = *x.Stake
			case x.Unstake != nil:
				b = *x.Unstake
			case x.Unbonded != nil:
				b = *x.Unbonded
			case len(x.Receipts) > 0:
				var rs []Receipt
				for _, y := range x.Receipts {
					m, ok, _ := c.l.Model(ctx, y.Model)
					if !ok {
						t.Fatalf("unknown model %s", y.Model)
					}
					r := Receipt{ID: sha256.Sum256([]byte(y.Seed)), Account: y.Account, Signer: y.Account, Model: y.Model,
						Node: y.Node, IssuedAtMs: c.now + st.DtMs, InputTokens: y.In, OutputTokens: y.Out}
					d, _, err := c.l.DiscountAt(ctx, y.Account, y.Model, r.IssuedAtMs)
					if err != nil {
						t.Fatal(err)
					}
					r.InputPrice, r.OutputPrice = d.InputPrice, d.OutputPrice
					if y.DiscountBps != nil {
						r.InputPrice = econ.EffectivePrice(m.InputPrice, d.FloorInputPrice, *y.DiscountBps)
						r.OutputPrice = econ.EffectivePrice(m.OutputPrice, d.FloorOutputPrice, *y.DiscountBps)
					}
					r.Charge, _ = econ.Charge(y.In, y.Out, r.InputPrice, r.OutputPrice)
					rs = append(rs, r)
				}
				b = SubmitReceipts{Receipts: rs}
			default:
				t.Fatalf("a step tx without a body: %+v", x)
			}
			txs = append(txs, c.tx(x.From, b))
		}
		res := c.block(st.DtMs, txs...)
		so := econStepOut{Height: c.height, TimeMs: c.now, Closed: res.ClosedEpochs, Txs: res.Txs}
		for _, x := range st.Txs {
			if x.Claim != nil {
				if v, ok, _ := c.l.Vesting(ctx, x.From, x.Claim.Model); ok {
					so.Vesting = append(so.Vesting, v)
				}
			}
		}
		for _, p := range sc.Stakes {
			si, err := c.l.Stake(ctx, p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			so.Stakes = append(so.Stakes, si)
		}
		for _, p := range sc.Discounts {
			d, _, err := c.l.DiscountAt(ctx, p[0], p[1], c.now)
			if err != nil {
				t.Fatal(err)
			}
			so.Discounts = append(so.Discounts, d)
		}
		out.Steps = append(out.Steps, so)
	}
	out.Balances = map[string]map[string]uint64{}
	for _, a := range append(sc.Accounts, TreasuryAccount) {
		acct, err := c.l.Account(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if acct.Balances == nil {
			acct.Balances = map[string]uint64{}
		}
		out.Balances[a] = acct.Balances
	}
	var err error
	if out.Pools, err = c.l.Pools(ctx); err != nil {
		t.Fatal(err)
	}
	if out.RMOs, err = c.l.RMOs(ctx); err != nil {
		t.Fatal(err)
	}
	out.Escrows = map[string]ModelEscrow{}
	out.Positions = map[string]map[string]RMOPosition{}
	for _, r := range out.RMOs {
		out.Positions[r.Model] = map[string]RMOPosition{}
		for _, a := range sc.Accounts {
			if p, ok, _ := c.l.RMOPosition(ctx, r.Model, a); ok {
				out.Positions[r.Model][a] = p
			}
		}
		if e, ok, _ := c.l.ModelEscrow(ctx, r.Model); ok {
			out.Escrows[r.Model] = e
		}
	}
	for _, v := range sc.Vesting {
		if x, ok, _ := c.l.Vesting(ctx, v[0], v[1]); ok {
			out.Vesting = append(out.Vesting, x)
		}
	}
	if out.Supply, err = c.l.Supply(ctx); err != nil {
		t.Fatal(err)
	}
	out.Reserves.Flock, out.Reserves.MT, _ = c.l.Reserves(ctx)
	for _, e := range sc.Epochs {
		st, ok, err := c.l.Epoch(ctx, e)
		if err != nil || !ok {
			t.Fatalf("epoch %d: %v %v", e, ok, err)
		}
		out.Epochs = append(out.Epochs, st)
	}
	for _, e := range sc.StakeEpochs {
		sn, err := c.l.StakeSnapshot(ctx, e, sc.StakeModel)
		if err != nil {
			t.Fatal(err)
		}
		out.StakeSnapshots = append(out.StakeSnapshots, sn)
	}
	h, _ := c.l.AppHash(ctx)
	out.AppHash = hex.EncodeToString(h[:])
	return out
}

// TestGoldenEcon runs the vectors testdata/econ_*.in.json: swaps, buybacks
// and offerings, each checked against its .out.json (-update rewrites
// them). Every block of a vector is checked for conservation by the chain
// helper.
func TestGoldenEcon(t *testing.T) {
	eachVector(t, "testdata/econ_*.in.json", func(t *testing.T, sc econScenario, out string) {
		compareGolden(t, out, runEconScenario(t, sc))
	})
}
