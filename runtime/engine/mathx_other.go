//go:build !amd64 || purego

package engine

// haveExpAVX2 is false: siluMul and expShift run their portable loops.
const haveExpAVX2 = false

func siluMulAVX2(x, u *float32, n int) { panic("engine: no AVX2 kernels in this build") }

func expShiftAVX2(s *float32, n int, mx float32) { panic("engine: no AVX2 kernels in this build") }
