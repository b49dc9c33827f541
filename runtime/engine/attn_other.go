//go:build !amd64 || purego

package engine

// haveAttnAVX2 is false: attention runs its portable loops.
const haveAttnAVX2 = false

func attnDotsAVX2(q *float32, k *uint16, hd, stride, n int, scale float32, out *float32) {
	panic("engine: no AVX2 kernels in this build")
}

func attnMixAVX2(w *float32, v *uint16, hd, stride, n int, out *float32) {
	panic("engine: no AVX2 kernels in this build")
}
