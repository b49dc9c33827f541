package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dsq "github.com/ipfs/go-datastore/query"
)

// stallLimit is how long the chain may stand still with three validators
// up: a few rounds of CometBFT's timeouts.
const stallLimit = 20 * time.Second

// invariant is one row of the verdict.
type invariant struct {
	name   string
	held   bool
	detail string
}

// nodeLedger is what one stopped node's ledger says.
type nodeLedger struct {
	err           error
	height        int64
	appHash       string
	nextEpoch     uint64
	conservation  error
	holdings      map[string]uint64
	supply        map[string]ledger.Supply
	receipts      map[string]ledger.ReceiptState // every receipt on chain, by id
	wrapped       []string                       // balances above the supply: a negative that wrapped
	overdrawn     int
	userBalance   uint64
	epochs        uint64 // closed epochs
	epochRcpts    uint64
	epochUnpaid   uint64
	epochGross    uint64
	genesisCredit uint64
}

// report gathers the campaign's evidence and its verdict.
type report struct {
	seed          uint64
	duration      time.Duration
	faultsEnd     time.Duration
	partition     *partitioner
	faults        []faultRow
	outcomes      []outcome
	settledEpochs bool
	user          string

	hashHeights int64  // heights compared on all four nodes
	hashDiff    string // the first disagreement
	hashMissing int    // heights a node could not answer

	pool       map[string]string // receipt id → authorization id, from every node's pool
	poolErrors []string

	ledgers []nodeLedger

	stall, stallAt time.Duration
	samples        int

	invariants []invariant
}

// checkAppHashes compares the app hash after every height on every node.
func (r *report) checkAppHashes(d *devnet) {
	top := int64(-1)
	for _, n := range d.nodes {
		h := fomotest.Height(n.API(), 5*time.Second)
		if top < 0 || h < top {
			top = h
		}
	}
	hashes := make([][]string, len(d.nodes))
	var wg sync.WaitGroup
	for i, n := range d.nodes {
		hashes[i] = make([]string, top+1)
		wg.Go(func() {
			for h := int64(1); h < top; h++ {
				hashes[i][h] = fomotest.AppHashAt(n.API(), h)
			}
		})
	}
	wg.Wait()
	for h := int64(1); h < top; h++ {
		r.hashHeights++
		for i := range d.nodes {
			switch {
			case hashes[i][h] == "" || hashes[0][h] == "":
				r.hashMissing++
			case hashes[i][h] != hashes[0][h] && r.hashDiff == "":
				r.hashDiff = fmt.Sprintf("height %d: node0 %.16s, node%d %.16s", h, hashes[0][h], i, hashes[i][h])
			}
		}
	}
}

// collectPools reads every receipt of the user that any node's pool holds,
// and the authorization each answers.
func (r *report) collectPools(t *testing.T, d *devnet, user string) {
	r.pool = map[string]string{}
	for _, n := range d.nodes {
		after := ""
		for {
			q := url.Values{"account": {user}, "limit": {"1000"}}
			if after != "" {
				q.Set("after", after)
			}
			var page struct {
				Receipts []api.ReceiptView `json:"receipts"`
				Next     string            `json:"next"`
			}
			if err := fomotest.GetJSON(t.Context(), n.API()+"/api/v1/receipts?"+q.Encode(), &page, 30*time.Second); err != nil {
				r.poolErrors = append(r.poolErrors, fmt.Sprintf("node%d: %v", n.i, err))
				break
			}
			for _, v := range page.Receipts {
				env, err := base64.StdEncoding.DecodeString(v.Envelope)
				if err != nil {
					continue
				}
				sr, err := receipt.OpenReceipt(env)
				if err != nil {
					continue
				}
				sum := sha256.Sum256(sr.Authorization.Envelope)
				r.pool[v.ID] = hex.EncodeToString(sum[:])
			}
			if page.Next == "" || len(page.Receipts) == 0 {
				break
			}
			after = page.Next
		}
	}
}

// checkLedgers opens each stopped node's datastore and reads its ledger.
func (r *report) checkLedgers(t *testing.T, d *devnet) {
	for _, n := range d.nodes {
		r.ledgers = append(r.ledgers, readLedger(filepath.Join(n.home, "datastore"), r.user))
	}
}

func readLedger(path, user string) (nl nodeLedger) {
	ctx := context.Background()
	db, err := store.OpenPebble(path)
	if err != nil {
		nl.err = err
		return nl
	}
	defer db.Close()
	cds := namespace.Wrap(db, ds.NewKey("/chain"))
	l, err := ledger.Open(ctx, cds)
	if err != nil {
		nl.err = err
		return nl
	}
	nl.height, nl.nextEpoch = l.Height(), l.NextEpoch()
	h, _ := l.AppHash(ctx)
	nl.appHash = hex.EncodeToString(h[:])
	nl.conservation = l.CheckConservation(ctx)
	if nl.holdings, err = l.Holdings(ctx); err != nil {
		nl.err = err
		return nl
	}
	if nl.supply, err = l.Supply(ctx); err != nil {
		nl.err = err
		return nl
	}
	for _, a := range l.Genesis().Accounts {
		if a.ID == user {
			nl.genesisCredit += a.Balances[ledger.DenomUSD]
		}
	}
	nl.receipts = map[string]ledger.ReceiptState{}
	if err := scan(ctx, cds, "/rcpt/", func(k string, v []byte) error {
		s, err := ledger.DecodeReceiptState(v)
		if err != nil {
			return err
		}
		nl.receipts[k] = s
		return nil
	}); err != nil {
		nl.err = err
		return nl
	}
	if err := scan(ctx, cds, "/acct/", func(k string, v []byte) error {
		var a ledger.Account
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if a.Overdrawn {
			nl.overdrawn++
		}
		for denom, bal := range a.Balances {
			if bal > nl.supply[denom].Minted {
				nl.wrapped = append(nl.wrapped, fmt.Sprintf("%s %s %d", k, denom, bal))
			}
		}
		if k == user {
			nl.userBalance = a.Balances[ledger.DenomUSD]
		}
		return nil
	}); err != nil {
		nl.err = err
		return nl
	}
	for e := uint64(0); e < nl.nextEpoch; e++ {
		s, ok, err := l.Epoch(ctx, e)
		if err != nil || !ok {
			continue
		}
		nl.epochs++
		nl.epochRcpts += s.Receipts
		nl.epochUnpaid += s.Unpaid
		nl.epochGross += s.Gross
	}
	return nl
}

// scan calls fn with the key (after prefix) and value of every ledger
// entry under prefix.
func scan(ctx context.Context, d ds.Datastore, prefix string, fn func(string, []byte) error) error {
	res, err := d.Query(ctx, dsq.Query{Prefix: ledger.Namespace + prefix})
	if err != nil {
		return err
	}
	defer res.Close()
	for {
		e, ok := res.NextSync()
		if !ok {
			return nil
		}
		if e.Error != nil {
			return e.Error
		}
		if err := fn(strings.TrimPrefix(e.Key, ledger.Namespace+prefix), e.Value); err != nil {
			return err
		}
	}
}

// evaluate turns the evidence into the invariants' verdicts.
func (r *report) evaluate() {
	add := func(name string, held bool, format string, args ...any) {
		r.invariants = append(r.invariants, invariant{name: name, held: held, detail: fmt.Sprintf(format, args...)})
	}
	var l0 *nodeLedger
	var ledgerErrs []string
	for i := range r.ledgers {
		if r.ledgers[i].err != nil {
			ledgerErrs = append(ledgerErrs, fmt.Sprintf("node%d: %v", i, r.ledgers[i].err))
		} else if l0 == nil {
			l0 = &r.ledgers[i]
		}
	}
	if len(ledgerErrs) > 0 {
		add("ledgers readable after the run", false, "%s", strings.Join(ledgerErrs, "; "))
	}
	if l0 == nil {
		return
	}
	if !r.settledEpochs {
		add("settle period: two more epochs closed", false, "the chain did not close them in time")
	}

	// Client outcomes.
	var sent, ok200, withReceipt, completedNoReceipt, tokenMismatch, bad, cut, cutTokens, refused, failed int
	var tokens, receiptTokens uint64
	clientReceipts := map[string]outcome{}
	refusals := map[string]int{} // "status code" → count
	for _, o := range r.outcomes {
		sent++
		switch {
		case o.Status == 200:
			ok200++
		case o.Status != 0:
			refused++
			refusals[refusalKey(o)]++
		default:
			failed++
		}
		if o.Receipt != "" {
			withReceipt++
			clientReceipts[o.Receipt] = o
			tokens += o.Tokens
			receiptTokens += o.ReceiptOut
			if o.Tokens != o.ReceiptOut {
				tokenMismatch++
			}
			if o.BadReceipt != "" {
				bad++
			}
		} else if o.Completed {
			completedNoReceipt++
		} else if o.Tokens > 0 {
			cut++
			cutTokens += int(o.Tokens)
		}
	}

	// 1. Every receipt a client holds is on chain, once: paid at its
	// charge, or recorded unpaid with the receipt as evidence.
	var paid, unpaid, missing, wrongCharge, disagree int
	var missingIDs []string
	for id, o := range clientReceipts {
		s, found := l0.receipts[id]
		for i := range r.ledgers {
			if r.ledgers[i].err == nil {
				if s2, f2 := r.ledgers[i].receipts[id]; f2 != found || !reflect.DeepEqual(s2, s) {
					disagree++
					break
				}
			}
		}
		switch {
		case !found:
			missing++
			if len(missingIDs) < 5 {
				missingIDs = append(missingIDs, fmt.Sprintf("%.12s (node%d)", id, o.Node))
			}
		case s.Paid:
			paid++
			if s.Charge != o.Charge {
				wrongCharge++
			}
		default:
			unpaid++
			if _, ok := r.pool[id]; !ok {
				missing++ // unpaid without the receipt anywhere as evidence
			}
		}
	}
	add("every client receipt on chain: paid, or unpaid with evidence", missing == 0 && wrongCharge == 0 && disagree == 0,
		"%d receipts held by clients: %d paid, %d unpaid, %d missing %v, %d charged differently, %d ledgers disagree",
		len(clientReceipts), paid, unpaid, missing, missingIDs, wrongCharge, disagree)

	// 2. Charged exactly once: one receipt per authorization, and the
	// account's debit equals the paid charges on chain.
	perAuth := map[string]int{}
	for id, auth := range r.pool {
		if _, on := l0.receipts[id]; on {
			perAuth[auth]++
		}
	}
	dup := 0
	for _, c := range perAuth {
		if c > 1 {
			dup++
		}
	}
	var chainPaid uint64
	var chainForUser, extra int
	for id, s := range l0.receipts {
		if s.Account != r.user {
			continue
		}
		chainForUser++
		if s.Paid {
			chainPaid += s.Charge
		}
		if _, ok := clientReceipts[id]; !ok {
			extra++
		}
	}
	debit := l0.genesisCredit - l0.userBalance
	add("each authorization charged once; debit equals paid charges", dup == 0 && debit == chainPaid,
		"%d receipts of the user on chain (%d no client received: served, answer lost); %d authorizations with more than one receipt on chain; debit %d, paid charges %d",
		chainForUser, extra, dup, debit, chainPaid)

	// 3. No token served without a receipt.
	add("no token served without a receipt", completedNoReceipt == 0 && tokenMismatch == 0 && bad == 0,
		"%d requests: %d answered 200, %d refused, %d failed in transport; %d complete answers without a receipt; %d receipts counting other than the client (%d tokens seen, %d in receipts); %d receipts that did not verify",
		sent, ok200, refused, failed, completedNoReceipt, tokenMismatch, tokens, receiptTokens, bad)
	r.invariants[len(r.invariants)-1].detail += fmt.Sprintf("; streams cut by a fault before their receipt: %d (%d tokens, not billed); refused by status and code: %s",
		cut, cutTokens, formatCounts(refusals))

	// 4. App hashes agree.
	add("app hash equal at every height on every node", r.hashDiff == "" && r.hashMissing == 0 && r.hashHeights > 0,
		"%d heights × %d nodes compared; %d unanswered; first difference: %s", r.hashHeights, len(r.ledgers), r.hashMissing, orNone(r.hashDiff))

	// 5. Conservation, on every node's ledger.
	var cons []string
	for i, l := range r.ledgers {
		if l.err == nil && l.conservation != nil {
			cons = append(cons, fmt.Sprintf("node%d: %v", i, l.conservation))
		}
	}
	var denoms []string
	for _, d := range sortedKeys(l0.holdings) {
		s := l0.supply[d]
		denoms = append(denoms, fmt.Sprintf("%s holdings %d + burned %d + withdrawn %d = minted %d", d,
			l0.holdings[d], s.Burned, s.Withdrawn, s.Minted))
	}
	add("conservation for every denom", len(cons) == 0, "%s; %s", orNone(strings.Join(cons, "; ")), strings.Join(denoms, "; "))

	// 6. No balance below zero (a uint64 that wrapped exceeds the supply).
	var wrapped []string
	overdrawn := 0
	for i, l := range r.ledgers {
		for _, w := range l.wrapped {
			wrapped = append(wrapped, fmt.Sprintf("node%d: %s", i, w))
		}
		overdrawn = max(overdrawn, l.overdrawn)
	}
	add("no balance negative", len(wrapped) == 0, "%d balances above the supply %v; %d accounts marked overdrawn; user balance %d of %d",
		len(wrapped), wrapped, overdrawn, l0.userBalance, l0.genesisCredit)

	// 7. Progress with three of four validators up.
	add("chain progressed whenever ≥3 of 4 validators were up", r.stall <= stallLimit,
		"longest stall with ≥3 up: %s (at %s; limit %s) over %d samples", r.stall.Round(100*time.Millisecond), r.stallAt.Round(time.Second), stallLimit, r.samples)

	// The ledgers of the stopped nodes, for the record.
	var heights []string
	for i, l := range r.ledgers {
		if l.err == nil {
			heights = append(heights, fmt.Sprintf("node%d h=%d %.12s", i, l.height, l.appHash))
		}
	}
	add("final ledgers (informational)", true, "%s; %d epochs closed with %d receipts (%d unpaid), gross %d",
		strings.Join(heights, ", "), l0.epochs, l0.epochRcpts, l0.epochUnpaid, l0.epochGross)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// markdown renders the faults and the verdict.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Fault campaign: seed %d, faults for %s (last one ended at %s)\n\n", r.seed, r.duration, r.faultsEnd.Round(time.Second))
	counts := map[string]int{}
	for _, f := range r.faults {
		counts[f.Kind]++
	}
	fmt.Fprintf(&b, "| fault | injected |\n|---|---|\n")
	fmt.Fprintf(&b, "| kill -9, restart over the same home | %d |\n", counts[stateKilled])
	fmt.Fprintf(&b, "| pause (SIGSTOP … SIGCONT) | %d |\n", counts[statePaused])
	if r.partition.ok {
		fmt.Fprintf(&b, "| partition (iptables on loopback) | %d |\n", counts[statePartitioned])
	} else {
		fmt.Fprintf(&b, "| partition | not possible here: %s |\n", r.partition.reason)
	}
	fmt.Fprintf(&b, "\n| # | at | fault | node | held | height before heal | caught up after heal |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.faults {
		fmt.Fprintf(&b, "| %d | %s | %s | node%d | %s | %s | %s |\n", f.N, f.At, f.Kind, f.Node, f.Held, f.BeforeHeal, f.Recovered)
	}
	fmt.Fprintf(&b, "\n| invariant | held | evidence |\n|---|---|---|\n")
	for _, inv := range r.invariants {
		mark := "yes"
		if !inv.held {
			mark = "**NO**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", inv.name, mark, strings.ReplaceAll(inv.detail, "|", "/"))
	}
	if len(r.poolErrors) > 0 {
		fmt.Fprintf(&b, "\npool listing errors: %s\n", strings.Join(r.poolErrors, "; "))
	}
	return b.String()
}

// refusalKey is a refused request's status and OpenAI error code, such as
// "402 insufficient_quota".
func refusalKey(o outcome) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(o.Err), &e)
	if e.Error.Code == "" {
		e.Error.Code = "no code"
	}
	return fmt.Sprintf("%d %s", o.Status, e.Error.Code)
}

// formatCounts writes counts as "k: n" in key order, or "none".
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
