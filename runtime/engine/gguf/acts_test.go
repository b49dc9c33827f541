package gguf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refDot is the float64 dot product of a row of type t, dequantized, with x.
func refDot(t *testing.T, typ Type, row []byte, x []float32) float64 {
	t.Helper()
	w := make([]float32, len(x))
	if err := Dequantize(typ, row, w); err != nil {
		t.Fatal(err)
	}
	var s float64
	for i := range w {
		s += float64(w[i]) * float64(x[i])
	}
	return s
}

// actsBound is the error bound of an integer dot product against the float
// reference: each activation is off by at most half a quant step of its
// block, so the error is at most Σ|w_i|*d_block/2 (plus float rounding).
func actsBound(t *testing.T, typ Type, row []byte, x []float32, l ActLayout) float64 {
	t.Helper()
	w := make([]float32, len(x))
	if err := Dequantize(typ, row, w); err != nil {
		t.Fatal(err)
	}
	bl := l.blockLen()
	var bound float64
	for b := 0; b < len(x); b += bl {
		var amax float64
		for _, v := range x[b : b+bl] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		step := amax / 127
		for _, v := range w[b : b+bl] {
			bound += math.Abs(float64(v)) * step / 2
		}
	}
	return bound*1.001 + 1e-5
}

// TestDotRowActsWithinActivationError checks every registered integer
// kernel against a float64 reference on the dequantized row: the
// difference stays within the error the activations' rounding allows.
func TestDotRowActsWithinActivationError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for typ := Type(0); int(typ) < len(actKernels); typ++ {
		l := ActLayoutOf(typ)
		if l == LayoutNone {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			for _, n := range []int{256, 512, 1536} {
				for trial := range 20 {
					w := make([]float32, n)
					x := make([]float32, n)
					for i := range w {
						w[i] = float32(rng.NormFloat64())
						x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(trial%5-2)))
					}
					row, err := rowForActsTest(typ, w)
					if err != nil {
						t.Fatal(err)
					}
					var a Acts
					a.Quantize(x, l)
					got := float64(DotRowActs(typ, row, &a))
					want := refDot(t, typ, row, x)
					if d := math.Abs(got - want); d > actsBound(t, typ, row, x, l) {
						t.Fatalf("n=%d trial %d: got %g, float64 reference %g: off by %g, bound %g", n, trial, got, want, d, actsBound(t, typ, row, x, l))
					}
				}
			}
		})
	}
}

func TestActsQuantizeZeroAndExtremes(t *testing.T) {
	var a Acts
	a.Quantize(make([]float32, 32), Layout32)
	for i, q := range a.q {
		if q != 0 {
			t.Fatalf("q[%d] = %d for a zero block", i, q)
		}
	}
	x := make([]float32, 256)
	x[3], x[7] = 1e30, -1e30
	a.Quantize(x, Layout256)
	if a.q[3] != 127 || a.q[7] != -127 {
		t.Fatalf("extremes quantized to %d, %d; want 127, -127", a.q[3], a.q[7])
	}
	if a.bsums[0] != 0 {
		t.Fatalf("bsums[0] = %d, want 0", a.bsums[0])
	}
}

func TestActsQuantizeDoesNotAllocate(t *testing.T) {
	x := make([]float32, 1024)
	var a Acts
	a.Quantize(x, Layout256)
	a.Quantize(x, Layout32)
	if n := testing.AllocsPerRun(10, func() { a.Quantize(x, Layout32); a.Quantize(x, Layout256) }); n != 0 {
		t.Fatalf("%v allocations per Quantize", n)
	}
}

// TestDotRowActsNEqualsSingle checks that the product of a row with a block
// of tokens equals the single-token kernel for each, bit for bit.
func TestDotRowActsNEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for typ := Type(0); int(typ) < len(actKernels); typ++ {
		l := ActLayoutOf(typ)
		if l == LayoutNone {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			const n, tokens, stride = 512, 7, 3
			w := make([]float32, n)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			row, err := rowForActsTest(typ, w)
			if err != nil {
				t.Fatal(err)
			}
			acts := make([]Acts, tokens)
			x := make([]float32, n)
			for i := range acts {
				for j := range x {
					x[j] = float32(rng.NormFloat64())
				}
				acts[i].Quantize(x, l)
			}
			out := make([]float32, tokens*stride)
			DotRowActsN(typ, row, acts, out, stride)
			for i := range acts {
				if want := DotRowActs(typ, row, &acts[i]); math.Float32bits(out[i*stride]) != math.Float32bits(want) {
					t.Fatalf("token %d: %g, single-token kernel %g", i, out[i*stride], want)
				}
			}
		})
	}
}

// TestActsQuantizeTinyBlocksAreZero checks that a block of magnitudes too
// small for its scale's reciprocal is stored as zeros in both layouts, the
// same on every platform.
func TestActsQuantizeTinyBlocksAreZero(t *testing.T) {
	for _, l := range []ActLayout{Layout32, Layout256} {
		x := make([]float32, 512)
		for i := range x {
			x[i] = 1e-38 * float32(i%7-3)
		}
		x[300] = 1 // a normal block among tiny ones
		var a Acts
		a.Quantize(x, l)
		bl := l.blockLen()
		for b := range a.d {
			if b == 300/bl {
				if a.d[b] == 0 {
					t.Fatalf("layout %s: the normal block %d was flushed", l, b)
				}
				continue
			}
			if a.d[b] != 0 {
				t.Fatalf("layout %s: block %d scale %g, want 0", l, b, a.d[b])
			}
			for i, q := range a.q[b*bl : (b+1)*bl] {
				if q != 0 {
					t.Fatalf("layout %s: block %d quant %d = %d, want 0", l, b, i, q)
				}
			}
		}
		for i, s := range a.bsums {
			if i/(bl/16) != 300/bl && s != 0 {
				t.Fatalf("layout %s: bsums[%d] = %d, want 0", l, i, s)
			}
		}
		for b, s := range a.sum {
			if b != 300/bl && s != 0 {
				t.Fatalf("layout %s: sum[%d] = %g, want 0", l, b, s)
			}
		}
	}
}

// TestDotRowsActsNEqualsSingle checks that the product of a block of rows
// with a block of tokens equals the single-token kernel's for every row and
// token, bit for bit, with row and token counts that leave partial tiles.
func TestDotRowsActsNEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for typ := Type(0); int(typ) < len(actKernels); typ++ {
		l := ActLayoutOf(typ)
		if l == LayoutNone {
			continue
		}
		for _, shape := range [][2]int{{10, 11}, {8, 32}, {11, 1}} {
			t.Run(fmt.Sprintf("%s/%dx%d", typ, shape[0], shape[1]), func(t *testing.T) {
				testDotRowsActsN(t, rng, typ, shape[0], shape[1])
			})
		}
	}
}

// testDotRowsActsN checks DotRowsActsN on nrows random rows of type typ
// and tokens random inputs against the single-token kernel.
func testDotRowsActsN(t *testing.T, rng *rand.Rand, typ Type, nrows, tokens int) {
	const n = 512
	l := ActLayoutOf(typ)
	var rows []byte
	for range nrows {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		row, err := rowForActsTest(typ, w)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row...)
	}
	rs := len(rows) / nrows
	acts := make([]Acts, tokens)
	x := make([]float32, n)
	for i := range acts {
		for j := range x {
			x[j] = float32(rng.NormFloat64()) * float32(1+i%3)
		}
		acts[i].Quantize(x, l)
	}
	for _, strides := range [][2]int{{1, nrows}, {tokens, 1}, {2 * tokens, 2}} {
		out := make([]float32, (nrows-1)*strides[0]+(tokens-1)*strides[1]+1)
		DotRowsActsN(typ, rows, nrows, acts, out, strides[0], strides[1])
		for r := range nrows {
			for i := range acts {
				got := out[r*strides[0]+i*strides[1]]
				if want := DotRowActs(typ, rows[r*rs:(r+1)*rs], &acts[i]); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("strides %v, row %d, token %d: %g, single-token kernel %g", strides, r, i, got, want)
				}
			}
		}
	}
}
