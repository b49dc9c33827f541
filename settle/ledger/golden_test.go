package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// scenario is the input of an epoch-close golden vector.
type scenario struct {
	Params   *econ.Params      `json:"params,omitempty"`
	Accounts map[string]uint64 `json:"accounts"` // usd at genesis
	// EntryNodes are registered as nodes (bond 1 flock) before the
	// receipts; an entry node not listed here or serving a model is
	// unregistered and earns no routing fee.
	EntryNodes []string `json:"entry_nodes"`
	Keys       []struct {
		Account     string `json:"account"`
		Key         string `json:"key"`
		SpendLimit  uint64 `json:"spend_limit"`
		ExpiresAtMs int64  `json:"expires_at_ms"`
	} `json:"keys"`
	Models []struct {
		Name        string   `json:"name"`
		Issuer      string   `json:"issuer"`
		Tier        string   `json:"tier"`
		InputPrice  uint64   `json:"input_price"`
		OutputPrice uint64   `json:"output_price"`
		Nodes       []string `json:"nodes"`
	} `json:"models"`
	Receipts []struct {
		Seed        string `json:"seed"`
		Account     string `json:"account"`
		Signer      string `json:"signer"`
		Model       string `json:"model"`
		Node        string `json:"node"`
		Entry       string `json:"entry"`
		IssuedMs    int64  `json:"issued_offset_ms"`
		In          uint64 `json:"in"`
		Out         uint64 `json:"out"`
		DiscountBps uint32 `json:"discount_bps"`
	} `json:"receipts"`
}

// outcome is the output of an epoch-close golden vector.
type outcome struct {
	Results      []ReceiptResult   `json:"results"`
	Settlement   EpochSettlement   `json:"settlement"`
	USD          map[string]uint64 `json:"usd_balances"`
	Overdrawn    []string          `json:"overdrawn"`
	Treasury     map[string]uint64 `json:"treasury"`
	FlockReserve uint64            `json:"flock_reserve"`
	MTReserves   map[string]uint64 `json:"mt_reserves"`
	AppHash      string            `json:"app_hash"`
}

func runScenario(t *testing.T, sc scenario) outcome {
	t.Helper()
	g := testGenesis()
	if sc.Params != nil {
		g.Params = *sc.Params
	}
	// A scenario account already in the test genesis keeps its other
	// denoms (an entry node keeps the flock it bonds) and gets its usd.
	inBase := map[string]bool{}
	for _, a := range g.Accounts {
		if v, ok := sc.Accounts[a.ID]; ok {
			a.Balances[DenomUSD] = v
		}
		inBase[a.ID] = true
	}
	for _, n := range sortedKeys(sc.Accounts) {
		if !inBase[n] {
			g.Accounts = append(g.Accounts, GenesisAccount{ID: n, Balances: map[string]uint64{DenomUSD: sc.Accounts[n]}})
		}
	}
	c := newChain(t, g)
	nodes := map[string]bool{}
	for _, m := range sc.Models {
		for _, n := range m.Nodes {
			nodes[n] = true
		}
	}
	for _, n := range sc.EntryNodes {
		nodes[n] = true
	}
	for _, n := range sortedKeys(nodes) {
		c.must(n, RegisterNode{Bond: econ.Unit})
	}
	for _, m := range sc.Models {
		c.must(m.Issuer, RegisterModel{Name: m.Name, ManifestSHA256: manifest, Tier: m.Tier, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice})
		for _, n := range m.Nodes {
			c.must(n, ServeModel{Model: m.Name})
		}
	}
	for _, k := range sc.Keys {
		c.must(k.Account, AuthorizeKey{Key: k.Key, SpendLimit: k.SpendLimit, ExpiresAtMs: k.ExpiresAtMs})
	}
	var rs []Receipt
	for _, x := range sc.Receipts {
		m, ok, _ := c.l.Model(context.Background(), x.Model)
		if !ok {
			t.Fatalf("scenario: unknown model %s", x.Model)
		}
		tier, _ := c.l.tier(m.Tier)
		r := Receipt{
			ID: sha256.Sum256([]byte(x.Seed)), Account: x.Account, Signer: x.Signer, Model: x.Model,
			Node: x.Node, EntryNode: x.Entry, IssuedAtMs: t0 + x.IssuedMs, InputTokens: x.In, OutputTokens: x.Out,
			InputPrice:  econ.EffectivePrice(m.InputPrice, tier.MinInputPrice, x.DiscountBps),
			OutputPrice: econ.EffectivePrice(m.OutputPrice, tier.MinOutputPrice, x.DiscountBps),
		}
		if r.Signer == "" {
			r.Signer = r.Account
		}
		r.Charge, _ = econ.Charge(r.InputTokens, r.OutputTokens, r.InputPrice, r.OutputPrice)
		rs = append(rs, r)
	}
	res := c.block(1, c.tx("submitter", SubmitReceipts{Receipts: rs}))
	if res.Txs[0].Code != OK {
		t.Fatalf("submit: %+v", res.Txs[0])
	}
	submitted := res.Txs[0].Receipts
	closeAt := int64(t0 + epochMs + graceMs)
	res = c.block(closeAt - c.now)
	if len(res.ClosedEpochs) == 0 || res.ClosedEpochs[0] != 0 {
		t.Fatalf("epoch 0 not closed: %+v", res.ClosedEpochs)
	}
	ctx := context.Background()
	out := outcome{Results: submitted, USD: map[string]uint64{}, Overdrawn: []string{}}
	st, ok, err := c.l.Epoch(ctx, 0)
	if err != nil || !ok {
		t.Fatalf("epoch 0: %v %v", ok, err)
	}
	out.Settlement = st
	accts := map[string]bool{"issuer": true}
	for n := range sc.Accounts {
		accts[n] = true
	}
	for n := range nodes {
		accts[n] = true
	}
	for _, x := range sc.Receipts {
		if x.Entry != "" {
			accts[x.Entry] = true
		}
	}
	for _, n := range sortedKeys(accts) {
		a, _ := c.l.Account(ctx, n)
		out.USD[n] = a.Balances[DenomUSD]
		if a.Overdrawn {
			out.Overdrawn = append(out.Overdrawn, n)
		}
	}
	out.Treasury, _ = c.l.Treasury(ctx)
	out.FlockReserve, out.MTReserves, _ = c.l.Reserves(ctx)
	h, _ := c.l.AppHash(ctx)
	out.AppHash = hex.EncodeToString(h[:])
	return out
}

func compareGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(want, b) {
		t.Fatalf("%s differs from the computed output:\n%s", path, b)
	}
}

// eachVector runs check on every vector matching glob (testdata/*.in.json,
// decoded strictly into S) with the path of its .out.json.
func eachVector[S any](t *testing.T, glob string, check func(t *testing.T, sc S, out string)) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc S
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sc); err != nil {
				t.Fatal(err)
			}
			check(t, sc, strings.Replace(f, ".in.json", ".out.json", 1))
		})
	}
}

func TestGoldenEpochClose(t *testing.T) {
	eachVector(t, "testdata/epoch_*.in.json", func(t *testing.T, sc scenario, out string) {
		got := runScenario(t, sc)
		// The split conserves: every usd charged reached a destination.
		st := got.Settlement
		var sum uint64
		for _, m := range st.Models {
			if m.Split.Total() != m.Split.Gross {
				t.Fatalf("model %s not conserved", m.Model)
			}
			sum += m.Split.Gross
		}
		if sum != st.Gross {
			t.Fatalf("gross %d != Σ models %d", st.Gross, sum)
		}
		compareGolden(t, out, got)
	})
}

// splitVector is the input of a split golden vector.
type splitVector struct {
	CostPerMTok uint64 `json:"cost_per_mtok"`
	GatewayBps  uint32 `json:"gateway_bps"`
	Receipts    []struct {
		Seed   string `json:"seed"`
		In     uint64 `json:"in"`
		Out    uint64 `json:"out"`
		Charge uint64 `json:"charge"`
		Node   string `json:"node"`
		Entry  string `json:"entry"`
	} `json:"receipts"`
}

func TestGoldenSplit(t *testing.T) {
	files, _ := filepath.Glob("testdata/split_*.in.json")
	if len(files) == 0 {
		t.Fatal("no vectors")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v splitVector
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			p := econ.DefaultParams()
			p.GatewayBps = v.GatewayBps
			var us []econ.Usage
			for _, r := range v.Receipts {
				us = append(us, econ.Usage{ID: sha256.Sum256([]byte(r.Seed)), InputTokens: r.In, OutputTokens: r.Out,
					Charge: r.Charge, Node: r.Node, EntryNode: r.Entry})
			}
			s, err := econ.SplitModel(us, v.CostPerMTok, p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Total() != s.Gross {
				t.Fatal("not conserved")
			}
			compareGolden(t, strings.Replace(f, ".in.json", ".out.json", 1), s)
		})
	}
}
