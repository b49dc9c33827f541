package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/store"
)

var propAccounts = []string{"alice", "bob", "carol", "n1", "n2", "e1", "issuer", protocol, TreasuryAccount}

// propDenoms are the denoms the generator deposits, withdraws and moves:
// only usd deposits and usd/flock withdrawals succeed.
var propDenoms = []string{DenomUSD, DenomUSD, DenomFlock, MTDenom("m1")}

// gen generates random but valid-shaped blocks: mostly well-formed txs,
// some failing (bad nonces, overdrafts, unknown nodes), receipts of several
// epochs, resubmissions and overspending clients. Nonces come from the
// ledger the blocks are generated against.
type gen struct {
	r   *rand.Rand
	sr  *rand.Rand // staking txs, apart so that the other txs keep their stream
	now int64
	h   int64
	ids []Receipt
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), sr: rand.New(rand.NewPCG(seed, 0x5eed)), now: t0}
}

func (g *gen) next(t testing.TB, l *Ledger) Block {
	r := g.r
	g.h++
	g.now += int64(r.IntN(epochMs / 4))
	h, now := g.h, g.now
	nonces := map[string]uint64{}
	pick := func() string { return propAccounts[r.IntN(len(propAccounts))] }
	tx := func(a string, b Body) Tx {
		if _, ok := nonces[a]; !ok {
			acct, err := l.Account(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			nonces[a] = acct.Nonce
		}
		if r.IntN(30) == 0 {
			return Tx{Account: a, Nonce: nonces[a] + 7, Body: b} // bad nonce
		}
		nonces[a]++
		return Tx{Account: a, Nonce: nonces[a], Body: b}
	}
	var txs []Tx
	if h == 1 {
		txs = append(txs,
			tx("n1", RegisterNode{Bond: 10 * econ.Unit}), tx("n2", RegisterNode{Bond: 10 * econ.Unit}),
			tx("e1", RegisterNode{Bond: 10 * econ.Unit}),
			tx("issuer", RegisterModel{Name: "m1", ManifestSHA256: manifest, Tier: "small", InputPrice: 200_000, OutputPrice: 600_000}),
			tx("issuer", RegisterModel{Name: "big", ManifestSHA256: manifest, Tier: "large", InputPrice: 2_000_000, OutputPrice: 4_000_000}),
			tx("n1", ServeModel{Model: "m1"}), tx("n2", ServeModel{Model: "m1"}), tx("n2", ServeModel{Model: "big"}),
			tx("alice", AuthorizeKey{Key: "ak", SpendLimit: 50_000, ExpiresAtMs: t0 + 3*epochMs}),
		)
	}
	for range r.IntN(6) {
		a := pick()
		denom := propDenoms[r.IntN(len(propDenoms))]
		model := []string{"m1", "big"}[r.IntN(2)]
		if r.IntN(2) == 0 {
			switch r.IntN(6) {
			case 0:
				pool, in := PoolFlockUSD, []string{DenomFlock, DenomUSD}[r.IntN(2)]
				if r.IntN(2) == 0 {
					pool, in = ModelPoolID(model), []string{MTDenom(model), DenomFlock}[r.IntN(2)]
				}
				minOut := uint64(0)
				if r.IntN(5) == 0 {
					minOut = r.Uint64N(econ.Unit)
				}
				txs = append(txs, tx(a, Swap{Pool: pool, DenomIn: in, AmountIn: r.Uint64N(3 * econ.Unit), MinOut: minOut}))
			case 1:
				from := "issuer"
				if r.IntN(6) == 0 {
					from = a
				}
				lo := 1 + r.Uint64N(8)
				txs = append(txs, tx(from, LaunchRMO{Model: model, RaiseMin: lo * econ.Unit, RaiseMax: (lo + r.Uint64N(25)) * econ.Unit,
					DurationMs: int64(r.IntN(3)) * epochMs / 2, FirstBuy: r.Uint64N(2) * r.Uint64N(8*econ.Unit)}))
			case 2, 3:
				txs = append(txs, tx(a, Commit{Model: model, Amount: r.Uint64N(6 * econ.Unit)}))
			case 4:
				txs = append(txs, tx(a, []Body{Graduate{Model: model}, Redeem{Model: model}}[r.IntN(2)]))
			case 5:
				txs = append(txs, tx("issuer", ClaimVested{Model: model}))
			}
			continue
		}
		switch r.IntN(11) {
		case 0:
			txs = append(txs, tx(protocol, Deposit{To: pick(), Denom: denom, Amount: r.Uint64N(2 * econ.Unit)}))
		case 1:
			txs = append(txs, tx(a, Withdraw{Denom: denom, Amount: r.Uint64N(econ.Unit)}))
		case 2:
			txs = append(txs, tx(a, Transfer{To: pick(), Denom: denom, Amount: r.Uint64N(econ.Unit)}))
		case 10:
			from := protocol
			if r.IntN(4) == 0 {
				from = a
			}
			txs = append(txs, tx(from, TreasurySpend{To: pick(), Denom: denom, Amount: r.Uint64N(20_000)}))
		case 3:
			txs = append(txs, tx(a, RegisterNode{Bond: r.Uint64N(econ.Unit)}))
		case 4:
			if r.IntN(4) == 0 {
				txs = append(txs, tx(a, UnbondNode{}))
			} else {
				txs = append(txs, tx(a, ServeModel{Model: []string{"m1", "big"}[r.IntN(2)]}))
			}
		default:
			var rs []Receipt
			for range 1 + r.IntN(8) {
				if len(g.ids) > 0 && r.IntN(8) == 0 {
					rs = append(rs, g.ids[r.IntN(len(g.ids))]) // resubmission
					continue
				}
				var seed [16]byte
				binary.BigEndian.PutUint64(seed[:], r.Uint64())
				binary.BigEndian.PutUint64(seed[8:], uint64(h))
				model, in, out := "m1", uint64(200_000), uint64(600_000)
				if r.IntN(3) == 0 {
					model, in, out = "big", 2_000_000, 4_000_000
				}
				acct := []string{"alice", "bob", "carol", "e1"}[r.IntN(4)]
				signer := acct
				if acct == "alice" && r.IntN(2) == 0 {
					signer = "ak"
				}
				rc := Receipt{
					ID: sha256.Sum256(seed[:]), Account: acct, Signer: signer, Model: model,
					Node: []string{"n1", "n2", "n2", "e1"}[r.IntN(4)], EntryNode: []string{"", "e1", "n1", "ghost", acct}[r.IntN(5)],
					IssuedAtMs: now - int64(r.IntN(epochMs/3)), InputTokens: r.Uint64N(200_000), OutputTokens: r.Uint64N(50_000),
					InputPrice: in, OutputPrice: out,
				}
				rc.Charge, _ = econ.Charge(rc.InputTokens, rc.OutputTokens, in, out)
				rs = append(rs, rc)
				g.ids = append(g.ids, rc)
			}
			txs = append(txs, tx(a, SubmitReceipts{Receipts: rs}))
		}
	}
	// Staking: stake, unstake and claim of either model's MT by any
	// account or by alice's session key.
	sr := g.sr
	for range sr.IntN(4) {
		a := []string{"alice", "bob", "carol", "carol", "issuer", "ak"}[sr.IntN(6)]
		model := []string{"m1", "m1", "big"}[sr.IntN(3)]
		if _, ok := nonces[a]; !ok {
			acct, err := l.Account(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			nonces[a] = acct.Nonce
		}
		nonces[a]++
		var b Body
		switch sr.IntN(5) {
		case 0, 1:
			b = Stake{Model: model, Amount: sr.Uint64N(econ.Unit / 2)}
		case 2, 3:
			b = Unstake{Model: model, Amount: sr.Uint64N(econ.Unit / 3)}
		default:
			b = ClaimUnbonded{Model: model}
		}
		txs = append(txs, Tx{Account: a, Nonce: nonces[a], Body: b})
	}
	return Block{Height: h, TimeMs: now, Txs: txs}
}

// propGenesis has a small FLOCK/usd pool, offerings of 1 FLOCK launch fee
// with raises of a few FLOCK over windows of up to two epochs, and vesting
// over three epochs, so that random histories launch, fill, graduate, fail,
// redeem, swap in every pool, buy back and claim.
func propGenesis() Genesis {
	g := testGenesis()
	g.Economics = econEconomics()
	g.Economics.FlockPoolFlock, g.Economics.FlockPoolUSD = 1_000*econ.Unit, 100*econ.Unit
	g.Economics.LaunchFee = econ.Unit
	g.Economics.RaiseWindowMs = 2 * epochMs
	g.Economics.IssuerVestingMs = 3 * epochMs
	g.Economics.UnbondingEpochs = 2
	for i := range g.Tiers {
		g.Tiers[i].RaiseMin, g.Tiers[i].RaiseMax = 2*econ.Unit, 30*econ.Unit
	}
	g.Accounts = []GenesisAccount{
		{ID: "alice", Balances: map[string]uint64{DenomUSD: 3 * econ.Unit, DenomFlock: 40 * econ.Unit}},
		{ID: "bob", Balances: map[string]uint64{DenomUSD: 20_000, DenomFlock: 40 * econ.Unit}},
		{ID: "carol", Balances: map[string]uint64{DenomUSD: econ.Unit, DenomFlock: econ.Unit, MTDenom("m1"): econ.Unit}},
		{ID: "n1", Balances: map[string]uint64{DenomFlock: 100 * econ.Unit}},
		{ID: "n2", Balances: map[string]uint64{DenomFlock: 100 * econ.Unit}},
		{ID: "e1", Balances: map[string]uint64{DenomUSD: econ.Unit, DenomFlock: 100 * econ.Unit}},
		{ID: "issuer", Balances: map[string]uint64{DenomFlock: 60 * econ.Unit}},
		{ID: TreasuryAccount, Balances: map[string]uint64{DenomUSD: 5_000}},
	}
	return g
}

// withEmissions funds an emission reserve of 1,000 FLOCK (the first budget
// derived from it) with a short half-life, age horizon and release, so that
// histories emit, cap, carry and release within their few epochs.
func withEmissions(g Genesis) Genesis {
	e := &g.Economics
	e.EmissionReserveFlock = 1_000 * econ.Unit
	e.EmissionHalfLifeMs, e.AgeHorizonMs, e.IncentiveReleaseMs = 5*epochMs, 10*epochMs, 4*epochMs
	e.AgeFloorBps, e.EmissionCapBps, e.IssuerBonusBps, e.AlphaBps = 2_500, 10_000, 1_000, 9_000
	return g
}

// propUsage is the paid usage per epoch, model and account, from the
// receipt results of successful SubmitReceipts txs.
type propUsage map[uint64]map[string]map[string]uint64

func (u propUsage) add(t *testing.T, l *Ledger, res []TxResult) {
	t.Helper()
	for _, tr := range res {
		if tr.Code != OK {
			continue
		}
		for _, rr := range tr.Receipts {
			if rr.Code != OK {
				continue
			}
			st, ok, err := l.Receipt(context.Background(), rr.ID)
			if err != nil || !ok || !st.Paid {
				t.Fatalf("receipt %s: %+v %v %v", rr.ID, st, ok, err)
			}
			if u[st.Epoch] == nil {
				u[st.Epoch] = map[string]map[string]uint64{}
			}
			if u[st.Epoch][st.Model] == nil {
				u[st.Epoch][st.Model] = map[string]uint64{}
			}
			u[st.Epoch][st.Model][st.Account] += st.Charge
		}
	}
}

// checkEmissions checks an epoch's emissions against the usage (DESIGN
// §9.8: no usage → no emissions, for a model and for an account) and the
// reserve's accounting; it counts what was paid into all.
func checkEmissions(t *testing.T, st EpochSettlement, usage map[string]map[string]uint64, all map[Code]int) {
	t.Helper()
	em := st.Emissions
	if em == nil {
		return
	}
	if em.Budget > em.ReserveBefore || em.Paid > em.Budget || em.ReserveBefore-em.ReserveAfter != em.Paid {
		t.Fatalf("epoch %d: emission accounting: %+v", st.Epoch, em)
	}
	if a := em.Allocation; a != nil {
		if a.Paid+a.Capped+a.Dust != a.Budget {
			t.Fatalf("epoch %d: allocation does not sum: %+v", st.Epoch, a)
		}
		for _, me := range a.Models {
			var gross uint64
			for _, v := range usage[me.Model] {
				gross += v
			}
			if gross == 0 && me.Amount != 0 {
				t.Fatalf("epoch %d: model %s without usage emitted %d", st.Epoch, me.Model, me.Amount)
			}
			if me.Capped > 0 {
				all["emission_capped"]++
			}
		}
	}
	for _, mr := range em.Models {
		var sum uint64
		for _, u := range mr.Users {
			if u.Amount > 0 && usage[mr.Model][u.Account] == 0 {
				t.Fatalf("epoch %d: %s rewarded %d on %s without usage", st.Epoch, u.Account, u.Amount, mr.Model)
			}
			if u.Amount > 0 {
				all["emission_paid"]++
			}
			sum += u.Amount
		}
		if mr.Issuer+sum+mr.Unallocated != mr.Amount {
			t.Fatalf("epoch %d: %s split does not sum: %+v", st.Epoch, mr.Model, mr)
		}
	}
	for _, g := range em.Gated {
		for _, s := range []econ.GatedSplit{g.Flock, g.MT} {
			sum := s.Carry
			for _, u := range s.Users {
				if u.Amount > 0 && usage[g.Model][u.Account] == 0 {
					t.Fatalf("epoch %d: %s released %d on %s without usage", st.Epoch, u.Account, u.Amount, g.Model)
				}
				if u.Amount > 0 {
					all["gated_paid"]++
				}
				sum += u.Amount
			}
			if sum != s.Release+s.CarryIn {
				t.Fatalf("epoch %d: %s gated split does not sum: %+v", st.Epoch, g.Model, s)
			}
			if s.Carry > 0 {
				all["gated_carry"]++
			}
		}
	}
}

// TestConservationProperty applies random block sequences and checks after
// every block that every denom is conserved and no balance went negative
// (balances are unsigned: an underflow would show as a conservation break).
func TestConservationProperty(t *testing.T) {
	ctx := context.Background()
	all := map[Code]int{} // over every seed
	defer func() {
		// Every rule was exercised by some history.
		for _, c := range []Code{CodeDepositNotUSD, CodeNotWithdrawable, CodeTreasuryAccount, CodeNotProtocol, "treasury_spent", "routing_denied", "routing_paid",
			"ok:swap", "ok:launch_rmo", "ok:commit", "ok:graduate", "ok:redeem", "ok:claim_vested", "mt_burned", "graduated_at_max",
			CodeBelowMinOut, CodeBadRaise, CodeRMONotOpen, CodeNotGraduable, CodeNotFailed, CodeNothingToClaim, CodeNotIssuer,
			"ok:stake", "ok:unstake", "ok:claim_unbonded", CodeInsufficientStake, CodeStillUnbonding, CodeSessionKeyStake,
			"emission_paid", "emission_capped", "gated_paid", "gated_carry"} {
			if all[c] == 0 {
				t.Errorf("no history exercised %s: %v", c, all)
			}
		}
	}()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			// Odd seeds run with a funded emission reserve.
			gen := propGenesis()
			if seed%2 == 1 {
				gen = withEmissions(gen)
			}
			l, err := New(ctx, store.NewMemory(), gen)
			if err != nil {
				t.Fatal(err)
			}
			var closed, receipts int
			codes := map[Code]int{}
			g := newGen(seed)
			m := newSupplyModel(gen)
			usage := propUsage{}
			for range 60 {
				b := g.next(t, l)
				before, err := l.Pools(ctx)
				if err != nil {
					t.Fatal(err)
				}
				res, err := l.ApplyBlock(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				checkPoolsK(t, l, before, b.Height)
				usage.add(t, l, res.Txs)
				closed += len(res.ClosedEpochs)
				for _, e := range res.ClosedEpochs {
					st, ok, err := l.Epoch(ctx, e)
					if err != nil || !ok {
						t.Fatalf("epoch %d: %v %v", e, ok, err)
					}
					m.treasury[DenomUSD] += st.Treasury
					checkEmissions(t, st, usage[e], all)
					if (st.Emissions != nil) != (seed%2 == 1) {
						t.Fatalf("epoch %d: emissions %v on seed %d", e, st.Emissions != nil, seed)
					}
					for _, ms := range st.Models {
						all["routing_denied"] += int(ms.RoutingDenied)
						all["routing_paid"] += len(ms.Split.RoutingFees)
					}
					m.burn(st.Buybacks)
					if st.Buybacks != nil && st.Buybacks.MTBurned > 0 {
						all["mt_burned"]++
					}
				}
				for i, tr := range res.Txs {
					receipts += len(tr.Receipts)
					codes[tr.Code]++
					for _, rr := range tr.Receipts {
						codes["receipt:"+rr.Code]++
					}
					if tr.Code == OK {
						m.apply(t, b.Txs[i])
						codes[Code("ok:"+b.Txs[i].Body.Type())]++
					}
				}
				if err := l.CheckConservation(ctx); err != nil {
					t.Fatalf("height %d: %v", b.Height, err)
				}
				m.check(t, l, b.Height)
			}
			for c, n := range codes {
				all[c] += n
			}
			rmos, err := l.RMOs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range rmos {
				if o.Graduation != nil && o.Graduation.Unsold == 0 {
					all["graduated_at_max"]++
				}
			}
			all["treasury_spent"] += m.spent
			if codes["receipt:"+OK] == 0 || codes["receipt:"+CodeUnpaid] == 0 && seed == 0 {
				t.Fatalf("degenerate sequence: %v", codes)
			}
			if seed == 0 {
				t.Logf("codes: %v", codes)
			}
			if closed == 0 || receipts == 0 {
				t.Fatalf("degenerate sequence: %d epochs closed, %d receipts", closed, receipts)
			}
		})
	}
}

// supplyModel is what the supply and the treasury must be, computed from
// the genesis, the successful txs and the epoch settlements alone.
type supplyModel struct {
	supply   map[string]Supply
	treasury map[string]uint64
	spent    int // successful treasury spends
	// staked and unbonding per account/model, from the successful staking
	// txs; claimed is what ClaimUnbonded paid, from the balances.
	staked, unbonding map[string]uint64
}

func newSupplyModel(g Genesis) *supplyModel {
	m := &supplyModel{supply: map[string]Supply{}, treasury: map[string]uint64{}, staked: map[string]uint64{}, unbonding: map[string]uint64{}}
	for _, a := range g.Accounts {
		for d, v := range a.Balances {
			s := m.supply[d]
			s.Minted += v
			m.supply[d] = s
			if a.ID == TreasuryAccount {
				m.treasury[d] += v
			}
		}
	}
	for _, n := range g.Nodes {
		s := m.supply[DenomFlock]
		s.Minted += n.Bond
		m.supply[DenomFlock] = s
	}
	if v := g.Economics.EmissionReserveFlock; v > 0 {
		s := m.supply[DenomFlock]
		s.Minted += v
		m.supply[DenomFlock] = s
	}
	if e := g.Economics; e.FlockPoolFlock > 0 {
		s := m.supply[DenomFlock]
		s.Minted += e.FlockPoolFlock
		m.supply[DenomFlock] = s
		s = m.supply[DenomUSD]
		s.Minted += e.FlockPoolUSD
		m.supply[DenomUSD] = s
	}
	return m
}

// burn records an epoch's buyback burns.
func (m *supplyModel) burn(b *EpochBuybacks) {
	if b == nil {
		return
	}
	s := m.supply[DenomFlock]
	s.Burned += b.FlockBurned
	m.supply[DenomFlock] = s
	for _, mb := range b.Models {
		if mb.MTBurned > 0 {
			d := MTDenom(mb.Model)
			s := m.supply[d]
			s.Burned += mb.MTBurned
			m.supply[d] = s
		}
	}
}

// checkPoolsK checks that no pool's k = reserve_a × reserve_b decreased
// in a block (swaps and buybacks round in the pool's favour) and that no
// pool disappeared.
func checkPoolsK(t *testing.T, l *Ledger, before []PoolState, height int64) {
	t.Helper()
	after, err := l.Pools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := map[string]PoolState{}
	for _, p := range after {
		now[p.ID] = p
		if p.Pool.ReserveA == 0 || p.Pool.ReserveB == 0 {
			t.Fatalf("height %d: pool %s emptied: %v", height, p.ID, p.Pool)
		}
	}
	for _, p := range before {
		q, ok := now[p.ID]
		if !ok {
			t.Fatalf("height %d: pool %s disappeared", height, p.ID)
		}
		if q.Pool.K().Cmp(p.Pool.K()) < 0 {
			t.Fatalf("height %d: pool %s k decreased: %v → %v", height, p.ID, p.Pool, q.Pool)
		}
	}
}

// apply records a tx that succeeded.
func (m *supplyModel) apply(t *testing.T, tx Tx) {
	t.Helper()
	switch b := tx.Body.(type) {
	case Deposit:
		if b.Denom != DenomUSD {
			t.Fatalf("a deposit of %s succeeded", b.Denom)
		}
		s := m.supply[b.Denom]
		s.Minted += b.Amount
		m.supply[b.Denom] = s
		if b.To == TreasuryAccount {
			m.treasury[b.Denom] += b.Amount
		}
	case Withdraw:
		if b.Denom != DenomUSD && b.Denom != DenomFlock {
			t.Fatalf("a withdrawal of %s succeeded", b.Denom)
		}
		s := m.supply[b.Denom]
		s.Withdrawn += b.Amount
		m.supply[b.Denom] = s
	case Transfer:
		if b.To == TreasuryAccount {
			m.treasury[b.Denom] += b.Amount
		}
	case Stake:
		m.staked[tx.Account+"/"+b.Model] += b.Amount
	case Unstake:
		m.staked[tx.Account+"/"+b.Model] -= b.Amount
		m.unbonding[tx.Account+"/"+b.Model] += b.Amount
	case TreasurySpend:
		if tx.Account != protocol {
			t.Fatalf("%s spent the treasury", tx.Account)
		}
		m.treasury[b.Denom] -= b.Amount
		m.spent++
	}
	if tx.Account == TreasuryAccount {
		t.Fatalf("a %s tx from the treasury succeeded", tx.Body.Type())
	}
}

func (m *supplyModel) check(t *testing.T, l *Ledger, height int64) {
	t.Helper()
	ctx := context.Background()
	sup, err := l.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The offerings: graduation mints MT (the treasury's bucket to the
	// treasury); launch fees and the treasury's commit fees are flock.
	want := map[string]Supply{}
	treasury := map[string]uint64{}
	for d, v := range m.supply {
		want[d] = v
	}
	for d, v := range m.treasury {
		treasury[d] = v
	}
	rmos, err := l.RMOs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rmos {
		treasury[DenomFlock] += o.Params.LaunchFee + o.FeeTreasury
		if o.Redeemed > o.State.Raised {
			t.Fatalf("height %d: %s redeemed %d of %d raised", height, o.Model, o.Redeemed, o.State.Raised)
		}
		if g := o.Graduation; g != nil {
			d := MTDenom(o.Model)
			s := want[d]
			s.Minted += g.Minted
			want[d] = s
			treasury[d] += g.Treasury
			if v, ok, err := l.Vesting(ctx, o.Issuer, o.Model); err != nil || !ok || v.Claimed > v.Total || v.Total != g.Issuer {
				t.Fatalf("height %d: vesting of %s: %+v %v %v", height, o.Model, v, ok, err)
			}
		}
	}
	for _, d := range sortedKeys(sup) {
		if sup[d] != want[d] {
			t.Fatalf("height %d: %s supply %+v, want %+v", height, d, sup[d], want[d])
		}
		if strings.HasPrefix(d, DenomMTPrefix) && sup[d].Withdrawn != 0 {
			t.Fatalf("height %d: %s withdrawn", height, d)
		}
	}
	for _, d := range sortedKeys(want) {
		if sup[d] != want[d] {
			t.Fatalf("height %d: %s supply %+v, want %+v", height, d, sup[d], want[d])
		}
	}
	// Stakes: the staked amount is what the txs staked less what they
	// unstaked; it counts from the next epoch and never more than is
	// staked; unbonding never exceeds what was unstaked.
	cur, _ := l.EpochOf(l.TimeMs())
	for _, k := range sortedKeys(m.staked) {
		a, model, _ := strings.Cut(k, "/")
		si, err := l.Stake(ctx, a, model)
		if err != nil {
			t.Fatal(err)
		}
		next, _ := l.StakeAt(ctx, a, model, cur+1)
		if si.Staked != m.staked[k] || si.Counting > si.Staked || next != si.Staked || si.Epoch != cur {
			t.Fatalf("height %d: stake of %s: %+v (next epoch %d), want %d staked", height, k, si, next, m.staked[k])
		}
		var u uint64
		for _, x := range si.Unbonding {
			u += x.Amount
			if x.ReleaseEpoch > cur+2 {
				t.Fatalf("height %d: %s unbonds until epoch %d in epoch %d", height, k, x.ReleaseEpoch, cur)
			}
		}
		if u > m.unbonding[k] {
			t.Fatalf("height %d: %s has %d unbonding, unstaked %d", height, k, u, m.unbonding[k])
		}
	}
	tr, err := l.Treasury(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(propDenoms, MTDenom("big")) {
		if tr[d] != treasury[d] {
			t.Fatalf("height %d: treasury holds %d %s, want %d", height, tr[d], d, treasury[d])
		}
	}
}

// TestDeterminism applies the same blocks to two ledgers and compares the app
// hash after every block; a third ledger gets every SubmitReceipts batch
// shuffled and must reach the same hashes (receipts of a batch apply in id
// order).
func TestDeterminism(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(5) {
		g := newGen(100 + seed)
		r := rand.New(rand.NewPCG(seed, 1))
		var ls []*Ledger
		gen := propGenesis()
		if seed%2 == 1 {
			gen = withEmissions(gen)
		}
		for range 3 {
			l, err := New(ctx, store.NewMemory(), gen)
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		for range 60 {
			b := g.next(t, ls[0])
			// The third ledger gets every batch in another order.
			sb := b
			sb.Txs = make([]Tx, len(b.Txs))
			for i, tx := range b.Txs {
				if s, ok := tx.Body.(SubmitReceipts); ok {
					rs := append([]Receipt(nil), s.Receipts...)
					r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
					tx.Body = SubmitReceipts{Receipts: rs}
				}
				sb.Txs[i] = tx
			}
			var hs, ss [3][32]byte
			for k, l := range ls {
				blk := b
				if k == 2 {
					blk = sb
				}
				res, err := l.ApplyBlock(ctx, blk)
				if err != nil {
					t.Fatal(err)
				}
				hs[k] = res.AppHash
				if h, _ := l.AppHash(ctx); h != res.AppHash {
					t.Fatal("AppHash() differs from the block result")
				}
				if ss[k], err = l.StateHash(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if ss[0] != ss[1] || ss[0] != ss[2] {
				t.Fatalf("seed %d height %d: state hashes differ", seed, b.Height)
			}
			if hs[0] != hs[1] || hs[0] != hs[2] {
				t.Fatalf("seed %d height %d: app hashes differ: %x %x %x", seed, b.Height, hs[0], hs[1], hs[2])
			}
		}
	}
}

func TestMerkleRoot(t *testing.T) {
	a, b, c := [32]byte{1}, [32]byte{2}, [32]byte{3}
	leaf := func(id [32]byte) [32]byte { return sha256.Sum256(append([]byte{0}, id[:]...)) }
	node := func(x, y [32]byte) [32]byte { return sha256.Sum256(append(append([]byte{1}, x[:]...), y[:]...)) }
	tests := []struct {
		name string
		ids  [][32]byte
		want [32]byte
	}{
		{"empty", nil, sha256.Sum256(nil)},
		{"one", [][32]byte{a}, leaf(a)},
		{"two unsorted", [][32]byte{b, a}, node(leaf(a), leaf(b))},
		{"three odd carried", [][32]byte{c, a, b}, node(node(leaf(a), leaf(b)), leaf(c))},
		{"duplicates dropped", [][32]byte{a, b, a}, node(leaf(a), leaf(b))},
	}
	for _, tc := range tests {
		if got := MerkleRoot(tc.ids); got != tc.want {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
	}
}
