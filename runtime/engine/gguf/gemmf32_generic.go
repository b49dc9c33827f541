//go:build !amd64 || purego

package gguf

// haveF32Tile reports whether MatMulF32 has a tile kernel; here it does
// not, and computes one DotRow per row and token.
const haveF32Tile = false

// f32Tile is never called without a tile kernel.
func f32Tile(rows []byte, cols int, xs []float32, out []float32, stride int) {
	panic("gguf: no F32 tile kernel")
}
