package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DotRow returns the dot product of x with the row of len(x) elements of
// type t encoded in row, without materializing the dequantized row. It is
// the inner kernel of matrix-vector products and does not allocate.
//
// The kernels for F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K are unrolled and
// free of bounds checks in their inner loops; the read-only formats decode a
// block at a time into a stack buffer. On amd64 with AVX2 and FMA, F32,
// F16 (with F16C), BF16, Q8_0, Q4_K and Q6_K use vector kernels instead
// (not with the purego build tag). Which kernel runs is fixed per process,
// so the result for given inputs is the same on every call; the vector and
// portable kernels add in different orders and may differ in the last bits.
//
// row must hold exactly RowSize(t, len(x)) bytes and t must satisfy
// CanDequantize; violating either is a programming error and panics, like
// an out-of-range slice index.
func DotRow(t Type, row []byte, x []float32) float32 {
	n := len(x)
	switch t {
	case TypeF32:
		checkRow(t, row, n, 4*n)
		return dotF32(row, x)
	case TypeF16:
		checkRow(t, row, n, 2*n)
		return dotF16(row, x)
	case TypeBF16:
		checkRow(t, row, n, 2*n)
		return dotBF16(row, x)
	case TypeQ8_0:
		checkBlocks(t, row, n, qk, sizeQ8_0)
		return dotQ8_0(row, x)
	case TypeQ4_0:
		checkBlocks(t, row, n, qk, sizeQ4_0)
		return dotQ4_0(row, x)
	case TypeQ4_K:
		checkBlocks(t, row, n, qkK, sizeQ4_K)
		return dotQ4K(row, x)
	case TypeQ6_K:
		checkBlocks(t, row, n, qkK, sizeQ6_K)
		return dotQ6K(row, x)
	}
	if dec, ok := extraTypes[t]; ok {
		return dotExtra(t, dec, row, x)
	}
	panic(fmt.Sprintf("gguf: DotRow: unsupported type %s", t))
}

// Dot returns the dot product of a and b, which must have the same length
// (it panics otherwise). It uses the same vector kernel as DotRow for F32
// rows where one is available, is deterministic and does not allocate.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("gguf: Dot: lengths %d and %d differ", len(a), len(b)))
	}
	return dotF32s(a, b)
}

// AddScaled adds a*src to dst element by element; the slices must have
// the same length (it panics otherwise). It is the update of a weighted sum
// of vectors, deterministic and allocation-free like Dot.
func AddScaled(dst []float32, a float32, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("gguf: AddScaled: lengths %d and %d differ", len(dst), len(src)))
	}
	addScaled(dst, a, src)
}

// addScaledGo is the portable kernel of AddScaled.
func addScaledGo(dst []float32, a float32, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += a * v
	}
}

// dotF32sGo is the portable kernel of Dot.
func dotF32sGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa := (*[4]float32)(a[i:])
		bb := (*[4]float32)(b[i:])
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func checkRow(t Type, row []byte, n, want int) {
	if len(row) != want {
		panic(fmt.Sprintf("gguf: DotRow: %d elements of %s need %d bytes, row has %d", n, t, want, len(row)))
	}
}

func checkBlocks(t Type, row []byte, n, bs, ts int) {
	if n%bs != 0 {
		panic(fmt.Sprintf("gguf: DotRow: %d elements is not a multiple of the %s block size %d", n, t, bs))
	}
	checkRow(t, row, n, n/bs*ts)
}

// nibbleLo and nibbleHi hold the float value of the low and high nibble of
// every byte; i8 the float value of every byte read as int8. Table lookups
// are cheaper than integer-to-float conversions in the inner loops.
var nibbleLo, nibbleHi, i8 [256]float32

// q6 holds the float value of every 6-bit Q6_K quant, q-32.
var q6 [64]float32

func init() {
	for i := range 256 {
		nibbleLo[i] = float32(i & 15)
		nibbleHi[i] = float32(i >> 4)
		i8[i] = float32(int8(i))
	}
	for i := range q6 {
		q6[i] = float32(i - 32)
	}
}

// dotF32Go is the portable F32 kernel; dotF32 may use a faster one.
func dotF32Go(row []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b := (*[16]byte)(row[4*i:])
		xx := (*[4]float32)(x[i:])
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(b[0:])) * xx[0]
		s1 += math.Float32frombits(binary.LittleEndian.Uint32(b[4:])) * xx[1]
		s2 += math.Float32frombits(binary.LittleEndian.Uint32(b[8:])) * xx[2]
		s3 += math.Float32frombits(binary.LittleEndian.Uint32(b[12:])) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotF16Go is the portable F16 kernel; dotF16 may use a faster one.
func dotF16Go(row []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b := (*[8]byte)(row[2*i:])
		xx := (*[4]float32)(x[i:])
		s0 += f16Table[uint16(b[0])|uint16(b[1])<<8] * xx[0]
		s1 += f16Table[uint16(b[2])|uint16(b[3])<<8] * xx[1]
		s2 += f16Table[uint16(b[4])|uint16(b[5])<<8] * xx[2]
		s3 += f16Table[uint16(b[6])|uint16(b[7])<<8] * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += f16Table[uint16(row[2*i])|uint16(row[2*i+1])<<8] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func bf16(lo, hi byte) float32 { return math.Float32frombits(uint32(lo)<<16 | uint32(hi)<<24) }

// dotBF16Go is the portable BF16 kernel; dotBF16 may use a faster one.
func dotBF16Go(row []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		b := (*[8]byte)(row[2*i:])
		xx := (*[4]float32)(x[i:])
		s0 += bf16(b[0], b[1]) * xx[0]
		s1 += bf16(b[2], b[3]) * xx[1]
		s2 += bf16(b[4], b[5]) * xx[2]
		s3 += bf16(b[6], b[7]) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += bf16(row[2*i], row[2*i+1]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotQ8_0Go is the portable Q8_0 kernel; dotQ8_0 may use a faster one.
func dotQ8_0Go(row []byte, x []float32) float32 {
	var sum float32
	for b := 0; b < len(x)/qk; b++ {
		blk := (*[sizeQ8_0]byte)(row[b*sizeQ8_0:])
		xs := (*[qk]float32)(x[b*qk:])
		q := (*[qk]byte)(blk[2:])
		var s0, s1, s2, s3 float32
		for l := 0; l < 8; l++ {
			s0 += i8[q[l]] * xs[l]
			s1 += i8[q[l+8]] * xs[l+8]
			s2 += i8[q[l+16]] * xs[l+16]
			s3 += i8[q[l+24]] * xs[l+24]
		}
		sum += f16Table[uint16(blk[0])|uint16(blk[1])<<8] * ((s0 + s1) + (s2 + s3))
	}
	return sum
}

func dotQ4_0(row []byte, x []float32) float32 {
	var sum float32
	for b := 0; b < len(x)/qk; b++ {
		blk := (*[sizeQ4_0]byte)(row[b*sizeQ4_0:])
		xs := (*[qk]float32)(x[b*qk:])
		q := (*[qk / 2]byte)(blk[2:])
		// sum((q-8)*x) = sum(q*x) - 8*sum(x)
		var s0, s1, s2, s3, sx0, sx1 float32
		for l := 0; l < 8; l++ {
			a, c := q[l], q[l+8]
			s0 += nibbleLo[a] * xs[l]
			s1 += nibbleLo[c] * xs[l+8]
			s2 += nibbleHi[a] * xs[l+16]
			s3 += nibbleHi[c] * xs[l+24]
			sx0 += xs[l] + xs[l+16]
			sx1 += xs[l+8] + xs[l+24]
		}
		d := f16Table[uint16(blk[0])|uint16(blk[1])<<8]
		sum += d * (((s0 + s1) + (s2 + s3)) - 8*(sx0+sx1))
	}
	return sum
}

// dotQ4KGo is the portable Q4_K kernel; dotQ4K may use a faster one.
func dotQ4KGo(row []byte, x []float32) float32 {
	var sum float32
	for b := 0; b < len(x)/qkK; b++ {
		blk := (*[sizeQ4_K]byte)(row[b*sizeQ4_K:])
		xs := (*[qkK]float32)(x[b*qkK:])
		d := f16Table[uint16(blk[0])|uint16(blk[1])<<8]
		dmin := f16Table[uint16(blk[2])|uint16(blk[3])<<8]
		s := (*[12]byte)(blk[4:])
		// Unpack the eight 6-bit scales and mins.
		var sc, mn [8]float32
		for j := 0; j < 4; j++ {
			sc[j] = float32(s[j] & 63)
			mn[j] = float32(s[j+4] & 63)
			sc[j+4] = float32(s[j+8]&15 | (s[j]>>6)<<4)
			mn[j+4] = float32(s[j+8]>>4 | (s[j+4]>>6)<<4)
		}
		var acc, accm float32
		for c := 0; c < 4; c++ {
			q := (*[32]byte)(blk[16+32*c:])
			x1 := (*[32]float32)(xs[64*c:])
			x2 := (*[32]float32)(xs[64*c+32:])
			var a0, a1, b0, b1, sx1, sx2 float32
			for l := 0; l < 16; l++ {
				v, w := q[l], q[l+16]
				a0 += nibbleLo[v] * x1[l]
				a1 += nibbleLo[w] * x1[l+16]
				b0 += nibbleHi[v] * x2[l]
				b1 += nibbleHi[w] * x2[l+16]
				sx1 += x1[l] + x1[l+16]
				sx2 += x2[l] + x2[l+16]
			}
			acc += sc[2*c]*(a0+a1) + sc[2*c+1]*(b0+b1)
			accm += mn[2*c]*sx1 + mn[2*c+1]*sx2
		}
		sum += d*acc - dmin*accm
	}
	return sum
}

// dotQ6KGo is the portable Q6_K kernel; dotQ6K may use a faster one.
func dotQ6KGo(row []byte, x []float32) float32 {
	var sum float32
	for b := 0; b < len(x)/qkK; b++ {
		blk := (*[sizeQ6_K]byte)(row[b*sizeQ6_K:])
		xs := (*[qkK]float32)(x[b*qkK:])
		sc := (*[16]byte)(blk[192:])
		var acc float32
		for h := 0; h < 2; h++ {
			for g := 0; g < 2; g++ {
				ql := (*[16]byte)(blk[64*h+16*g:])
				ql2 := (*[16]byte)(blk[64*h+32+16*g:])
				qh := (*[16]byte)(blk[128+32*h+16*g:])
				x1 := (*[16]float32)(xs[128*h+16*g:])
				x2 := (*[16]float32)(xs[128*h+32+16*g:])
				x3 := (*[16]float32)(xs[128*h+64+16*g:])
				x4 := (*[16]float32)(xs[128*h+96+16*g:])
				var a1, a2, a3, a4 float32
				for l := 0; l < 16; l++ {
					lo, hi, hb := ql[l], ql2[l], qh[l]
					a1 += q6[(lo&15|hb<<4)&63] * x1[l]
					a2 += q6[(hi&15|hb<<2&0x30)&63] * x2[l]
					a3 += q6[(lo>>4|hb&0x30)&63] * x3[l]
					a4 += q6[(hi>>4|hb>>2&0x30)&63] * x4[l]
				}
				is := 8*h + g
				acc += float32(int8(sc[is]))*a1 + float32(int8(sc[is+2]))*a2 +
					float32(int8(sc[is+4]))*a3 + float32(int8(sc[is+6]))*a4
			}
		}
		sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * acc
	}
	return sum
}
