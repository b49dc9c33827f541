package gguf

import "fmt"

// MatMulF32 multiplies the F32 matrix rows, cols little-endian float32 per
// row, by tokens input vectors at once: it sets out[t*stride+r] to the dot
// product of row r with xs[t*cols:(t+1)*cols], for every row r and every
// t < tokens. Each result equals DotRow(TypeF32, row, x) bit for bit, so a
// batch of tokens gives what one token at a time gives. It is faster than
// one DotRow per row and token because it loads each weight once for
// several tokens: on amd64 it takes tiles of three rows by four tokens
// with AVX-512, or of one row by three tokens with AVX2 only, and the rows
// and tokens beside the tiles one DotRow at a time, as it does everything
// elsewhere. It panics if rows is not whole rows, or if xs or out is too
// short.
func MatMulF32(rows []byte, cols int, xs []float32, tokens int, out []float32, stride int) {
	if cols <= 0 || len(rows)%(4*cols) != 0 {
		panic(fmt.Sprintf("gguf: MatMulF32 of %d bytes in rows of %d columns", len(rows), cols))
	}
	n := len(rows) / (4 * cols)
	if n == 0 || tokens <= 0 {
		return
	}
	if len(xs) < tokens*cols || stride < n || len(out) < (tokens-1)*stride+n {
		panic(fmt.Sprintf("gguf: MatMulF32 of %d rows by %d columns with %d inputs and %d outputs of stride %d for %d tokens",
			n, cols, len(xs), len(out), stride, tokens))
	}
	rowSize := 4 * cols
	r := 0
	if haveF32Tile && cols >= 32 {
		for ; r+f32TileRows <= n; r += f32TileRows {
			t := 0
			for ; t+f32TileTokens <= tokens; t += f32TileTokens {
				f32Tile(rows[r*rowSize:(r+f32TileRows)*rowSize], cols, xs[t*cols:(t+f32TileTokens)*cols], out[t*stride+r:], stride)
			}
			for ; t < tokens; t++ {
				x := xs[t*cols : (t+1)*cols]
				for i := r; i < r+f32TileRows; i++ {
					out[t*stride+i] = dotF32(rows[i*rowSize:(i+1)*rowSize], x)
				}
			}
		}
	}
	for ; r < n; r++ {
		row := rows[r*rowSize : (r+1)*rowSize]
		for t := range tokens {
			out[t*stride+r] = dotF32(row, xs[t*cols:(t+1)*cols])
		}
	}
}
