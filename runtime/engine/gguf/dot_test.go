package gguf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// portableKernels are the kernels the dispatching functions dotF32,
// dotF16, dotBF16, dotQ8_0, dotQ4K and dotQ6K fall back to; on amd64 with
// AVX2 and FMA (and F16C for F16) they use assembly.
var portableKernels = []struct {
	typ            Type
	fast, portable func([]byte, []float32) float32
}{
	{TypeF32, dotF32, dotF32Go},
	{TypeF16, dotF16, dotF16Go},
	{TypeBF16, dotBF16, dotBF16Go},
	{TypeQ8_0, dotQ8_0, dotQ8_0Go},
	{TypeQ4_K, dotQ4K, dotQ4KGo},
	{TypeQ6_K, dotQ6K, dotQ6KGo},
}

// TestDotRowSIMDMatchesGeneric runs the vector kernels (where this build
// and machine have them) and the portable ones on the same random rows,
// lengths that exercise the unrolled loops and the tails included. They
// sum in different orders, so they agree to float32 rounding relative to
// sum |w_i*x_i|, and each is deterministic.
func TestDotRowSIMDMatchesGeneric(t *testing.T) {
	t.Logf("vector kernels: %v (F16C: %v)", haveSIMD, haveF16C)
	r := rand.New(rand.NewPCG(11, 12))
	for _, k := range portableKernels {
		for _, n := range []int{32, 64, 96, 256, 576, 1536, 2304, 4096, 7, 33, 100, 1000} {
			if n%k.typ.BlockSize() != 0 {
				continue
			}
			for trial := range 4 {
				w := make([]float32, n)
				x := make([]float32, n)
				scale := math.Pow(10, float64(trial-2)) // 0.01 .. 10
				for i := range w {
					w[i] = float32(r.NormFloat64() * scale)
					x[i] = float32(r.NormFloat64())
				}
				row, err := Quantize(k.typ, w)
				if err != nil {
					t.Fatal(err)
				}
				deq := make([]float32, n)
				if err := Dequantize(k.typ, row, deq); err != nil {
					t.Fatal(err)
				}
				var mag float64
				for i := range deq {
					mag += math.Abs(float64(deq[i]) * float64(x[i]))
				}
				fast, slow := k.fast(row, x), k.portable(row, x)
				if d := math.Abs(float64(fast)-float64(slow)) / mag; d > 1e-5 {
					t.Errorf("%s n=%d: vector %g, portable %g (relative difference %.2e)", k.typ, n, fast, slow, d)
				}
				if again := k.fast(row, x); math.Float32bits(again) != math.Float32bits(fast) {
					t.Errorf("%s n=%d: not deterministic: %g then %g", k.typ, n, fast, again)
				}
				if got := DotRow(k.typ, row, x); math.Float32bits(got) != math.Float32bits(fast) {
					t.Errorf("%s n=%d: DotRow = %g, kernel %g", k.typ, n, got, fast)
				}
			}
		}
	}
}

// TestDotRowSpecialValues checks that infinities and NaNs propagate
// through the vector kernels as through the portable ones.
func TestDotRowSpecialValues(t *testing.T) {
	const n = 256
	x := gaussian(n, 1)
	for _, k := range portableKernels {
		for _, special := range []float32{float32(math.Inf(1)), float32(math.NaN())} {
			w := gaussian(n, 2)
			row, err := Quantize(k.typ, w)
			if err != nil {
				t.Fatal(err)
			}
			xs := append([]float32(nil), x...)
			xs[37] = special
			fast, slow := k.fast(row, xs), k.portable(row, xs)
			if !(math.IsNaN(float64(fast)) && math.IsNaN(float64(slow))) && fast != slow {
				t.Errorf("%s with %g in x: vector %g, portable %g", k.typ, special, fast, slow)
			}
		}
	}
}

// BenchmarkDotRowPortable measures the portable kernels that have vector
// counterparts, for comparison with BenchmarkDotRow.
func BenchmarkDotRowPortable(b *testing.B) {
	const n = 4096
	w, x := gaussian(n, 3), gaussian(n, 4)
	for _, k := range portableKernels {
		row, err := Quantize(k.typ, w)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			var sink float32
			for b.Loop() {
				sink += k.portable(row, x)
			}
			_ = sink
		})
	}
}

// TestDot checks Dot against a float64 reference and the portable kernel
// for lengths around the vector width, and that mismatched lengths panic.
func TestDot(t *testing.T) {
	for _, n := range []int{0, 1, 5, 31, 32, 33, 64, 100, 576} {
		a, b := gaussian(n, uint64(n)+1), gaussian(n, uint64(n)+2)
		var ref, mag float64
		for i := range a {
			ref += float64(a[i]) * float64(b[i])
			mag += math.Abs(float64(a[i]) * float64(b[i]))
		}
		got := Dot(a, b)
		if d := math.Abs(float64(got) - ref); d > 1e-5*max(mag, 1) {
			t.Errorf("n=%d: Dot = %g, reference %g", n, got, ref)
		}
		if d := math.Abs(float64(got - dotF32sGo(a, b))); d > 1e-5*max(mag, 1) {
			t.Errorf("n=%d: Dot = %g, portable %g", n, got, dotF32sGo(a, b))
		}
		if allocs := testing.AllocsPerRun(10, func() { Dot(a, b) }); allocs != 0 {
			t.Errorf("n=%d: Dot allocates %.0f times", n, allocs)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Dot with mismatched lengths did not panic")
		}
	}()
	Dot(make([]float32, 3), make([]float32, 4))
}

// TestAddScaled checks AddScaled against float64 arithmetic and the
// portable kernel for lengths around the vector width, and that
// mismatched lengths panic.
func TestAddScaled(t *testing.T) {
	for _, n := range []int{0, 1, 7, 32, 33, 64, 100} {
		dst, src := gaussian(n, uint64(n)+3), gaussian(n, uint64(n)+4)
		const a = 0.37
		want := make([]float32, n)
		for i := range want {
			want[i] = float32(float64(dst[i]) + a*float64(src[i]))
		}
		portable := append([]float32(nil), dst...)
		addScaledGo(portable, a, src)
		AddScaled(dst, a, src)
		for i := range dst {
			if d := math.Abs(float64(dst[i] - want[i])); d > 1e-6*(1+math.Abs(float64(want[i]))) {
				t.Errorf("n=%d: element %d = %g, want %g", n, i, dst[i], want[i])
			}
			if d := math.Abs(float64(dst[i] - portable[i])); d > 1e-6*(1+math.Abs(float64(want[i]))) {
				t.Errorf("n=%d: element %d = %g, portable %g", n, i, dst[i], portable[i])
			}
		}
		if allocs := testing.AllocsPerRun(10, func() { AddScaled(dst, a, src) }); allocs != 0 {
			t.Errorf("n=%d: AddScaled allocates %.0f times", n, allocs)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AddScaled with mismatched lengths did not panic")
		}
	}()
	AddScaled(make([]float32, 3), 1, make([]float32, 4))
}
