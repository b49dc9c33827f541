//go:build !amd64 || purego

package gguf

// acts32Vector returns the vector kernels of Layout32 type t: none on this
// platform or build.
func acts32Vector(Type) []acts32Variant { return nil }

// acts32Tile returns the tile kernel of Layout32 type t: none on this
// platform or build.
func acts32Tile(Type) actKernelR { return nil }

// quantizeActs32Fast is the Layout32 quantizer Acts.Quantize uses: the
// portable one on this platform or build.
var quantizeActs32Fast = quantizeActs32
