package econ

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

const e17 = FixedOne / 10

func TestEmissionBudgetGolden(t *testing.T) {
	tests := []struct {
		name          string
		prev, num, de uint64
		want          uint64
		wantErr       error
	}{
		// 1,000,000 × 99/100 = 990,000 exactly.
		{"one percent", 1_000_000, 99, 100, 990_000, nil},
		// 1000 × 0.996156 = 996.156 → 996: the floor stays in the reserve.
		{"floored", 1000, 996_156, 1_000_000, 996, nil},
		// 7 × 1/2 = 3.5 → 3.
		{"halving", 7, 1, 2, 3, nil},
		// the daily default: 1e12 × 996156587220575218 / 1e18 = 996,156,587,220.58 → 996,156,587,220.
		{"daily default", 1_000_000_000_000, 996_156_587_220_575_218, FixedOne, 996_156_587_220, nil},
		// retention 1 keeps everything, even at the top of the range.
		{"full", math.MaxUint64, 1, 1, math.MaxUint64, nil},
		{"zero budget", 0, 1, 2, 0, nil},
		{"growth refused", 100, 101, 100, 0, ErrBadRetention},
		{"zero den", 100, 1, 0, 0, ErrBadRetention},
		{"zero num", 100, 0, 1, 0, ErrBadRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EmissionBudget(tc.prev, tc.num, tc.de)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("EmissionBudget = %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRetentionForHalfLifeGolden(t *testing.T) {
	tests := []struct {
		name            string
		epoch, halfLife int64
		want            uint64
	}{
		// 2^(−1/180) = 0.99615658722057521764… → 996156587220575218 (rounded).
		{"daily epochs", Day, 180 * Day, 996_156_587_220_575_218},
		// 2^(−1/4320) = 0.99983956213529022727… → 999839562135290227.
		{"hourly epochs", Day / 24, 180 * Day, 999_839_562_135_290_227},
		// 2^(−1/2) = 0.70710678118654752440… → 707106781186547524.
		{"half of a half-life", 90 * Day, 180 * Day, 707_106_781_186_547_524},
		// whole half-lives are exact: 2^−1 and 2^−2.
		{"one half-life", 180 * Day, 180 * Day, FixedOne / 2},
		{"two half-lives", 360 * Day, 180 * Day, FixedOne / 4},
		// 2^(−1.5) = 0.35355339059327376220… → 353553390593273762.
		{"one and a half", 270 * Day, 180 * Day, 353_553_390_593_273_762},
		// far beyond any half-life the ratio would be 0; 1/1e18 is the least allowed.
		{"vanishing", 1 << 40, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			num, den, err := RetentionForHalfLife(tc.epoch, tc.halfLife)
			if err != nil || num != tc.want || den != FixedOne {
				t.Fatalf("RetentionForHalfLife = %d/%d, %v; want %d/1e18", num, den, err, tc.want)
			}
		})
	}
	for _, bad := range [][2]int64{{0, Day}, {Day, 0}, {-1, Day}} {
		if _, _, err := RetentionForHalfLife(bad[0], bad[1]); !errors.Is(err, ErrBadHalfLife) {
			t.Errorf("RetentionForHalfLife(%d, %d): err %v, want ErrBadHalfLife", bad[0], bad[1], err)
		}
	}
}

// 180 daily epochs at the default retention halve the budget, within the
// floors of 180 steps.
func TestRetentionHalvesOverHalfLife(t *testing.T) {
	p, err := DefaultEmissionParams(Day)
	if err != nil || p.Validate() != nil {
		t.Fatal(err, p.Validate())
	}
	b := uint64(1_000_000_000 * Unit)
	for range 180 {
		if b, err = EmissionBudget(b, p.RetentionNum, p.RetentionDen); err != nil {
			t.Fatal(err)
		}
	}
	want := uint64(500_000_000 * Unit)
	if b > want || want-b > 180 {
		t.Fatalf("after 180 days: %d, want %d within 180 base units", b, want)
	}
}

func TestAgeFactorGolden(t *testing.T) {
	w := 180 * Day
	tests := []struct {
		name string
		age  int64
		want uint64
	}{
		{"new", 0, FixedOne},
		// 1 − 45/180 = 0.75.
		{"45 days", 45 * Day, FixedOne / 4 * 3},
		// 1 − 90/180 = 0.5.
		{"90 days", 90 * Day, FixedOne / 2},
		// 1 − 135/180 = 0.25, exactly the floor.
		{"135 days", 135 * Day, FixedOne / 4},
		// 1 − 150/180 = 0.1667 < 0.25: the floor.
		{"150 days", 150 * Day, FixedOne / 4},
		{"180 days", 180 * Day, FixedOne / 4},
		{"a year", 365 * Day, FixedOne / 4},
		// 1e18 × (180d − 1 ms) / 180d = 1e18 − 1e18/15,552,000,000 = 1e18 − 64,300,411.5 → floored.
		{"one ms", 1, FixedOne - 64_300_412},
		{"negative age", -Day, FixedOne},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AgeFactor(tc.age, w, 2_500); got != tc.want {
				t.Fatalf("AgeFactor(%d) = %d, want %d", tc.age, got, tc.want)
			}
		})
	}
	if got := AgeFactor(Day, 0, 2_500); got != FixedOne/4 {
		t.Errorf("zero window: %d, want the floor", got)
	}
}

func TestEmissionCapGolden(t *testing.T) {
	// gross 3 usd at 0.5 usd per FLOCK, ratio 1.0: 3,000,000 × 10000 × 2 / (10000 × 1) = 6,000,000.
	if c, err := EmissionCap(3_000_000, 10_000, 1, 2); err != nil || c != 6_000_000 {
		t.Errorf("cap = %d, %v; want 6000000", c, err)
	}
	// ratio 0.5 at 3 usd per FLOCK: 1,000,000 × 5000 × 1 / (10000 × 3) = 166,666.67 → 166,666.
	if c, err := EmissionCap(1_000_000, 5_000, 3, 1); err != nil || c != 166_666 {
		t.Errorf("cap = %d, %v; want 166666", c, err)
	}
	if c, err := EmissionCap(math.MaxUint64, 10_000, 1, 2); err != nil || c != math.MaxUint64 {
		t.Errorf("huge cap = %d, %v; want saturated", c, err)
	}
	if _, err := EmissionCap(1, 10_000, 0, 1); !errors.Is(err, ErrNoPrice) {
		t.Errorf("zero price: %v", err)
	}
}

func TestAllocateEmissionsGolden(t *testing.T) {
	p, _ := DefaultEmissionParams(Day)
	models := []ModelActivity{
		{Model: "b", Gross: 1_000_000, AgeMs: 90 * Day},
		{Model: "c", Gross: 0, AgeMs: 0},
		{Model: "a", Gross: 3_000_000, AgeMs: 0},
	}
	// weights: a = 3e6 × 1.0 = 3e24, b = 1e6 × 0.5 = 5e23, c = 0; Σ = 3.5e24.
	t.Run("cap not binding", func(t *testing.T) {
		// shares of 1,000,000: a = floor(1e6 × 30/35) = 857,142; b = floor(1e6 × 5/35) = 142,857;
		// dust 1. At 0.5 usd per FLOCK the caps are 6,000,000 and 2,000,000: not binding.
		got, err := AllocateEmissions(1_000_000, models, p, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		want := []ModelEmission{
			{"a", FixedOne, "3000000000000000000000000", 857_142, 6_000_000, 857_142, 0},
			{"b", FixedOne / 2, "500000000000000000000000", 142_857, 2_000_000, 142_857, 0},
			{"c", FixedOne, "0", 0, 0, 0, 0},
		}
		checkAlloc(t, got, want, 999_999, 0, 1)
	})
	t.Run("cap binding", func(t *testing.T) {
		// shares of 10,000,000: a = floor(1e7 × 30/35) = 8,571,428; b = floor(1e7 × 5/35) = 1,428,571;
		// dust 1. At 1 usd per FLOCK a gets its gross 3,000,000 (5,571,428 capped) and b its
		// gross 1,000,000 (428,571 capped): 4,000,000 paid, 5,999,999 capped, 1 dust = 1e7.
		got, err := AllocateEmissions(10_000_000, models, p, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []ModelEmission{
			{"a", FixedOne, "3000000000000000000000000", 8_571_428, 3_000_000, 3_000_000, 5_571_428},
			{"b", FixedOne / 2, "500000000000000000000000", 1_428_571, 1_000_000, 1_000_000, 428_571},
			{"c", FixedOne, "0", 0, 0, 0, 0},
		}
		checkAlloc(t, got, want, 4_000_000, 5_999_999, 1)
	})
	t.Run("no usage", func(t *testing.T) {
		got, err := AllocateEmissions(5_000, []ModelActivity{{Model: "x"}}, p, 1, 1)
		if err != nil || got.Paid != 0 || got.Dust != 5_000 || got.Reserve() != 5_000 {
			t.Fatalf("got %+v, %v; want all 5000 in the reserve", got, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := AllocateEmissions(1, []ModelActivity{{Model: "x"}, {Model: "x"}}, p, 1, 1); !errors.Is(err, ErrDupModel) {
			t.Errorf("duplicate model: %v", err)
		}
		if _, err := AllocateEmissions(1, nil, p, 0, 1); !errors.Is(err, ErrNoPrice) {
			t.Errorf("no price: %v", err)
		}
	})
}

func checkAlloc(t *testing.T, got EmissionAllocation, want []ModelEmission, paid, capped, dust uint64) {
	t.Helper()
	if len(got.Models) != len(want) {
		t.Fatalf("models = %+v, want %+v", got.Models, want)
	}
	for i := range want {
		if got.Models[i] != want[i] {
			t.Errorf("model %d = %+v, want %+v", i, got.Models[i], want[i])
		}
	}
	if got.Paid != paid || got.Capped != capped || got.Dust != dust {
		t.Errorf("paid, capped, dust = %d, %d, %d; want %d, %d, %d", got.Paid, got.Capped, got.Dust, paid, capped, dust)
	}
}

func TestISqrt1e18Golden(t *testing.T) {
	tests := []struct{ x, want uint64 }{
		{0, 0},
		{1, 1_000_000_000}, // √(1e−18) = 1e−9
		{FixedOne / 4, FixedOne / 2},
		{FixedOne, FixedOne},
		{4 * FixedOne, 2 * FixedOne},
		// √0.1 = 0.316227766016837933199…
		{e17, 316_227_766_016_837_933},
		// √(2^64 − 1) × 1e9 = 4294967295.99999999988… × 1e9, floored.
		{math.MaxUint64, 4_294_967_295_999_999_999},
	}
	for _, tc := range tests {
		if got := ISqrt1e18(tc.x); got != tc.want {
			t.Errorf("ISqrt1e18(%d) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

func TestScoresGolden(t *testing.T) {
	alpha := 9 * e17
	tests := []struct {
		name                string
		usage, stake, alpha uint64
		global, incentive   uint64
	}{
		// the handbook: 0.5 × (0.9 + 0.1 × √0.1) = 0.5 × (0.9 + 0.1 × 0.316227766016837933)
		// = 0.5 × 0.931622776601683793 = 0.4658113883008418965 → floored; incentive 0.5 × 0.1 = 0.05.
		{"handbook", 5 * e17, e17, alpha, 465_811_388_300_841_896, 5 * e17 / 10},
		// no stake: 0.5 × 0.9 = 0.45, incentive 0.
		{"use only", 5 * e17, 0, alpha, 45 * e17 / 10, 0},
		// no usage: nothing, whatever the stake.
		{"stake only", 0, FixedOne, alpha, 0, 0},
		// all the stake: the factor reaches 1.0: 0.5 × 1.0.
		{"all stake", 5 * e17, FixedOne, alpha, 5 * e17, 5 * e17},
		// α = 0: 0.5 × √0.25 = 0.25; incentive 0.5 × 0.25 = 0.125.
		{"alpha zero", 5 * e17, FixedOne / 4, 0, FixedOne / 4, FixedOne / 8},
		// α = 1: stake does not count in the global score.
		{"alpha one", 5 * e17, FixedOne / 4, FixedOne, 5 * e17, FixedOne / 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := GlobalScore(tc.usage, tc.stake, tc.alpha)
			if err != nil || g != tc.global {
				t.Errorf("GlobalScore = %d, %v; want %d", g, err, tc.global)
			}
			i, err := IncentiveScore(tc.usage, tc.stake)
			if err != nil || i != tc.incentive {
				t.Errorf("IncentiveScore = %d, %v; want %d", i, err, tc.incentive)
			}
		})
	}
	// the handbook rounds to 0.466 and 0.050: within half a thousandth.
	g, _ := GlobalScore(5*e17, e17, alpha)
	if d := absDiff(g, 466*(FixedOne/1000)); d > FixedOne/2000 {
		t.Errorf("handbook global %d is %d from 0.466", g, d)
	}
	if _, err := GlobalScore(FixedOne+1, 0, alpha); !errors.Is(err, ErrBadShare) {
		t.Errorf("share above 1: %v", err)
	}
	if _, err := IncentiveScore(0, FixedOne+1); !errors.Is(err, ErrBadShare) {
		t.Errorf("share above 1: %v", err)
	}
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// The handbook's example as an epoch: alice uses half and stakes 10%, bob
// uses half without stake, carol holds the other 90% of the stake and does
// not use the model.
func TestHandbookEpoch(t *testing.T) {
	p, _ := DefaultEmissionParams(Day)
	ps := []Participant{
		{Account: "carol", Usage: 0, Stake: 900},
		{Account: "bob", Usage: 50, Stake: 0},
		{Account: "alice", Usage: 50, Stake: 100},
	}
	got, err := SplitModelEmission(1_000_000, ps, p)
	if err != nil {
		t.Fatal(err)
	}
	// issuer: 10% of 1,000,000 = 100,000; users share 900,000 by 0.465811388300841896 and 0.45:
	// alice floor(900,000 × 0.4658… / 0.9158…) = 457,769, bob floor(900,000 × 0.45 / 0.9158…) = 442,230,
	// one unit of dust back to the reserve.
	want := ModelRewards{Amount: 1_000_000, Issuer: 100_000, Unallocated: 1, Users: []Reward{
		{"alice", 465_811_388_300_841_896, 457_769},
		{"bob", 45 * e17 / 10, 442_230},
		{"carol", 0, 0},
	}}
	checkRewards(t, got.Users, want.Users)
	if got.Amount != want.Amount || got.Issuer != want.Issuer || got.Unallocated != want.Unallocated {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// the stake-gated pools: only alice both uses and stakes (0.05); she takes it all.
	g, err := SplitGated(1_000, 0, ps)
	if err != nil {
		t.Fatal(err)
	}
	checkRewards(t, g.Users, []Reward{{"alice", 5 * e17 / 10, 1_000}, {"bob", 0, 0}, {"carol", 0, 0}})
	if g.Carry != 0 {
		t.Errorf("carry %d, want 0", g.Carry)
	}
}

func checkRewards(t *testing.T, got, want []Reward) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("rewards %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reward %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestStakeGatedGolden(t *testing.T) {
	// 180,000,000 released linearly over 180 days: 1,000,000 a day.
	day1 := Vested(180_000_000, 0, Day, 180*Day)
	if day1 != 1_000_000 {
		t.Fatalf("Vested after a day = %d, want 1000000", day1)
	}
	if r := Vested(180_000_000, 0, 200*Day, 180*Day); r != 180_000_000 {
		t.Fatalf("Vested after the end = %d", r)
	}
	// nobody both uses and stakes: the day's release carries over.
	noOne := []Participant{{Account: "user", Usage: 10}, {Account: "staker", Stake: 10}}
	g, err := SplitGated(day1, 0, noOne)
	if err != nil || g.Carry != 1_000_000 || g.Users[0].Amount+g.Users[1].Amount != 0 {
		t.Fatalf("got %+v, %v; want everything carried", g, err)
	}
	// day 2: another 1,000,000 due, plus the carry, plus 5 of dust from before.
	due, err := Claimable(180_000_000, day1, 0, 2*Day, 180*Day)
	if err != nil || due != 1_000_000 {
		t.Fatalf("Claimable = %d, %v", due, err)
	}
	// ann: usage 1/4, stake 1/2 → 0.125; dan: usage 3/4, stake 1/2 → 0.375; Σ 0.5.
	// pool 1,000,000 + 1,000,005 = 2,000,005: ann floor(2,000,005/4) = 500,001,
	// dan floor(2,000,005 × 3/4) = 1,500,003; carry 1.
	ps := []Participant{{Account: "dan", Usage: 3, Stake: 5}, {Account: "ann", Usage: 1, Stake: 5}}
	g, err = SplitGated(due, g.Carry+5, ps)
	if err != nil {
		t.Fatal(err)
	}
	checkRewards(t, g.Users, []Reward{{"ann", FixedOne / 8, 500_001}, {"dan", 3 * FixedOne / 8, 1_500_003}})
	if g.Carry != 1 || g.Release != 1_000_000 || g.CarryIn != 1_000_005 {
		t.Errorf("got %+v", g)
	}
	if _, err := Claimable(100, 50, 0, 0, Day); !errors.Is(err, ErrOverClaimed) {
		t.Errorf("over-released: %v", err)
	}
	if _, err := SplitGated(math.MaxUint64, 1, ps); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow: %v", err)
	}
}

func TestDuplicateAccountRefused(t *testing.T) {
	p, _ := DefaultEmissionParams(Day)
	ps := []Participant{{Account: "a", Usage: 1}, {Account: "a", Usage: 2}}
	if _, err := SplitModelEmission(10, ps, p); !errors.Is(err, ErrDupAccount) {
		t.Errorf("SplitModelEmission: %v", err)
	}
	if _, err := SplitGated(10, 0, ps); !errors.Is(err, ErrDupAccount) {
		t.Errorf("SplitGated: %v", err)
	}
}

func randParticipants(r *rand.Rand) []Participant {
	n := r.IntN(8)
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{Account: string(rune('a' + i))}
		if r.IntN(3) > 0 {
			ps[i].Usage = r.Uint64N(1 << uint(1+r.IntN(50)))
		}
		if r.IntN(3) > 0 {
			ps[i].Stake = r.Uint64N(1 << uint(1+r.IntN(50)))
		}
	}
	return ps
}

// Conservation, no usage → no emissions, stake only → nothing, use only →
// global only, and independence from the input order.
func TestEmissionProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	p, _ := DefaultEmissionParams(Day)
	for i := 0; i < 2000; i++ {
		ms := make([]ModelActivity, r.IntN(6))
		for j := range ms {
			ms[j] = ModelActivity{Model: string(rune('m' + j)), AgeMs: r.Int64N(400 * Day)}
			if r.IntN(3) > 0 {
				ms[j].Gross = r.Uint64N(1 << uint(1+r.IntN(60)))
			}
		}
		budget := r.Uint64N(1 << uint(1+r.IntN(63)))
		num, den := 1+r.Uint64N(1000), 1+r.Uint64N(1000)
		a, err := AllocateEmissions(budget, ms, p, num, den)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, m := range a.Models {
			sum += m.Amount + m.Capped
			if m.Amount > m.Cap {
				t.Fatalf("%s: amount %d above cap %d", m.Model, m.Amount, m.Cap)
			}
		}
		if sum+a.Dust != budget || a.Paid+a.Capped+a.Dust != budget {
			t.Fatalf("allocation not conserved: %+v", a)
		}
		for _, m := range ms {
			if m.Gross == 0 {
				for _, e := range a.Models {
					if e.Model == m.Model && e.Share != 0 {
						t.Fatalf("model %s without usage got %d", m.Model, e.Share)
					}
				}
			}
		}
		r.Shuffle(len(ms), func(x, y int) { ms[x], ms[y] = ms[y], ms[x] })
		b, _ := AllocateEmissions(budget, ms, p, num, den)
		if len(a.Models) > 0 && a.Models[0] != b.Models[0] || a.Dust != b.Dust {
			t.Fatalf("order changed the allocation")
		}

		ps := randParticipants(r)
		amount := r.Uint64N(1 << uint(1+r.IntN(63)))
		mr, err := SplitModelEmission(amount, ps, p)
		if err != nil {
			t.Fatal(err)
		}
		g, err := SplitGated(amount/2, amount/3, ps)
		if err != nil {
			t.Fatal(err)
		}
		us, gs := mr.Issuer+mr.Unallocated, g.Carry
		byAcc := map[string]Participant{}
		for _, q := range ps {
			byAcc[q.Account] = q
		}
		for k, u := range mr.Users {
			us += u.Amount
			gs += g.Users[k].Amount
			q := byAcc[u.Account]
			if q.Usage == 0 && (u.Amount != 0 || g.Users[k].Amount != 0) {
				t.Fatalf("account %s without usage rewarded: %+v %+v", u.Account, u, g.Users[k])
			}
			if q.Stake == 0 && g.Users[k].Amount != 0 {
				t.Fatalf("account %s without stake got a gated reward", u.Account)
			}
		}
		if us != amount || gs != amount/2+amount/3 {
			t.Fatalf("rewards not conserved: %+v %+v", mr, g)
		}
	}
}

// Scores are superadditive: merging two accounts' usage and stake never
// lowers the sum of their scores, so splitting one account's usage and
// stake across keys or wallets never raises it (floors included).
func TestScoreMergeProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 19))
	for i := 0; i < 20000; i++ {
		U := 1 + r.Uint64N(1<<uint(1+r.IntN(62)))
		S := 1 + r.Uint64N(1<<uint(1+r.IntN(62)))
		u1, s1 := r.Uint64N(U+1), r.Uint64N(S+1)
		u2, s2 := r.Uint64N(U-u1+1), r.Uint64N(S-s1+1)
		alpha := r.Uint64N(FixedOne + 1)
		score := func(u, s uint64) (uint64, uint64) {
			us, _ := ShareOf(u, U)
			ss, _ := ShareOf(s, S)
			g, err := GlobalScore(us, ss, alpha)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := IncentiveScore(us, ss)
			return g, in
		}
		g1, i1 := score(u1, s1)
		g2, i2 := score(u2, s2)
		gm, im := score(u1+u2, s1+s2)
		if gm < g1+g2 || im < i1+i2 {
			t.Fatalf("merge lowered the score: U=%d S=%d (%d,%d)+(%d,%d) α=%d: %d+%d > %d or %d+%d > %d",
				U, S, u1, s1, u2, s2, alpha, g1, g2, gm, i1, i2, im)
		}
	}
}

func FuzzAllocateEmissions(f *testing.F) {
	f.Add(uint64(1_000_000), uint64(3_000_000), int64(0), uint64(1_000_000), int64(90*Day), uint64(1), uint64(2), uint32(10_000))
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), int64(math.MinInt64), uint64(math.MaxUint64), int64(math.MaxInt64), uint64(math.MaxUint64), uint64(1), uint32(math.MaxUint32))
	f.Add(uint64(0), uint64(0), int64(0), uint64(0), int64(0), uint64(0), uint64(0), uint32(0))
	f.Fuzz(func(t *testing.T, budget, g1 uint64, a1 int64, g2 uint64, a2 int64, num, den uint64, capBps uint32) {
		p, _ := DefaultEmissionParams(Day)
		p.CapRatioBps = capBps
		ms := []ModelActivity{{Model: "x", Gross: g1, AgeMs: a1}, {Model: "y", Gross: g2, AgeMs: a2}}
		a, err := AllocateEmissions(budget, ms, p, num, den)
		if err != nil {
			return
		}
		if a.Paid+a.Capped+a.Dust != budget {
			t.Fatalf("not conserved: %+v", a)
		}
		ps := []Participant{{"a", g1, g2}, {"b", budget, num}, {"c", den, 0}}
		amt := a.Models[0].Amount
		mr, err := SplitModelEmission(amt, ps, p)
		if err == nil {
			s := mr.Issuer + mr.Unallocated
			for _, u := range mr.Users {
				s += u.Amount
			}
			if s != amt {
				t.Fatalf("model split not conserved: %+v", mr)
			}
		}
		g, err := SplitGated(amt, a.Dust, ps)
		if err == nil {
			s := g.Carry
			for _, u := range g.Users {
				s += u.Amount
			}
			if s != amt+a.Dust {
				t.Fatalf("gated split not conserved: %+v", g)
			}
		}
	})
}

// The budget never grows, and a longer epoch (or a shorter half-life) never
// retains more.
func TestDecayProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 29))
	for i := 0; i < 2000; i++ {
		h := 1 + r.Int64N(400*Day)
		e1 := 1 + r.Int64N(2*h)
		e2 := e1 + r.Int64N(h)
		n1, d1, err1 := RetentionForHalfLife(e1, h)
		n2, d2, err2 := RetentionForHalfLife(e2, h)
		if err1 != nil || err2 != nil || n1 > d1 || n2 > d2 || n2 > n1 {
			t.Fatalf("epoch %d, %d, half-life %d: %d/%d, %d/%d", e1, e2, h, n1, d1, n2, d2)
		}
		prev := r.Uint64()
		next, err := EmissionBudget(prev, n1, d1)
		if err != nil || next > prev {
			t.Fatalf("budget %d → %d, %v", prev, next, err)
		}
	}
}
