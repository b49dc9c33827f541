package chain

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	netID   = "testnet"
	t0      = int64(1_800_000_000_000)
	epochMs = int64(60_000)
)

type party struct {
	sk crypto.PrivKey
	id peer.ID
}

func newParty(t testing.TB) party {
	t.Helper()
	sk, id := testkeys.New(t)
	return party{sk, id}
}

type world struct {
	t                           testing.TB
	protocol, user, v1, v2, iss party
	gen                         ledger.Genesis
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, protocol: newParty(t), user: newParty(t), v1: newParty(t), v2: newParty(t), iss: newParty(t)}
	w.gen = ledger.Genesis{
		GenesisTimeMs: t0, EpochMs: epochMs, GraceMs: 5000, ProtocolKey: w.protocol.id.String(), Params: econ.DefaultParams(),
		Tiers:    []ledger.Tier{{Name: "small", CostPerMTok: 100_000, MinInputPrice: 150_000, MinOutputPrice: 300_000}},
		Accounts: []ledger.GenesisAccount{{ID: w.user.id.String(), Balances: map[string]uint64{ledger.DenomUSD: 10 * econ.Unit}}, {ID: w.v2.id.String(), Balances: map[string]uint64{ledger.DenomFlock: 100 * econ.Unit}}},
		Nodes:    []ledger.GenesisNode{{ID: w.v1.id.String(), Bond: 10 * econ.Unit, Serves: []string{"m1"}}},
		Models: []ledger.GenesisModel{{Name: "m1", Issuer: w.iss.id.String(), Tier: "small", InputPrice: 200_000, OutputPrice: 600_000,
			ManifestSHA256: "aa00000000000000000000000000000000000000000000000000000000000000"}},
		PowerUnit: econ.Unit, MaxValidators: 10,
	}
	return w
}

func (w *world) app(d ds.Batching, blocks *[]BlockInfo) *App {
	w.t.Helper()
	a, err := NewApp(d, WithNetworkID(netID), WithOnBlock(func(b BlockInfo) {
		if blocks != nil {
			*blocks = append(*blocks, b)
		}
	}))
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) initChain(a *App) {
	w.t.Helper()
	state, _ := json.Marshal(w.gen)
	raw, _ := w.v1.sk.GetPublic().Raw()
	_, err := a.InitChain(context.Background(), &abcitypes.InitChainRequest{AppStateBytes: state,
		Validators: []abcitypes.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: raw}}})
	if err != nil {
		w.t.Fatal(err)
	}
}

// receipt makes a receipt of m1 for the user, served by node, with the
// given quoted prices.
func (w *world) receipt(node party, issued int64, in, out, inPrice, outPrice uint64) []byte {
	w.t.Helper()
	a := receipt.NewAuthorization(netID, w.user.id, "m1", time.UnixMilli(issued), time.Minute)
	a.MaxOutputTokens, a.MaxCharge = 1000, econ.Unit
	a.InputPrice, a.OutputPrice = inPrice, outPrice
	a.RequestSHA256 = sha256.Sum256([]byte("req"))
	auth, err := receipt.SignAuthorization(a, w.user.sk)
	if err != nil {
		w.t.Fatal(err)
	}
	charge, _ := receipt.Charge(in, out, inPrice, outPrice)
	env, err := receipt.SignReceipt(receipt.Receipt{Authorization: auth, InputTokens: in, OutputTokens: out, Finish: receipt.FinishStop,
		StartedAtMs: uint64(issued), CompletedAtMs: uint64(issued + 10), Charge: charge}, node.sk)
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

func signTx(t testing.TB, p party, nonce uint64, body any) []byte {
	t.Helper()
	b, err := tx.Sign(tx.Tx{Nonce: nonce, Body: body}, p.sk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func finalize(t testing.TB, a *App, h int64, ms int64, txs ...[]byte) *abcitypes.FinalizeBlockResponse {
	t.Helper()
	res, err := a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Height: h, Time: time.UnixMilli(ms), Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(context.Background(), &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	return res
}

func receiptCodes(t *testing.T, r *abcitypes.ExecTxResult) []ledger.Code {
	t.Helper()
	var d TxData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("%v: %s", err, r.Data)
	}
	var out []ledger.Code
	for _, rr := range d.Receipts {
		out = append(out, rr.Code)
	}
	return out
}

// TestSubmitReceiptsFailAlone: in one batch a valid receipt is charged; a
// forged one, a replay, one above the list price and one by a node that does
// not serve the model fail alone with their codes.
func TestSubmitReceiptsFailAlone(t *testing.T) {
	w := newWorld(t)
	var blocks []BlockInfo
	a := w.app(store.NewMemory(), &blocks)
	w.initChain(a)
	good := w.receipt(w.v1, t0+1000, 100, 50, 200_000, 600_000)
	forged := w.receipt(w.v1, t0+1000, 100, 50, 200_000, 600_000)
	forged[len(forged)-3] ^= 1
	dear := w.receipt(w.v1, t0+1000, 100, 50, 250_000, 600_000) // above the list price
	stranger := w.receipt(w.v2, t0+1000, 100, 50, 200_000, 600_000)
	res := finalize(t, a, 1, t0+2000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: [][]byte{good, forged, good, dear, stranger}}))
	if res.TxResults[0].Code != 0 {
		t.Fatalf("tx failed: %+v", res.TxResults[0])
	}
	got := receiptCodes(t, res.TxResults[0])
	want := []ledger.Code{ledger.OK, ReceiptCode(receipt.ReasonBadNodeSignature), ledger.CodeDuplicate, ledger.CodePriceMismatch, ledger.CodeNotServing}
	if len(got) != len(want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("receipt %d: %s, want %s (all %v)", i, got[i], want[i], got)
		}
	}
	if len(blocks) != 1 || len(blocks[0].Included) != 1 {
		t.Fatalf("block info %+v", blocks)
	}
	acct, _ := a.Account(context.Background(), w.user.id.String())
	charge, _ := receipt.Charge(100, 50, 200_000, 600_000)
	if acct.Balances[ledger.DenomUSD] != 10*econ.Unit-charge {
		t.Fatalf("user balance %d, want %d", acct.Balances[ledger.DenomUSD], 10*econ.Unit-charge)
	}
	// Submitting it again (any node may) charges nothing more.
	res = finalize(t, a, 2, t0+3000, signTx(t, w.v2, 1, tx.SubmitReceipts{Envelopes: [][]byte{good}}))
	if c := receiptCodes(t, res.TxResults[0]); c[0] != ledger.CodeDuplicate {
		t.Fatalf("resubmission: %v", c)
	}
	if again, _ := a.Account(context.Background(), w.user.id.String()); again.Balances[ledger.DenomUSD] != acct.Balances[ledger.DenomUSD] {
		t.Fatal("a resubmitted receipt was charged twice")
	}
	// A transaction that does not open is recorded as failed, not applied.
	res = finalize(t, a, 3, t0+4000, []byte("junk"))
	if res.TxResults[0].Code != Code(CodeBadSignature) {
		t.Fatalf("junk tx: %+v", res.TxResults[0])
	}
}

// TestRestartAndDeterminism: a reopened app reports the height and app
// hash it committed, and two apps fed the same receipts in another order
// agree on the app hash.
func TestRestartAndDeterminism(t *testing.T) {
	w := newWorld(t)
	rs := [][]byte{
		w.receipt(w.v1, t0+100, 10, 20, 200_000, 600_000),
		w.receipt(w.v1, t0+200, 30, 40, 200_000, 600_000),
		w.receipt(w.v1, t0+300, 50, 60, 200_000, 600_000),
	}
	d1, d2 := store.NewMemory(), store.NewMemory()
	a1, a2 := w.app(d1, nil), w.app(d2, nil)
	w.initChain(a1)
	w.initChain(a2)
	r1 := finalize(t, a1, 1, t0+1000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: rs}))
	r2 := finalize(t, a2, 1, t0+1000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: [][]byte{rs[2], rs[0], rs[1]}}))
	if string(r1.AppHash) != string(r2.AppHash) {
		t.Fatalf("app hashes differ: %x vs %x", r1.AppHash, r2.AppHash)
	}
	re := w.app(d1, nil)
	info, err := re.Info(context.Background(), &abcitypes.InfoRequest{})
	if err != nil || info.LastBlockHeight != 1 || string(info.LastBlockAppHash) != string(r1.AppHash) {
		t.Fatalf("info after reopening: %+v %v", info, err)
	}
}

// TestValidatorUpdatesAtEpochClose: a node that bonds becomes a validator
// when the epoch closes; the set never becomes empty.
func TestValidatorUpdatesAtEpochClose(t *testing.T) {
	w := newWorld(t)
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	res := finalize(t, a, 1, t0+1000, signTx(t, w.v2, 1, ledger.RegisterNode{Bond: 20 * econ.Unit}))
	if res.TxResults[0].Code != 0 || len(res.ValidatorUpdates) != 0 {
		t.Fatalf("%+v", res)
	}
	res = finalize(t, a, 2, t0+epochMs+5000)
	if len(res.ValidatorUpdates) != 1 || res.ValidatorUpdates[0].Power != 20 {
		t.Fatalf("validator updates at epoch close: %+v", res.ValidatorUpdates)
	}
	// v1 unbonds: its power goes to 0, v2 remains.
	finalize(t, a, 3, t0+epochMs+6000, signTx(t, w.v1, 1, ledger.UnbondNode{}))
	res = finalize(t, a, 4, t0+2*epochMs+5000)
	if len(res.ValidatorUpdates) != 1 || res.ValidatorUpdates[0].Power != 0 {
		t.Fatalf("after unbonding: %+v", res.ValidatorUpdates)
	}
	// v2 unbonds too: nobody has power, and the set is kept.
	finalize(t, a, 5, t0+2*epochMs+6000, signTx(t, w.v2, 2, ledger.UnbondNode{}))
	if res = finalize(t, a, 6, t0+3*epochMs+5000); len(res.ValidatorUpdates) != 0 {
		t.Fatalf("emptied the validator set: %+v", res.ValidatorUpdates)
	}
}

// TestCheckTxNonces: the mempool takes consecutive nonces of one account,
// refuses gaps and replays, and starts over from the state after a commit.
func TestCheckTxNonces(t *testing.T) {
	w := newWorld(t)
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	check := func(b []byte) uint32 {
		r, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: b, Type: abcitypes.CHECK_TX_TYPE_CHECK})
		if err != nil {
			t.Fatal(err)
		}
		return r.Code
	}
	to := w.v2.id.String()
	t1 := signTx(t, w.user, 1, ledger.Transfer{To: to, Denom: ledger.DenomUSD, Amount: 1})
	t2 := signTx(t, w.user, 2, ledger.Transfer{To: to, Denom: ledger.DenomUSD, Amount: 1})
	t4 := signTx(t, w.user, 4, ledger.Transfer{To: to, Denom: ledger.DenomUSD, Amount: 1})
	if check(t1) != 0 || check(t2) != 0 {
		t.Fatal("consecutive nonces refused")
	}
	if c := check(t4); c != Code(ledger.CodeBadNonce) {
		t.Fatalf("gap: code %d", c)
	}
	if c := check(t1); c != Code(ledger.CodeBadNonce) {
		t.Fatalf("replay: code %d", c)
	}
	if c := check([]byte("junk")); c != Code(CodeBadSignature) {
		t.Fatalf("junk: code %d", c)
	}
	if c := check(signTx(t, w.user, 3, ledger.Withdraw{Denom: ledger.DenomUSD, Amount: 1000 * econ.Unit})); c != 0 {
		t.Fatalf("pending tx checked against a future state: %d", c)
	}
	finalize(t, a, 1, t0+1000, t1)
	if check(t2) != 0 {
		t.Fatal("after commit, the next nonce is refused")
	}
	over := signTx(t, w.user, 3, ledger.Withdraw{Denom: ledger.DenomUSD, Amount: 1000 * econ.Unit})
	a.mu.Lock()
	clear(a.next)
	a.mu.Unlock()
	if c := check(over); c != Code(ledger.CodeBadNonce) {
		t.Fatalf("code %d", c)
	}
}

func TestQuery(t *testing.T) {
	w := newWorld(t)
	a := w.app(store.NewMemory(), nil)
	w.initChain(a)
	finalize(t, a, 1, t0+1000, signTx(t, w.v1, 1, tx.SubmitReceipts{Envelopes: [][]byte{w.receipt(w.v1, t0+100, 10, 20, 200_000, 600_000)}}))
	finalize(t, a, 2, t0+epochMs+6000) // closes epoch 0
	for _, tc := range []struct {
		path string
		code uint32
	}{
		{"/chain", QueryOK}, {"/account/" + w.user.id.String(), QueryOK}, {"/account/" + newParty(t).id.String(), QueryNotFound},
		{"/model/m1", QueryOK}, {"/model/nope", QueryNotFound}, {"/node/" + w.v1.id.String(), QueryOK},
		{"/epoch/0", QueryOK}, {"/epoch/7", QueryNotFound}, {"/epoch/x", QueryBad}, {"/epochs?after=0&limit=5", QueryOK},
		{"/validators", QueryOK}, {"/what", QueryBad},
	} {
		r, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: tc.path})
		if err != nil || r.Code != tc.code {
			t.Fatalf("%s: %+v %v", tc.path, r, err)
		}
	}
	r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/epochs"})
	var page struct{ Epochs []ledger.EpochSettlement }
	if err := json.Unmarshal(r.Value, &page); err != nil || len(page.Epochs) != 1 || page.Epochs[0].Receipts != 1 || page.Epochs[0].Gross == 0 {
		t.Fatalf("epochs: %s %v", r.Value, err)
	}
}

// TestCrashBeforeCommit: a block finalized but not committed leaves no
// trace in the datastore, so CometBFT can replay it after a restart.
func TestCrashBeforeCommit(t *testing.T) {
	w := newWorld(t)
	d := store.NewMemory()
	a := w.app(d, nil)
	w.initChain(a)
	finalize(t, a, 1, t0+1000)
	if _, err := a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Height: 2, Time: time.UnixMilli(t0 + 2000),
		Txs: [][]byte{signTx(t, w.v2, 1, ledger.RegisterNode{Bond: econ.Unit})}}); err != nil {
		t.Fatal(err)
	}
	re := w.app(d, nil) // the process died here
	info, err := re.Info(context.Background(), &abcitypes.InfoRequest{})
	if err != nil || info.LastBlockHeight != 1 {
		t.Fatalf("after a crash before Commit: %+v %v", info, err)
	}
	res := finalize(t, re, 2, t0+2000, signTx(t, w.v2, 1, ledger.RegisterNode{Bond: econ.Unit}))
	if res.TxResults[0].Code != 0 {
		t.Fatalf("replayed block: %+v", res.TxResults[0])
	}
}
