package gguf

import "encoding/binary"

// Integer kernels of the Layout32 family: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1
// weights against activations quantized in blocks of 32 (Layout32).
//
// Every kernel of a type, portable or vector, adds in the same order, so
// they all return the same float32, bit for bit. Per block b the integer
// products of weight quants w and activation quants q are summed exactly in
// eight lanes, lane l holding elements 4l..4l+3 (the lanes of VPMADDWD and
// VPDPBUSD); with f = dw*da the product of the block's two scales, lane l
// of a float32 accumulator gains float32(f*float32(lane)), rounded after
// the multiplication and again after the addition (no fused multiply-add).
// The types with a minimum (Q4_1, Q5_1) also add m*sum[b] (the weight
// block's minimum times the activation block's scaled sum) to one scalar
// running total, block after block. The eight lanes are summed as
// ((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7)), and the minima's total added last.
// The tile kernels of DotRowsActsN (several rows by several tokens) keep
// this order for each row and token.

// acts32Variant is one implementation of the integer kernels of a
// Layout32 type.
type acts32Variant struct {
	name string
	k    actKernel
	kn   actKernelN // nil: one single-token call per token
}

// acts32Types are the weight types of the Layout32 family.
var acts32Types = []Type{TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1}

// acts32Portable maps each Layout32 type to its portable kernels.
var acts32Portable = map[Type]acts32Variant{
	TypeQ8_0: {"go", dotQ8_0ActsGo, dotActs32NGo(&formatQ8_0)},
	TypeQ4_0: {"go", dotQ4_0ActsGo, dotActs32NGo(&formatQ4_0)},
	TypeQ4_1: {"go", dotQ4_1ActsGo, dotActs32NGo(&formatQ4_1)},
	TypeQ5_0: {"go", dotQ5_0ActsGo, dotActs32NGo(&formatQ5_0)},
	TypeQ5_1: {"go", dotQ5_1ActsGo, dotActs32NGo(&formatQ5_1)},
}

// acts32Variants returns the kernels of t that this build and CPU can run,
// the portable one first and the fastest last.
func acts32Variants(t Type) []acts32Variant {
	return append([]acts32Variant{acts32Portable[t]}, acts32Vector(t)...)
}

func init() {
	for _, t := range acts32Types {
		vs := acts32Variants(t)
		best := vs[len(vs)-1]
		registerActKernel(t, Layout32, best.k)
		if best.kn != nil {
			registerActKernelN(t, best.kn)
			if k := acts32Tile(t); k != nil {
				registerActKernelR(t, k)
			}
		}
	}
}

// acts32Decoder decodes one weight block: its 32 integer quants as bytes
// (int8: signed, or 0..31 for the types with a minimum), the scale and
// the minimum (0 for the types without one). w may be set to point into
// blk, or to buf after filling it.
type acts32Decoder func(blk []byte, buf *[qk]byte) (w *[qk]byte, d, m float32)

// acts32Format describes the blocks of a Layout32 type to the portable
// kernels.
type acts32Format struct {
	size   int  // bytes per block
	hasMin bool // whether blocks have a minimum (Q4_1, Q5_1)
	decode acts32Decoder
}

var (
	formatQ8_0 = acts32Format{sizeQ8_0, false, decodeQ8_0}
	formatQ4_0 = acts32Format{sizeQ4_0, false, decodeQ4_0}
	formatQ4_1 = acts32Format{sizeQ4_1, true, decodeQ4_1}
	formatQ5_0 = acts32Format{sizeQ5_0, false, decodeQ5_0}
	formatQ5_1 = acts32Format{sizeQ5_1, true, decodeQ5_1}
)

// bitBytes maps a byte to eight bytes, byte j 0xff where bit j is set.
var bitBytes [256]uint64

func init() {
	for i := range bitBytes {
		for j := range 8 {
			if i>>j&1 != 0 {
				bitBytes[i] |= 0xff << (8 * j)
			}
		}
	}
}

const (
	lsb8   = 0x0101010101010101 // one in every byte
	nib8   = 0x0f * lsb8        // the low nibble of every byte
	bit3x8 = 0x08 * lsb8
)

func decodeQ8_0(blk []byte, _ *[qk]byte) (w *[qk]byte, d, m float32) {
	b := (*[sizeQ8_0]byte)(blk)
	return (*[qk]byte)(b[2:]), f16At(b[:]), 0
}

// nibbles64 returns the nibbles of qs as four words of eight bytes each:
// the low nibbles of qs[0:8] and qs[8:16], then the high ones.
func nibbles64(qs *[qk / 2]byte) (a, b, c, d uint64) {
	x, y := binary.LittleEndian.Uint64(qs[0:]), binary.LittleEndian.Uint64(qs[8:])
	return x & nib8, y & nib8, x >> 4 & nib8, y >> 4 & nib8
}

// put64 stores four words of eight bytes into w.
func put64(w *[qk]byte, a, b, c, d uint64) *[qk]byte {
	binary.LittleEndian.PutUint64(w[0:], a)
	binary.LittleEndian.PutUint64(w[8:], b)
	binary.LittleEndian.PutUint64(w[16:], c)
	binary.LittleEndian.PutUint64(w[24:], d)
	return w
}

// minus8 returns the bytes of x (nibbles) less 8, as int8: the low three
// bits, with 0xf8 added where bit 3 is clear.
func minus8(x uint64) uint64 { return x&(7*lsb8) | (x^bit3x8)&bit3x8*0x1f }

func decodeQ4_0(blk []byte, buf *[qk]byte) (w *[qk]byte, d, m float32) {
	b := (*[sizeQ4_0]byte)(blk)
	x0, x1, x2, x3 := nibbles64((*[qk / 2]byte)(b[2:]))
	return put64(buf, minus8(x0), minus8(x1), minus8(x2), minus8(x3)), f16At(b[:]), 0
}

func decodeQ4_1(blk []byte, buf *[qk]byte) (w *[qk]byte, d, m float32) {
	b := (*[sizeQ4_1]byte)(blk)
	x0, x1, x2, x3 := nibbles64((*[qk / 2]byte)(b[4:]))
	return put64(buf, x0, x1, x2, x3), f16At(b[:]), f16At(b[2:])
}

// decodeQ5_0 makes each quant the nibble ORed with 0xf0 where its fifth
// bit is clear: (nibble | fifth bit << 4) - 16 as int8.
func decodeQ5_0(blk []byte, buf *[qk]byte) (w *[qk]byte, d, m float32) {
	b := (*[sizeQ5_0]byte)(blk)
	x0, x1, x2, x3 := nibbles64((*[qk / 2]byte)(b[6:]))
	const hi = 0xf0 * lsb8
	return put64(buf, x0|^bitBytes[b[2]]&hi, x1|^bitBytes[b[3]]&hi, x2|^bitBytes[b[4]]&hi, x3|^bitBytes[b[5]]&hi),
		f16At(b[:]), 0
}

func decodeQ5_1(blk []byte, buf *[qk]byte) (w *[qk]byte, d, m float32) {
	b := (*[sizeQ5_1]byte)(blk)
	x0, x1, x2, x3 := nibbles64((*[qk / 2]byte)(b[8:]))
	const bit4 = 0x10 * lsb8
	return put64(buf, x0|bitBytes[b[4]]&bit4, x1|bitBytes[b[5]]&bit4, x2|bitBytes[b[6]]&bit4, x3|bitBytes[b[7]]&bit4),
		f16At(b[:]), f16At(b[2:])
}

// acts32Acc accumulates blocks in the order every Layout32 kernel shares.
type acts32Acc struct {
	lane [8]float32
	min  float32
}

// block adds one block: the weight quants w (int8) against the activation quants
// q, with f the product of the two blocks' scales.
func (acc *acts32Acc) block(w *[qk]byte, q *[qk]int8, f float32) {
	a := &acc.lane
	a[0] += float32(f * float32(dot4((*[4]byte)(w[0:]), (*[4]int8)(q[0:]))))
	a[1] += float32(f * float32(dot4((*[4]byte)(w[4:]), (*[4]int8)(q[4:]))))
	a[2] += float32(f * float32(dot4((*[4]byte)(w[8:]), (*[4]int8)(q[8:]))))
	a[3] += float32(f * float32(dot4((*[4]byte)(w[12:]), (*[4]int8)(q[12:]))))
	a[4] += float32(f * float32(dot4((*[4]byte)(w[16:]), (*[4]int8)(q[16:]))))
	a[5] += float32(f * float32(dot4((*[4]byte)(w[20:]), (*[4]int8)(q[20:]))))
	a[6] += float32(f * float32(dot4((*[4]byte)(w[24:]), (*[4]int8)(q[24:]))))
	a[7] += float32(f * float32(dot4((*[4]byte)(w[28:]), (*[4]int8)(q[28:]))))
}

// dot4 returns the integer dot product of four quants.
func dot4(w *[4]byte, q *[4]int8) int32 {
	return int32(int8(w[0]))*int32(q[0]) + int32(int8(w[1]))*int32(q[1]) +
		int32(int8(w[2]))*int32(q[2]) + int32(int8(w[3]))*int32(q[3])
}

// total returns the sum of the lanes in the shared order, plus the minima
// where the type has them.
func (acc *acts32Acc) total(hasMin bool) float32 {
	a := &acc.lane
	s := ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
	if hasMin {
		s += acc.min
	}
	return s
}

// The portable single-token kernels call their decoders directly (not
// through acts32Format), which lets the compiler inline them.

// dotQ8_0ActsGo is the portable integer Q8_0 kernel.
func dotQ8_0ActsGo(row []byte, a *Acts) float32 {
	var acc acts32Acc
	var buf [qk]byte
	for b, da := range a.d {
		w, d, _ := decodeQ8_0(row[b*sizeQ8_0:(b+1)*sizeQ8_0], &buf)
		acc.block(w, (*[qk]int8)(a.q[b*qk:]), d*da)
	}
	return acc.total(false)
}

// dotQ4_0ActsGo is the portable integer Q4_0 kernel.
func dotQ4_0ActsGo(row []byte, a *Acts) float32 {
	var acc acts32Acc
	var buf [qk]byte
	for b, da := range a.d {
		w, d, _ := decodeQ4_0(row[b*sizeQ4_0:(b+1)*sizeQ4_0], &buf)
		acc.block(w, (*[qk]int8)(a.q[b*qk:]), d*da)
	}
	return acc.total(false)
}

// dotQ4_1ActsGo is the portable integer Q4_1 kernel.
func dotQ4_1ActsGo(row []byte, a *Acts) float32 {
	var acc acts32Acc
	var buf [qk]byte
	sum := a.sum[:len(a.d)]
	for b, da := range a.d {
		w, d, m := decodeQ4_1(row[b*sizeQ4_1:(b+1)*sizeQ4_1], &buf)
		acc.block(w, (*[qk]int8)(a.q[b*qk:]), d*da)
		acc.min += float32(m * sum[b])
	}
	return acc.total(true)
}

// dotQ5_0ActsGo is the portable integer Q5_0 kernel.
func dotQ5_0ActsGo(row []byte, a *Acts) float32 {
	var acc acts32Acc
	var buf [qk]byte
	for b, da := range a.d {
		w, d, _ := decodeQ5_0(row[b*sizeQ5_0:(b+1)*sizeQ5_0], &buf)
		acc.block(w, (*[qk]int8)(a.q[b*qk:]), d*da)
	}
	return acc.total(false)
}

// dotQ5_1ActsGo is the portable integer Q5_1 kernel.
func dotQ5_1ActsGo(row []byte, a *Acts) float32 {
	var acc acts32Acc
	var buf [qk]byte
	sum := a.sum[:len(a.d)]
	for b, da := range a.d {
		w, d, m := decodeQ5_1(row[b*sizeQ5_1:(b+1)*sizeQ5_1], &buf)
		acc.block(w, (*[qk]int8)(a.q[b*qk:]), d*da)
		acc.min += float32(m * sum[b])
	}
	return acc.total(true)
}

// acts32NGroup is the number of tokens the portable multi-token kernel
// accumulates at a time.
const acts32NGroup = 4

// dotActs32NGo returns the portable multi-token kernel of a Layout32 type:
// each weight block is decoded once per group of up to acts32NGroup
// tokens.
func dotActs32NGo(f *acts32Format) actKernelN {
	return func(row []byte, acts []Acts, out []float32, stride int) {
		for i0 := 0; i0 < len(acts); i0 += acts32NGroup {
			group := acts[i0:min(i0+acts32NGroup, len(acts))]
			var acc [acts32NGroup]acts32Acc
			var buf [qk]byte
			for b := range group[0].d {
				w, d, m := f.decode(row[b*f.size:(b+1)*f.size], &buf)
				for i := range group {
					a := &group[i]
					acc[i].block(w, (*[qk]int8)(a.q[b*qk:]), d*a.d[b])
					if f.hasMin {
						acc[i].min += float32(m * a.sum[b])
					}
				}
			}
			for i := range group {
				out[(i0+i)*stride] = acc[i].total(f.hasMin)
			}
		}
	}
}
