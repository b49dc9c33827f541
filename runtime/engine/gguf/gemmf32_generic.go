//go:build !amd64 || purego

package gguf

// haveF32Tile reports whether MatMulF32 has a tile kernel; here it does
// not, and computes one DotRow per row and token.
const haveF32Tile = false

// haveF32Tile512 reports whether MatMulF32 uses an AVX-512 tile kernel.
var haveF32Tile512 = false

// The shape of MatMulF32's tiles, rows by tokens; unused here.
var f32TileRows, f32TileTokens = f32TileShape()

func f32TileShape() (rows, tokens int) { return 1, 1 }

// f32Tile is never called without a tile kernel.
func f32Tile(rows []byte, cols int, xs []float32, out []float32, stride int) {
	panic("gguf: no F32 tile kernel")
}
