package gguf

import "math"

// f16Table maps every IEEE 754 binary16 bit pattern to its float32 value. It
// is 256 KiB and turns the half-to-single conversion in the hot loops into a
// single load.
var f16Table [1 << 16]float32

func init() {
	for i := range f16Table {
		f16Table[i] = f16ToF32Slow(uint16(i))
	}
}

// F16ToF32 converts an IEEE 754 binary16 bit pattern to float32 exactly,
// including subnormals, infinities and NaNs.
func F16ToF32(h uint16) float32 { return f16Table[h] }

// HaveF16C reports whether this process converts halves with the CPU's
// F16C instructions, alongside AVX2 and FMA (never with the purego build
// tag or on other architectures); kernels outside this package that take
// halves check it.
func HaveF16C() bool { return haveF16C }

func f16ToF32Slow(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		// Zero or subnormal: mant * 2^-24, exact in float32.
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case exp == 0x1f:
		// Infinity (mant 0) or NaN with its payload kept.
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// F32ToF16 converts a float32 to the nearest binary16 bit pattern, rounding
// ties to even. Values beyond the binary16 range become infinities, tiny
// values become subnormals or signed zeros, and NaNs stay (quiet) NaNs.
func F32ToF16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++ // a carry into the exponent is correct, up to infinity
		}
		return sign | uint16(h)
	}
	if e < -10 {
		return sign
	}
	// Subnormal result: value = m * 2^(e-25) with the implicit bit set, in
	// units of 2^-24 that is m >> (14-e).
	m := mant | 0x800000
	shift := uint32(14 - e)
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// BF16ToF32 converts a bfloat16 bit pattern to float32 exactly.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 converts a float32 to the nearest bfloat16, rounding ties to
// even; NaNs stay (quiet) NaNs.
func F32ToBF16(f float32) uint16 {
	bits := math.Float32bits(f)
	if bits&0x7fffffff > 0x7f800000 {
		return uint16(bits>>16) | 0x40
	}
	bits += 0x7fff + (bits>>16)&1
	return uint16(bits >> 16)
}
