//go:build amd64 && !purego

package gguf

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveF32Tile reports whether MatMulF32 uses a tile kernel: the AVX-512
// one where the machine has AVX-512, else the AVX2 one. Both need the
// AVX2 kernel of dotF32, since their results must equal its.
var haveF32Tile = haveSIMD

// haveF32Tile512 reports whether MatMulF32 uses the AVX-512 tile kernel.
var haveF32Tile512 = haveSIMD && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// The shape of MatMulF32's tiles, rows by tokens, which depends on the
// kernel.
var f32TileRows, f32TileTokens = f32TileShape()

func f32TileShape() (rows, tokens int) {
	if haveF32Tile512 {
		return 3, 4
	}
	return 1, 3
}

// gemmF32Tile3x4AVX512 writes to out[4*r+t] the dot products of the n
// little-endian float32 of three rows, wstride bytes apart from w, with
// the n float32 of four inputs, xstride bytes apart from x, for r < 3 and
// t < 4; n is a positive multiple of 32. Each equals dotF32AVX2's.
//
//go:noescape
func gemmF32Tile3x4AVX512(w *byte, wstride int, x *float32, xstride int, n int, out *float32)

// gemmF32Tile1x3AVX2 writes to out[t] the dot products of the n
// little-endian float32 at w with the n float32 of three inputs, xstride
// bytes apart from x, for t < 3; n is a positive multiple of 32. Each
// equals dotF32AVX2's.
//
//go:noescape
func gemmF32Tile1x3AVX2(w *byte, x *float32, xstride int, n int, out *float32)

// f32Tile sets out[t*stride+r] to the dot product of row r of the
// f32TileRows rows with input t of the f32TileTokens inputs xs, as dotF32
// does; cols >= 32.
func f32Tile(rows []byte, cols int, xs []float32, out []float32, stride int) {
	var acc [12]float32
	n := cols &^ 31
	if haveF32Tile512 {
		gemmF32Tile3x4AVX512(unsafe.SliceData(rows), 4*cols, unsafe.SliceData(xs), 4*cols, n, &acc[0])
	} else {
		gemmF32Tile1x3AVX2(unsafe.SliceData(rows), unsafe.SliceData(xs), 4*cols, n, &acc[0])
	}
	for r := range f32TileRows {
		for t := range f32TileTokens {
			s := acc[r*f32TileTokens+t]
			if n < cols {
				s += dotF32Go(rows[r*4*cols+4*n:(r+1)*4*cols], xs[t*cols+n:(t+1)*cols])
			}
			out[t*stride+r] = s
		}
	}
}
