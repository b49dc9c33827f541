//go:build !amd64 || purego

package gguf

// The portable kernels are the only ones on this platform or build.

// k256Variants lists the kernel implementations; k256Use is the one in use.
var (
	k256Variants = []k256Variant{k256Go}
	k256Use      = k256Go
)

// k256Dot reports that there is no vector kernel.
func k256Dot(Type, []byte, []Acts, *[k256MaxTok]float32) bool { return false }

// quantize256 is the Layout256 quantizer of Acts.Quantize.
func quantize256(x []float32, q []int8, d []float32, bsums []int16) {
	quantizeActs256(x, q, d, bsums)
}
