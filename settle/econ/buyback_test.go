package econ

import (
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
)

func pp(a, b uint64, fee uint32) *Pool { return &Pool{ReserveA: a, ReserveB: b, FeeBps: fee} }

// TestBuybacksAtTheBound is a golden vector checked by hand: fee-free pools
// at price 1 and a 21% impact bound, so that every pool takes at most
// 100,000 in (see TestMaxInForImpactGolden).
func TestBuybacksAtTheBound(t *testing.T) {
	flock := pp(1_000_000, 1_000_000, 0) // A = flock, B = usd
	models := []ModelReserve{
		{Model: "m3", Reserve: 200_000, Pool: pp(1_000_000, 1_000_000, 0)},
		{Model: "m1", Reserve: 30_000, Pool: pp(1_000_000, 1_000_000, 0)},
		{Model: "m2", Reserve: 50_000}, // not graduated: keeps its reserve
	}
	got, err := ExecuteBuybacks(flock, 20_000, models, BuybackParams{MaxImpactBps: 2_100})
	if err != nil {
		t.Fatal(err)
	}
	// 1. Each MT pool takes ≤ 100,000 flock, worth 100,000 usd at price 1:
	//    demands m1 30,000, m2 0, m3 min(200,000, 100,000) = 100,000; FLOCK 20,000; D = 150,000.
	// 2. The FLOCK/usd pool takes ≤ 100,000 usd < D: spends are floor(d × 100,000 / 150,000):
	//    m1 20,000, m3 66,666, FLOCK 13,333; Σ 99,999 (carry 10,000, 133,334, 6,667, m2 50,000).
	// 3. 99,999 usd → floor(1e6 × 99,999 / 1,099,999) = 90,908 flock;
	//    m1 floor(90,908 × 20,000 / 99,999) = 18,181; m3 floor(90,908 × 66,666 / 99,999) = 60,605;
	//    the FLOCK buyback burns the rest: 90,908 − 18,181 − 60,605 = 12,122.
	// 4. m1: floor(1e6 × 18,181 / 1,018,181) = 17,856 MT burned; m3: floor(1e6 × 60,605 / 1,060,605) = 57,141.
	want := Buybacks{
		UsdIn: 99_999, FlockOut: 90_908,
		FlockPoolAfter: pp(909_092, 1_099_999, 0),
		Models: []ModelBuyback{
			{Model: "m1", Reserve: 30_000, UsdIn: 20_000, Carry: 10_000, FlockBought: 18_181, FlockIn: 18_181, MTBurned: 17_856, PoolAfter: pp(982_144, 1_018_181, 0)},
			{Model: "m2", Reserve: 50_000, Carry: 50_000},
			{Model: "m3", Reserve: 200_000, UsdIn: 66_666, Carry: 133_334, FlockBought: 60_605, FlockIn: 60_605, MTBurned: 57_141, PoolAfter: pp(942_859, 1_060_605, 0)},
		},
		Flock:       FlockBuyback{Reserve: 20_000, UsdIn: 13_333, Carry: 6_667, FlockBurned: 12_122},
		FlockBurned: 12_122,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// every pool moved by at most 21%.
	if !withinImpact(*flock, *got.FlockPoolAfter, 2_100, false) {
		t.Fatal("FLOCK/usd pool beyond the bound")
	}
	for i, m := range got.Models {
		if m.PoolAfter != nil && !withinImpact(Pool{1_000_000, 1_000_000, 0}, *m.PoolAfter, 2_100, false) {
			t.Fatalf("model %d beyond the bound", i)
		}
	}
}

// TestBuybacksUnbounded: reserves well within the bound are spent whole.
func TestBuybacksUnbounded(t *testing.T) {
	flock := pp(1_000_000, 1_000_000, 0)
	got, err := ExecuteBuybacks(flock, 1_000, []ModelReserve{{Model: "m", Reserve: 3_000, Pool: pp(1_000_000, 1_000_000, 0)}}, BuybackParams{MaxImpactBps: 2_100})
	if err != nil {
		t.Fatal(err)
	}
	// 4,000 usd → floor(1e6 × 4,000 / 1,004,000) = 3,984 flock; m: floor(3,984 × 3,000 / 4,000) = 2,988,
	// FLOCK buyback 996; m burns floor(1e6 × 2,988 / 1,002,988) = 2,979 MT.
	want := Buybacks{
		UsdIn: 4_000, FlockOut: 3_984, FlockPoolAfter: pp(996_016, 1_004_000, 0),
		Models: []ModelBuyback{{Model: "m", Reserve: 3_000, UsdIn: 3_000, FlockBought: 2_988, FlockIn: 2_988, MTBurned: 2_979, PoolAfter: pp(997_021, 1_002_988, 0)}},
		Flock:  FlockBuyback{Reserve: 1_000, UsdIn: 1_000, FlockBurned: 996}, FlockBurned: 996,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestBuybacksEdges(t *testing.T) {
	p := DefaultBuybackParams()
	// no FLOCK/usd pool: everything carries over.
	got, err := ExecuteBuybacks(nil, 5, []ModelReserve{{Model: "m", Reserve: 7, Pool: pp(10, 10, 30)}}, p)
	if err != nil || got.UsdIn != 0 || got.Flock.Carry != 5 || got.Models[0].Carry != 7 || got.FlockPoolAfter != nil || *got.Models[0].PoolAfter != *pp(10, 10, 30) {
		t.Fatalf("no pool: %+v, %v", got, err)
	}
	// reserves too small to buy one base unit of FLOCK: nothing trades.
	got, err = ExecuteBuybacks(pp(1_000_000, 1_000_000, 30), 0, []ModelReserve{{Model: "m", Reserve: 1, Pool: pp(1_000_000, 1_000_000, 30)}}, p)
	if err != nil || got.UsdIn != 0 || got.Models[0].Carry != 1 || *got.FlockPoolAfter != *pp(1_000_000, 1_000_000, 30) {
		t.Fatalf("dust: %+v, %v", got, err)
	}
	// FLOCK too small to buy one base unit of MT is burned as FLOCK: the MT pool
	// is priced at 1e6 flock per MT base unit.
	got, err = ExecuteBuybacks(pp(1_000_000, 1_000, 0), 0, []ModelReserve{{Model: "m", Reserve: 5, Pool: pp(1_000, 1_000_000_000, 0)}}, BuybackParams{MaxImpactBps: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Models[0]; m.FlockBought == 0 || m.FlockBurned != m.FlockBought || m.MTBurned != 0 || got.FlockBurned != m.FlockBought || *m.PoolAfter != *pp(1_000, 1_000_000_000, 0) {
		t.Fatalf("MT dust: %+v", got)
	}
	// errors
	if _, err := ExecuteBuybacks(nil, 0, []ModelReserve{{Model: "a"}, {Model: "a"}}, p); err == nil {
		t.Fatal("duplicate model accepted")
	}
	if _, err := ExecuteBuybacks(pp(0, 5, 30), 0, nil, p); err == nil {
		t.Fatal("half-empty pool accepted")
	}
	if _, err := ExecuteBuybacks(nil, 0, []ModelReserve{{Model: "a", Pool: pp(5, 0, 30)}}, p); err == nil {
		t.Fatal("half-empty model pool accepted")
	}
}

// TestBuybacksProperty checks, over random epochs, that each denom is
// conserved, that no pool moves beyond the bound, and that the result does
// not depend on the order of the models.
func TestBuybacksProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		fp := randPool(r)
		fp.FeeBps = DefaultSwapFeeBps
		bps := []uint32{1, 100, 1_000, 10_000}[r.IntN(4)]
		n := r.IntN(5)
		models := make([]ModelReserve, n)
		for j := range models {
			models[j] = ModelReserve{Model: string(rune('a' + j)), Reserve: r.Uint64N(1_000_000) * []uint64{1, Unit, 1_000 * Unit}[r.IntN(3)]}
			if r.IntN(4) > 0 {
				mp := randPool(r)
				models[j].Pool = &mp
			}
		}
		flockRes := r.Uint64N(1_000_000) * Unit
		res, err := ExecuteBuybacks(&fp, flockRes, models, BuybackParams{MaxImpactBps: bps})
		if err != nil {
			t.Fatal(err)
		}
		// order independence
		shuffled := append([]ModelReserve(nil), models...)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if res2, err := ExecuteBuybacks(&fp, flockRes, shuffled, BuybackParams{MaxImpactBps: bps}); err != nil || !reflect.DeepEqual(res, res2) {
			t.Fatalf("order matters: %+v vs %+v (%v)", res, res2, err)
		}
		// usd and flock conservation
		usd, bought, burned := new(big.Int), new(big.Int), bu(res.Flock.FlockBurned)
		if res.Flock.UsdIn+res.Flock.Carry != flockRes {
			t.Fatalf("FLOCK reserve not conserved: %+v", res.Flock)
		}
		usd.Add(usd, bu(res.Flock.UsdIn))
		for _, m := range res.Models {
			if m.UsdIn+m.Carry != m.Reserve || m.FlockIn+m.FlockBurned != m.FlockBought {
				t.Fatalf("model not conserved: %+v", m)
			}
			usd.Add(usd, bu(m.UsdIn))
			bought.Add(bought, bu(m.FlockBought))
			burned.Add(burned, bu(m.FlockBurned))
		}
		after := *res.FlockPoolAfter
		if usd.Cmp(bu(res.UsdIn)) != 0 || after.ReserveB-fp.ReserveB != res.UsdIn || fp.ReserveA-after.ReserveA != res.FlockOut {
			t.Fatalf("usd not conserved: %+v", res)
		}
		if bought.Add(bought, bu(res.Flock.FlockBurned)).Cmp(bu(res.FlockOut)) != 0 || burned.Cmp(bu(res.FlockBurned)) != 0 {
			t.Fatalf("flock not conserved: %+v", res)
		}
		if !withinImpact(fp, after, bps, false) {
			t.Fatalf("FLOCK/usd pool beyond %d bps: %v → %v", bps, fp, after)
		}
		for j, m := range res.Models {
			before := models[j] // models are named in order a, b, …
			if before.Pool == nil {
				if m.UsdIn != 0 || m.PoolAfter != nil {
					t.Fatalf("model without pool traded: %+v", m)
				}
				continue
			}
			pa := *m.PoolAfter
			if pa.ReserveB-before.Pool.ReserveB != m.FlockIn || before.Pool.ReserveA-pa.ReserveA != m.MTBurned {
				t.Fatalf("mt not conserved: %v → %+v", before.Pool, m)
			}
			if !withinImpact(*before.Pool, pa, bps, false) {
				t.Fatalf("MT pool beyond %d bps: %v → %v", bps, before.Pool, pa)
			}
			if pa.K().Cmp(before.Pool.K()) < 0 {
				t.Fatal("k decreased")
			}
		}
	}
}
