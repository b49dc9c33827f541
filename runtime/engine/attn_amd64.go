//go:build amd64 && !purego

package engine

import (
	"golang.org/x/sys/cpu"

	"github.com/fomonet/fomo/runtime/engine/gguf"
)

// haveAttnAVX2 reports whether attention uses its AVX2+FMA kernels (which
// read the cached halves with F16C), for head dimensions that are
// multiples of 8.
var haveAttnAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && gguf.HaveF16C()

// attnDotsAVX2 sets out[t] = scale * Σ_i q[i]*k[t*stride+i] over i < hd,
// for t < n: the scores of one query against n cached keys, halves. hd is
// a positive multiple of 8 and n > 0.
//
//go:noescape
func attnDotsAVX2(q *float32, k *uint16, hd, stride, n int, scale float32, out *float32)

// attnMixAVX2 sets out[i] = Σ_t w[t]*v[t*stride+i] over t < n, for i < hd:
// the weighted sum of n cached values, halves. hd is a positive multiple
// of 8 and n > 0.
//
//go:noescape
func attnMixAVX2(w *float32, v *uint16, hd, stride, n int, out *float32)
