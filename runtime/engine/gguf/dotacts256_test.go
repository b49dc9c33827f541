package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// k256Types are the weight types of the Layout256 integer kernels.
var k256Types = []Type{TypeQ4_K, TypeQ5_K, TypeQ6_K}

// rowForActsTest returns a row of type typ close to w: Quantize's where it
// produces the type, and otherwise (Q5_K) the Q4_K quantization of w/2
// with fifth bits taken from the signs of w, a valid row whose values
// follow w roughly.
func rowForActsTest(typ Type, w []float32) ([]byte, error) {
	if typ != TypeQ5_K {
		return quantizeRowForTest(typ, w)
	}
	half := make([]float32, len(w))
	for i, v := range w {
		half[i] = v / 2
	}
	q4, err := Quantize(TypeQ4_K, half)
	if err != nil {
		return nil, err
	}
	nb := len(w) / qkK
	row := make([]byte, nb*sizeQ5_K)
	for b := range nb {
		src, dst := q4[b*sizeQ4_K:(b+1)*sizeQ4_K], row[b*sizeQ5_K:(b+1)*sizeQ5_K]
		copy(dst[:16], src[:16])
		copy(dst[48:], src[16:])
		for e := range qkK {
			if w[b*qkK+e] > 0 {
				c, l := e/64, e%32
				dst[16+l] |= 1 << (2*c + e%64/32)
			}
		}
	}
	return row, nil
}

// randomK256Row returns nb random blocks of typ: random quants and scales,
// and finite block scales d (and dmin) of magnitude around 1/64.
func randomK256Row(rng *rand.Rand, typ Type, nb int) []byte {
	size := typ.TypeSize()
	row := make([]byte, nb*size)
	for i := range row {
		row[i] = byte(rng.Uint32())
	}
	offs := []int{0, 2} // d and dmin
	if typ == TypeQ6_K {
		offs = []int{208}
	}
	for b := range nb {
		blk := row[b*size:]
		for _, off := range offs {
			h := uint16(0x2000 + rng.IntN(0x0800))
			if rng.IntN(2) == 0 {
				h |= 0x8000
			}
			binary.LittleEndian.PutUint16(blk[off:], h)
		}
	}
	return row
}

// randomActs returns tokens vectors of n elements, quantized in Layout256,
// with some blocks of zeros, of extreme quants and of tiny scales.
func randomActs(rng *rand.Rand, n, tokens int) []Acts {
	acts := make([]Acts, tokens)
	x := make([]float32, n)
	for t := range acts {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		switch t % 4 {
		case 1:
			clear(x[:qkK])
		case 2:
			for i := range qkK {
				x[i] = float32(1 - 2*float64(i%2))
			}
		case 3:
			for i := range x[:qkK] {
				x[i] *= 1e-30
			}
		}
		acts[t].Quantize(x, Layout256)
	}
	return acts
}

// withK256 runs f with the block kernels of variant v.
func withK256(v k256Variant, f func()) {
	old := k256Use
	k256Use = v
	defer func() { k256Use = old }()
	f()
}

// TestK256VariantsAgree checks that every kernel implementation on this
// machine gives the portable one's results bit for bit, single- and
// multi-token: they compute the same exact integer sums per block (on
// one-block rows the result is da*(d*s0 - dmin*s1) of a single block) and
// scale and add them with the same operations in the same order.
func TestK256VariantsAgree(t *testing.T) {
	t.Logf("variants: %v, in use: %v", k256Variants, k256Use)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range k256Types {
		for _, n := range []int{256, 512, 1536, 2304, 4096} {
			for trial := range 4 {
				row := randomK256Row(rng, typ, n/qkK)
				acts := randomActs(rng, n, 7)
				var want []float32
				for _, v := range k256Variants {
					single := make([]float32, len(acts))
					withK256(v, func() {
						for i := range acts {
							single[i] = DotRowActs(typ, row, &acts[i])
						}
						for nt := 1; nt <= len(acts); nt++ {
							multi := make([]float32, 2*nt)
							DotRowActsN(typ, row, acts[:nt], multi, 2)
							for i := range nt {
								if math.Float32bits(multi[2*i]) != math.Float32bits(single[i]) {
									t.Fatalf("%s n=%d %s, %d tokens: token %d: %g, single-token %g", typ, n, v, nt, i, multi[2*i], single[i])
								}
							}
						}
					})
					if want == nil {
						want = single
						continue
					}
					for i := range acts {
						if math.Float32bits(want[i]) != math.Float32bits(single[i]) {
							t.Fatalf("%s n=%d trial %d %s token %d: %g, portable %g", typ, n, trial, v, i, single[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestK256AgainstFloat checks the kernels of every variant against the
// dequantized row times the dequantized activations, in float64: the
// integer sums are exact, so they agree to float32 rounding.
func TestK256AgainstFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range k256Types {
		for _, n := range []int{256, 1024} {
			row := randomK256Row(rng, typ, n/qkK)
			w := make([]float32, n)
			if err := Dequantize(typ, row, w); err != nil {
				t.Fatal(err)
			}
			acts := randomActs(rng, n, 4)
			for i := range acts {
				a := &acts[i]
				var ref, mag float64
				for e := range w {
					x := float64(a.q[e]) * float64(a.d[e/qkK])
					ref += float64(w[e]) * x
					mag += math.Abs(float64(w[e]) * x)
				}
				for _, v := range k256Variants {
					var got float32
					withK256(v, func() { got = DotRowActs(typ, row, a) })
					if d := math.Abs(float64(got) - ref); d > 1e-5*mag+1e-30 {
						t.Errorf("%s n=%d token %d %s: %g, float64 reference %g (magnitude %g)", typ, n, i, v, got, ref, mag)
					}
				}
			}
		}
	}
}

// FuzzDotRowActs256 multiplies arbitrary row bytes (any scales, NaNs
// included) with activations made of the same bytes: the kernels never
// panic and every variant gives the same result.
func FuzzDotRowActs256(f *testing.F) {
	f.Add([]byte{0}, uint8(1), uint8(1))
	f.Add([]byte("\x7c\x00\xff\xfe\x01\x80"), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, blocks, tokens uint8) {
		if len(data) == 0 {
			return
		}
		nb := 1 + int(blocks)%20
		nt := 1 + int(tokens)%6
		n := nb * qkK
		x := make([]float32, n)
		acts := make([]Acts, nt)
		for tk := range acts {
			for i := range x {
				x[i] = float32(int8(data[(i*7+tk*13)%len(data)])) * 0.01
			}
			acts[tk].Quantize(x, Layout256)
		}
		for _, typ := range k256Types {
			row := make([]byte, nb*typ.TypeSize())
			for i := range row {
				row[i] = data[i%len(data)] ^ byte(i>>8)
			}
			var want []float32
			for _, v := range k256Variants {
				out := make([]float32, nt)
				withK256(v, func() { DotRowActsN(typ, row, acts, out, 1) })
				for i := range acts {
					var s float32
					withK256(v, func() { s = DotRowActs(typ, row, &acts[i]) })
					if math.Float32bits(s) != math.Float32bits(out[i]) {
						t.Fatalf("%s %s token %d: single %g, multi %g", typ, v, i, s, out[i])
					}
				}
				if want == nil {
					want = out
				} else if fmt.Sprint(want) != fmt.Sprint(out) {
					t.Fatalf("%s %s: %v, portable %v", typ, v, out, want)
				}
			}
		}
	})
}

// BenchmarkDotRowActs256 measures one row of n elements times activations
// quantized in Layout256 with each variant of the integer kernels, next to
// DotRow on the float activations ("float"); the "xN" variants multiply the
// row with N tokens at once (DotRowActsN) and report the time per token.
func BenchmarkDotRowActs256(b *testing.B) {
	for _, typ := range k256Types {
		for _, n := range []int{1536, 4096} {
			w, x := gaussian(n, 3), gaussian(n, 4)
			row, err := rowForActsTest(typ, w)
			if err != nil {
				b.Fatal(err)
			}
			acts := make([]Acts, 4)
			for i := range acts {
				acts[i].Quantize(gaussian(n, uint64(5+i)), Layout256)
			}
			b.Run(fmt.Sprintf("%s/float/n=%d", typ, n), func(b *testing.B) {
				b.SetBytes(int64(len(row)))
				var sink float32
				for b.Loop() {
					sink += DotRow(typ, row, x)
				}
				_ = sink
			})
			for _, v := range k256Variants {
				b.Run(fmt.Sprintf("%s/%s/n=%d", typ, v, n), func(b *testing.B) {
					withK256(v, func() {
						b.SetBytes(int64(len(row)))
						var sink float32
						for b.Loop() {
							sink += DotRowActs(typ, row, &acts[0])
						}
						_ = sink
					})
				})
				b.Run(fmt.Sprintf("%s/%s-x4/n=%d", typ, v, n), func(b *testing.B) {
					withK256(v, func() {
						b.SetBytes(int64(len(acts) * len(row)))
						out := make([]float32, len(acts))
						for b.Loop() {
							DotRowActsN(typ, row, acts, out, 1)
						}
						b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(acts)), "ns/token")
					})
				})
			}
		}
	}
}

// TestQuantize256VariantsAgree checks the vector Layout256 quantizer
// against the portable one, bit for bit, on random blocks of every scale,
// with zeros, huge values, infinities, denormals and NaNs.
func TestQuantize256VariantsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1e38, -3.4e38, float32(math.Inf(1)), float32(math.Inf(-1)),
		1e-45, -1e-45, 1e-40, 1e-38, 0.5, -0.5, 127, float32(math.NaN())}
	for trial := range 400 {
		nb := 1 + trial%9
		x := make([]float32, nb*qkK)
		scale := math.Pow(10, float64(rng.IntN(90)-45))
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		switch trial % 5 {
		case 1:
			for range 1 + rng.IntN(4) {
				v := specials[rng.IntN(len(specials))]
				if trial%10 != 1 && math.IsNaN(float64(v)) {
					continue
				}
				x[rng.IntN(len(x))] = v
			}
		case 2:
			clear(x[qkK*rng.IntN(nb):][:qkK])
		case 3:
			for i := range x {
				x[i] = float32(rng.IntN(255)-127) * float32(scale)
			}
		case 4:
			for i := range x {
				x[i] = specials[rng.IntN(len(specials)-1)] * float32(rng.IntN(3)-1)
			}
		}
		var want Acts
		withK256(k256Go, func() { want.Quantize(x, Layout256) })
		for _, v := range k256Variants[1:] {
			var got Acts
			withK256(v, func() { got.Quantize(x, Layout256) })
			for i := range want.q {
				if got.q[i] != want.q[i] {
					t.Fatalf("trial %d %s: q[%d] = %d, portable %d (x = %g, d = %g)", trial, v, i, got.q[i], want.q[i], x[i], want.d[i/qkK])
				}
			}
			for i := range want.d {
				if math.Float32bits(got.d[i]) != math.Float32bits(want.d[i]) {
					t.Fatalf("trial %d %s: d[%d] = %g, portable %g", trial, v, i, got.d[i], want.d[i])
				}
			}
			for i := range want.bsums {
				if got.bsums[i] != want.bsums[i] {
					t.Fatalf("trial %d %s: bsums[%d] = %d, portable %d", trial, v, i, got.bsums[i], want.bsums[i])
				}
			}
		}
	}
}

// BenchmarkQuantize256 measures Acts.Quantize in Layout256 on 4096
// elements with each variant.
func BenchmarkQuantize256(b *testing.B) {
	x := gaussian(4096, 11)
	var a Acts
	for _, v := range k256Variants {
		b.Run(v.String(), func(b *testing.B) {
			withK256(v, func() {
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					a.Quantize(x, Layout256)
				}
			})
		})
	}
}

// TestK256DoesNotAllocate checks that the kernels of every variant, single-
// and multi-token, do not allocate.
func TestK256DoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	acts := randomActs(rng, 1024, 6)
	out := make([]float32, len(acts))
	for _, typ := range k256Types {
		row := randomK256Row(rng, typ, 4)
		for _, v := range k256Variants {
			withK256(v, func() {
				if n := testing.AllocsPerRun(10, func() {
					DotRowActs(typ, row, &acts[0])
					DotRowActsN(typ, row, acts, out, 1)
				}); n != 0 {
					t.Errorf("%s %s: %v allocations", typ, v, n)
				}
			})
		}
	}
}

// FuzzQuantize256 quantizes arbitrary float32 bit patterns (NaNs,
// infinities and denormals included) with every variant: the results are
// the portable quantizer's, bit for bit.
func FuzzQuantize256(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f, 1, 0, 0, 0, 0, 0, 0xc0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		nb := 1 + len(data)%3
		x := make([]float32, nb*qkK)
		for i := range x {
			j := (4 * i) % (len(data) - 3)
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[j:]) ^ uint32(i/qkK))
		}
		var want Acts
		withK256(k256Go, func() { want.Quantize(x, Layout256) })
		for _, v := range k256Variants[1:] {
			var got Acts
			withK256(v, func() { got.Quantize(x, Layout256) })
			if fmt.Sprint(got.q, got.bsums) != fmt.Sprint(want.q, want.bsums) {
				t.Fatalf("%s: quants differ from the portable ones", v)
			}
			for i := range want.d {
				if math.Float32bits(got.d[i]) != math.Float32bits(want.d[i]) {
					t.Fatalf("%s: d[%d] = %g, portable %g", v, i, got.d[i], want.d[i])
				}
			}
		}
	})
}
