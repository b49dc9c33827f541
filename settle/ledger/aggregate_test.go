package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/store"
)

// aggGenesis is propGenesis with four models whose names order differently
// with and without a following "/" (m, m-1, m1) over both tiers, served by
// genesis nodes, a session key of alice, a late window of half an epoch
// and the shortest retention that window allows (2 epochs), so that
// histories prune.
func aggGenesis(emissions bool) Genesis {
	g := propGenesis()
	if emissions {
		g = withEmissions(g)
	}
	g.LateReceiptMs = epochMs / 2
	g.ReceiptRetentionEpochs = g.MinRetentionEpochs()
	g.Accounts = append(g.Accounts,
		GenesisAccount{ID: "e2", Balances: map[string]uint64{DenomFlock: 100 * econ.Unit}},
		GenesisAccount{ID: "dave", Balances: map[string]uint64{DenomUSD: 3_000}})
	g.Models = []GenesisModel{
		{Name: "m", Issuer: "issuer", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000},
		{Name: "m-1", Issuer: "issuer", ManifestSHA256: manifest, Tier: "small", InputPrice: 300_000, OutputPrice: 700_000},
		{Name: "m1", Issuer: "bob", ManifestSHA256: manifest, Tier: "small", InputPrice: 150_000, OutputPrice: 300_000},
		{Name: "big", Issuer: "issuer", ManifestSHA256: manifest, Tier: "large", InputPrice: 2_000_000, OutputPrice: 4_000_000},
	}
	g.Nodes = []GenesisNode{
		{ID: "n1", Bond: econ.Unit, Serves: []string{"m", "m-1", "m1", "big"}},
		{ID: "n2", Bond: econ.Unit, Serves: []string{"m", "m1", "big"}},
		{ID: "n3", Bond: econ.Unit, Serves: []string{"m-1"}},
		{ID: "e1", Bond: econ.Unit},
	}
	g.SessionKeys = []GenesisSessionKey{{Account: "alice", Key: "ak", SpendLimit: 40_000, ExpiresAtMs: t0 + 4*epochMs}}
	return g
}

// refReceipt is an included receipt as the reference computation sees it.
type refReceipt struct {
	r        Receipt
	epoch    uint64
	paid     bool
	discount uint64
}

// refClose is the per-receipt epoch close as the ledger computed it before
// receipts were aggregated at inclusion: every included receipt of the
// epoch in the order of its old /erc/<epoch>/<model>/<id> key, the routing
// rules applied per receipt against the node registry at the close, and
// econ.SplitModel per model. It returns the settlement's models and
// receipts root and the paid charges per model and account.
func refClose(t *testing.T, g Genesis, e uint64, rs []refReceipt, registered map[string]bool) ([]ModelSettlement, string, map[string]map[string]uint64) {
	t.Helper()
	ek := epochKey(e)
	key := func(r *refReceipt) string { return "/erc/" + ek + "/" + r.r.Model + "/" + r.r.IDHex() }
	sort.Slice(rs, func(i, j int) bool { return key(&rs[i]) < key(&rs[j]) })
	var models []ModelSettlement
	usage := map[string]map[string]uint64{}
	var ids [][32]byte
	for i := 0; i < len(rs); {
		name := rs[i].r.Model
		ms := ModelSettlement{Model: name}
		var paid []econ.Usage
		j := i
		for ; j < len(rs) && rs[j].r.Model == name; j++ {
			x := &rs[j]
			ids = append(ids, x.r.ID)
			if !x.paid {
				ms.Unpaid++
				ms.UnpaidUSD += x.r.Charge
				ms.UnpaidIDs = append(ms.UnpaidIDs, x.r.IDHex())
				continue
			}
			if usage[name] == nil {
				usage[name] = map[string]uint64{}
			}
			usage[name][x.r.Account] += x.r.Charge
			ms.Discounts += x.discount
			entry := x.r.EntryNode
			if entry == x.r.Node {
				entry = ""
			}
			if entry != "" && (!registered[entry] || entry == x.r.Account) {
				entry = ""
				ms.RoutingDenied++
			}
			paid = append(paid, econ.Usage{ID: x.r.ID, InputTokens: x.r.InputTokens, OutputTokens: x.r.OutputTokens,
				Charge: x.r.Charge, Node: x.r.Node, EntryNode: entry})
		}
		i = j
		var gm GenesisModel
		for _, m := range g.Models {
			if m.Name == name {
				gm = m
			}
		}
		var tier Tier
		for _, tr := range g.Tiers {
			if tr.Name == gm.Tier {
				tier = tr
			}
		}
		ms.Issuer, ms.Tier, ms.CostPerMTok = gm.Issuer, gm.Tier, tier.CostPerMTok
		split, err := econ.SplitModel(paid, tier.CostPerMTok, g.Params)
		if err != nil {
			t.Fatal(err)
		}
		ms.Split = split
		models = append(models, ms)
	}
	if models == nil {
		models = []ModelSettlement{}
	}
	root := MerkleRoot(ids)
	return models, hex.EncodeToString(root[:]), usage
}

// aggHistory drives random blocks of receipts against a ledger on aggGenesis
// and checks every close against refClose.
type aggHistory struct {
	t     *testing.T
	r     *rand.Rand
	g     Genesis
	l     *Ledger
	h     int64
	now   int64
	seen  []Receipt                // every receipt submitted, for resubmissions
	incl  map[[32]byte]*refReceipt // every receipt included
	open  map[uint64][]refReceipt  // included receipts by epoch, until its close
	byEp  map[uint64][][32]byte    // included ids by closed epoch
	stats map[string]int           // what the histories exercised
}

var aggAccounts = []string{"alice", "bob", "carol", "dave", "e1", "n1"}

func (a *aggHistory) block() {
	t, r, ctx := a.t, a.r, context.Background()
	a.h++
	a.now += int64(r.IntN(epochMs / 4))
	nonces := map[string]uint64{}
	tx := func(acct string, body Body) Tx {
		if _, ok := nonces[acct]; !ok {
			ac, err := a.l.Account(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			nonces[acct] = ac.Nonce
		}
		nonces[acct]++
		return Tx{Account: acct, Nonce: nonces[acct], Body: body}
	}
	var txs []Tx
	switch r.IntN(12) {
	case 0:
		txs = append(txs, tx("e2", RegisterNode{Bond: econ.Unit}))
	case 1:
		txs = append(txs, tx([]string{"e1", "e2", "n3"}[r.IntN(3)], UnbondNode{}))
	case 2:
		txs = append(txs, tx("e1", RegisterNode{Bond: econ.Unit}))
	case 3:
		txs = append(txs, tx(protocol, Deposit{To: aggAccounts[r.IntN(len(aggAccounts))], Denom: DenomUSD, Amount: r.Uint64N(30_000)}))
	}
	models := []string{"m", "m-1", "m1", "big"}
	for range 1 + r.IntN(3) {
		var rs []Receipt
		for range 1 + r.IntN(12) {
			if len(a.seen) > 0 && r.IntN(10) == 0 {
				rs = append(rs, a.seen[r.IntN(len(a.seen))])
				continue
			}
			var seed [16]byte
			binary.BigEndian.PutUint64(seed[:], r.Uint64())
			binary.BigEndian.PutUint64(seed[8:], uint64(a.h))
			model := models[r.IntN(len(models))]
			var gm GenesisModel
			for _, m := range a.g.Models {
				if m.Name == model {
					gm = m
				}
			}
			acct := aggAccounts[r.IntN(len(aggAccounts))]
			signer := acct
			if acct == "alice" && r.IntN(2) == 0 {
				signer = "ak"
			}
			node := []string{"n1", "n2", "n3"}[r.IntN(3)]
			rc := Receipt{
				ID: sha256.Sum256(seed[:]), Account: acct, Signer: signer, Model: model, Node: node,
				EntryNode:  []string{"", "", node, "e1", "e2", "n1", "n2", "ghost", acct}[r.IntN(9)],
				IssuedAtMs: a.now - int64(r.IntN(epochMs/2+2_000)), InputTokens: r.Uint64N(40_000), OutputTokens: r.Uint64N(20_000),
				InputPrice: gm.InputPrice, OutputPrice: gm.OutputPrice,
			}
			if r.IntN(40) == 0 {
				rc.InputTokens, rc.OutputTokens = 0, 0 // a free receipt: zero cost, fee and charge
			}
			rc.Charge, _ = econ.Charge(rc.InputTokens, rc.OutputTokens, rc.InputPrice, rc.OutputPrice)
			rs = append(rs, rc)
			a.seen = append(a.seen, rc)
		}
		txs = append(txs, tx("n2", SubmitReceipts{Receipts: rs}))
	}
	// The node registry at the close is the one after the previous block:
	// closes run before the block's txs.
	registered := map[string]bool{}
	for _, n := range []string{"n1", "n2", "n3", "e1", "e2", "ghost", "alice", "bob", "carol", "dave"} {
		_, ok, err := a.l.Node(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		registered[n] = ok
	}
	// The emission usage the close will read: checked against the
	// reference before the block.
	closing := a.l.NextEpoch()
	var wantUsage []map[string]map[string]uint64
	var wantModels [][]ModelSettlement
	var wantRoots []string
	for e := closing; a.now >= a.g.EpochEnd(e)+a.g.GraceMs; e++ {
		ms, root, u := refClose(t, a.g, e, a.open[e], registered)
		wantModels, wantRoots, wantUsage = append(wantModels, ms), append(wantRoots, root), append(wantUsage, u)
		got := map[string]map[string]uint64{}
		ents, err := a.l.reader(ctx).scan(pAggAcct + epochKey(e) + "/")
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range ents {
			m, acct, _ := strings.Cut(strings.TrimPrefix(en.key, pAggAcct+epochKey(e)+"/"), "/")
			if got[m] == nil {
				got[m] = map[string]uint64{}
			}
			got[m][acct] = binary.BigEndian.Uint64(en.val)
		}
		if !a.g.emissionsOn() {
			u = map[string]map[string]uint64{}
		}
		if !reflect.DeepEqual(got, u) {
			t.Fatalf("epoch %d: usage aggregates %v, want %v", e, got, u)
		}
	}
	res, err := a.l.ApplyBlock(ctx, Block{Height: a.h, TimeMs: a.now, Txs: txs})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ClosedEpochs) != len(wantModels) {
		t.Fatalf("height %d: closed %v, want %d epochs", a.h, res.ClosedEpochs, len(wantModels))
	}
	for i, e := range res.ClosedEpochs {
		st, ok, err := a.l.Epoch(ctx, e)
		if err != nil || !ok {
			t.Fatalf("epoch %d: %v %v", e, ok, err)
		}
		a.checkClose(st, wantModels[i], wantRoots[i])
		for _, x := range a.open[e] {
			a.byEp[e] = append(a.byEp[e], x.r.ID)
		}
		delete(a.open, e)
		a.stats["epochs"]++
	}
	for i, tr := range res.Txs {
		sub, ok := txs[i].Body.(SubmitReceipts)
		if !ok {
			continue
		}
		if tr.Code != OK {
			t.Fatalf("height %d: submit: %s %s", a.h, tr.Code, tr.Log)
		}
		raw := map[string]Receipt{}
		for _, rc := range sub.Receipts {
			raw[rc.IDHex()] = rc
		}
		for _, rr := range tr.Receipts {
			a.stats["receipt:"+string(rr.Code)]++
			rc := raw[rr.ID]
			if rr.Code != OK && rr.Code != CodeUnpaid {
				continue
			}
			if prev := a.incl[rc.ID]; prev != nil {
				t.Fatalf("height %d: receipt %s included twice (first in epoch %d)", a.h, rr.ID, prev.epoch)
			}
			st, ok, err := a.l.Receipt(ctx, rr.ID)
			if err != nil || !ok || st.Charge != rc.Charge || st.Paid != (rr.Code == OK) || st.Model != rc.Model || st.Account != rc.Account {
				t.Fatalf("receipt %s: %+v %v %v", rr.ID, st, ok, err)
			}
			x := refReceipt{r: rc, epoch: st.Epoch, paid: st.Paid, discount: st.Discount}
			if iss, _ := a.l.EpochOf(rc.IssuedAtMs); iss != st.Epoch {
				a.stats["charged_later"]++
			}
			a.incl[rc.ID] = &x
			a.open[st.Epoch] = append(a.open[st.Epoch], x)
		}
	}
	a.checkProofs()
}

func (a *aggHistory) checkClose(st EpochSettlement, want []ModelSettlement, root string) {
	t := a.t
	if st.ReceiptsRoot != root {
		t.Fatalf("epoch %d: receipts root %s, want %s", st.Epoch, st.ReceiptsRoot, root)
	}
	if !reflect.DeepEqual(st.Models, want) {
		t.Fatalf("epoch %d: models\n%+v\nwant\n%+v", st.Epoch, st.Models, want)
	}
	var tot EpochSettlement
	for _, ms := range want {
		s := ms.Split
		tot.Receipts += s.Receipts + ms.Unpaid
		tot.Paid += s.Receipts
		tot.Unpaid += ms.Unpaid
		tot.Gross += s.Gross
		tot.Cost += s.Cost
		tot.RoutingFee += s.RoutingFee
		tot.Net += s.Net
		tot.MTBuyback += s.MTBuyback
		tot.FlockBuyback += s.FlockBuyback
		tot.Treasury += s.Treasury
		tot.Issuer += s.Issuer
		tot.Discounts += ms.Discounts
		a.stats["routing_denied"] += int(ms.RoutingDenied)
		a.stats["routing_paid"] += len(s.RoutingFees)
		a.stats["unpaid"] += int(ms.Unpaid)
	}
	got := EpochSettlement{Receipts: st.Receipts, Paid: st.Paid, Unpaid: st.Unpaid, Gross: st.Gross, Cost: st.Cost,
		RoutingFee: st.RoutingFee, Net: st.Net, MTBuyback: st.MTBuyback, FlockBuyback: st.FlockBuyback, Treasury: st.Treasury,
		Issuer: st.Issuer, Discounts: st.Discounts}
	if !reflect.DeepEqual(got, tot) {
		t.Fatalf("epoch %d: totals %+v, want %+v", st.Epoch, got, tot)
	}
}

// checkProofs proves a few receipts of every closed epoch against its
// settlement's root, or expects ErrReceiptUnknown once the epoch is
// pruned, and ErrEpochOpen for receipts of open epochs.
func (a *aggHistory) checkProofs() {
	t, ctx := a.t, context.Background()
	next := a.l.NextEpoch()
	ret := a.g.RetentionEpochs()
	for e, ids := range a.byEp {
		st, _, err := a.l.Epoch(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		root, err := merkle.ParseHash(st.ReceiptsRoot)
		if err != nil {
			t.Fatal(err)
		}
		pruned := e+ret < next
		for range min(3, len(ids)) {
			id := ids[a.r.IntN(len(ids))]
			p, err := a.l.ReceiptProof(ctx, id)
			if pruned {
				if !errors.Is(err, ErrReceiptUnknown) {
					t.Fatalf("epoch %d (pruned, next %d): proof %v, %v", e, next, p, err)
				}
				// Pruning runs a bounded amount per block: an epoch later
				// (several blocks), every record of these small epochs is
				// gone.
				if _, ok, _ := a.l.Receipt(ctx, hex.EncodeToString(id[:])); ok && e+ret+1 < next {
					t.Fatalf("epoch %d: receipt state kept after pruning (next epoch %d)", e, next)
				}
				a.stats["pruned_checked"]++
				continue
			}
			if err != nil {
				t.Fatalf("epoch %d: proof: %v", e, err)
			}
			if p.Epoch != e || p.ReceiptsRoot != st.ReceiptsRoot || p.ID != hex.EncodeToString(id[:]) {
				t.Fatalf("epoch %d: proof %+v", e, p)
			}
			if err := p.Proof.Verify(root, id); err != nil {
				t.Fatalf("epoch %d: proof does not verify: %v", e, err)
			}
			a.stats["proved"]++
		}
	}
	for e, xs := range a.open {
		if len(xs) == 0 {
			continue
		}
		if _, err := a.l.ReceiptProof(ctx, xs[0].r.ID); !errors.Is(err, ErrEpochOpen) {
			t.Fatalf("open epoch %d: proof error %v", e, err)
		}
		a.stats["open_checked"]++
	}
}

// TestAggregateCloseMatchesPerReceipt runs random histories (four models
// over two tiers, serving and entry nodes that register and unbond, entry
// nodes never registered or equal to the paying account, accounts too poor
// to pay, a session key with a spend limit, free receipts, receipts issued
// in one epoch and charged in a later one, resubmissions, several epochs
// and pruning) and checks that every settlement built from the inclusion
// aggregates equals the per-receipt computation over the raw receipts
// (refClose), that every proof verifies, and that no id, pruned or not,
// is ever charged twice.
func TestAggregateCloseMatchesPerReceipt(t *testing.T) {
	stats := map[string]int{}
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := aggGenesis(seed%2 == 1)
			l, err := New(context.Background(), store.NewMemory(), g)
			if err != nil {
				t.Fatal(err)
			}
			a := &aggHistory{t: t, r: rand.New(rand.NewPCG(seed, 0xa99)), g: g, l: l, now: t0,
				incl: map[[32]byte]*refReceipt{}, open: map[uint64][]refReceipt{}, byEp: map[uint64][][32]byte{}, stats: stats}
			for range 80 {
				a.block()
			}
		})
	}
	for _, k := range []string{"epochs", "receipt:" + string(OK), "receipt:" + string(CodeUnpaid), "receipt:" + string(CodeDuplicate),
		"receipt:" + string(CodeTooLate), "receipt:" + string(CodeKeySpendLimit), "receipt:" + string(CodeNotServing),
		"charged_later", "routing_denied", "routing_paid", "unpaid", "proved", "pruned_checked", "open_checked"} {
		if stats[k] == 0 {
			t.Errorf("no history exercised %s: %v", k, stats)
		}
	}
	t.Logf("%v", stats)
}
