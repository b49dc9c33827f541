package engine

import (
	"math"
	"testing"
)

// TestExp32 compares exp32 with math.Exp over the whole float32 range that
// has a finite exponential above 2**-125, in steps fine enough to visit
// every reduction interval many times, and at the edges: overflow to +Inf,
// flush to 0 below -86.98, NaN and the infinities.
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
		case x < expMin:
			if got != 0 {
				t.Fatalf("exp32(%g) = %g, want 0 (flushed)", x, got)
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
	for _, x := range []float32{0, -0, 1e-30, -1e-30, 88.72283, 88.72284, 88.5, -86.98, -86.97999, -86.98001, -87.33654, -103.97209, math.MaxFloat32, -math.MaxFloat32} {
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

// TestExpLoops checks that siluMul and expShift (their vector kernels
// where the build has them, and the portable tails) give exp32's results
// bit for bit, over the whole range and at the edges, for lengths with and
// without a tail.
func TestExpLoops(t *testing.T) {
	var xs []float32
	for x := float32(-110); x < 95; x += 0.37 {
		xs = append(xs, x)
	}
	xs = append(xs, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -87.33, 88.37)
	s := append([]float32(nil), xs...)
	const mx = 1.5
	var want float64
	for _, x := range xs {
		want += float64(exp32(x - mx))
	}
	if got := expShift(s, mx); math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
		t.Errorf("expShift sum %g, want %g", got, want)
	}
	g := append([]float32(nil), xs...)
	u := make([]float32, len(xs))
	for i := range u {
		u[i] = float32(i%7) - 3
	}
	siluMul(g, u)
	for i, x := range xs {
		if e := exp32(x - mx); math.Float32bits(s[i]) != math.Float32bits(e) {
			t.Errorf("expShift: e**(%g-%g) = %g, exp32 %g", x, float32(mx), s[i], e)
		}
		if w := x / (1 + exp32(-x)) * u[i]; math.Float32bits(g[i]) != math.Float32bits(w) && !(w != w && g[i] != g[i]) {
			t.Errorf("siluMul(%g)*%g = %g, want %g", x, u[i], g[i], w)
		}
	}
}

// BenchmarkExp measures exp32 in its uses, on arguments in their usual
// ranges, against float64 math.Exp: the SiLU of an FFN activation and the
// numerators of a softmax.
func BenchmarkExp(b *testing.B) {
	g := make([]float32, 1536)
	u := make([]float32, len(g))
	s := make([]float32, 256)
	for i := range g {
		g[i] = float32(i%97)/8 - 6
		u[i] = 1
	}
	for i := range s {
		s[i] = -float32(i%41) / 4
	}
	b.Run("silu", func(b *testing.B) {
		for b.Loop() {
			siluMul(g, u)
		}
	})
	b.Run("silu-math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, v := range g {
				g[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
			}
		}
	})
	b.Run("softmax", func(b *testing.B) {
		for b.Loop() {
			expShift(s, 0)
		}
	})
	b.Run("softmax-math.Exp", func(b *testing.B) {
		for b.Loop() {
			var sum float64
			for i, v := range s {
				e := float32(math.Exp(float64(v)))
				s[i] = e
				sum += float64(e)
			}
		}
	})
}
