//go:build amd64 && !purego

package gguf

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveSIMD reports whether DotRow uses the AVX2+FMA kernels. The choice is
// made once per process, so DotRow is deterministic for a given machine
// and binary; the vector kernels sum in a different order than the
// portable ones and may differ from them in the last bits.
var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveF16C reports whether the F16 kernel can convert halves with F16C
// (CPUID leaf 1, ECX bit 29) on top of the AVX2 and FMA kernels.
var haveF16C = haveSIMD && cpuid1ECX()&(1<<29) != 0

// cpuid1ECX returns ECX of CPUID leaf 1.
func cpuid1ECX() uint32

// dotF16AVX2 returns the dot product of the n halves at w with the n
// float32 at x; n is a positive multiple of 32. It needs F16C.
//
//go:noescape
func dotF16AVX2(w *byte, x *float32, n int) float32

// dotF32AVX2 returns the dot product of the n little-endian float32 at w
// with the n float32 at x; n is a positive multiple of 32.
//
//go:noescape
func dotF32AVX2(w *byte, x *float32, n int) float32

// dotQ8_0AVX2 returns the dot product of nb > 0 Q8_0 blocks at row with
// the 32*nb float32 at x; tab maps an IEEE half to its float32 value.
//
//go:noescape
func dotQ8_0AVX2(row *byte, x *float32, nb int, tab *float32) float32

// dotQ4KAVX2 returns the dot product of nb > 0 Q4_K blocks at row with
// the 256*nb float32 at x; scales holds 16 float32 per block: the eight
// sub-block scales times d, then the eight mins times dmin.
//
//go:noescape
func dotQ4KAVX2(row *byte, x *float32, nb int, scales *float32) float32

// dotQ6KAVX2 returns the dot product of nb > 0 Q6_K blocks at row with
// the 256*nb float32 at x; scales holds 16 float32 per block: the sixteen
// sub-block scales times d.
//
//go:noescape
func dotQ6KAVX2(row *byte, x *float32, nb int, scales *float32) float32

// addScaledAVX2 adds a times the n float32 at src to the n float32 at
// dst; n is a positive multiple of 32.
//
//go:noescape
func addScaledAVX2(dst *float32, a float32, src *float32, n int)

// dotBF16AVX2 returns the dot product of the n bfloat16 at w with the n
// float32 at x; n is a positive multiple of 32.
//
//go:noescape
func dotBF16AVX2(w *byte, x *float32, n int) float32

func dotF32(row []byte, x []float32) float32 {
	n := len(x) &^ 31
	if !haveSIMD || n == 0 {
		return dotF32Go(row, x)
	}
	s := dotF32AVX2(unsafe.SliceData(row), unsafe.SliceData(x), n)
	if n < len(x) {
		s += dotF32Go(row[4*n:], x[n:])
	}
	return s
}

func dotBF16(row []byte, x []float32) float32 {
	n := len(x) &^ 31
	if !haveSIMD || n == 0 {
		return dotBF16Go(row, x)
	}
	s := dotBF16AVX2(unsafe.SliceData(row), unsafe.SliceData(x), n)
	if n < len(x) {
		s += dotBF16Go(row[2*n:], x[n:])
	}
	return s
}

func dotQ8_0(row []byte, x []float32) float32 {
	nb := len(x) / qk
	if !haveSIMD || nb == 0 {
		return dotQ8_0Go(row, x)
	}
	return dotQ8_0AVX2(unsafe.SliceData(row), unsafe.SliceData(x), nb, &f16Table[0])
}

func dotF32s(a, b []float32) float32 {
	n := len(a) &^ 31
	if !haveSIMD || n == 0 {
		return dotF32sGo(a, b)
	}
	s := dotF32AVX2((*byte)(unsafe.Pointer(unsafe.SliceData(a))), unsafe.SliceData(b), n)
	if n < len(a) {
		s += dotF32sGo(a[n:], b[n:])
	}
	return s
}

// q4KBatch is the number of Q4_K blocks whose scales dotQ4K unpacks at a
// time into a stack buffer.
const q4KBatch = 8

func dotQ4K(row []byte, x []float32) float32 {
	nb := len(x) / qkK
	if !haveSIMD || nb == 0 {
		return dotQ4KGo(row, x)
	}
	var scales [q4KBatch * 16]float32
	var sum float32
	for b0 := 0; b0 < nb; b0 += q4KBatch {
		n := min(q4KBatch, nb-b0)
		for b := range n {
			q4KScales((*[sizeQ4_K]byte)(row[(b0+b)*sizeQ4_K:]), (*[16]float32)(scales[16*b:]))
		}
		sum += dotQ4KAVX2(&row[b0*sizeQ4_K], &x[b0*qkK], n, &scales[0])
	}
	return sum
}

// q4KScales unpacks the eight 6-bit scales and mins of a Q4_K block and
// multiplies them by the block's d and dmin.
func q4KScales(blk *[sizeQ4_K]byte, out *[16]float32) {
	d := f16Table[uint16(blk[0])|uint16(blk[1])<<8]
	dmin := f16Table[uint16(blk[2])|uint16(blk[3])<<8]
	s := (*[12]byte)(blk[4:])
	for j := range 4 {
		out[j] = d * float32(s[j]&63)
		out[8+j] = dmin * float32(s[j+4]&63)
		out[j+4] = d * float32(s[j+8]&15|(s[j]>>6)<<4)
		out[8+j+4] = dmin * float32(s[j+8]>>4|(s[j+4]>>6)<<4)
	}
}

func dotQ6K(row []byte, x []float32) float32 {
	nb := len(x) / qkK
	if !haveSIMD || nb == 0 {
		return dotQ6KGo(row, x)
	}
	var scales [q4KBatch * 16]float32
	var sum float32
	for b0 := 0; b0 < nb; b0 += q4KBatch {
		n := min(q4KBatch, nb-b0)
		for b := range n {
			blk := (*[sizeQ6_K]byte)(row[(b0+b)*sizeQ6_K:])
			d := f16Table[uint16(blk[208])|uint16(blk[209])<<8]
			out := (*[16]float32)(scales[16*b:])
			for i, v := range (*[16]byte)(blk[192:]) {
				out[i] = d * float32(int8(v))
			}
		}
		sum += dotQ6KAVX2(&row[b0*sizeQ6_K], &x[b0*qkK], n, &scales[0])
	}
	return sum
}

func addScaled(dst []float32, a float32, src []float32) {
	n := len(dst) &^ 31
	if !haveSIMD || n == 0 {
		addScaledGo(dst, a, src)
		return
	}
	addScaledAVX2(unsafe.SliceData(dst), a, unsafe.SliceData(src), n)
	if n < len(dst) {
		addScaledGo(dst[n:], a, src[n:])
	}
}

func dotF16(row []byte, x []float32) float32 {
	n := len(x) &^ 31
	if !haveF16C || n == 0 {
		return dotF16Go(row, x)
	}
	s := dotF16AVX2(unsafe.SliceData(row), unsafe.SliceData(x), n)
	if n < len(x) {
		s += dotF16Go(row[2*n:], x[n:])
	}
	return s
}
