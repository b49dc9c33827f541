package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fomonet/fomo/runtime/engine/gguf"
)

// TestAttnKernels checks the attention kernels, on cached halves, against
// float64 sums for head dimensions with and without a 32-wide part,
// strides wider than a head and one to many positions.
func TestAttnKernels(t *testing.T) {
	if !haveAttnAVX2 {
		t.Skip("no attention kernels in this build or on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, hd := range []int{8, 16, 24, 40, 64, 72, 128} {
		for _, n := range []int{1, 2, 7, 33} {
			stride := 3*hd + 8
			q := make([]float32, hd)
			kv := make([]uint16, n*stride)
			w := make([]float32, n)
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			for i := range kv {
				kv[i] = gguf.F32ToF16(float32(rng.NormFloat64()))
			}
			for i := range w {
				w[i] = float32(rng.Float64())
			}
			const off = 8
			const scale = 0.125
			got := make([]float32, n)
			attnDotsAVX2(&q[0], &kv[off], hd, stride, n, scale, &got[0])
			for r := range n {
				var want float64
				for i := range hd {
					want += float64(q[i]) * float64(gguf.F16ToF32(kv[r*stride+off+i]))
				}
				want *= scale
				if d := math.Abs(float64(got[r]) - want); d > 1e-5*float64(hd) {
					t.Fatalf("hd %d n %d: score %d = %g, want %g", hd, n, r, got[r], want)
				}
			}
			out := make([]float32, hd+1)
			out[hd] = 42 // must stay
			attnMixAVX2(&w[0], &kv[off], hd, stride, n, &out[0])
			for i := range hd {
				var want float64
				for r := range n {
					want += float64(w[r]) * float64(gguf.F16ToF32(kv[r*stride+off+i]))
				}
				if d := math.Abs(float64(out[i]) - want); d > 1e-5*float64(n) {
					t.Fatalf("hd %d n %d: out[%d] = %g, want %g", hd, n, i, out[i], want)
				}
			}
			if out[hd] != 42 {
				t.Fatalf("hd %d n %d: wrote past the head", hd, n)
			}
		}
	}
}
