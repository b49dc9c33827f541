package econ

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"sort"
)

// Destination names of the §9.3 net split, in the order they are applied.
const (
	DestMTBuyback    = "mt_buyback"
	DestFlockBuyback = "flock_buyback"
	DestTreasury     = "treasury"
	DestIssuer       = "issuer"
)

// Params are the economic parameters carried by the genesis file.
type Params struct {
	// GatewayBps is the routing fee, in bps of (charge − cost), paid to the
	// entry node of a forwarded receipt.
	GatewayBps uint32 `json:"gateway_bps"`
	// MTBuybackBps, FlockBuybackBps, TreasuryBps and IssuerBps split the net
	// revenue of a model; they sum to 10,000.
	MTBuybackBps    uint32 `json:"mt_buyback_bps"`
	FlockBuybackBps uint32 `json:"flock_buyback_bps"`
	TreasuryBps     uint32 `json:"treasury_bps"`
	IssuerBps       uint32 `json:"issuer_bps"`
	// DiscountTiers map MT stake to a price discount (§9.2).
	DiscountTiers []DiscountTier `json:"discount_tiers"`
}

// DefaultParams returns the DESIGN §9 defaults.
func DefaultParams() Params {
	return Params{
		GatewayBps:      200,
		MTBuybackBps:    4_000,
		FlockBuybackBps: 2_000,
		TreasuryBps:     1_000,
		IssuerBps:       3_000,
		DiscountTiers:   DefaultDiscountTiers(),
	}
}

// Validate reports whether the parameters are usable.
func (p Params) Validate() error {
	if p.GatewayBps > BpsDenom {
		return fmt.Errorf("econ: gateway_bps %d > 10000", p.GatewayBps)
	}
	sum := uint64(p.MTBuybackBps) + uint64(p.FlockBuybackBps) + uint64(p.TreasuryBps) + uint64(p.IssuerBps)
	if sum != uint64(BpsDenom) {
		return fmt.Errorf("econ: net split sums to %d bps, want 10000", sum)
	}
	for i, t := range p.DiscountTiers {
		if t.DiscountBps > BpsDenom {
			return fmt.Errorf("econ: discount tier %d: discount_bps %d > 10000", i, t.DiscountBps)
		}
	}
	return nil
}

// NetShares returns the four-way net split in application order.
func (p Params) NetShares() []Share {
	return []Share{
		{Name: DestMTBuyback, Bps: p.MTBuybackBps},
		{Name: DestFlockBuyback, Bps: p.FlockBuybackBps},
		{Name: DestTreasury, Bps: p.TreasuryBps},
		{Name: DestIssuer, Bps: p.IssuerBps},
	}
}

// NodeID identifies a node (its libp2p peer id in string form).
type NodeID = string

// Usage is what the epoch split needs of one paid receipt.
type Usage struct {
	// ID is the receipt id (sha256 of the authorization envelope).
	ID [32]byte
	// InputTokens and OutputTokens are the metered tokens.
	InputTokens  uint64
	OutputTokens uint64
	// Charge is the usd actually collected into escrow for the receipt.
	Charge uint64
	// Node is the serving node; EntryNode the node that forwarded the
	// request ("" or equal to Node when served directly).
	Node      NodeID
	EntryNode NodeID
}

// Payout is an amount owed to one node.
type Payout struct {
	Node   NodeID `json:"node"`
	Amount uint64 `json:"amount"`
}

// ModelSplit is the §9.3 revenue split of one model for one epoch.
// Gross == Σ NodeCosts + Σ RoutingFees + MTBuyback + FlockBuyback + Treasury + Issuer.
type ModelSplit struct {
	Receipts    uint64   `json:"receipts"`
	Tokens      uint64   `json:"tokens"`
	Gross       uint64   `json:"gross"`
	Cost        uint64   `json:"cost"`
	RoutingFee  uint64   `json:"routing_fee"`
	Net         uint64   `json:"net"`
	NodeCosts   []Payout `json:"node_costs"`
	RoutingFees []Payout `json:"routing_fees"`
	// MTBuyback, FlockBuyback and Issuer are the floored net shares.
	MTBuyback    uint64 `json:"mt_buyback"`
	FlockBuyback uint64 `json:"flock_buyback"`
	Issuer       uint64 `json:"issuer"`
	// Treasury is the treasury share plus all dust of the split.
	Treasury uint64 `json:"treasury"`
	// Dust is the part of Treasury that came from rounding.
	Dust uint64 `json:"dust"`
}

// ErrSplitOverflow is returned when a sum in the split exceeds uint64.
var ErrSplitOverflow = errors.New("econ: split total overflows uint64")

func add(a, b uint64) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c == 0
}

// UsageSplit is the §9.3 split of one paid receipt.
type UsageSplit struct {
	// Tokens is in + out, saturating at the largest uint64.
	Tokens uint64
	// Cost goes to the serving node, Fee to the entry node of a forwarded
	// receipt and Net to the net split; Cost + Fee + Net == the charge.
	Cost uint64
	Fee  uint64
	Net  uint64
}

// Forwarded reports whether the receipt came through an entry node other
// than its serving node, and so owes a routing fee.
func (u *Usage) Forwarded() bool { return u.EntryNode != "" && u.EntryNode != u.Node }

// SplitUsage returns the split of one paid receipt:
// cost = min(tokens × costPerMTok ÷ 1e6, charge); fee = floor((charge −
// cost) × gatewayBps ÷ 10000) when forwarded, else 0; net = the rest.
func SplitUsage(u *Usage, costPerMTok uint64, gatewayBps uint32) UsageSplit {
	tokens, ok := add(u.InputTokens, u.OutputTokens)
	if !ok {
		tokens = ^uint64(0)
	}
	c := Cost(tokens, costPerMTok, u.Charge)
	rest := u.Charge - c
	var fee uint64
	if u.Forwarded() {
		fee = BpsOf(rest, gatewayBps)
	}
	return UsageSplit{Tokens: tokens, Cost: c, Fee: fee, Net: rest - fee}
}

// SplitTotals are the sums over a model's paid receipts that its split
// is built from.
type SplitTotals struct {
	Receipts   uint64
	Tokens     uint64 // saturating; informational only
	Gross      uint64
	Cost       uint64
	RoutingFee uint64
	Net        uint64
}

// Add adds one paid receipt of the given charge and split. It fails with
// ErrSplitOverflow when the gross would overflow; the totals are then
// unchanged.
func (t *SplitTotals) Add(charge uint64, s UsageSplit) error {
	g, ok := add(t.Gross, charge)
	if !ok {
		return ErrSplitOverflow
	}
	t.Gross = g
	if t.Tokens, ok = add(t.Tokens, s.Tokens); !ok {
		t.Tokens = ^uint64(0)
	}
	// Σ cost, fee and net are each ≤ gross, which did not overflow.
	t.Cost += s.Cost
	t.RoutingFee += s.Fee
	t.Net += s.Net
	t.Receipts++
	return nil
}

// NewModelSplit builds the split of one model from its totals and its
// payouts per node (each sorted by node id, every amount > 0, the costs
// summing to t.Cost and the fees to t.RoutingFee): the net is divided by
// [Params.NetShares], the dust going to the treasury.
func NewModelSplit(t SplitTotals, nodeCosts, routingFees []Payout, p Params) ModelSplit {
	if nodeCosts == nil {
		nodeCosts = []Payout{}
	}
	if routingFees == nil {
		routingFees = []Payout{}
	}
	out := ModelSplit{
		Receipts: t.Receipts, Tokens: t.Tokens, Gross: t.Gross, Cost: t.Cost, RoutingFee: t.RoutingFee, Net: t.Net,
		NodeCosts: nodeCosts, RoutingFees: routingFees,
	}
	parts, dust := SplitBps(out.Net, p.NetShares())
	out.MTBuyback, out.FlockBuyback, out.Issuer = parts[0], parts[1], parts[3]
	out.Treasury = parts[2] + dust
	out.Dust = dust
	return out
}

// SplitModel computes the §9.3 split of one model's paid receipts for an
// epoch, given the tier's cost per million tokens:
//
//  1. cost_i = min((in_i+out_i) × costPerMTok ÷ 1e6, charge_i) → serving node;
//  2. fee_i = floor((charge_i − cost_i) × gateway_bps ÷ 10000) → entry node,
//     only for forwarded receipts (EntryNode set and ≠ Node);
//  3. net = Σ (charge_i − cost_i − fee_i), split by [Params.NetShares],
//     the dust going to the treasury.
//
// The result does not depend on the order of receipts: payouts are summed
// per node and sorted by node id. Σ outputs == Σ charges exactly. It is
// [SplitUsage] per receipt, summed by [SplitTotals.Add], then
// [NewModelSplit].
func SplitModel(receipts []Usage, costPerMTok uint64, p Params) (ModelSplit, error) {
	var t SplitTotals
	costs := map[NodeID]uint64{}
	fees := map[NodeID]uint64{}
	for i := range receipts {
		r := &receipts[i]
		s := SplitUsage(r, costPerMTok, p.GatewayBps)
		if err := t.Add(r.Charge, s); err != nil {
			return ModelSplit{}, err
		}
		if s.Cost > 0 {
			costs[r.Node] += s.Cost
		}
		if s.Fee > 0 {
			fees[r.EntryNode] += s.Fee
		}
	}
	return NewModelSplit(t, sortedPayouts(costs), sortedPayouts(fees), p), nil
}

func sortedPayouts(m map[NodeID]uint64) []Payout {
	ps := make([]Payout, 0, len(m))
	for n, a := range m {
		ps = append(ps, Payout{Node: n, Amount: a})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Node < ps[j].Node })
	return ps
}

// Total returns the sum of every output of the split; it equals Gross.
func (s ModelSplit) Total() uint64 {
	t := s.MTBuyback + s.FlockBuyback + s.Treasury + s.Issuer
	for _, p := range s.NodeCosts {
		t += p.Amount
	}
	for _, p := range s.RoutingFees {
		t += p.Amount
	}
	return t
}

// SortUsage orders receipts by id, the canonical order of an epoch.
func SortUsage(us []Usage) {
	sort.Slice(us, func(i, j int) bool { return bytes.Compare(us[i].ID[:], us[j].ID[:]) < 0 })
}
