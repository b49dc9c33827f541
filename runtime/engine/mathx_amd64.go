//go:build amd64 && !purego

package engine

import "golang.org/x/sys/cpu"

// haveExpAVX2 reports whether siluMul and expShift use their AVX2
// kernels; they give the same results as the portable loops.
var haveExpAVX2 = cpu.X86.HasAVX2

// siluMulAVX2 is siluMul on the n > 0 elements at x and u, n a multiple
// of 8.
//
//go:noescape
func siluMulAVX2(x, u *float32, n int)

// expShiftAVX2 sets s[i] = exp32(s[i]-mx) for n > 0 elements, n a multiple
// of 8.
//
//go:noescape
func expShiftAVX2(s *float32, n int, mx float32)
