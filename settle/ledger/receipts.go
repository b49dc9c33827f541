package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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

// receiptRecord is a receipt awaiting its epoch's close (/erc/...).
type receiptRecord struct {
	Account      string `json:"a"`
	Node         string `json:"n"`
	EntryNode    string `json:"e,omitempty"`
	InputTokens  uint64 `json:"i"`
	OutputTokens uint64 `json:"o"`
	Charge       uint64 `json:"c"`
	Discount     uint64 `json:"d,omitempty"`
	Paid         bool   `json:"p,omitempty"`
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
	for i, r := range rs {
		c, err := l.includeReceipt(r, b)
		if err != nil {
			return nil, err
		}
		out[i] = ReceiptResult{ID: r.IDHex(), Code: c}
	}
	return out, nil
}

// includeReceipt validates and charges one receipt. Its writes go to the tx
// layer only when it is included (paid or unpaid).
func (l *Ledger) includeReceipt(r *Receipt, b Block) (Code, error) {
	if !validName(r.Account) || !validName(r.Signer) || !validName(r.Model) || !validName(r.Node) ||
		(r.EntryNode != "" && !validName(r.EntryNode)) {
		return CodeBadTx, nil
	}
	if r.Account == TreasuryAccount || r.Signer == TreasuryAccount {
		return CodeTreasuryAccount, nil
	}
	id := r.IDHex()
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
	m, ok, err := l.model(r.Model)
	if err != nil {
		return "", err
	}
	if !ok {
		return CodeModelUnknown, nil
	}
	if i := sort.SearchStrings(m.Nodes, r.Node); i == len(m.Nodes) || m.Nodes[i] != r.Node {
		return CodeNotServing, nil
	}
	t, _ := l.tier(m.Tier)
	// Quoted prices lie between the tier floor and the list price, and
	// are exactly the account's effective prices in the epoch the
	// authorization was issued in: the discount of its opening stake
	// (§9.2), neither more (an unearned discount) nor less.
	if r.InputPrice > m.InputPrice || r.OutputPrice > m.OutputPrice ||
		r.InputPrice < t.MinInputPrice || r.OutputPrice < t.MinOutputPrice {
		return CodePriceMismatch, nil
	}
	d, err := l.discountOf(&l.s, r.Account, m, issued)
	if err != nil {
		return "", err
	}
	if r.InputPrice != d.InputPrice || r.OutputPrice != d.OutputPrice {
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
		var k SessionKey
		if err := l.s.getJSON(kk, &k); errors.Is(err, errNotFound) {
			return CodeBadSigner, nil
		} else if err != nil {
			return "", err
		}
		if r.IssuedAtMs >= k.ExpiresAtMs {
			return CodeKeyExpired, nil
		}
		spent, ok := addOK(k.Spent, charge)
		if !ok || spent > k.SpendLimit {
			return CodeKeySpendLimit, nil
		}
		k.Spent = spent
		l.s.putJSON(kk, k)
	}
	a, err := l.account(r.Account)
	if err != nil {
		return "", err
	}
	rec := receiptRecord{Account: r.Account, Node: r.Node, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, Charge: charge,
		Discount: listCharge - charge}
	if r.EntryNode != r.Node {
		rec.EntryNode = r.EntryNode
	}
	code := OK
	if a.Balances == nil {
		a.Balances = map[string]uint64{}
	}
	if a.Balances[DenomUSD] >= charge {
		a.Balances[DenomUSD] -= charge
		ek := pEscrow + epochKey(e) + "/" + r.Model
		esc, err := l.s.getU64(ek)
		if err != nil {
			return "", err
		}
		l.s.putU64(ek, esc+charge) // ≤ Σ usd supply: cannot overflow
		rec.Paid = true
	} else {
		a.Overdrawn = true
		a.UnpaidUSD, _ = addOK(a.UnpaidUSD, charge)
		code = CodeUnpaid
	}
	l.putAccount(r.Account, a)
	l.s.putJSON(pEpochRcpt+epochKey(e)+"/"+r.Model+"/"+id, rec)
	st := ReceiptState{Epoch: e, Model: r.Model, Account: r.Account, Charge: charge, Discount: rec.Discount, Paid: rec.Paid, Height: b.Height}
	if e != issued {
		st.IssuedEpoch = &issued
	}
	l.s.putJSON(pRcpt+id, st)
	return code, nil
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

// closeEpoch runs the §9.3 split of epoch e for every model and writes its
// EpochSettlement. It writes to the tx layer.
func (l *Ledger) closeEpoch(e uint64, b Block) error {
	ek := epochKey(e)
	ents, err := l.s.scan(pEpochRcpt + ek + "/")
	if err != nil {
		return err
	}
	st := EpochSettlement{
		Epoch: e, StartMs: l.EpochEnd(e) - l.gen.EpochMs, EndMs: l.EpochEnd(e),
		ClosedHeight: b.Height, ClosedTimeMs: b.TimeMs, Models: []ModelSettlement{},
	}
	ids := make([][32]byte, 0, len(ents))
	prefix := pEpochRcpt + ek + "/"
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
	// usage is the paid charges per model and account, for the emissions.
	var usage map[string]map[string]uint64
	if l.gen.emissionsOn() {
		usage = map[string]map[string]uint64{}
	}
	for i := 0; i < len(ents); {
		name, _, _ := strings.Cut(strings.TrimPrefix(ents[i].key, prefix), "/")
		j := i
		var paid []econ.Usage
		ms := ModelSettlement{Model: name}
		for ; j < len(ents) && strings.HasPrefix(ents[j].key, prefix+name+"/"); j++ {
			idHex := ents[j].key[len(prefix)+len(name)+1:]
			var id [32]byte
			if n, err := hex.Decode(id[:], []byte(idHex)); err != nil || n != 32 {
				return fmt.Errorf("ledger: bad receipt key %s", ents[j].key)
			}
			ids = append(ids, id)
			var rec receiptRecord
			if err := json.Unmarshal(ents[j].val, &rec); err != nil {
				return fmt.Errorf("ledger: receipt %s: %w", idHex, err)
			}
			l.s.del(ents[j].key)
			if !rec.Paid {
				ms.Unpaid++
				ms.UnpaidUSD += rec.Charge
				ms.UnpaidIDs = append(ms.UnpaidIDs, idHex)
				continue
			}
			if usage != nil {
				u := usage[name]
				if u == nil {
					u = map[string]uint64{}
					usage[name] = u
				}
				u[rec.Account] += rec.Charge // ≤ Σ usd supply
			}
			ms.Discounts, _ = addOK(ms.Discounts, rec.Discount)
			// The routing fee goes only to an entry node that is a
			// registered node and not the paying account; otherwise the
			// receipt settles as served directly and the fee stays in the
			// net split.
			entry := rec.EntryNode
			if entry != "" && entry != rec.Node {
				ok, err := isNode(entry)
				if err != nil {
					return err
				}
				if !ok || entry == rec.Account {
					entry = ""
					ms.RoutingDenied++
				}
			}
			paid = append(paid, econ.Usage{ID: id, InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens,
				Charge: rec.Charge, Node: rec.Node, EntryNode: entry})
		}
		i = j
		m, ok, err := l.model(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("ledger: epoch %d: receipts of unknown model %s", e, name)
		}
		t, _ := l.tier(m.Tier)
		ms.Issuer, ms.Tier, ms.CostPerMTok = m.Issuer, m.Tier, t.CostPerMTok
		split, err := econ.SplitModel(paid, t.CostPerMTok, l.gen.Params)
		if err != nil {
			return err
		}
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
		st.Discounts, _ = addOK(st.Discounts, ms.Discounts)
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
	root := MerkleRoot(ids)
	st.ReceiptsRoot = hex.EncodeToString(root[:])
	l.s.putJSON(pEpoch+ek, st)
	l.log.Debug("epoch closed", "epoch", e, "receipts", st.Receipts, "gross", st.Gross)
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
