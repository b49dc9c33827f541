package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/merkle"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// ReceiptState is the ledger's record of an included receipt, kept under
// /rcpt/<id> so that each id settles once.
type ReceiptState struct {
	// Epoch is the epoch the receipt is charged in: its issue epoch, or the
	// oldest open epoch when it arrived after its issue epoch closed (or,
	// within the clock skew, before its issue epoch began).
	Epoch uint64 `json:"epoch"`
	// IssuedEpoch is the authorization's epoch when it differs from Epoch.
	IssuedEpoch *uint64 `json:"issued_epoch,omitempty"`
	Model       string  `json:"model"`
	Account     string  `json:"account"`
	Charge      uint64  `json:"charge"`
	// Discount is the charge at the model's list prices less Charge:
	// what the account's staking discount saved it (DESIGN §9.2).
	Discount uint64 `json:"discount,omitempty"`
	Paid     bool   `json:"paid"`
	Height   int64  `json:"height"`
}

// DefaultLateReceiptMs is the default of Genesis.LateReceiptMs: a day.
const DefaultLateReceiptMs = 24 * 60 * 60 * 1000

// ClockSkewMs is how far ahead of the block time an authorization may be
// issued (the client's clock against the validators').
const ClockSkewMs = 30_000

func (l *Ledger) lateReceiptMs() int64 { return l.gen.LateWindowMs() }

// LateWindowMs is LateReceiptMs with its default applied: receipts are
// charged until this long after their authorization was issued.
func (g *Genesis) LateWindowMs() int64 {
	if g.LateReceiptMs > 0 {
		return g.LateReceiptMs
	}
	return DefaultLateReceiptMs
}

// DefaultRetentionMs is the span the default receipt retention covers at
// least: a week of epochs.
const DefaultRetentionMs = 7 * 24 * 60 * 60 * 1000

// MinRetentionEpochs is the fewest epochs of receipt retention the genesis
// allows: ⌈(LateWindowMs + ClockSkewMs + EpochMs) ÷ EpochMs⌉. A receipt
// charged in epoch e was included by a block before end(e) + grace, so it
// was issued before end(e) + grace + ClockSkewMs, and every block from
// end(e) + grace + LateWindowMs + ClockSkewMs on refuses it as too late;
// the close that prunes epoch e runs at end(e + retention) + grace or
// later, by then (an epoch of margin included).
func (g *Genesis) MinRetentionEpochs() uint64 {
	if g.EpochMs <= 0 {
		return 1
	}
	ep := uint64(g.EpochMs)
	span, ok1 := addOK(uint64(g.LateWindowMs()), ClockSkewMs+ep)
	span, ok2 := addOK(span, ep-1)
	if !ok1 || !ok2 {
		return ^uint64(0) / ep
	}
	return span / ep
}

// RetentionEpochs is ReceiptRetentionEpochs with its default applied: the
// larger of MinRetentionEpochs and the epochs of DefaultRetentionMs.
func (g *Genesis) RetentionEpochs() uint64 {
	if g.ReceiptRetentionEpochs > 0 {
		return g.ReceiptRetentionEpochs
	}
	if g.EpochMs <= 0 {
		return g.MinRetentionEpochs()
	}
	return max(g.MinRetentionEpochs(), (DefaultRetentionMs+uint64(g.EpochMs)-1)/uint64(g.EpochMs))
}

func (l *Ledger) submitReceipts(s SubmitReceipts, b Block) ([]ReceiptResult, error) {
	if len(s.Receipts) == 0 {
		return nil, fail(CodeEmptyBatch, "no receipts")
	}
	if len(s.Receipts) > l.gen.MaxReceiptsPerTx {
		return nil, fail(CodeTooManyRcpts, "%d receipts, at most %d", len(s.Receipts), l.gen.MaxReceiptsPerTx)
	}
	// Receipts of a batch apply in ascending id order whatever order they
	// were listed in; results follow that order too.
	rs := make([]*Receipt, len(s.Receipts))
	for i := range s.Receipts {
		rs[i] = &s.Receipts[i]
	}
	sort.SliceStable(rs, func(i, j int) bool { return bytes.Compare(rs[i].ID[:], rs[j].ID[:]) < 0 })
	out := make([]ReceiptResult, len(rs))
	rb := newReceiptBatch(len(rs))
	for i, r := range rs {
		id := r.IDHex()
		c, err := l.includeReceipt(rb, r, id, b)
		if err != nil {
			return nil, err
		}
		out[i] = ReceiptResult{ID: id, Code: c}
	}
	l.writeReceiptBatch(rb, b)
	return out, nil
}

// receiptBatch holds what the receipts of one SubmitReceipts tx change,
// each key read once and written once at the end of the tx
// (writeReceiptBatch); the receipts' own records go to the tx layer as
// they are included.
type receiptBatch struct {
	accounts  map[string]*Account
	keys      map[string]*SessionKey // nil: no such key
	keysSpent map[string]bool        // the keys whose Spent changed
	models    map[string]*batchModel
	discounts map[discountKey][2]uint64 // the account's input and output prices
	escrow    map[string]uint64         // by key
	aggs      map[string]*modelAgg
	nodeCosts map[string]uint64   // by key
	entries   map[string]entryAgg // by key
	usage     map[string]uint64   // by key
	ids       map[uint64][]byte   // epoch → packed ids, ascending
	state     []byte              // scratch for the receipt state encoding
}

// batchModel is a model as the batch read it; ok is false for an unknown
// model. Its cost per MTok is final: a model's tier is set when it is
// registered and no tx changes it, a model is never removed, and the tiers
// are fixed in the genesis, so the cost computed at inclusion is the one
// the close would compute.
type batchModel struct {
	m           Model
	ok          bool
	tier        Tier
	costPerMTok uint64
}

type discountKey struct {
	account, model string
	epoch          uint64
}

// newReceiptBatch returns an empty batch for n receipts.
func newReceiptBatch(n int) *receiptBatch {
	return &receiptBatch{
		accounts: make(map[string]*Account, n), keys: map[string]*SessionKey{}, keysSpent: map[string]bool{},
		models: map[string]*batchModel{}, discounts: make(map[discountKey][2]uint64, n), escrow: map[string]uint64{},
		aggs: map[string]*modelAgg{}, nodeCosts: map[string]uint64{}, entries: map[string]entryAgg{}, usage: map[string]uint64{},
		ids: map[uint64][]byte{},
	}
}

func (l *Ledger) batchModel(rb *receiptBatch, name string) (*batchModel, error) {
	if bm, ok := rb.models[name]; ok {
		return bm, nil
	}
	m, ok, err := l.model(name)
	if err != nil {
		return nil, err
	}
	bm := &batchModel{m: m, ok: ok}
	if ok {
		bm.tier, _ = l.tier(m.Tier)
		bm.costPerMTok = bm.tier.CostPerMTok
	}
	rb.models[name] = bm
	return bm, nil
}

func (l *Ledger) batchAccount(rb *receiptBatch, id string) (*Account, error) {
	if a, ok := rb.accounts[id]; ok {
		return a, nil
	}
	a, err := l.account(id)
	if err != nil {
		return nil, err
	}
	if a.Balances == nil {
		a.Balances = map[string]uint64{}
	}
	rb.accounts[id] = &a
	return &a, nil
}

// batchU64 returns the value of key k in m, read from the state on first
// use.
func (l *Ledger) batchU64(m map[string]uint64, k string) (uint64, error) {
	if v, ok := m[k]; ok {
		return v, nil
	}
	return l.s.getU64(k)
}

// includeReceipt validates and charges one receipt, of hex id id. Its effects go to rb
// and its records to the tx layer only when it is included (paid or
// unpaid).
func (l *Ledger) includeReceipt(rb *receiptBatch, r *Receipt, id string, b Block) (Code, error) {
	if !validName(r.Account) || !validName(r.Signer) || !validName(r.Model) || !validName(r.Node) ||
		(r.EntryNode != "" && !validName(r.EntryNode)) {
		return CodeBadTx, nil
	}
	if r.Account == TreasuryAccount || r.Signer == TreasuryAccount {
		return CodeTreasuryAccount, nil
	}
	if _, ok, err := l.s.get(pRcpt + id); err != nil {
		return "", err
	} else if ok {
		return CodeDuplicate, nil
	}
	issued, ok := l.EpochOf(r.IssuedAtMs)
	switch {
	case !ok:
		return CodeEpochClosed, nil // before genesis
	case r.IssuedAtMs > b.TimeMs+ClockSkewMs:
		return CodeEpochFuture, nil
	case r.IssuedAtMs+l.lateReceiptMs() < b.TimeMs:
		return CodeTooLate, nil
	}
	// A receipt whose epoch closed while it travelled is charged in the
	// oldest open epoch; one issued by a clock slightly ahead, in the
	// block's epoch.
	e := max(issued, l.hd.NextEpoch)
	if cur, _ := l.EpochOf(b.TimeMs); e > cur {
		e = cur
	}
	bm, err := l.batchModel(rb, r.Model)
	if err != nil {
		return "", err
	}
	if !bm.ok {
		return CodeModelUnknown, nil
	}
	m, t := &bm.m, &bm.tier
	if i := sort.SearchStrings(m.Nodes, r.Node); i == len(m.Nodes) || m.Nodes[i] != r.Node {
		return CodeNotServing, nil
	}
	// Quoted prices lie between the tier floor and the list price, and
	// are exactly the account's effective prices in the epoch the
	// authorization was issued in: the discount of its opening stake
	// (§9.2), neither more (an unearned discount) nor less.
	if r.InputPrice > m.InputPrice || r.OutputPrice > m.OutputPrice ||
		r.InputPrice < t.MinInputPrice || r.OutputPrice < t.MinOutputPrice {
		return CodePriceMismatch, nil
	}
	dk := discountKey{r.Account, r.Model, issued}
	prices, ok := rb.discounts[dk]
	if !ok {
		d, err := l.discountOf(&l.s, r.Account, *m, issued)
		if err != nil {
			return "", err
		}
		prices = [2]uint64{d.InputPrice, d.OutputPrice}
		rb.discounts[dk] = prices
	}
	if r.InputPrice != prices[0] || r.OutputPrice != prices[1] {
		return CodeDiscountMismatch, nil
	}
	charge, err := econ.Charge(r.InputTokens, r.OutputTokens, r.InputPrice, r.OutputPrice)
	if err != nil || charge != r.Charge {
		return CodeBadCharge, nil
	}
	listCharge, err := econ.Charge(r.InputTokens, r.OutputTokens, m.InputPrice, m.OutputPrice)
	if err != nil {
		return CodeBadCharge, nil
	}
	if r.Signer != r.Account {
		kk := pKey + r.Account + "/" + r.Signer
		k, seen := rb.keys[kk]
		if !seen {
			var sk SessionKey
			if err := l.s.getJSON(kk, &sk); errors.Is(err, errNotFound) {
				rb.keys[kk] = nil
			} else if err != nil {
				return "", err
			} else {
				k = &sk
				rb.keys[kk] = k
			}
		}
		if k == nil {
			return CodeBadSigner, nil
		}
		if r.IssuedAtMs >= k.ExpiresAtMs {
			return CodeKeyExpired, nil
		}
		spent, ok := addOK(k.Spent, charge)
		if !ok || spent > k.SpendLimit {
			return CodeKeySpendLimit, nil
		}
		k.Spent = spent
		rb.keysSpent[kk] = true
	}
	a, err := l.batchAccount(rb, r.Account)
	if err != nil {
		return "", err
	}
	ek := epochKey(e)
	aggKey := pAgg + ek + "/" + r.Model
	agg, ok := rb.aggs[aggKey]
	if !ok {
		v, found, err := l.s.get(aggKey)
		if err != nil {
			return "", err
		}
		agg = &modelAgg{}
		if found {
			if *agg, err = decodeModelAgg(v); err != nil {
				return "", fmt.Errorf("ledger: %s: %w", aggKey, err)
			}
		}
		rb.aggs[aggKey] = agg
	}
	code := OK
	st := ReceiptState{Epoch: e, Model: r.Model, Account: r.Account, Charge: charge, Discount: listCharge - charge, Height: b.Height}
	if a.Balances[DenomUSD] >= charge {
		a.Balances[DenomUSD] -= charge
		escKey := pEscrow + ek + "/" + r.Model
		esc, err := l.batchU64(rb.escrow, escKey)
		if err != nil {
			return "", err
		}
		rb.escrow[escKey] = esc + charge // ≤ Σ usd supply: cannot overflow
		st.Paid = true
		if err := l.addPaid(rb, agg, r, ek, charge, st.Discount, bm.costPerMTok); err != nil {
			return "", err
		}
	} else {
		a.Overdrawn = true
		a.UnpaidUSD, _ = addOK(a.UnpaidUSD, charge)
		agg.Unpaid++
		agg.UnpaidUSD += charge // wraps, as the settlement's sum always did
		l.s.put(pAggUnpaid+ek+"/"+r.Model+"/"+id, nil)
		code = CodeUnpaid
	}
	if e != issued {
		st.IssuedEpoch = &issued
	}
	rb.state = appendReceiptState(rb.state[:0], &st)
	l.s.put(pRcpt+id, bytes.Clone(rb.state))
	rb.ids[e] = append(rb.ids[e], r.ID[:]...)
	return code, nil
}

// addPaid adds a paid receipt to its model's aggregates of epoch ek: the
// split totals, its serving node's cost, its entry node's fee and count,
// and (with emissions) its account's usage.
func (l *Ledger) addPaid(rb *receiptBatch, agg *modelAgg, r *Receipt, ek string, charge, discount, costPerMTok uint64) error {
	u := econ.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, Charge: charge, Node: r.Node, EntryNode: r.EntryNode}
	// A receipt routed through its own paying account earns no fee; the
	// fee of an entry node not registered at the close is moved back to
	// the net then.
	selfRouted := u.Forwarded() && u.EntryNode == r.Account
	if selfRouted {
		u.EntryNode = ""
	}
	s := econ.SplitUsage(&u, costPerMTok, l.gen.Params.GatewayBps)
	if err := agg.Paid.Add(charge, s); err != nil {
		return fmt.Errorf("ledger: epoch %s model %s: %w", ek, r.Model, err)
	}
	agg.Discounts += discount // wraps, as the settlement's sum always did
	if selfRouted {
		agg.SelfRouted++
	}
	mk := ek + "/" + r.Model + "/"
	if s.Cost > 0 {
		k := pAggNode + mk + r.Node
		v, err := l.batchU64(rb.nodeCosts, k)
		if err != nil {
			return err
		}
		rb.nodeCosts[k] = v + s.Cost
	}
	if u.Forwarded() {
		k := pAggEntry + mk + u.EntryNode
		en, ok := rb.entries[k]
		if !ok {
			v, found, err := l.s.get(k)
			if err != nil {
				return err
			}
			if found {
				if en, err = decodeEntryAgg(v); err != nil {
					return fmt.Errorf("ledger: %s: %w", k, err)
				}
			}
		}
		en.Fee += s.Fee
		en.Count++
		rb.entries[k] = en
	}
	if l.gen.emissionsOn() {
		k := pAggAcct + mk + r.Account
		v, err := l.batchU64(rb.usage, k)
		if err != nil {
			return err
		}
		rb.usage[k] = v + charge // ≤ Σ usd supply
	}
	return nil
}

// writeReceiptBatch writes what a SubmitReceipts tx changed to the tx
// layer, each key once, and the tx's included ids packed per epoch under
// /eids/<epoch>/<height>/<tx index>.
func (l *Ledger) writeReceiptBatch(rb *receiptBatch, b Block) {
	for id, a := range rb.accounts {
		l.putAccount(id, *a)
	}
	for k := range rb.keysSpent {
		l.s.putJSON(k, *rb.keys[k])
	}
	for k, v := range rb.escrow {
		l.s.putU64(k, v)
	}
	for k, a := range rb.aggs {
		l.s.put(k, encodeModelAgg(a))
	}
	for k, v := range rb.nodeCosts {
		l.s.putU64Kept(k, v)
	}
	for k, v := range rb.entries {
		l.s.put(k, encodeEntryAgg(v))
	}
	for k, v := range rb.usage {
		l.s.putU64Kept(k, v)
	}
	for e, ids := range rb.ids {
		l.s.put(epochIDsKey(e, b.Height, l.txIndex), ids)
	}
}

// epochIDsKey is the key of the ids one tx included in epoch e.
func epochIDsKey(e uint64, height int64, tx int) string {
	return fmt.Sprintf("%s%s/%020d/%010d", pEpochIDs, epochKey(e), height, tx)
}

// ModelSettlement is the close of one model in one epoch.
type ModelSettlement struct {
	Model       string `json:"model"`
	Issuer      string `json:"issuer"`
	Tier        string `json:"tier"`
	CostPerMTok uint64 `json:"cost_per_mtok"`
	// Split covers the paid receipts.
	Split econ.ModelSplit `json:"split"`
	// RoutingDenied counts the forwarded paid receipts whose entry node got
	// no routing fee: it was not a registered node at the close, or it was
	// the paying account itself. Their fee stayed in the net split (DESIGN
	// §8).
	RoutingDenied uint64 `json:"routing_denied,omitempty"`
	// Unpaid receipts were included but not charged.
	Unpaid    uint64   `json:"unpaid"`
	UnpaidUSD uint64   `json:"unpaid_usd"`
	UnpaidIDs []string `json:"unpaid_ids,omitempty"`
	// Discounts is what the paid receipts' staking discounts took off
	// their charges at list prices (DESIGN §9.2): Σ (list charge −
	// charge).
	Discounts uint64 `json:"discounts,omitempty"`
}

// EpochSettlement is the record written when an epoch closes.
type EpochSettlement struct {
	Epoch        uint64 `json:"epoch"`
	StartMs      int64  `json:"start_ms"`
	EndMs        int64  `json:"end_ms"`
	ClosedHeight int64  `json:"closed_height"`
	ClosedTimeMs int64  `json:"closed_time_ms"`
	// ReceiptsRoot is the [MerkleRoot] of the ids of every receipt included
	// in the epoch, paid or unpaid, in hex.
	ReceiptsRoot string `json:"receipts_root"`
	Receipts     uint64 `json:"receipts"`
	Paid         uint64 `json:"paid"`
	Unpaid       uint64 `json:"unpaid"`
	Gross        uint64 `json:"gross"`
	Cost         uint64 `json:"cost"`
	RoutingFee   uint64 `json:"routing_fee"`
	Net          uint64 `json:"net"`
	MTBuyback    uint64 `json:"mt_buyback"`
	FlockBuyback uint64 `json:"flock_buyback"`
	Treasury     uint64 `json:"treasury"`
	Issuer       uint64 `json:"issuer"`
	// Discounts totals the models' Discounts.
	Discounts uint64 `json:"discounts,omitempty"`
	// Models are sorted by name.
	Models []ModelSettlement `json:"models"`
	// Buybacks are the §9.4 buybacks and burns run after the split; absent
	// on a network without a FLOCK/usd pool, where every reserve carries
	// over.
	Buybacks *EpochBuybacks `json:"buybacks,omitempty"`
	// Emissions are the §9.7 emissions and stake-gated releases; absent on
	// a network whose genesis funds no emission reserve.
	Emissions *EpochEmissions `json:"emissions,omitempty"`
}

// EpochBuybacks is what an epoch's buybacks traded and burned (DESIGN
// §9.4): every model's MT-buyback reserve (usd → FLOCK → MT, burned) and the
// FLOCK-buyback reserve (usd → FLOCK, burned), within the price-impact
// bound; what a reserve could not spend carries over in it.
type EpochBuybacks struct {
	// UsdIn and FlockOut are the epoch's single trade in the FLOCK/usd pool.
	UsdIn    uint64 `json:"usd_in"`
	FlockOut uint64 `json:"flock_out"`
	// FlockBurned and MTBurned total the burns (MT over every model).
	FlockBurned uint64 `json:"flock_burned"`
	MTBurned    uint64 `json:"mt_burned"`
	// FlockPoolAfter is the FLOCK/usd pool after the trade, and
	// FlockPriceE18 its price of FLOCK in usd (1e18 fixed point).
	FlockPoolAfter econ.Pool `json:"flock_pool_after"`
	FlockPriceE18  uint64    `json:"flock_price_e18"`
	// Flock is the FLOCK buyback: its reserve, usd in, carry-over and burn.
	Flock econ.FlockBuyback `json:"flock"`
	// Models are the models with an MT-buyback reserve, by name.
	Models []ModelBuyback `json:"models"`
}

// ModelBuyback is one model's MT buyback in an epoch: the usd in, the FLOCK
// bought, the MT burned, FLOCK burned (bought but too little to buy one MT
// base unit), the carry-over and the model's pool after, with its price of
// MT in FLOCK (1e18 fixed point; 0 without a pool).
type ModelBuyback struct {
	econ.ModelBuyback
	PriceAfterE18 uint64 `json:"price_after_e18"`
}

// MerkleRoot returns the receipts root of an epoch: the [merkle.Root] of
// the ids, sorted ascending and deduplicated.
func MerkleRoot(ids [][32]byte) [32]byte { return merkle.Root(ids) }

// modelClose is what the close reads of one model's aggregates.
type modelClose struct {
	agg     modelAgg
	costs   []econ.Payout
	entries []econ.Payout // Amount is the fee sum
	counts  []uint64      // the entries' receipt counts
	unpaid  []string
}

// closeEpoch runs the §9.3 split of epoch e for every model from the
// aggregates its receipts added to at inclusion, computes its receipts
// root from the ids stored per tx, and writes its EpochSettlement and the
// index of its id chunks that pruning reads later (pruneStep). It writes
// to the tx layer.
func (l *Ledger) closeEpoch(e uint64, b Block) error {
	ek := epochKey(e)
	st := EpochSettlement{
		Epoch: e, StartMs: l.EpochEnd(e) - l.gen.EpochMs, EndMs: l.EpochEnd(e),
		ClosedHeight: b.Height, ClosedTimeMs: b.TimeMs, Models: []ModelSettlement{},
	}
	models := map[string]*modelClose{}
	var names []string
	var receipts uint64
	if err := l.s.each(pAgg+ek+"/", func(k string, v []byte) error {
		a, err := decodeModelAgg(v)
		if err != nil {
			return fmt.Errorf("ledger: %s: %w", k, err)
		}
		name := k[len(pAgg)+len(ek)+1:]
		models[name] = &modelClose{agg: a}
		names = append(names, name)
		receipts += a.Paid.Receipts + a.Unpaid
		l.s.del(k)
		return nil
	}); err != nil {
		return err
	}
	// Models settle in the order of their names followed by "/", the order
	// of the per-receipt keys they were once read from.
	sort.Slice(names, func(i, j int) bool { return names[i]+"/" < names[j]+"/" })
	// eachOfModel runs fn over the entries under p/<epoch>/<model>/ of
	// every model, deleting them.
	eachOfModel := func(p string, fn func(mc *modelClose, sub string, v []byte) error) error {
		return l.s.each(p+ek+"/", func(k string, v []byte) error {
			name, sub, _ := strings.Cut(k[len(p)+len(ek)+1:], "/")
			mc := models[name]
			if mc == nil {
				return fmt.Errorf("ledger: %s: no aggregate of model %s in epoch %d", k, name, e)
			}
			l.s.del(k)
			return fn(mc, sub, v)
		})
	}
	if err := eachOfModel(pAggNode, func(mc *modelClose, node string, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("ledger: node cost %s of epoch %d: bad uint64 value", node, e)
		}
		if c := binary.BigEndian.Uint64(v); c > 0 {
			mc.costs = append(mc.costs, econ.Payout{Node: node, Amount: c})
		}
		return nil
	}); err != nil {
		return err
	}
	if err := eachOfModel(pAggEntry, func(mc *modelClose, node string, v []byte) error {
		en, err := decodeEntryAgg(v)
		if err != nil {
			return fmt.Errorf("ledger: entry node %s of epoch %d: %w", node, e, err)
		}
		mc.entries = append(mc.entries, econ.Payout{Node: node, Amount: en.Fee})
		mc.counts = append(mc.counts, en.Count)
		return nil
	}); err != nil {
		return err
	}
	if err := eachOfModel(pAggUnpaid, func(mc *modelClose, id string, _ []byte) error {
		mc.unpaid = append(mc.unpaid, id)
		return nil
	}); err != nil {
		return err
	}
	// usage is the paid charges per model and account, for the emissions.
	var usage map[string]map[string]uint64
	if l.gen.emissionsOn() {
		usage = map[string]map[string]uint64{}
	}
	if err := l.s.each(pAggAcct+ek+"/", func(k string, v []byte) error {
		l.s.del(k)
		name, acct, _ := strings.Cut(k[len(pAggAcct)+len(ek)+1:], "/")
		if len(v) != 8 {
			return fmt.Errorf("ledger: %s: bad uint64 value", k)
		}
		if usage == nil {
			return nil
		}
		u := usage[name]
		if u == nil {
			u = map[string]uint64{}
			usage[name] = u
		}
		u[acct] = binary.BigEndian.Uint64(v)
		return nil
	}); err != nil {
		return err
	}
	var flockRes uint64
	var treasury uint64
	// registered caches node registry lookups for this close.
	registered := map[string]bool{}
	isNode := func(id string) (bool, error) {
		if ok, seen := registered[id]; seen {
			return ok, nil
		}
		_, ok, err := l.node(id)
		registered[id] = ok
		return ok, err
	}
	for _, name := range names {
		mc := models[name]
		ms := ModelSettlement{Model: name, RoutingDenied: mc.agg.SelfRouted, Unpaid: mc.agg.Unpaid, UnpaidUSD: mc.agg.UnpaidUSD,
			UnpaidIDs: mc.unpaid, Discounts: mc.agg.Discounts}
		t := mc.agg.Paid
		// The routing fee goes only to an entry node that is a registered
		// node at the close (and not the paying account, denied at
		// inclusion); otherwise the receipts settle as served directly and
		// their fees stay in the net split.
		var fees []econ.Payout
		for i, en := range mc.entries {
			ok, err := isNode(en.Node)
			if err != nil {
				return err
			}
			if !ok {
				ms.RoutingDenied += mc.counts[i]
				t.RoutingFee -= en.Amount
				t.Net += en.Amount
				continue
			}
			if en.Amount > 0 {
				fees = append(fees, en)
			}
		}
		m, ok, err := l.model(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("ledger: epoch %d: receipts of unknown model %s", e, name)
		}
		tier, _ := l.tier(m.Tier)
		ms.Issuer, ms.Tier, ms.CostPerMTok = m.Issuer, m.Tier, tier.CostPerMTok
		split := econ.NewModelSplit(t, mc.costs, fees, l.gen.Params)
		escKey := pEscrow + ek + "/" + name
		esc, err := l.s.getU64(escKey)
		if err != nil {
			return err
		}
		if esc != split.Gross {
			return fmt.Errorf("ledger: epoch %d model %s: escrow %d != gross %d", e, name, esc, split.Gross)
		}
		l.s.del(escKey)
		ms.Split = split
		for _, p := range split.NodeCosts {
			if err := l.creditInternal(p.Node, p.Amount); err != nil {
				return err
			}
		}
		for _, p := range split.RoutingFees {
			if err := l.creditInternal(p.Node, p.Amount); err != nil {
				return err
			}
		}
		if err := l.creditInternal(m.Issuer, split.Issuer); err != nil {
			return err
		}
		mtk := pMTRes + name
		mt, err := l.s.getU64(mtk)
		if err != nil {
			return err
		}
		l.s.putU64(mtk, mt+split.MTBuyback)
		flockRes += split.FlockBuyback
		treasury += split.Treasury
		st.Receipts += split.Receipts + ms.Unpaid
		st.Paid += split.Receipts
		st.Unpaid += ms.Unpaid
		st.Gross += split.Gross
		st.Cost += split.Cost
		st.RoutingFee += split.RoutingFee
		st.Net += split.Net
		st.MTBuyback += split.MTBuyback
		st.FlockBuyback += split.FlockBuyback
		st.Treasury += split.Treasury
		st.Issuer += split.Issuer
		st.Discounts += ms.Discounts // wraps, as it always did
		st.Models = append(st.Models, ms)
	}
	// Any escrow left without receipts would be a bug; sweep it to the
	// treasury so value is never stranded, and log it.
	rest, err := l.s.scan(pEscrow + ek + "/")
	if err != nil {
		return err
	}
	for _, en := range rest {
		v, err := l.s.getU64(en.key)
		if err != nil {
			return err
		}
		l.log.Error("escrow without receipts", "epoch", e, "key", en.key, "amount", v)
		treasury += v
		st.Treasury += v
		l.s.del(en.key)
	}
	fr, err := l.s.getU64(kFlockRes)
	if err != nil {
		return err
	}
	l.s.putU64(kFlockRes, fr+flockRes)
	if err := l.addTreasury(DenomUSD, treasury); err != nil {
		return err
	}
	if st.Buybacks, err = l.buybacks(); err != nil {
		return err
	}
	if l.gen.emissionsOn() {
		if st.Emissions, err = l.emissions(e, b, st.Models, usage); err != nil {
			return err
		}
	}
	ids, chunks, err := epochIDs(&l.s, e, int(min(receipts, 1<<26)))
	if err != nil {
		return err
	}
	if len(chunks) > 0 {
		l.s.put(pEpochIDIndex+ek, chunks)
	}
	if uint64(len(ids)) != receipts {
		return fmt.Errorf("ledger: epoch %d: %d receipt ids stored, %d receipts aggregated", e, len(ids), receipts)
	}
	root := merkle.RootSorted(ids)
	st.ReceiptsRoot = hex.EncodeToString(root[:])
	l.s.putJSON(pEpoch+ek, st)
	l.log.Debug("epoch closed", "epoch", e, "receipts", st.Receipts, "gross", st.Gross)
	return nil
}

// epochIDs returns the ids of every receipt included in epoch e, sorted
// ascending and deduplicated, and the index of the chunks they were read
// from (see appendChunkRef); n is a capacity hint.
func epochIDs(s *kv, e uint64, n int) ([][32]byte, []byte, error) {
	ids := make([][32]byte, 0, n)
	var chunks []byte
	prefix := pEpochIDs + epochKey(e) + "/"
	err := s.each(prefix, func(k string, v []byte) error {
		if len(v)%32 != 0 {
			return fmt.Errorf("ledger: %s: %d bytes, not a multiple of 32", k, len(v))
		}
		var err error
		if chunks, err = appendChunkRef(chunks, k[len(prefix):]); err != nil {
			return fmt.Errorf("ledger: %s: %w", k, err)
		}
		for ; len(v) > 0; v = v[32:] {
			ids = append(ids, [32]byte(v[:32]))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return slices.Compact(sortIDs(ids)), chunks, nil
}

// chunkRefLen is the length of a chunk reference: height(8) ‖ tx index(4),
// big-endian.
const chunkRefLen = 12

// appendChunkRef appends the reference of the id chunk whose key ends in
// suffix, "<height>/<tx index>".
func appendChunkRef(b []byte, suffix string) ([]byte, error) {
	hs, ts, ok := strings.Cut(suffix, "/")
	h, err1 := strconv.ParseUint(hs, 10, 63)
	tx, err2 := strconv.ParseUint(ts, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad id chunk key suffix %q", suffix)
	}
	b = binary.BigEndian.AppendUint64(b, h)
	return binary.BigEndian.AppendUint32(b, uint32(tx)), nil
}

// sortIDs sorts sha256 ids ascending and returns them, in a new slice
// when there are many: a bucket sort by their leading 16 bits (uniform for
// hashes, so buckets hold a few ids each) scattering into a second array,
// which is four times faster than sorting in place, then an insertion sort
// of each bucket on its next 8 bytes, the whole id breaking ties.
func sortIDs(ids [][32]byte) [][32]byte {
	if len(ids) < 1<<12 {
		merkle.SortIDs(ids)
		return ids
	}
	bucket := func(id *[32]byte) int { return int(id[0])<<8 | int(id[1]) }
	next := make([]int, 1<<16) // a bucket's next place, from its start to its end
	for i := range ids {
		next[bucket(&ids[i])]++
	}
	sum := 0
	for b, c := range next {
		next[b] = sum
		sum += c
	}
	out := make([][32]byte, len(ids))
	for i := range ids {
		b := bucket(&ids[i])
		out[next[b]] = ids[i]
		next[b]++
	}
	start := 0
	for _, end := range next {
		insertionSortIDs(out[start:end])
		start = end
	}
	return out
}

// insertionSortIDs sorts a few ids that share their first two bytes.
func insertionSortIDs(ids [][32]byte) {
	less := func(a, b *[32]byte) bool {
		ka, kb := binary.BigEndian.Uint64(a[2:]), binary.BigEndian.Uint64(b[2:])
		if ka != kb {
			return ka < kb
		}
		return bytes.Compare(a[10:], b[10:]) < 0
	}
	for i := 1; i < len(ids); i++ {
		x := ids[i]
		j := i
		for ; j > 0 && less(&x, &ids[j-1]); j-- {
			ids[j] = ids[j-1]
		}
		ids[j] = x
	}
}

// Pruning bounds: what one block prunes at most.
const (
	// pruneIDsPerBlock bounds the receipts pruned per block (a chunk is
	// pruned whole, so a block can go past it by one chunk).
	pruneIDsPerBlock = 16_384
	// pruneEpochsPerBlock bounds the epochs a block steps over, for a chain
	// that closed many epochs without receipts.
	pruneEpochsPerBlock = 1_024
)

// pruneCursor is where pruning stands (/meta/prune, 12 bytes: epoch(8) ‖
// chunk(4), big-endian): every epoch before Epoch is pruned, and the
// first Chunk chunks of Epoch's index. Absent, it is zero.
type pruneCursor struct {
	Epoch uint64
	Chunk uint32
}

// retired reports whether epoch e is past the retention: the close of
// e + RetentionEpochs has run, and its per-receipt records are pruned or
// being pruned.
func (l *Ledger) retired(e uint64) bool {
	r := l.gen.RetentionEpochs()
	return e < l.hd.NextEpoch && l.hd.NextEpoch-e > r
}

// pruneStep prunes the per-receipt records of retired epochs, oldest
// first, a bounded amount per block: for each chunk in the epoch's index
// (/eidx/<epoch>, written at its close), the ReceiptState of every id in
// the chunk and the chunk itself; then the index. It runs after a block's
// closes, before its txs. Pruning later than the retention is always
// safe: a retired id is refused as too late either way.
func (l *Ledger) pruneStep() error {
	var cur pruneCursor
	if b, ok, err := l.s.get(kPrune); err != nil {
		return err
	} else if ok {
		if len(b) != 12 {
			return fmt.Errorf("ledger: %s: %d bytes, want 12", kPrune, len(b))
		}
		cur = pruneCursor{binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])}
	}
	start := cur
	var hexID [64]byte
	ids, epochs := 0, 0
	for ids < pruneIDsPerBlock && epochs < pruneEpochsPerBlock && l.retired(cur.Epoch) {
		ek := epochKey(cur.Epoch)
		index, ok, err := l.s.get(pEpochIDIndex + ek)
		if err != nil {
			return err
		}
		if len(index)%chunkRefLen != 0 {
			return fmt.Errorf("ledger: %s%s: %d bytes, not a multiple of %d", pEpochIDIndex, ek, len(index), chunkRefLen)
		}
		for ok && int(cur.Chunk) < len(index)/chunkRefLen && ids < pruneIDsPerBlock {
			ref := index[int(cur.Chunk)*chunkRefLen:]
			k := epochIDsKey(cur.Epoch, int64(binary.BigEndian.Uint64(ref)), int(binary.BigEndian.Uint32(ref[8:])))
			v, _, err := l.s.get(k)
			if err != nil {
				return err
			}
			if len(v)%32 != 0 {
				return fmt.Errorf("ledger: %s: %d bytes, not a multiple of 32", k, len(v))
			}
			for ; len(v) > 0; v = v[32:] {
				hex.Encode(hexID[:], v[:32])
				l.s.del(pRcpt + string(hexID[:]))
				ids++
			}
			l.s.del(k)
			cur.Chunk++
		}
		if ok && int(cur.Chunk) < len(index)/chunkRefLen {
			break // the budget ran out within the epoch
		}
		if ok {
			l.s.del(pEpochIDIndex + ek)
		}
		cur = pruneCursor{Epoch: cur.Epoch + 1}
		epochs++
	}
	if cur != start {
		b := binary.BigEndian.AppendUint64(make([]byte, 0, 12), cur.Epoch)
		l.s.put(kPrune, binary.BigEndian.AppendUint32(b, cur.Chunk))
	}
	return nil
}

// creditInternal credits an epoch payout; a payout that would overflow the
// recipient's balance goes to the treasury instead, so closing never fails.
func (l *Ledger) creditInternal(id string, amount uint64) error {
	err := l.credit(id, DenomUSD, amount)
	var te *txErr
	if errors.As(err, &te) {
		return l.addTreasury(DenomUSD, amount)
	}
	return err
}

// addTreasury credits the treasury account.
func (l *Ledger) addTreasury(denom string, v uint64) error {
	err := l.credit(TreasuryAccount, denom, v)
	var te *txErr
	if errors.As(err, &te) {
		// Σ holdings of a denom ≤ its minted supply, a uint64: unreachable.
		return fmt.Errorf("ledger: treasury %s: %v", denom, te)
	}
	return err
}

// buybacks runs the §9.4 buybacks of an epoch close over the accumulated
// reserves (econ.ExecuteBuybacks), applies their trades to the pools and
// their burns to the supply, and leaves each reserve's carry-over in it.
// It returns nil on a network without a FLOCK/usd pool.
func (l *Ledger) buybacks() (*EpochBuybacks, error) {
	fp, ok, err := l.pool(PoolFlockUSD)
	if err != nil || !ok {
		return nil, err
	}
	fr, err := l.s.getU64(kFlockRes)
	if err != nil {
		return nil, err
	}
	ents, err := l.s.scan(pMTRes)
	if err != nil {
		return nil, err
	}
	var mrs []econ.ModelReserve
	pools := map[string]PoolState{} // the models' pools, read once
	for _, e := range ents {
		name := strings.TrimPrefix(e.key, pMTRes)
		if len(e.val) != 8 {
			return nil, fmt.Errorf("ledger: %s: bad uint64 value", e.key)
		}
		mr := econ.ModelReserve{Model: name, Reserve: binary.BigEndian.Uint64(e.val)}
		mp, ok, err := l.pool(ModelPoolID(name))
		if err != nil {
			return nil, err
		}
		if ok {
			pools[name] = mp
			mr.Pool = &mp.Pool
		}
		mrs = append(mrs, mr)
	}
	bb, err := econ.ExecuteBuybacks(&fp.Pool, fr, mrs, l.gen.Economics.BuybackParams())
	if err != nil {
		return nil, fmt.Errorf("ledger: buybacks: %w", err)
	}
	out := &EpochBuybacks{UsdIn: bb.UsdIn, FlockOut: bb.FlockOut, FlockBurned: bb.FlockBurned, Flock: bb.Flock,
		Models: make([]ModelBuyback, 0, len(bb.Models))}
	if bb.FlockPoolAfter != nil {
		fp.Pool = *bb.FlockPoolAfter
	}
	out.FlockPoolAfter, out.FlockPriceE18 = fp.Pool, fp.PriceE18()
	l.putPool(fp)
	l.s.putU64(kFlockRes, bb.Flock.Carry)
	burns := make([]supplyChange, 0, len(bb.Models)+1)
	for _, mb := range bb.Models {
		rec := ModelBuyback{ModelBuyback: mb}
		l.s.putU64(pMTRes+mb.Model, mb.Carry)
		if mb.PoolAfter != nil {
			mp := pools[mb.Model]
			mp.Pool = *mb.PoolAfter
			l.putPool(mp)
			rec.PriceAfterE18 = mp.PriceE18()
		}
		burns = append(burns, supplyChange{MTDenom(mb.Model), supplyBurn, mb.MTBurned})
		out.MTBurned += mb.MTBurned
		out.Models = append(out.Models, rec)
	}
	// One update of the supply record for the epoch's burns, not one per
	// model: the record holds every denom.
	burns = append(burns, supplyChange{DenomFlock, supplyBurn, bb.FlockBurned})
	if err := l.recordSupplies(burns...); err != nil {
		return nil, err
	}
	return out, nil
}
