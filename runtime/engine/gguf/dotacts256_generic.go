//go:build !amd64 || purego

package gguf

// The portable block kernels are the only ones on this platform or build.

// k256Variants lists the block kernel implementations; k256Use is the one
// in use.
var (
	k256Variants = []k256Variant{k256Go}
	k256Use      = k256Go
)

// k256Blocks sets the integer sums of the blocks in row (blocks b0 on of
// the activations) with every token in tk.
func k256Blocks(t Type, row []byte, tk []Acts, b0 int, out *k256Sums) {
	k256BlocksGo(t, row, tk, b0, out)
}
