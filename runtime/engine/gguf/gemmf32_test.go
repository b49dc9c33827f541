package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randF32Rows returns n random F32 rows of cols columns, their values,
// and tokens random inputs of cols.
func randF32Rows(r *rand.Rand, n, cols, tokens int) (rows []byte, w, xs []float32) {
	w = make([]float32, n*cols)
	rows = make([]byte, 4*n*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
		binary.LittleEndian.PutUint32(rows[4*i:], math.Float32bits(w[i]))
	}
	xs = make([]float32, tokens*cols)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	return rows, w, xs
}

// TestMatMulF32 checks MatMulF32 against DotRow, bit for bit, and against
// a float64 reference, for shapes that exercise the tiles, the rows and
// tokens left over beside them and the columns past a multiple of 32; and
// that it leaves the outputs between stride and the rows alone.
func TestMatMulF32(t *testing.T) {
	t.Logf("tile kernel: %v (AVX-512: %v)", haveF32Tile, haveF32Tile512)
	testMatMulF32(t)
	if haveF32Tile512 {
		withoutAVX512(t)
		t.Log("again with the AVX2 tile kernel")
		testMatMulF32(t)
	}
}

// withoutAVX512 makes MatMulF32 use the AVX2 tile kernel until t ends.
func withoutAVX512(tb testing.TB) {
	haveF32Tile512 = false
	f32TileRows, f32TileTokens = f32TileShape()
	tb.Cleanup(func() {
		haveF32Tile512 = true
		f32TileRows, f32TileTokens = f32TileShape()
	})
}

func testMatMulF32(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, cols := range []int{7, 32, 64, 100, 576, 1536} {
		for _, n := range []int{1, 2, 3, 5, 7, 13} {
			for _, tokens := range []int{1, 3, 4, 5, 8, 32} {
				rows, w, xs := randF32Rows(r, n, cols, tokens)
				stride := n + 2
				out := make([]float32, tokens*stride)
				for i := range out {
					out[i] = -1
				}
				MatMulF32(rows, cols, xs, tokens, out, stride)
				for tk := range tokens {
					x := xs[tk*cols : (tk+1)*cols]
					for i := range n {
						got := out[tk*stride+i]
						if want := DotRow(TypeF32, rows[4*i*cols:4*(i+1)*cols], x); math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("cols %d rows %d tokens %d: row %d token %d: %g, DotRow %g", cols, n, tokens, i, tk, got, want)
						}
						var ref, mag float64
						for c := range cols {
							p := float64(w[i*cols+c]) * float64(x[c])
							ref += p
							mag += math.Abs(p)
						}
						if d := math.Abs(float64(got)-ref) / mag; d > 1e-5 {
							t.Fatalf("cols %d rows %d tokens %d: row %d token %d: %g, float64 %g", cols, n, tokens, i, tk, got, ref)
						}
					}
					for i := n; i < stride && tk*stride+i < len(out); i++ {
						if out[tk*stride+i] != -1 {
							t.Fatalf("cols %d rows %d tokens %d: wrote past row %d", cols, n, tokens, n)
						}
					}
				}
			}
		}
	}
}

// BenchmarkMatMulF32 multiplies F32 matrices of the smollm-135m shapes by
// 32 tokens (MaxBatch), with MatMulF32 (and its AVX2 kernel on a machine
// with AVX-512) and with one DotRow per row and token, on one thread, and
// reports GFLOP/s (two per multiply-add).
//
//	go test -run '^$' -bench MatMulF32 ./runtime/engine/gguf/
func BenchmarkMatMulF32(b *testing.B) {
	const tokens = 32
	for _, s := range []struct{ rows, cols int }{{576, 576}, {1536, 576}, {576, 1536}} {
		rows, _, xs := randF32Rows(rand.New(rand.NewPCG(1, 2)), s.rows, s.cols, tokens)
		out := make([]float32, tokens*s.rows)
		flops := 2 * float64(s.rows*s.cols*tokens)
		b.Run(fmt.Sprintf("%dx%d/MatMulF32", s.rows, s.cols), func(b *testing.B) {
			for b.Loop() {
				MatMulF32(rows, s.cols, xs, tokens, out, s.rows)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if haveF32Tile512 {
			b.Run(fmt.Sprintf("%dx%d/MatMulF32AVX2", s.rows, s.cols), func(b *testing.B) {
				withoutAVX512(b)
				for b.Loop() {
					MatMulF32(rows, s.cols, xs, tokens, out, s.rows)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		b.Run(fmt.Sprintf("%dx%d/DotRow", s.rows, s.cols), func(b *testing.B) {
			rowSize := 4 * s.cols
			for b.Loop() {
				for r := range s.rows {
					row := rows[r*rowSize : (r+1)*rowSize]
					for t := range tokens {
						out[t*s.rows+r] = DotRow(TypeF32, row, xs[t*s.cols:(t+1)*s.cols])
					}
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
