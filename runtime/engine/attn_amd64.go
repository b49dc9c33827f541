//go:build amd64 && !purego

package engine

import "golang.org/x/sys/cpu"

// haveAttnAVX2 reports whether attention uses its AVX2+FMA kernels, for
// head dimensions that are multiples of 8.
var haveAttnAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// attnDotsAVX2 sets out[t] = scale * Σ_i q[i]*k[t*stride+i] over i < hd,
// for t < n: the scores of one query against n cached keys. hd is a
// positive multiple of 8 and n > 0.
//
//go:noescape
func attnDotsAVX2(q, k *float32, hd, stride, n int, scale float32, out *float32)

// attnMixAVX2 sets out[i] = Σ_t w[t]*v[t*stride+i] over t < n, for i < hd:
// the weighted sum of n cached values. hd is a positive multiple of 8 and
// n > 0.
//
//go:noescape
func attnMixAVX2(w, v *float32, hd, stride, n int, out *float32)
