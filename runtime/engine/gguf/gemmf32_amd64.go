//go:build amd64 && !purego

package gguf

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveF32Tile reports whether MatMulF32 uses the AVX-512 tile kernel. It
// needs the AVX2 kernel of dotF32 too, since its results must equal that
// kernel's.
var haveF32Tile = haveSIMD && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// gemmF32Tile3x4AVX512 writes to out[4*r+t] the dot products of the n
// little-endian float32 of three rows, wstride bytes apart from w, with
// the n float32 of four inputs, xstride bytes apart from x, for r < 3 and
// t < 4; n is a positive multiple of 32. Each equals dotF32AVX2's.
//
//go:noescape
func gemmF32Tile3x4AVX512(w *byte, wstride int, x *float32, xstride int, n int, out *float32)

// f32Tile sets out[t*stride+r] to the dot product of row r of the
// f32TileRows rows with input t of the f32TileTokens inputs xs, as dotF32
// does; cols >= 32.
func f32Tile(rows []byte, cols int, xs []float32, out []float32, stride int) {
	var acc [f32TileRows * f32TileTokens]float32
	n := cols &^ 31
	gemmF32Tile3x4AVX512(unsafe.SliceData(rows), 4*cols, unsafe.SliceData(xs), 4*cols, n, &acc[0])
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
