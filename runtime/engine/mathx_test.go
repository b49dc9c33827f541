package engine

import (
	"math"
	"testing"
)

// TestExp32 compares exp32 with math.Exp over the whole float32 range that
// has a finite nonzero exponential, in steps fine enough to visit every
// reduction interval many times, and at the edges: overflow to +Inf,
// underflow to 0 through the subnormals, NaN and the infinities.
func TestExp32(t *testing.T) {
	var worst float64
	var worstX float32
	check := func(x float32) {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		switch {
		case want > math.MaxFloat32*(1+0x1p-25):
			if !math.IsInf(got, 1) {
				t.Fatalf("exp32(%g) = %g, want +Inf", x, got)
			}
		case want < 0x1p-126: // subnormal: within an ulp of the result
			if d := math.Abs(got - want); d > 0x1p-149 {
				t.Fatalf("exp32(%g) = %g, want %g: off by %g", x, got, want, d)
			}
		default:
			if e := math.Abs(got-want) / want; e > worst {
				worst, worstX = e, x
			}
		}
	}
	for x := float32(-104); x < 89; x += 1.0 / 1024 {
		check(x)
		check(math.Nextafter32(x, 0))
	}
	for _, x := range []float32{0, -0, 1e-30, -1e-30, 88.72283, 88.72284, -87.33654, -103.97207, -103.97209, math.MaxFloat32, -math.MaxFloat32} {
		check(x)
	}
	if worst > 2e-7 {
		t.Errorf("largest relative error %.3g at %g, want < 2e-7", worst, worstX)
	}
	t.Logf("largest relative error %.3g at %g", worst, worstX)
	if got := exp32(float32(math.Inf(1))); !math.IsInf(float64(got), 1) {
		t.Errorf("exp32(+Inf) = %g", got)
	}
	if got := exp32(float32(math.Inf(-1))); got != 0 {
		t.Errorf("exp32(-Inf) = %g", got)
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %g", got)
	}
	if got := exp32(0); got != 1 {
		t.Errorf("exp32(0) = %g", got)
	}
}

func BenchmarkExp32(b *testing.B) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%200) - 100
	}
	var sink float32
	b.Run("exp32", func(b *testing.B) {
		for b.Loop() {
			for _, v := range x {
				sink += exp32(v)
			}
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for _, v := range x {
				sink += float32(math.Exp(float64(v)))
			}
		}
	})
	_ = sink
}
