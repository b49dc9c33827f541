package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// The query methods read committed state; call them between blocks.

func (l *Ledger) reader(ctx context.Context) *kv {
	return &kv{ctx: ctx, d: l.d, block: map[string][]byte{}, tx: map[string][]byte{}}
}

func getOpt[T any](ctx context.Context, l *Ledger, key string) (T, bool, error) {
	return lookupJSON[T](l.reader(ctx), key)
}

// Account returns an account's state; an unknown account is empty.
func (l *Ledger) Account(ctx context.Context, id string) (Account, error) {
	a, _, err := getOpt[Account](ctx, l, pAcct+id)
	return a, err
}

// SessionKey returns a session key of an account.
func (l *Ledger) SessionKey(ctx context.Context, account, key string) (SessionKey, bool, error) {
	return getOpt[SessionKey](ctx, l, pKey+account+"/"+key)
}

// KeyOwner returns the account a session key signs for.
func (l *Ledger) KeyOwner(ctx context.Context, key string) (string, bool, error) {
	b, ok, err := l.reader(ctx).get(pKeyOwner + key)
	return string(b), ok, err
}

// Node returns a registered node.
func (l *Ledger) Node(ctx context.Context, id string) (Node, bool, error) {
	return getOpt[Node](ctx, l, pNode+id)
}

// Model returns a registered model.
func (l *Ledger) Model(ctx context.Context, name string) (Model, bool, error) {
	return getOpt[Model](ctx, l, pModel+name)
}

// Epoch returns the settlement record of a closed epoch.
func (l *Ledger) Epoch(ctx context.Context, e uint64) (EpochSettlement, bool, error) {
	return getOpt[EpochSettlement](ctx, l, pEpoch+epochKey(e))
}

// Receipt returns the inclusion record of a receipt id (hex).
func (l *Ledger) Receipt(ctx context.Context, idHex string) (ReceiptState, bool, error) {
	return receiptState(l.reader(ctx), idHex)
}

// receiptState reads and decodes /rcpt/<idHex>.
func receiptState(r *kv, idHex string) (ReceiptState, bool, error) {
	b, ok, err := r.get(pRcpt + idHex)
	if err != nil || !ok {
		return ReceiptState{}, false, err
	}
	st, err := DecodeReceiptState(b)
	if err != nil {
		return ReceiptState{}, false, fmt.Errorf("ledger: receipt %s: %w", idHex, err)
	}
	return st, true, nil
}

// Supply returns the minted, burned and withdrawn totals of every denom
// that has had any.
func (l *Ledger) Supply(ctx context.Context) (map[string]Supply, error) {
	s, _, err := getOpt[map[string]Supply](ctx, l, kSupply)
	if s == nil {
		s = map[string]Supply{}
	}
	return s, err
}

// Treasury returns the treasury's holdings per denom: the balances of the
// [TreasuryAccount] (also visible as that account).
func (l *Ledger) Treasury(ctx context.Context) (map[string]uint64, error) {
	a, err := l.Account(ctx, TreasuryAccount)
	if a.Balances == nil {
		a.Balances = map[string]uint64{}
	}
	return a.Balances, err
}

// Reserves returns the usd held for buybacks: the protocol's FLOCK buyback
// reserve and each model's MT buyback reserve.
func (l *Ledger) Reserves(ctx context.Context) (flock uint64, mt map[string]uint64, err error) {
	r := l.reader(ctx)
	if flock, err = r.getU64(kFlockRes); err != nil {
		return 0, nil, err
	}
	ents, err := r.scan(pMTRes)
	if err != nil {
		return 0, nil, err
	}
	mt = map[string]uint64{}
	for _, e := range ents {
		mt[strings.TrimPrefix(e.key, pMTRes)] = binary.BigEndian.Uint64(e.val)
	}
	return flock, mt, nil
}

// TimeMs returns the time of the last applied block (ms; the genesis time
// before any): the time an offering's window and a vesting are read at.
func (l *Ledger) TimeMs() int64 {
	if l.hd.Height == 0 && l.hd.TimeMs == 0 {
		return l.gen.GenesisTimeMs
	}
	return l.hd.TimeMs
}

// RMOPositions returns how many accounts hold a position in a model's
// offering (the issuer's first buy included; redeemed positions too).
func (l *Ledger) RMOPositions(ctx context.Context, model string) (int, error) {
	if !validName(model) {
		return 0, nil
	}
	ents, err := l.reader(ctx).scan(pRMOBuy + model + "/")
	return len(ents), err
}

// Holdings returns, per denom, everything the state holds: balances (the
// treasury's included), node bonds (flock), epoch escrows and buyback
// reserves (usd), the emission reserve (flock), pool reserves, offering
// escrows (flock), model escrows (reserved flock, MT incentives), vesting
// MT not yet claimed, and staked and unbonding MT.
func (l *Ledger) Holdings(ctx context.Context) (map[string]uint64, error) {
	r := l.reader(ctx)
	out := map[string]uint64{}
	add := func(d string, v uint64) error {
		n, ok := addOK(out[d], v)
		if !ok {
			return fmt.Errorf("ledger: %s holdings overflow", d)
		}
		out[d] = n
		return nil
	}
	ents, err := r.scan(pAcct)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		var a Account
		if err := json.Unmarshal(e.val, &a); err != nil {
			return nil, err
		}
		for _, d := range sortedKeys(a.Balances) {
			if err := add(d, a.Balances[d]); err != nil {
				return nil, err
			}
		}
	}
	if ents, err = r.scan(pNode); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var n Node
		if err := json.Unmarshal(e.val, &n); err != nil {
			return nil, err
		}
		if err := add(DenomFlock, n.Bond); err != nil {
			return nil, err
		}
	}
	fr, err := r.getU64(kFlockRes)
	if err != nil {
		return nil, err
	}
	if err := add(DenomUSD, fr); err != nil {
		return nil, err
	}
	er, err := r.getU64(kEmReserve)
	if err != nil {
		return nil, err
	}
	if err := add(DenomFlock, er); err != nil {
		return nil, err
	}
	for _, p := range []string{pEscrow, pMTRes} {
		if ents, err = r.scan(p); err != nil {
			return nil, err
		}
		for _, e := range ents {
			if err := add(DenomUSD, binary.BigEndian.Uint64(e.val)); err != nil {
				return nil, err
			}
		}
	}
	if ents, err = r.scan(pPool); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var p PoolState
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, err
		}
		if err := add(p.DenomA, p.Pool.ReserveA); err != nil {
			return nil, err
		}
		if err := add(p.DenomB, p.Pool.ReserveB); err != nil {
			return nil, err
		}
	}
	if ents, err = r.scan(pRMO); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var o RMO
		if err := json.Unmarshal(e.val, &o); err != nil {
			return nil, err
		}
		if err := add(DenomFlock, o.Escrow()); err != nil {
			return nil, err
		}
	}
	if ents, err = r.scan(pMEscrow); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var m ModelEscrow
		if err := json.Unmarshal(e.val, &m); err != nil {
			return nil, err
		}
		if err := add(DenomFlock, m.ReservedFlock); err != nil {
			return nil, err
		}
		if err := add(MTDenom(strings.TrimPrefix(e.key, pMEscrow)), m.IncentivesMT); err != nil {
			return nil, err
		}
	}
	if ents, err = r.scan(pVest); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var v Vesting
		if err := json.Unmarshal(e.val, &v); err != nil {
			return nil, err
		}
		if err := add(MTDenom(v.Model), v.Total-v.Claimed); err != nil {
			return nil, err
		}
	}
	if ents, err = r.scan(pStake); err != nil {
		return nil, err
	}
	for _, e := range ents {
		var p StakePosition
		if err := json.Unmarshal(e.val, &p); err != nil {
			return nil, err
		}
		mt := MTDenom(e.key[strings.LastIndexByte(e.key, '/')+1:])
		if err := add(mt, p.Staked); err != nil {
			return nil, err
		}
		for _, u := range p.Unbonding {
			if err := add(mt, u.Amount); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// CheckConservation verifies DESIGN §9.8 for every denom:
// holdings + burned + withdrawn == minted (genesis included).
func (l *Ledger) CheckConservation(ctx context.Context) error {
	h, err := l.Holdings(ctx)
	if err != nil {
		return err
	}
	s, err := l.Supply(ctx)
	if err != nil {
		return err
	}
	denoms := map[string]bool{}
	for d := range h {
		denoms[d] = true
	}
	for d := range s {
		denoms[d] = true
	}
	for _, d := range sortedKeys(denoms) {
		x := s[d]
		out, ok1 := addOK(h[d], x.Burned)
		out, ok2 := addOK(out, x.Withdrawn)
		if !ok1 || !ok2 || out != x.Minted {
			return fmt.Errorf("ledger: %s not conserved: minted %d != holdings %d + burned %d + withdrawn %d",
				d, x.Minted, h[d], x.Burned, x.Withdrawn)
		}
	}
	return nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Validator is a node with voting power.
type Validator struct {
	Node  string `json:"node"`
	Power uint64 `json:"power"`
}

// Validators returns the validator set the bonds imply: power = bond ÷
// power_unit (default 1 flock), nodes with zero power left out, ordered by
// power descending then node id, at most max_validators (default 100).
// The chain applies it at epoch close.
func (l *Ledger) Validators(ctx context.Context) ([]Validator, error) {
	unit := l.gen.PowerUnit
	if unit == 0 {
		unit = 1_000_000
	}
	max := l.gen.MaxValidators
	if max <= 0 {
		max = 100
	}
	ents, err := l.reader(ctx).scan(pNode)
	if err != nil {
		return nil, err
	}
	var vs []Validator
	for _, e := range ents {
		var n Node
		if err := json.Unmarshal(e.val, &n); err != nil {
			return nil, err
		}
		if p := n.Bond / unit; p > 0 {
			vs = append(vs, Validator{Node: n.ID, Power: p})
		}
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Power != vs[j].Power {
			return vs[i].Power > vs[j].Power
		}
		return vs[i].Node < vs[j].Node
	})
	if len(vs) > max {
		vs = vs[:max]
	}
	return vs, nil
}
