package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// backend serves one model whose streams replay events.
type backend struct{ events []string }

func (b backend) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	if req.Model != "m" {
		return nil, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model", "no model %q", req.Model).WithCode("model_not_found")
	}
	return &stream{events: b.events}, nil
}

func (backend) Models() []runtime.Model { return []runtime.Model{{ID: "m", OwnedBy: "test"}} }

func (b backend) Model(id string) (runtime.Model, bool) {
	if id == "m" {
		return b.Models()[0], true
	}
	return runtime.Model{}, false
}

type stream struct {
	events []string
	i      int
}

func (s *stream) Recv() (runtime.Event, error) {
	if s.i >= len(s.events) {
		return runtime.Event{}, io.EOF
	}
	s.i++
	return runtime.Event{Data: []byte(s.events[s.i-1])}, nil
}
func (s *stream) Usage() runtime.Usage {
	return runtime.Usage{PromptTokens: 3, CompletionTokens: int64(s.i)}
}
func (s *stream) Finish() runtime.FinishReason { return runtime.FinishStop }
func (s *stream) Close() error                 { return nil }

type info struct{}

func (info) Status(context.Context) api.Status {
	return api.Status{PeerID: "12D3KooWnode", Version: "test", Models: []runtime.Model{{ID: "m"}}, Runtimes: []api.RuntimeHealth{}}
}
func (info) Peers() []api.PeerInfo {
	return []api.PeerInfo{{ID: "12D3KooWpeer", Addrs: []string{"/ip4/10.0.0.1/tcp/4001"}}}
}

type gpus []gpu.Status

func (g gpus) Latest() []gpu.Status { return g }

// receipts holds no receipt.
type receipts struct{ filter *pool.Filter }

func (receipts) Get(context.Context, pool.ID) (pool.Entry, bool, error) {
	return pool.Entry{}, false, nil
}
func (receipts) Find(_ context.Context, prefix string) (pool.Entry, bool, error) {
	if strings.HasPrefix(prefix, "aaaaaaaa") {
		return pool.Entry{}, false, &pool.AmbiguousIDError{Prefix: prefix, Count: 2}
	}
	return pool.Entry{}, false, nil
}
func (r receipts) List(_ context.Context, f pool.Filter) ([]pool.Entry, string, error) {
	*r.filter = f
	return nil, "", nil
}

type prices struct{ payee peer.ID }

func (p prices) Quote(_ context.Context, model string) (uint64, uint64, error) {
	if model != "m" {
		return 0, 0, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model", "the model %q does not exist on this network", model)
	}
	return 5, 15, nil
}
func (p prices) Payee(context.Context, string) (peer.ID, error) { return p.payee, nil }

// For gives every account a 20% discount.
func (p prices) For(ctx context.Context, model string, _ peer.ID) (api.AccountPrice, error) {
	in, out, err := p.Quote(ctx, model)
	return api.AccountPrice{ListInput: in, ListOutput: out, Input: in * 8 / 10, Output: out * 8 / 10, DiscountBps: 2_000}, err
}

// manifests keeps what is put.
type manifests map[string]*models.Signed

// provider is the node that provides every known model.
var _, provider = testkeys.MustNew()

func (m manifests) Put(_ context.Context, env []byte) (*models.Signed, error) {
	s, err := models.Open(env)
	if err != nil {
		return nil, err
	}
	m[s.Manifest.Name] = s
	return s, nil
}

func (m manifests) Get(_ context.Context, name string) (*models.Signed, error) {
	if s, ok := m[name]; ok {
		return s, nil
	}
	return nil, models.ErrNotFound
}

func (m manifests) FindProviders(_ context.Context, name string) ([]peer.AddrInfo, error) {
	if _, ok := m[name]; !ok {
		return nil, nil
	}
	return []peer.AddrInfo{{ID: provider, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.2/tcp/4001")}}}, nil
}

// chain answers from a few fixed documents and refuses txs as told.
type chain struct{ refuse error }

func (chain) Status() api.ChainStatus { return api.ChainStatus{ChainID: "fomo-test", Height: 7} }

type notFound struct{ error }

func (notFound) Is(target error) bool { return target == api.ErrNotFound }

func (chain) Query(_ context.Context, path string) ([]byte, error) {
	switch {
	case path == "/chain":
		return []byte(`{"height":7}`), nil
	case path == "/validators":
		return []byte(`[]`), nil
	case path == "/account/alice":
		return []byte(`{"id":"alice","balances":{"usd":25000000},"nonce":3}`), nil
	case strings.HasPrefix(path, "/epochs?"):
		return []byte(`{"epochs":[{"epoch":0,"receipts_root":"ab","receipts":2}],"next_epoch":1}`), nil
	case path == "/epoch/0":
		return []byte(`{"epoch":0,"receipts_root":"ab","receipts":2}`), nil
	case path == "/model/m":
		return []byte(`{"name":"m","issuer":"i","manifest_sha256":"00","tier":"small","input_price":5,"output_price":15}`), nil
	case path == "/node/n":
		return []byte(`{"id":"n","bond":10}`), nil
	case path == "/rmos":
		return []byte(`[` + rmoDoc + `]`), nil
	case path == "/rmo/m":
		return []byte(rmoDoc), nil
	case path == "/pools":
		return []byte(`[` + poolDoc + `]`), nil
	case path == "/pool/flock":
		return []byte(poolDoc), nil
	case path == "/supply":
		return []byte(`{"usd":{"minted":30000000,"withdrawn":1000000},"flock":{"minted":9000000,"burned":2000000}}`), nil
	case path == "/treasury":
		return []byte(`{"flock":32768000000,"usd":5}`), nil
	case path == "/reserves":
		return []byte(`{"flock_usd":7,"mt_usd":{"m":3}}`), nil
	case path == "/stakes/alice", path == "/stakes/alice-session":
		return []byte(stakesDoc), nil
	case path == "/stakes/bad%2Fid":
		return nil, errors.New(`bad account "bad/id"`)
	}
	kind, arg, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return nil, notFound{fmt.Errorf("not found: %s %s", kind, arg)}
}

// rmoDoc is an open offering of m as the chain answers /rmo/m: 10,000
// FLOCK at most for a sale bucket of 400,000 MT, the curve starting at
// half its average price.
const rmoDoc = `{"model":"m","issuer":"i","tier":"small","curve":{"bucket":400000000000,"raise_min":1000000000,` +
	`"raise_max":10000000000,"start_bps":5000,"fee_bps":150,"issuer_fee_bps":50,"first_buy_cap":250000000000},` +
	`"state":{"sold":200000000000,"raised":3750000000},"start_ms":1700000000000,"end_ms":1700000060000,"launch_height":3,` +
	`"commits":2,"fee_treasury":37500000,"fee_issuer":18750000,"status":"open","outcome":"open","positions":2,"block_time_ms":1700000001000}`

// stakesDoc is alice's stake on m as the chain answers /stakes/alice in
// epoch 3: 100 MT staked, 60 counting, 30 unbonding of which 10 released.
const stakesDoc = `[{"account":"alice","model":"m","epoch":3,"staked":100000000,"counting":60000000,` +
	`"unbonding":[{"amount":10000000,"release_epoch":3},{"amount":20000000,"release_epoch":26}]}]`

// poolDoc is the FLOCK/usd pool: 1,000 FLOCK for 100 usd.
const poolDoc = `{"id":"flock","denom_a":"flock","denom_b":"usd","pool":{"reserve_a":1000000000,"reserve_b":100000000,"fee_bps":30},"seeded_height":0}`

func (chain) AppHashAfter(_ context.Context, h int64) ([]byte, time.Time, error) {
	if h > 7 {
		return nil, time.Time{}, errors.New("no such block")
	}
	return []byte{0xab, 0xcd}, time.Unix(1700000000, 0).UTC(), nil
}

func (c chain) SubmitTx(context.Context, []byte) (api.TxResult, error) {
	if c.refuse != nil {
		return api.TxResult{}, c.refuse
	}
	return api.TxResult{Hash: "AA", Height: 8}, nil
}

type fixture struct {
	c      *client.Client
	filter *pool.Filter
	payee  peer.ID
}

func newFixture(t *testing.T, refuse error, events ...string) fixture {
	t.Helper()
	f := fixture{filter: &pool.Filter{}}
	_, f.payee = testkeys.New(t)
	s := api.New(backend{events: events},
		api.WithNodeID("12D3KooWnode"), api.WithNetworkID("net1"), api.WithInfo(info{}),
		api.WithGPUs(gpus{{Device: gpu.Device{Index: 0, UUID: "GPU-1", Name: "H100"}}}),
		api.WithReceipts(receipts{f.filter}), api.WithPrices(prices{f.payee}),
		api.WithManifests(manifests{}), api.WithChain(chain{refuse: refuse}))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// apiError asserts err is an *client.Error with that status whose
// message contains want.
func apiError(t *testing.T, err error, status int, want string) *client.Error {
	t.Helper()
	e, ok := errors.AsType[*client.Error](err)
	if !ok {
		t.Fatalf("error %v (%T), want a *client.Error", err, err)
	}
	if e.StatusCode != status || !strings.Contains(e.Message, want) {
		t.Fatalf("error %d %q, want %d with %q", e.StatusCode, e.Message, status, want)
	}
	if !strings.HasPrefix(e.Error(), fmt.Sprintf("%d %s: ", status, http.StatusText(status))) {
		t.Fatalf("Error() = %q, want it to start with the status", e.Error())
	}
	return e
}

func TestNodeEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	st, err := f.c.Status(ctx)
	if err != nil || st.PeerID != "12D3KooWnode" || len(st.Models) != 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	gs, err := f.c.GPUs(ctx)
	if err != nil || len(gs) != 1 || gs[0].UUID != "GPU-1" {
		t.Fatalf("GPUs = %+v, %v", gs, err)
	}
	ps, err := f.c.Peers(ctx)
	if err != nil || len(ps) != 1 || ps[0].ID != "12D3KooWpeer" {
		t.Fatalf("Peers = %+v, %v", ps, err)
	}
	ms, err := f.c.Models(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != "m" || ms[0].OwnedBy != "test" {
		t.Fatalf("Models = %+v, %v", ms, err)
	}
}

func TestReceiptsAndPrices(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	epoch := uint64(3)
	page, err := f.c.Receipts(ctx, client.ReceiptQuery{Account: f.payee.String(), Model: "m", Epoch: &epoch, Limit: 5})
	if err != nil || page.Receipts == nil || len(page.Receipts) != 0 || page.Next != "" {
		t.Fatalf("Receipts = %+v, %v", page, err)
	}
	if f.filter.Account != f.payee || f.filter.Model != "m" || f.filter.Epoch == nil || *f.filter.Epoch != 3 || f.filter.Limit != 5 {
		t.Fatalf("the node got filter %+v", *f.filter)
	}
	_, err = f.c.Receipts(ctx, client.ReceiptQuery{Account: "nobody"})
	if e := apiError(t, err, http.StatusBadRequest, "account: not a peer ID"); e.Param != "account" || e.Type != runtime.ErrTypeInvalidRequest {
		t.Fatalf("error object %+v", e)
	}
	id := strings.Repeat("ab", 32)
	_, err = f.c.Receipt(ctx, id)
	if e := apiError(t, err, http.StatusNotFound, "receipt "+id+" not found on this node"); e.Code != "receipt_not_found" || !client.IsNotFound(err) {
		t.Fatalf("error object %+v", e)
	}
	// A prefix names a receipt; one that names several is a conflict, one
	// too short or not hex a bad request.
	_, err = f.c.Receipt(ctx, "aaaaaaaa")
	if e := apiError(t, err, http.StatusConflict, "receipt id prefix aaaaaaaa matches 2 receipts"); e.Code != "receipt_id_ambiguous" {
		t.Fatalf("error object %+v", e)
	}
	_, err = f.c.Receipt(ctx, "abcd")
	apiError(t, err, http.StatusBadRequest, `receipt id "abcd": give 8 to 64 hex digits`)
	p, err := f.c.Price(ctx, "m")
	if err != nil || p.InputPrice != 5 || p.OutputPrice != 15 || p.Payee != f.payee.String() || p.NetworkID != "net1" || p.Node != "12D3KooWnode" || p.Model != "m" {
		t.Fatalf("Price = %+v, %v", p, err)
	}
	_, err = f.c.Price(ctx, "nope")
	apiError(t, err, http.StatusNotFound, `the model "nope" does not exist`)
	// With an account: its prices, the list prices and its discount.
	p, err = f.c.PriceFor(ctx, "m", f.payee.String())
	if err != nil || p.InputPrice != 4 || p.OutputPrice != 12 || p.ListInputPrice != 5 || p.ListOutputPrice != 15 ||
		p.DiscountBps != 2_000 || p.Account != f.payee.String() || p.Payee != f.payee.String() || p.Model != "m" {
		t.Fatalf("PriceFor = %+v, %v", p, err)
	}
	_, err = f.c.PriceFor(ctx, "m", "not-a-peer")
	apiError(t, err, http.StatusBadRequest, "account: not a peer ID")
}

func TestManifests(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	sk, id := testkeys.New(t)
	sum := sha256.Sum256([]byte("weights"))
	env, err := models.Sign(models.Manifest{Name: "m", Seq: 1, Architecture: "llama", Quantization: "q8_0", ContextLength: 2048,
		Weights: models.Weights{SHA256: hex.EncodeToString(sum[:]), Size: 7}, Tier: "small", InputPrice: 5, OutputPrice: 15}, sk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AnnounceManifest(ctx, []byte("not an envelope"))
	apiError(t, err, http.StatusBadRequest, "invalid manifest")
	info, err := f.c.AnnounceManifest(ctx, env)
	if err != nil || info.Manifest.Name != "m" || info.Manifest.Issuer != id || len(info.SHA256) != 64 {
		t.Fatalf("AnnounceManifest = %+v, %v", info, err)
	}
	got, err := f.c.Manifest(ctx, "m")
	if err != nil || got.SHA256 != info.SHA256 || got.Envelope != info.Envelope {
		t.Fatalf("Manifest = %+v, %v", got, err)
	}
	_, err = f.c.Manifest(ctx, "other")
	apiError(t, err, http.StatusNotFound, `no manifest for model "other"`)
	ps, err := f.c.Providers(ctx, "m")
	if err != nil || len(ps) != 1 || ps[0].PeerID != provider.String() || ps[0].Addrs[0] != "/ip4/10.0.0.2/tcp/4001" {
		t.Fatalf("Providers = %+v, %v", ps, err)
	}
	if ps, err := f.c.Providers(ctx, "other"); err != nil || ps == nil || len(ps) != 0 {
		t.Fatalf("Providers of an unknown model = %#v, %v; want an empty list", ps, err)
	}
}

func TestChainEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	cs, err := f.c.Chain(ctx)
	if err != nil || cs.ChainID != "fomo-test" || !strings.Contains(string(cs.State), `"height": 7`) || string(cs.Validators) != `[]` {
		t.Fatalf("Chain = %+v, %v", cs, err)
	}
	b, err := f.c.Block(ctx, 7)
	if err != nil || b.AppHash != "abcd" || b.Height != 7 || b.Time.Unix() != 1700000000 {
		t.Fatalf("Block = %+v, %v", b, err)
	}
	_, err = f.c.Block(ctx, 8)
	apiError(t, err, http.StatusNotFound, "block 8 and the next are not both committed here")
	a, err := f.c.Account(ctx, "alice")
	if err != nil || a.ID != "alice" || a.Nonce != 3 || a.Balances[ledger.DenomUSD] != 25_000_000 {
		t.Fatalf("Account = %+v, %v", a, err)
	}
	_, err = f.c.Account(ctx, "bob")
	apiError(t, err, http.StatusNotFound, "account bob not found")
	if !client.IsNotFound(err) {
		t.Fatal("IsNotFound is false for a 404")
	}
	ep, err := f.c.Epochs(ctx, 0, 10)
	if err != nil || len(ep.Epochs) != 1 || ep.Epochs[0].ReceiptsRoot != "ab" || ep.NextEpoch != 1 {
		t.Fatalf("Epochs = %+v, %v", ep, err)
	}
	e, err := f.c.Epoch(ctx, 0)
	if err != nil || e.Receipts != 2 {
		t.Fatalf("Epoch = %+v, %v", e, err)
	}
	m, err := f.c.RegisteredModel(ctx, "m")
	if err != nil || m.Tier != "small" || m.OutputPrice != 15 {
		t.Fatalf("RegisteredModel = %+v, %v", m, err)
	}
	n, err := f.c.RegisteredNode(ctx, "n")
	if err != nil || n.Bond != 10 {
		t.Fatalf("RegisteredNode = %+v, %v", n, err)
	}
}

func TestEconEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	o, err := f.c.RMO(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := api.Offering{Model: "m", Issuer: "i", Tier: "small", State: "open", MTDenom: "mt:m",
		RaiseMinFlockBase: 1_000_000_000, RaiseMaxFlockBase: 10_000_000_000, RaisedFlockBase: 3_750_000_000,
		SaleMTBase: 400_000_000_000, SoldMTBase: 200_000_000_000, CommitFeeBps: 150, FeesTreasuryFlockBase: 37_500_000, FeesIssuerFlockBase: 18_750_000,
		PriceStart: "0.012500000000000000", PriceNow: "0.025000000000000000", PriceEnd: "0.037500000000000000",
		WindowStart: time.UnixMilli(1700000000000).UTC(), WindowEnd: time.UnixMilli(1700000060000).UTC(),
		Commits: 2, Positions: 2, LaunchHeight: 3, BlockTime: time.UnixMilli(1700000001000).UTC()}
	if !reflect.DeepEqual(*o, want) {
		t.Fatalf("RMO =\n%+v\nwant\n%+v", *o, want)
	}
	os, err := f.c.RMOs(ctx)
	if err != nil || len(os) != 1 || !reflect.DeepEqual(os[0], want) {
		t.Fatalf("RMOs = %+v, %v", os, err)
	}
	_, err = f.c.RMO(ctx, "x")
	apiError(t, err, http.StatusNotFound, "model x has no offering")
	p, err := f.c.Pool(ctx, "flock")
	wantPool := api.Pool{ID: "flock", DenomA: "flock", DenomB: "usd", ReserveABase: 1_000_000_000, ReserveBBase: 100_000_000, FeeBps: 30,
		Price: "0.100000000000000000"}
	if err != nil || *p != wantPool {
		t.Fatalf("Pool = %+v, %v", p, err)
	}
	ps, err := f.c.Pools(ctx)
	if err != nil || len(ps) != 1 || ps[0] != wantPool {
		t.Fatalf("Pools = %+v, %v", ps, err)
	}
	_, err = f.c.Pool(ctx, "mt:x")
	apiError(t, err, http.StatusNotFound, "no pool mt:x")
	sup, err := f.c.Supply(ctx)
	wantSup := []api.DenomSupply{{Denom: "flock", MintedBase: 9_000_000, BurnedBase: 2_000_000, CirculatingBase: 7_000_000},
		{Denom: "usd", MintedBase: 30_000_000, WithdrawnBase: 1_000_000, CirculatingBase: 29_000_000}}
	if err != nil || !reflect.DeepEqual(sup, wantSup) {
		t.Fatalf("Supply = %+v, %v", sup, err)
	}
	tr, err := f.c.Treasury(ctx)
	if err != nil || !reflect.DeepEqual(*tr, api.Treasury{Account: "treasury", Balances: []api.Balance{{Denom: "flock", AmountBase: 32_768_000_000}, {Denom: "usd", AmountBase: 5}}}) {
		t.Fatalf("Treasury = %+v, %v", tr, err)
	}
	r, err := f.c.Reserves(ctx)
	if err != nil || !reflect.DeepEqual(*r, api.Reserves{FlockBuybackUSDBase: 7, Models: []api.ModelReserve{{Model: "m", MTBuybackUSDBase: 3}}}) {
		t.Fatalf("Reserves = %+v, %v", r, err)
	}
}

func TestStakeEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	want := api.Stakes{Account: "alice", Positions: []api.StakePosition{{Model: "m", MTDenom: "mt:m", Epoch: 3,
		StakedBase: 100_000_000, CountingBase: 60_000_000, UnbondingBase: 30_000_000, ClaimableBase: 10_000_000,
		Unbonding: []api.StakeUnbonding{{AmountBase: 10_000_000, ReleaseEpoch: 3, Claimable: true}, {AmountBase: 20_000_000, ReleaseEpoch: 26}}}}}
	s, err := f.c.Stakes(ctx, "alice")
	if err != nil || !reflect.DeepEqual(*s, want) {
		t.Fatalf("Stakes =\n%+v, %v\nwant\n%+v", s, err, want)
	}
	// A session key reads its account's stakes, named by the chain.
	if s, err := f.c.Stakes(ctx, "alice-session"); err != nil || s.Account != "alice" {
		t.Fatalf("Stakes of a session key = %+v, %v", s, err)
	}
	var raw map[string]any
	if err := f.c.Do(ctx, http.MethodGet, "/api/v1/stakes/alice", "", nil, &raw); err != nil {
		t.Fatal(err)
	}
	p := raw["positions"].([]any)[0].(map[string]any)
	for _, k := range []string{"model", "mt_denom", "epoch", "staked_base", "counting_base", "unbonding_base", "claimable_base", "unbonding"} {
		if _, ok := p[k]; !ok {
			t.Errorf("a position has no %q: %v", k, p)
		}
	}
	u := p["unbonding"].([]any)[1].(map[string]any)
	if u["amount_base"] != 2e7 || u["release_epoch"] != 26.0 || u["claimable"] != false {
		t.Errorf("unbonding entry = %v", u)
	}
	_, err = f.c.Stakes(ctx, "bob")
	apiError(t, err, http.StatusNotFound, "stakes bob not found")
	_, err = f.c.Stakes(ctx, "bad/id")
	apiError(t, err, http.StatusBadRequest, `bad account "bad/id"`)
}

func signedTx(t *testing.T) []byte {
	t.Helper()
	sk, _ := testkeys.New(t)
	b, err := tx.Sign(tx.Tx{Nonce: 1, Body: ledger.Withdraw{Denom: ledger.DenomUSD, Amount: 1}}, sk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSubmitTx(t *testing.T) {
	ctx := t.Context()
	res, err := newFixture(t, nil).c.SubmitTx(ctx, signedTx(t))
	if err != nil || res.Hash != "AA" || res.Height != 8 {
		t.Fatalf("SubmitTx = %+v, %v", res, err)
	}
	_, err = newFixture(t, nil).c.SubmitTx(ctx, []byte("junk"))
	apiError(t, err, http.StatusBadRequest, "invalid tx")
	for _, tc := range []struct {
		refuse error
		status int
		want   string
	}{
		{&api.TxError{Reason: api.TxInvalid, Log: "bad_nonce: nonce 7, want 1", Err: errors.New("invalid")}, http.StatusBadRequest, "the chain refused the tx: bad_nonce: nonce 7, want 1"},
		{&api.TxError{Reason: api.TxKnown, Err: errors.New("tx already exists in cache")}, http.StatusConflict, "the tx was already submitted: tx already exists in cache"},
		{&api.TxError{Reason: api.TxTooLarge, Err: errors.New("tx too large")}, http.StatusRequestEntityTooLarge, "tx too large"},
		{errors.New("consensus stopped"), http.StatusServiceUnavailable, "consensus stopped"},
	} {
		_, err := newFixture(t, tc.refuse).c.SubmitTx(ctx, signedTx(t))
		e := apiError(t, err, tc.status, tc.want)
		if tc.status == http.StatusBadRequest && e.Code != "bad_nonce" {
			t.Fatalf("code %q, want bad_nonce", e.Code)
		}
	}
}

func TestChatStream(t *testing.T) {
	f := newFixture(t, nil,
		`{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"lo"}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	var text strings.Builder
	var usage *client.Usage
	err := f.c.ChatStream(t.Context(), client.ChatRequest{Body: []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)},
		func(ch client.ChatChunk) error {
			for _, c := range ch.Choices {
				text.WriteString(c.Delta.Content)
			}
			if ch.Usage != nil {
				usage = ch.Usage
			}
			return nil
		})
	if err != nil || text.String() != "Hello" || usage == nil || usage.CompletionTokens != 2 {
		t.Fatalf("ChatStream: %q, usage %+v, %v", text.String(), usage, err)
	}
	err = f.c.ChatStream(t.Context(), client.ChatRequest{Body: []byte(`{"model":"nope","stream":true,"messages":[{"role":"user","content":"hi"}]}`)},
		func(client.ChatChunk) error { return nil })
	if e := apiError(t, err, http.StatusNotFound, `no model "nope"`); e.Code != "model_not_found" {
		t.Fatalf("error object %+v", e)
	}

	f = newFixture(t, nil, `{"choices":[{"index":0,"delta":{"content":"a"}}]}`, `{"error":{"message":"upstream closed","type":"api_error"}}`)
	err = f.c.ChatStream(t.Context(), client.ChatRequest{Body: []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)},
		func(client.ChatChunk) error { return nil })
	if e, ok := errors.AsType[*client.Error](err); !ok || e.StatusCode != 0 || e.Error() != "the stream failed: upstream closed" {
		t.Fatalf("stream error %v (%T)", err, err)
	}
}

func TestUnreachableNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	if _, ok := errors.AsType[*client.UnreachableError](err); !ok {
		t.Fatalf("error %v (%T), want an *UnreachableError", err, err)
	}
	if want := "cannot reach the node at http://" + addr + ": is it running? ("; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	if want := "; set the node's address with --api URL or FOMO_API"; !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("error %q, want it to end with %q", err, want)
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, base := range []string{"", "ftp://host", "http://"} {
		if _, err := client.New(base); err == nil {
			t.Errorf("New(%q) accepted", base)
		}
	}
	c, err := client.New("127.0.0.1:8080/")
	if err != nil || c.Base() != "http://127.0.0.1:8080" {
		t.Fatalf("New without a scheme: %v, %v", c, err)
	}
}

func TestNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream proxy broke", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	if e := apiError(t, err, http.StatusBadGateway, "upstream proxy broke"); e.Error() != "502 Bad Gateway: upstream proxy broke" {
		t.Fatalf("Error() = %q", e.Error())
	}
}
