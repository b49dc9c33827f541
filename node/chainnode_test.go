package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The chain test network's model and prices (usd base units per 1M tokens).
const (
	chainModel             = "m"
	chainIn, chainOut      = 3_000_000, 6_000_000
	chainEpoch             = 2 * time.Second
	chainUserCredit        = 1_000_000_000
	chainSessionSpendLimit = 2_000 // 0.002 usd
)

// shortSession is a session key of the test user that the chain network's
// genesis lets expire a second after genesis.
var shortSession, shortSessionID = testkeys.MustNew()

// chainNet is a one-validator network run in-process: the node is its
// validator and serves chainModel from a stand-in upstream; the test user
// (testUserKey) is funded and testSessionKey is its session key with a
// spend limit of chainSessionSpendLimit.
type chainNet struct {
	home string
	key  crypto.PrivKey
	cfg  configs.Config
	up   *runtimetest.Upstream
}

// newChainNet builds the network; edits change its genesis before it is
// written.
func newChainNet(t *testing.T, edits ...func(g *networks.Genesis, self string)) *chainNet {
	t.Helper()
	home := t.TempDir()
	key, id := testkeys.New(t)
	if err := identity.Save(filepath.Join(home, "keys", "node.key"), key); err != nil {
		t.Fatal(err)
	}
	self := id.String()
	g := networks.Devnet()
	g.GenesisTime = time.Now().UTC().Truncate(time.Second)
	g.EpochLength = networks.Duration(chainEpoch)
	g.Chain.EpochGrace = networks.Duration(200 * time.Millisecond)
	g.Tiers = []networks.Tier{{Name: "small", CostPerMtok: 1_000_000, MinInputPrice: 2_000_000, MinOutputPrice: 2_000_000,
		RaiseMin: 1, RaiseMax: 2}}
	g.Balances = []networks.Balance{{Account: testUser.String(), USD: chainUserCredit}}
	g.Validators = []networks.Validator{{PeerID: self, Power: 10}}
	g.SessionKeys = []networks.SessionKey{{Account: testUser.String(), Key: testSession.String(),
		SpendLimit: chainSessionSpendLimit, ExpiresAt: g.GenesisTime.AddDate(1, 0, 0)},
		{Account: testUser.String(), Key: shortSessionID.String(),
			SpendLimit: chainSessionSpendLimit, ExpiresAt: g.GenesisTime.Add(time.Second)}}
	sum := sha256.Sum256([]byte("manifest"))
	g.Models = []networks.Model{{Name: chainModel, Issuer: self, ManifestSHA256: hex.EncodeToString(sum[:]), Tier: "small",
		InputPrice: chainIn, OutputPrice: chainOut, Nodes: []string{self}}}
	for _, edit := range edits {
		edit(g, self)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "genesis.toml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.NewUpstream(runtimetest.WithModels(chainModel), runtimetest.WithTokens(16))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Auth.Accounts, cfg.Auth.OpenAccessKey = "", ""
	cfg.P2P.Network = "genesis.toml"
	cfg.Chain.Enabled = true
	cfg.Chain.Listen = "tcp://127.0.0.1:0"
	cfg.Chain.BlockInterval = configs.Duration(200 * time.Millisecond)
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	return &chainNet{home: home, key: key, cfg: cfg, up: up}
}

// start starts the validator over the network's home; stop stops it.
func (c *chainNet) start(t *testing.T) (n *Node, stop func()) {
	t.Helper()
	n, err := New(c.cfg, c.home)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := n.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

// userAuthorization is an authorization of the test user for body, naming
// node as payee, issued at issued.
func userAuthorization(t *testing.T, netID string, node peer.ID, body []byte, issued time.Time) []byte {
	t.Helper()
	a := receipt.NewAuthorization(netID, "", chainModel, issued, receipt.MaxTTL)
	a.Node = node
	a.MaxOutputTokens = 16
	a.InputPrice, a.OutputPrice = chainIn, chainOut
	var err error
	if a.MaxCharge, err = receipt.Charge(uint64(len(body)), 16, chainIn, chainOut); err != nil {
		t.Fatal(err)
	}
	a.RequestSHA256 = sha256.Sum256(body)
	env, err := receipt.SignAuthorization(a, testUserKey)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// waitIncluded waits until the chain has included every receipt of ids.
func waitIncluded(t *testing.T, n *Node, ids ...[32]byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for !n.chain.app.ReceiptIncluded(context.Background(), id) {
			if time.Now().After(deadline) {
				t.Fatalf("receipt %x not included by height %d", id[:8], n.chain.app.Height())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestLateAuthorizationIsCharged: an authorization issued epochs ago but
// not expired is served, and its receipt is charged (in the oldest open
// epoch) instead of being dropped because its own epoch closed.
func TestLateAuthorizationIsCharged(t *testing.T) {
	c := newChainNet(t)
	n, _ := c.start(t)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"late"}],"max_tokens":16}`)
	issued := time.Now()
	// Wait until the epoch the authorization was issued in has closed.
	epoch := uint64((issued.UnixMilli() - n.chain.gen.GenesisTimeMs) / n.chain.gen.EpochMs)
	for n.chain.app.NextEpoch() <= epoch {
		time.Sleep(100 * time.Millisecond)
	}
	env := userAuthorization(t, n.genesis.ID(), n.ID(), body, issued)
	resp, b := post(t, n.APIAddr(), body, map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)})
	var out struct{ Fomo *api.Fomo }
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil || out.Fomo.Charge == 0 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	waitIncluded(t, n, receipt.ID(env))
	st, ok, err := n.chain.app.Receipt(context.Background(), receipt.ID(env))
	if err != nil || !ok || st.IssuedEpoch == nil || st.Epoch <= *st.IssuedEpoch {
		t.Fatalf("receipt state %+v (ok %v, err %v): want it charged in a later epoch than issued", st, ok, err)
	}
}

// TestUnsettledReceiptsSubmittedAfterRestart: receipts a node holds in its
// pool unsettled when it stops — as after a crash right after answering —
// are submitted when it starts again.
func TestUnsettledReceiptsSubmittedAfterRestart(t *testing.T) {
	c := newChainNet(t)
	n, stop := c.start(t)
	netID, self := n.genesis.ID(), n.ID()
	stop()
	// What the node had answered and persisted, but not submitted.
	db, err := store.OpenPebble(filepath.Join(c.home, c.cfg.Store.Path))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pool.New(pool.Config{Datastore: db, Verify: pool.ReceiptVerifier(receipt.Checker{NetworkID: netID})})
	if err != nil {
		t.Fatal(err)
	}
	var ids [][32]byte
	for i := range 5 {
		body := []byte(`{"model":"m","messages":[{"role":"user","content":"crash ` + string(rune('a'+i)) + `"}],"max_tokens":16}`)
		auth := userAuthorization(t, netID, self, body, time.Now())
		now := uint64(time.Now().UnixMilli())
		charge, _ := receipt.Charge(10, 5, chainIn, chainOut)
		env, err := receipt.SignReceipt(receipt.Receipt{Authorization: auth, InputTokens: 10, OutputTokens: 5,
			Finish: receipt.FinishStop, StartedAtMs: now, CompletedAtMs: now, Charge: charge}, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Add(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, receipt.ID(auth))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	n, _ = c.start(t)
	waitIncluded(t, n, ids...)
	// An operator sees it in the metrics.
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body := testhttp.Get(t, "http://"+n.APIAddr()+"/metrics")
			if cond(body) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics never showed %s:\n%s", what, grep(body, "fomo_"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the receipts taken up at start", func(b string) bool {
		return strings.Contains(b, `fomo_submitter_receipts_total{kind="resubmitted"} 5`) &&
			strings.Contains(b, "fomo_chain_receipts_included_total 5") && strings.Contains(b, "fomo_chain_height ")
	})
	// Settled in the pool: they no longer count as pending spend.
	deadline := time.Now().Add(10 * time.Second)
	for n.net.pool.Pending(testUser) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pending spend %d after inclusion", n.net.pool.Pending(testUser))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSessionKeySpendLimitBeforeWork: parallel requests signed with a
// session key never together exceed its spend limit: the node reserves
// each request's maximum charge against what the key may still spend,
// and the chain charges every receipt it was given.
func TestSessionKeySpendLimitBeforeWork(t *testing.T) {
	c := newChainNet(t)
	n, _ := c.start(t)
	key, _ := receipt.EncodeSessionKey(testSessionKey)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"spend"}],"max_tokens":16}`)
	var mu sync.Mutex
	var served [][32]byte
	var wg sync.WaitGroup
	var refused int
	for range 30 {
		wg.Go(func() {
			resp, b := post(t, n.APIAddr(), body, map[string]string{"Authorization": "Bearer " + key})
			mu.Lock()
			defer mu.Unlock()
			var out struct{ Fomo *api.Fomo }
			switch {
			case resp.StatusCode == 200 && json.Unmarshal(b, &out) == nil && out.Fomo != nil:
				id, _ := pool.ParseID(out.Fomo.ReceiptID)
				served = append(served, id)
			case resp.StatusCode == http.StatusPaymentRequired:
				refused++
			default:
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	if len(served) == 0 || refused == 0 {
		t.Fatalf("%d served, %d refused: want some of each under a limit of %d", len(served), refused, chainSessionSpendLimit)
	}
	waitIncluded(t, n, served...)
	var total uint64
	for _, id := range served {
		st, ok, err := n.chain.app.Receipt(context.Background(), id)
		if err != nil || !ok || !st.Paid {
			t.Fatalf("receipt %x: %+v ok %v err %v", id[:8], st, ok, err)
		}
		total += st.Charge
	}
	if total > chainSessionSpendLimit {
		t.Fatalf("charged %d to the session key, past its limit %d", total, chainSessionSpendLimit)
	}
}

// TestExpiredSessionKeyRefusedBeforeWork: a node serving a request itself
// with a session key the chain holds expired refuses it before the runtime
// runs: the chain would refuse its receipt, so the answer would be free.
func TestExpiredSessionKeyRefusedBeforeWork(t *testing.T) {
	c := newChainNet(t)
	n, _ := c.start(t)
	key, _ := receipt.EncodeSessionKey(shortSession)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"late key"}],"max_tokens":16}`)
	expires := n.chain.gen.GenesisTimeMs + 1000
	for time.Now().UnixMilli() <= expires {
		time.Sleep(50 * time.Millisecond)
	}
	resp, b := post(t, n.APIAddr(), body, map[string]string{"Authorization": "Bearer " + key})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "expired") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got := len(receiptsOf(t, n, testUser)); got != 0 {
		t.Fatalf("%d receipts for a refused request", got)
	}
}
