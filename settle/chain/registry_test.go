package chain

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/store"
)

// TestChainRegistry: the admission rule's registry reads the chain's
// models and serving nodes, and reports ErrRegistryBehind before the first
// block and while CometBFT is catching up.
func TestChainRegistry(t *testing.T) {
	ctx := context.Background()
	validator, serving := testkeys.New(t)
	_, stranger := testkeys.New(t)
	const t0 = 1_700_000_000_000
	gen := ledger.Genesis{
		GenesisTimeMs: t0, EpochMs: 60_000, GraceMs: 5000, ProtocolKey: stranger.String(), Params: econ.DefaultParams(),
		Tiers: []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000}},
		Nodes: []ledger.GenesisNode{{ID: serving.String(), Bond: 10 * econ.Unit, Serves: []string{"m1"}}},
		Models: []ledger.GenesisModel{{Name: "m1", Issuer: stranger.String(), Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: "aa00000000000000000000000000000000000000000000000000000000000000"}},
		PowerUnit: econ.Unit, MaxValidators: 10,
	}
	app, err := NewApp(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	catchingUp := false
	reg := NewRegistry(app, func() bool { return catchingUp }, func() time.Time { return now })

	if _, _, _, err := reg.Prices(ctx, "m1"); !errors.Is(err, pool.ErrRegistryBehind) {
		t.Fatalf("before the chain starts: %v", err)
	}
	state, _ := json.Marshal(gen)
	raw, _ := validator.GetPublic().Raw()
	if _, err := app.InitChain(ctx, &abcitypes.InitChainRequest{AppStateBytes: state,
		Validators: []abcitypes.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: raw}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Height: 1, Time: time.UnixMilli(t0 + 1000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}

	if in, out, ok, err := reg.Prices(ctx, "m1"); err != nil || !ok || in != 200_000 || out != 600_000 {
		t.Fatalf("prices of m1: %d %d %v %v", in, out, ok, err)
	}
	if _, _, ok, err := reg.Prices(ctx, "invented"); err != nil || ok {
		t.Fatalf("an unregistered model: %v %v", ok, err)
	}
	if ok, err := reg.Serves(ctx, serving, "m1"); err != nil || !ok {
		t.Fatalf("the serving node: %v %v", ok, err)
	}
	if ok, err := reg.Serves(ctx, stranger, "m1"); err != nil || ok {
		t.Fatalf("another key: %v %v", ok, err)
	}
	if ok, err := reg.Serves(ctx, serving, "invented"); err != nil || ok {
		t.Fatalf("an unregistered model: %v %v", ok, err)
	}

	// CometBFT is asked again once a second.
	catchingUp = true
	if _, err := reg.Serves(ctx, serving, "m1"); err != nil {
		t.Fatalf("within the second: %v", err)
	}
	now = now.Add(syncCheckEvery)
	if _, err := reg.Serves(ctx, serving, "m1"); !errors.Is(err, pool.ErrRegistryBehind) {
		t.Fatalf("while catching up: %v", err)
	}
	catchingUp = false
	now = now.Add(syncCheckEvery)
	if ok, err := reg.Serves(ctx, serving, "m1"); err != nil || !ok {
		t.Fatalf("caught up: %v %v", ok, err)
	}
}
