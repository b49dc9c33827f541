package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// quantizeRowForTest encodes w in type typ: with Quantize where it can,
// and for Q4_1 and Q5_1 (read-only formats) with a plain min/max
// quantizer.
func quantizeRowForTest(typ Type, w []float32) ([]byte, error) {
	var levels, size, qhOff int
	switch typ {
	case TypeQ4_1:
		levels, size, qhOff = 15, sizeQ4_1, -1
	case TypeQ5_1:
		levels, size, qhOff = 31, sizeQ5_1, 4
	default:
		return Quantize(typ, w)
	}
	out := make([]byte, len(w)/qk*size)
	for b := range len(w) / qk {
		xs, blk := w[b*qk:(b+1)*qk], out[b*size:(b+1)*size]
		lo, hi := xs[0], xs[0]
		for _, v := range xs {
			lo, hi = min(lo, v), max(hi, v)
		}
		d := F16ToF32(F32ToF16((hi - lo) / float32(levels)))
		m := F16ToF32(F32ToF16(lo))
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		binary.LittleEndian.PutUint16(blk[2:], F32ToF16(m))
		var qh uint32
		for i, v := range xs {
			q := 0
			if d != 0 {
				q = int(math.Round(float64((v - m) / d)))
			}
			q = min(max(q, 0), levels)
			if i < 16 {
				blk[size-16+i] |= byte(q & 15)
			} else {
				blk[size-16+i-16] |= byte(q&15) << 4
			}
			qh |= uint32(q>>4) << i
		}
		if qhOff >= 0 {
			binary.LittleEndian.PutUint32(blk[qhOff:], qh)
		}
	}
	return out, nil
}

// randomBlocks returns nb blocks of type typ of random bytes whose scale
// (and minimum) halves are finite values of magnitude up to about 1.
func randomBlocks(rng *rand.Rand, typ Type, nb int) []byte {
	size := typ.TypeSize()
	row := make([]byte, nb*size)
	for i := range row {
		row[i] = byte(rng.Uint32())
	}
	for b := range nb {
		binary.LittleEndian.PutUint16(row[b*size:], F32ToF16(float32(rng.NormFloat64())))
		if typ == TypeQ4_1 || typ == TypeQ5_1 {
			binary.LittleEndian.PutUint16(row[b*size+2:], F32ToF16(float32(rng.NormFloat64())))
		}
	}
	return row
}

// sameFloat reports whether a and b are the same float32 bits or both NaN.
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// acts32Sizes are the row lengths the Layout32 tests use: odd and even
// block counts, the SmolLM widths and 4096.
var acts32Sizes = []int{32, 64, 96, 160, 576, 1000 / qk * qk, 1536, 2080, 4096}

// TestActs32VariantsIdentical runs every kernel variant of every Layout32
// type that this build and CPU have on random rows (quantized and of
// random bytes) and checks they return the same float32 as the portable
// kernel, bit for bit, and that DotRowActs uses the last one.
func TestActs32VariantsIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range acts32Types {
		vs := acts32Variants(typ)
		names := make([]string, len(vs))
		for i, v := range vs {
			names[i] = v.name
		}
		t.Logf("%s: %v", typ, names)
		for _, n := range acts32Sizes {
			for trial := range 6 {
				x := make([]float32, n)
				w := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(trial%4-2)))
					w[i] = float32(rng.NormFloat64())
				}
				var row []byte
				if trial%2 == 0 {
					var err error
					if row, err = quantizeRowForTest(typ, w); err != nil {
						t.Fatal(err)
					}
				} else {
					row = randomBlocks(rng, typ, n/qk)
				}
				var a Acts
				a.Quantize(x, Layout32)
				want := vs[0].k(row, &a)
				for _, v := range vs[1:] {
					if got := v.k(row, &a); !sameFloat(got, want) {
						t.Errorf("%s/%s n=%d trial %d: %g, portable %g", typ, v.name, n, trial, got, want)
					}
				}
				if got := DotRowActs(typ, row, &a); !sameFloat(got, vs[len(vs)-1].k(row, &a)) {
					t.Errorf("%s n=%d: DotRowActs %g is not the %s kernel's", typ, n, got, vs[len(vs)-1].name)
				}
			}
		}
	}
}

// TestActs32NVariants checks every multi-token kernel of every Layout32
// type against the single-token kernel of its variant and the portable
// one, for 1 to 9 tokens (groups of four and the rest) with a stride.
func TestActs32NVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range acts32Types {
		for _, v := range acts32Variants(typ) {
			if v.kn == nil {
				continue
			}
			for _, n := range []int{32, 96, 576} {
				row := randomBlocks(rng, typ, n/qk)
				for tokens := 1; tokens <= 9; tokens++ {
					acts := make([]Acts, tokens)
					x := make([]float32, n)
					for i := range acts {
						for j := range x {
							x[j] = float32(rng.NormFloat64())
						}
						acts[i].Quantize(x, Layout32)
					}
					const stride = 2
					out := make([]float32, tokens*stride)
					v.kn(row, acts, out, stride)
					for i := range acts {
						single, portable := v.k(row, &acts[i]), acts32Portable[typ].k(row, &acts[i])
						if !sameFloat(out[i*stride], single) || !sameFloat(single, portable) {
							t.Errorf("%s/%s n=%d token %d of %d: %g, single-token %g, portable %g", typ, v.name, n, i, tokens, out[i*stride], single, portable)
						}
					}
				}
			}
		}
	}
}

// TestActs32BlockSums checks each variant's integer block sums against the
// dequantized row: with unit weight scales, zero minima and the
// activations' scale 1 on one block and 0 on the others, a kernel returns
// that block's integer sum exactly.
func TestActs32BlockSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 160
	for _, typ := range acts32Types {
		row := randomBlocks(rng, typ, n/qk)
		size := typ.TypeSize()
		for b := range n / qk {
			binary.LittleEndian.PutUint16(row[b*size:], 0x3c00) // 1.0
			if typ == TypeQ4_1 || typ == TypeQ5_1 {
				binary.LittleEndian.PutUint16(row[b*size+2:], 0)
			}
		}
		w := make([]float32, n)
		if err := Dequantize(typ, row, w); err != nil {
			t.Fatal(err)
		}
		var a Acts
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		a.Quantize(x, Layout32)
		for i := range a.q {
			if i%7 == 0 {
				a.q[i] = int8(127 - 254*(i/7%2)) // the extremes too
			}
		}
		d := append([]float32(nil), a.d...)
		for blk := range n / qk {
			var want int64
			for i := blk * qk; i < (blk+1)*qk; i++ {
				want += int64(w[i]) * int64(a.q[i])
			}
			clear(a.d)
			a.d[blk] = 1
			for _, v := range acts32Variants(typ) {
				if got := v.k(row, &a); got != float32(want) {
					t.Errorf("%s/%s block %d: sum %g, want %d", typ, v.name, blk, got, want)
				}
			}
		}
		copy(a.d, d)
	}
}

// quantizerInputs returns test vectors of nb blocks for the Layout32
// quantizers: Gaussians of various scales, zeros, negative zeros,
// denormals, huge values, ties of rounding and, when special is set,
// infinities and NaNs.
func quantizerInputs(rng *rand.Rand, nb int, special bool) [][]float32 {
	var out [][]float32
	for kind := range 10 {
		x := make([]float32, nb*qk)
		for i := range x {
			switch kind {
			case 0:
				x[i] = float32(rng.NormFloat64())
			case 1:
				x[i] = float32(rng.NormFloat64() * 1e-20)
			case 2:
				x[i] = float32(rng.NormFloat64() * 1e37)
			case 3:
				x[i] = float32(math.Copysign(0, float64(i%2)-0.5)) // ±0
			case 4:
				x[i] = math.Float32frombits(rng.Uint32() & 0x807fffff) // denormals
			case 5:
				x[i] = float32(rng.NormFloat64() * 1e-38)
			case 6:
				x[i] = float32(int(rng.Uint32()%255)-127) / 2 // ties
			case 7:
				x[i] = math.Float32frombits(rng.Uint32()) // anything
			case 8:
				x[i] = float32(rng.NormFloat64())
				if i%13 == 0 {
					x[i] = float32(math.Inf(1 - 2*(i%2)))
				}
			case 9:
				x[i] = float32(rng.NormFloat64())
				if i%29 == 0 {
					x[i] = float32(math.NaN())
				}
			}
		}
		if kind >= 7 && !special {
			continue
		}
		out = append(out, x)
	}
	return out
}

// checkQuantizeActs32 compares the quantizer Acts.Quantize uses with the
// portable one on x.
func checkQuantizeActs32(t *testing.T, x []float32, what string) {
	nb := len(x) / qk
	q1, q2 := make([]int8, len(x)), make([]int8, len(x))
	d1, d2 := make([]float32, nb), make([]float32, nb)
	s1, s2 := make([]float32, nb), make([]float32, nb)
	quantizeActs32(x, q1, d1, s1)
	quantizeActs32Fast(x, q2, d2, s2)
	for b := range nb {
		if !sameFloat(d1[b], d2[b]) || !sameFloat(s1[b], s2[b]) {
			t.Fatalf("%s block %d: d %g, sum %g; portable d %g, sum %g", what, b, d2[b], s2[b], d1[b], s1[b])
		}
	}
	for i := range q1 {
		if q1[i] != q2[i] {
			t.Fatalf("%s element %d (%g): q %d, portable %d", what, i, x[i], q2[i], q1[i])
		}
	}
}

// TestQuantizeActs32Fast checks the quantizer Acts.Quantize uses for
// Layout32 against the portable one, bit for bit, on random and edge-case
// inputs (infinities and NaNs included, as the vector quantizer reproduces
// Go's conversions of them on amd64).
func TestQuantizeActs32Fast(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, nb := range []int{1, 2, 3, 18, 48} {
		for i, x := range quantizerInputs(rng, nb, true) {
			checkQuantizeActs32(t, x, fmt.Sprintf("nb=%d input %d", nb, i))
		}
	}
}

// FuzzActs32 feeds arbitrary bytes as weight rows of every Layout32 type
// and as float32 activations: the quantizers and kernels must never panic,
// and every variant must agree with the portable kernel (NaNs aside).
func FuzzActs32(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef"), []byte{0, 0, 0x80, 0x7f})
	f.Add(make([]byte, 200), make([]byte, 128))
	f.Fuzz(func(t *testing.T, rowBytes, xBytes []byte) {
		n := len(xBytes) / 4 / qk * qk
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(xBytes[4*i:]))
		}
		checkQuantizeActs32(t, x, "fuzz")
		var a Acts
		a.Quantize(x, Layout32)
		for _, typ := range acts32Types {
			size := n / qk * typ.TypeSize()
			row := make([]byte, size)
			for i := range row {
				if len(rowBytes) > 0 {
					row[i] = rowBytes[i%len(rowBytes)]
				}
			}
			vs := acts32Variants(typ)
			want := vs[0].k(row, &a)
			for _, v := range vs[1:] {
				if got := v.k(row, &a); !sameFloat(got, want) {
					t.Errorf("%s/%s: %g, portable %g", typ, v.name, got, want)
				}
			}
			out := make([]float32, 5)
			DotRowActsN(typ, row, []Acts{a, a, a, a, a}, out, 1)
			for i, v := range out {
				if !sameFloat(v, DotRowActs(typ, row, &a)) {
					t.Errorf("%s: token %d of 5: %g, single %g", typ, i, v, DotRowActs(typ, row, &a))
				}
			}
		}
	})
}

// benchActs32Sizes are the row lengths of the benchmarks: the SmolLM-135M
// hidden and feed-forward widths.
var benchActs32Sizes = []int{576, 1536}

// BenchmarkDotRowActs32 measures each integer kernel variant of the Layout32
// types on one row, and the float DotRow of the same row for comparison
// ("float"); the throughput is in bytes of weights read per second.
func BenchmarkDotRowActs32(b *testing.B) {
	for _, typ := range acts32Types {
		for _, n := range benchActs32Sizes {
			w, x := gaussian(n, 3), gaussian(n, 4)
			row, err := quantizeRowForTest(typ, w)
			if err != nil {
				b.Fatal(err)
			}
			var a Acts
			a.Quantize(x, Layout32)
			b.Run(fmt.Sprintf("%s/float/%d", typ, n), func(b *testing.B) {
				b.SetBytes(int64(len(row)))
				var sink float32
				for b.Loop() {
					sink += DotRow(typ, row, x)
				}
				_ = sink
			})
			for _, v := range acts32Variants(typ) {
				b.Run(fmt.Sprintf("%s/%s/%d", typ, v.name, n), func(b *testing.B) {
					b.SetBytes(int64(len(row)))
					var sink float32
					for b.Loop() {
						sink += v.k(row, &a)
					}
					_ = sink
				})
			}
		}
	}
}

// BenchmarkDotRowActs32N measures the multi-token kernels on four tokens;
// ns/op is per token.
func BenchmarkDotRowActs32N(b *testing.B) {
	const tokens = 4
	for _, typ := range acts32Types {
		for _, n := range benchActs32Sizes {
			row, err := quantizeRowForTest(typ, gaussian(n, 3))
			if err != nil {
				b.Fatal(err)
			}
			acts := make([]Acts, tokens)
			for i := range acts {
				acts[i].Quantize(gaussian(n, uint64(5+i)), Layout32)
			}
			out := make([]float32, tokens)
			for _, v := range acts32Variants(typ) {
				if v.kn == nil {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/%d", typ, v.name, n), func(b *testing.B) {
					b.SetBytes(int64(len(row)))
					for b.Loop() {
						v.kn(row, acts, out, 1)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/tokens, "ns/token")
				})
			}
		}
	}
}

// BenchmarkQuantizeActs32 measures the Layout32 quantizers on one vector.
func BenchmarkQuantizeActs32(b *testing.B) {
	for _, n := range benchActs32Sizes {
		x := gaussian(n, 3)
		q, d, s := make([]int8, n), make([]float32, n/qk), make([]float32, n/qk)
		for _, k := range []struct {
			name string
			f    func(x []float32, q []int8, d, sum []float32)
		}{{"go", quantizeActs32}, {"fast", quantizeActs32Fast}} {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for b.Loop() {
					k.f(x, q, d, s)
				}
			})
		}
	}
}
