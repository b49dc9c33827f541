package devnet

import (
	"math/big"
	"sort"
)

// The epoch figures recomputed here from the formulas of DESIGN §9, with
// math/big and none of package econ, so that the devnet's settlements are
// checked against an independent computation of the same inputs.

const (
	bps   = 10_000
	fixed = 1_000_000_000_000_000_000 // 1.0 in 1e18 fixed point
)

func bi(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// mulDiv is floor(a × b / c).
func mulDiv(a, b, c uint64) uint64 {
	v := new(big.Int).Mul(bi(a), bi(b))
	return v.Quo(v, bi(c)).Uint64()
}

// paidUsage is one paid receipt as the split sees it.
type paidUsage struct {
	tokens, charge uint64
	node, entry    string // entry "" when served directly or denied a fee
}

// splitTotals is a model's §9.3 split.
type splitTotals struct {
	gross, cost, routing, net, mt, flock, treasury, issuer uint64
}

// recomputeSplit splits a model's paid receipts: each receipt's cost
// min(tokens × costPerMTok / 1e6, charge) to its node, a forwarded one's
// fee floor((charge − cost) × gateway / 10000) to its entry node, the rest
// (net) four ways by floored shares with the dust to the treasury.
func recomputeSplit(rs []paidUsage, costPerMTok uint64, gateway uint64, shares [4]uint64) splitTotals {
	var s splitTotals
	for _, r := range rs {
		c := min(mulDiv(r.tokens, costPerMTok, 1_000_000), r.charge)
		var fee uint64
		if r.entry != "" && r.entry != r.node {
			fee = (r.charge - c) * gateway / bps
		}
		s.gross += r.charge
		s.cost += c
		s.routing += fee
		s.net += r.charge - c - fee
	}
	s.mt = mulDiv(s.net, shares[0], bps)
	s.flock = mulDiv(s.net, shares[1], bps)
	s.issuer = mulDiv(s.net, shares[3], bps)
	s.treasury = s.net - s.mt - s.flock - s.issuer
	return s
}

// ageFactor is max(floor, 1e18 × (window − age) / window).
func ageFactor(ageMs, windowMs int64, floorBps uint64) uint64 {
	floor := fixed / bps * floorBps
	if ageMs < 0 {
		ageMs = 0
	}
	if ageMs >= windowMs {
		return floor
	}
	return max(floor, mulDiv(fixed, uint64(windowMs-ageMs), uint64(windowMs)))
}

// modelInput is what the cross-model allocation needs of one model.
type modelInput struct {
	name  string
	gross uint64
	ageMs int64
}

// recomputeAllocation gives each model floor(budget × w / Σ w) with w =
// gross × age factor, capped at floor(gross × cap × priceDen / (10000 ×
// priceNum)) FLOCK.
func recomputeAllocation(budget uint64, ms []modelInput, windowMs int64, floorBps, capBps, priceNum, priceDen uint64) map[string]uint64 {
	total := new(big.Int)
	w := map[string]*big.Int{}
	for _, m := range ms {
		w[m.name] = new(big.Int).Mul(bi(m.gross), bi(ageFactor(m.ageMs, windowMs, floorBps)))
		total.Add(total, w[m.name])
	}
	out := map[string]uint64{}
	for _, m := range ms {
		if total.Sign() == 0 {
			out[m.name] = 0
			continue
		}
		share := new(big.Int).Mul(bi(budget), w[m.name])
		share.Quo(share, total)
		capAt := new(big.Int).Mul(bi(m.gross), bi(capBps))
		capAt.Mul(capAt, bi(priceDen))
		capAt.Quo(capAt, new(big.Int).Mul(bi(bps), bi(priceNum)))
		if share.Cmp(capAt) > 0 {
			share = capAt
		}
		out[m.name] = share.Uint64()
	}
	return out
}

// participant is one account's paid usage and counting stake on a model.
type participant struct {
	account      string
	usage, stake uint64
}

// shareOf is floor(part × 1e18 / total), 0 when total is 0.
func shareOf(part, total uint64) uint64 {
	if total == 0 {
		return 0
	}
	return mulDiv(part, fixed, total)
}

// scores are global_score = us × (α + (1 − α) × √ss) with the square root
// taken in 1e18 fixed point, or, when incentive is set, incentive_score =
// us × ss.
func scores(ps []participant, alpha uint64, incentive bool) map[string]uint64 {
	var u, s uint64
	for _, p := range ps {
		u += p.usage
		s += p.stake
	}
	out := map[string]uint64{}
	for _, p := range ps {
		us, ss := shareOf(p.usage, u), shareOf(p.stake, s)
		if incentive {
			out[p.account] = mulDiv(us, ss, fixed)
			continue
		}
		if us == 0 {
			out[p.account] = 0
			continue
		}
		root := new(big.Int).Sqrt(new(big.Int).Mul(bi(ss), bi(fixed))).Uint64()
		out[p.account] = mulDiv(us, alpha+mulDiv(fixed-alpha, root, fixed), fixed)
	}
	return out
}

// distribute gives each account floor(amount × score / Σ scores).
func distribute(amount uint64, sc map[string]uint64) map[string]uint64 {
	total := new(big.Int)
	accts := make([]string, 0, len(sc))
	for a, s := range sc {
		total.Add(total, bi(s))
		accts = append(accts, a)
	}
	sort.Strings(accts)
	out := map[string]uint64{}
	for _, a := range accts {
		if total.Sign() == 0 {
			out[a] = 0
			continue
		}
		v := new(big.Int).Mul(bi(amount), bi(sc[a]))
		out[a] = v.Quo(v, total).Uint64()
	}
	return out
}
