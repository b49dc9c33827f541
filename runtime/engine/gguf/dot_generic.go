//go:build !amd64 || purego

package gguf

// The portable kernels are the only ones on this platform or build.

// haveSIMD reports whether DotRow uses vector kernels.
const haveSIMD = false

// haveF16C reports whether the F16 kernel converts halves in hardware.
const haveF16C = false

func dotF32(row []byte, x []float32) float32            { return dotF32Go(row, x) }
func dotQ8_0(row []byte, x []float32) float32           { return dotQ8_0Go(row, x) }
func dotBF16(row []byte, x []float32) float32           { return dotBF16Go(row, x) }
func dotF32s(a, b []float32) float32                    { return dotF32sGo(a, b) }
func dotQ4K(row []byte, x []float32) float32            { return dotQ4KGo(row, x) }
func dotQ6K(row []byte, x []float32) float32            { return dotQ6KGo(row, x) }
func addScaled(dst []float32, a float32, src []float32) { addScaledGo(dst, a, src) }
func dotF16(row []byte, x []float32) float32            { return dotF16Go(row, x) }
