package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Block layouts (all multi-byte fields little-endian, "f16" is IEEE binary16):
//
//	Q8_0 (32 elements, 34 bytes):  d f16 | qs [32]int8;  x[i] = d*qs[i]
//	Q4_0 (32 elements, 18 bytes):  d f16 | qs [16]byte;  x[i] = d*((qs[i]&15)-8),
//	                               x[i+16] = d*((qs[i]>>4)-8) for i < 16
//	Q4_K (256 elements, 144 bytes): d f16 | dmin f16 | scales [12]byte | qs [128]byte.
//	     Eight sub-blocks of 32 with a 6-bit scale sc[j] and 6-bit min m[j]:
//	     for j < 4: sc[j] = scales[j]&63, m[j] = scales[j+4]&63; for j >= 4:
//	     sc[j] = scales[j+4]&15 | (scales[j-4]>>6)<<4, m[j] = scales[j+4]>>4 | (scales[j]>>6)<<4.
//	     Chunk c (64 elements) uses qs[32c:32c+32]: low nibbles are sub-block
//	     2c, high nibbles sub-block 2c+1; x = d*sc[j]*q - dmin*m[j].
//	Q6_K (256 elements, 210 bytes): ql [128]byte | qh [64]byte | scales [16]int8 | d f16.
//	     Half h (128 elements) uses ql[64h:], qh[32h:]; for l < 32 the 6-bit
//	     values of elements l, l+32, l+64, l+96 are
//	     ql[l]&15 | (qh[l]&3)<<4, ql[l+32]&15 | (qh[l]>>2&3)<<4,
//	     ql[l]>>4 | (qh[l]>>4&3)<<4, ql[l+32]>>4 | (qh[l]>>6&3)<<4;
//	     x[e] = d*scales[e/16]*(q-32).

// CanQuantize reports whether Quantize supports t: F32, F16, BF16, Q8_0,
// Q4_0, Q5_0, Q4_K and Q6_K. Q5_0 is what llama.cpp's quantizer stores a
// Q4_K matrix in when its rows are not a multiple of 256.
func CanQuantize(t Type) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeQ4_0, TypeQ5_0, TypeQ8_0, TypeQ4_K, TypeQ6_K:
		return true
	}
	return false
}

// CanDequantize reports whether Dequantize and DotRow support t: every type
// Quantize supports plus the read-only Q4_1, Q5_1, Q2_K, Q3_K and Q5_K.
func CanDequantize(t Type) bool {
	if CanQuantize(t) {
		return true
	}
	_, ok := extraTypes[t]
	return ok
}

func checkSizes(t Type, nbytes, n int) error {
	if !CanDequantize(t) {
		return fmt.Errorf("gguf: type %s is not supported for (de)quantization", t)
	}
	want, err := RowSize(t, n)
	if err != nil {
		return err
	}
	if nbytes != want {
		return fmt.Errorf("gguf: %d elements of %s take %d bytes, got %d", n, t, want, nbytes)
	}
	return nil
}

// Dequantize decodes len(dst) elements of type t from src, which must hold
// exactly RowSize(t, len(dst)) bytes.
func Dequantize(t Type, src []byte, dst []float32) error {
	if err := checkSizes(t, len(src), len(dst)); err != nil {
		return err
	}
	switch t {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case TypeF16:
		for i := range dst {
			dst[i] = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case TypeBF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case TypeQ8_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*sizeQ8_0 : (b+1)*sizeQ8_0]
			d := f16At(blk)
			y := dst[b*qk : (b+1)*qk]
			for i := range y {
				y[i] = d * float32(int8(blk[2+i]))
			}
		}
	case TypeQ4_0:
		for b := 0; b < len(dst)/qk; b++ {
			blk := src[b*sizeQ4_0 : (b+1)*sizeQ4_0]
			d := f16At(blk)
			y := dst[b*qk : (b+1)*qk]
			for i := 0; i < qk/2; i++ {
				q := blk[2+i]
				y[i] = d * float32(int(q&15)-8)
				y[i+16] = d * float32(int(q>>4)-8)
			}
		}
	case TypeQ4_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ4K(src[b*sizeQ4_K:(b+1)*sizeQ4_K], dst[b*qkK:(b+1)*qkK])
		}
	case TypeQ6_K:
		for b := 0; b < len(dst)/qkK; b++ {
			dequantQ6K(src[b*sizeQ6_K:(b+1)*sizeQ6_K], dst[b*qkK:(b+1)*qkK])
		}
	default:
		dec, bs, ts := extraTypes[t], t.BlockSize(), t.TypeSize()
		for b := 0; b < len(dst)/bs; b++ {
			dec(src[b*ts:(b+1)*ts], dst[b*bs:(b+1)*bs])
		}
	}
	return nil
}

func f16At(b []byte) float32 { return f16Table[uint16(b[0])|uint16(b[1])<<8] }

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j of a Q4_K block.
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&15 | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

func dequantQ4K(blk []byte, y []float32) {
	d, dmin := f16At(blk[0:]), f16At(blk[2:])
	scales, qs := blk[4:16], blk[16:144]
	for c := 0; c < 4; c++ {
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, o1 := d*float32(sc1), dmin*float32(m1)
		d2, o2 := d*float32(sc2), dmin*float32(m2)
		q := qs[32*c : 32*c+32]
		for l := 0; l < 32; l++ {
			y[64*c+l] = d1*float32(q[l]&15) - o1
			y[64*c+32+l] = d2*float32(q[l]>>4) - o2
		}
	}
}

func dequantQ6K(blk []byte, y []float32) {
	d := f16At(blk[208:])
	for h := 0; h < 2; h++ {
		ql, qh, sc := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32], blk[192+8*h:192+8*h+8]
		yy := y[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&15|(qh[l]&3)<<4) - 32
			q2 := int(ql[l+32]&15|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			yy[l] = d * float32(int8(sc[is])) * float32(q1)
			yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}

// Quantize encodes src as type t. len(src) must be a multiple of the block
// size and, for the block-quantized types, every value must be finite and
// within the range the f16 block scales can represent.
//
// The quantizers are straightforward reference implementations:
//   - Q8_0 and Q4_0 use one scale per block chosen from the largest
//     magnitude (Q4_0 maps the signed extreme to -8, as ggml does).
//   - Q4_K searches, per 32-element sub-block, a small grid of candidate
//     scales around (max-min)/15, refitting scale and min by least squares
//     for each candidate and keeping the lowest squared error; scales and
//     mins are then quantized to 6 bits against the super-block maxima.
//   - Q6_K does the same per 16-element sub-block for a symmetric scale
//     (values -32..31), then quantizes the scales to int8.
//
// Quantization uses the scales as stored (after rounding to f16 and 6/8
// bits), so the dequantized values are the nearest representable ones.
//
// Relative RMS round-trip error on standard gaussian data (the tests bound
// it): F16 0.02%, BF16 0.17%, Q8_0 0.54%, Q4_0 8.6%, Q4_K 7.1%, Q6_K 1.8%.
// For Q4_K an exhaustive search over unquantized per-sub-block scales and
// offsets reaches 6.9% on the same data, so 4-bit formats cannot do much
// better on gaussian weights.
func Quantize(t Type, src []float32) ([]byte, error) {
	if !CanQuantize(t) {
		return nil, fmt.Errorf("gguf: quantizing to %s is not supported", t)
	}
	n, err := RowSize(t, len(src))
	if err != nil {
		return nil, err
	}
	if limit, ok := quantLimit[t]; ok {
		for i, v := range src {
			if !(abs32(v) <= limit) {
				return nil, fmt.Errorf("gguf: quantizing to %s: element %d is %v, beyond what the f16 block scales can represent (±%g)", t, i, v, limit)
			}
		}
	}
	out := make([]byte, n)
	switch t {
	case TypeF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	case TypeBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case TypeQ8_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ8_0(src[b*qk:(b+1)*qk], out[b*sizeQ8_0:(b+1)*sizeQ8_0])
		}
	case TypeQ4_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ4_0(src[b*qk:(b+1)*qk], out[b*sizeQ4_0:(b+1)*sizeQ4_0])
		}
	case TypeQ5_0:
		for b := 0; b < len(src)/qk; b++ {
			quantQ5_0(src[b*qk:(b+1)*qk], out[b*sizeQ5_0:(b+1)*sizeQ5_0])
		}
	case TypeQ4_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ4K(src[b*qkK:(b+1)*qkK], out[b*sizeQ4_K:(b+1)*sizeQ4_K])
		}
	case TypeQ6_K:
		for b := 0; b < len(src)/qkK; b++ {
			quantQ6K(src[b*qkK:(b+1)*qkK], out[b*sizeQ6_K:(b+1)*sizeQ6_K])
		}
	}
	return out, nil
}

// quantLimit is the largest magnitude each block format can encode with
// finite f16 scales (a conservative bound for Q4_K, whose offsets are
// limited to dmin*63).
var quantLimit = map[Type]float32{
	TypeQ8_0: 65504 * 127,
	TypeQ4_0: 65504 * 8,
	TypeQ5_0: 65504 * 16,
	TypeQ4_K: 65504 * 63,
	TypeQ6_K: 65504 * 127 * 31,
}

// roundF16 stores v as f16 into b and returns the stored value.
func roundF16(b []byte, v float32) float32 {
	h := F32ToF16(v)
	binary.LittleEndian.PutUint16(b, h)
	return f16Table[h]
}

func inv(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

func clampRound(v float32, lo, hi int) int {
	q := int(math.Round(float64(v)))
	return max(lo, min(hi, q))
}

func quantQ8_0(x []float32, blk []byte) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	id := inv(roundF16(blk, amax/127))
	for i, v := range x {
		blk[2+i] = byte(int8(clampRound(v*id, -127, 127)))
	}
}

func quantQ4_0(x []float32, blk []byte) {
	var amax, mx float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, mx = abs32(v), v
		}
	}
	id := inv(roundF16(blk, mx/-8))
	for i := 0; i < qk/2; i++ {
		lo := clampRound(x[i]*id, -8, 7) + 8
		hi := clampRound(x[i+16]*id, -8, 7) + 8
		blk[2+i] = byte(lo | hi<<4)
	}
}

// quantQ5_0 stores x as d*(q-16) with q in [0, 31], the element of
// largest magnitude mapping to q = 0 as in quantQ4_0: the low four bits of
// element i < 16 in the low nibble of qs[i], of element i+16 in the high
// nibble, and the fifth bit of element e in bit e of qh.
func quantQ5_0(x []float32, blk []byte) {
	var amax, mx float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, mx = abs32(v), v
		}
	}
	id := inv(roundF16(blk, mx/-16))
	var qh uint32
	for i := 0; i < qk/2; i++ {
		lo := clampRound(x[i]*id, -16, 15) + 16
		hi := clampRound(x[i+16]*id, -16, 15) + 16
		blk[6+i] = byte(lo&15 | (hi&15)<<4)
		qh |= uint32(lo>>4)<<i | uint32(hi>>4)<<(i+16)
	}
	binary.LittleEndian.PutUint32(blk[2:], qh)
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// fitAsym finds scale s >= 0 and offset m >= 0 such that s*q - m with
// q in [0, nmax] approximates x, by trying candidate step counts around nmax
// over the range [min(x,0), max(x)] and refitting (s, m) by least squares
// to the resulting levels.
func fitAsym(x []float32, nmax int) (s, m float32) {
	lo, hi := float32(0), x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi <= lo {
		return 0, -lo
	}
	best := float32(math.Inf(1))
	s, m = (hi-lo)/float32(nmax), -lo
	var levels [qkK]int
	for k := -6; k <= 6; k++ {
		is := (float32(nmax) + 0.1*float32(k)) / (hi - lo)
		var sumL, sumL2, sumX, sumLX float64
		for i, v := range x {
			l := clampRound((v-lo)*is, 0, nmax)
			levels[i] = l
			sumL += float64(l)
			sumL2 += float64(l * l)
			sumX += float64(v)
			sumLX += float64(l) * float64(v)
		}
		// Least squares for x ≈ cs*l + c0 with c0 <= 0.
		n := float64(len(x))
		det := n*sumL2 - sumL*sumL
		if det <= 0 {
			continue
		}
		cs := (n*sumLX - sumL*sumX) / det
		c0 := (sumX - cs*sumL) / n
		if c0 > 0 {
			c0 = 0
			cs = sumLX / sumL2
		}
		if cs <= 0 {
			continue
		}
		var e float32
		for i, v := range x {
			r := float32(cs)*float32(levels[i]) + float32(c0) - v
			e += r * r
		}
		if e < best {
			best, s, m = e, float32(cs), float32(-c0)
		}
	}
	return s, m
}

// fitSym finds a scale s such that s*q with q in [-nmax, nmax-1]
// approximates x, by trying candidates around the one that maps the signed
// extreme to -nmax and refitting by least squares.
func fitSym(x []float32, nmax int) float32 {
	var amax, mx float32
	for _, v := range x {
		if abs32(v) > amax {
			amax, mx = abs32(v), v
		}
	}
	if amax == 0 {
		return 0
	}
	best := float32(math.Inf(1))
	s := mx / -float32(nmax)
	var levels [qkK]int
	for k := -6; k <= 6; k++ {
		is := -(float32(nmax) + 0.1*float32(k)) / mx
		var sumL2, sumLX float64
		for i, v := range x {
			l := clampRound(v*is, -nmax, nmax-1)
			levels[i] = l
			sumL2 += float64(l * l)
			sumLX += float64(l) * float64(v)
		}
		if sumL2 == 0 {
			continue
		}
		cs := float32(sumLX / sumL2)
		var e float32
		for i, v := range x {
			r := cs*float32(levels[i]) - v
			e += r * r
		}
		if e < best {
			best, s = e, cs
		}
	}
	return s
}

func quantQ4K(x []float32, blk []byte) {
	var sc, mn [8]float32
	var maxSc, maxMn float32
	for j := 0; j < 8; j++ {
		sc[j], mn[j] = fitAsym(x[32*j:32*j+32], 15)
		maxSc, maxMn = max(maxSc, sc[j]), max(maxMn, mn[j])
	}
	d := roundF16(blk[0:], maxSc/63)
	dmin := roundF16(blk[2:], maxMn/63)
	id, idmin := inv(d), inv(dmin)
	scales := blk[4:16]
	clear(scales)
	var ls, lm [8]int
	for j := 0; j < 8; j++ {
		ls[j] = clampRound(sc[j]*id, 0, 63)
		lm[j] = clampRound(mn[j]*idmin, 0, 63)
		if j < 4 {
			scales[j] |= byte(ls[j])
			scales[j+4] |= byte(lm[j])
		} else {
			scales[j+4] = byte(ls[j]&15 | (lm[j]&15)<<4)
			scales[j-4] |= byte(ls[j]>>4) << 6
			scales[j] |= byte(lm[j]>>4) << 6
		}
	}
	var q [qkK]byte
	for j := 0; j < 8; j++ {
		step, off := d*float32(ls[j]), dmin*float32(lm[j])
		is := inv(step)
		for i := 32 * j; i < 32*j+32; i++ {
			q[i] = byte(clampRound((x[i]+off)*is, 0, 15))
		}
	}
	qs := blk[16:144]
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			qs[32*c+l] = q[64*c+l] | q[64*c+32+l]<<4
		}
	}
}

func quantQ6K(x []float32, blk []byte) {
	var sc [16]float32
	var amax float32
	for j := 0; j < 16; j++ {
		sc[j] = fitSym(x[16*j:16*j+16], 32)
		amax = max(amax, abs32(sc[j]))
	}
	d := roundF16(blk[208:], amax/127)
	id := inv(d)
	var q [qkK]int
	for j := 0; j < 16; j++ {
		ls := clampRound(sc[j]*id, -127, 127)
		blk[192+j] = byte(int8(ls))
		is := inv(d * float32(ls))
		for i := 16 * j; i < 16*j+16; i++ {
			q[i] = clampRound(x[i]*is, -32, 31) + 32
		}
	}
	for h := 0; h < 2; h++ {
		ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := q[128*h+l], q[128*h+l+32], q[128*h+l+64], q[128*h+l+96]
			ql[l] = byte(q1&15 | (q3&15)<<4)
			ql[l+32] = byte(q2&15 | (q4&15)<<4)
			qh[l] = byte(q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6)
		}
	}
}
