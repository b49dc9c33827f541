package gguf

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
		}
	}
}

// acts32Decoder decodes one weight block: its 32 integer quants (signed,
// or unsigned 0..31 for the types with a minimum; all fit an int8), the
// scale and the minimum (0 for the types without one).
type acts32Decoder func(blk []byte, w *[qk]int8) (d, m float32)

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

func decodeQ8_0(blk []byte, w *[qk]int8) (d, m float32) {
	b := (*[sizeQ8_0]byte)(blk)
	for i, v := range b[2:] {
		w[i] = int8(v)
	}
	return f16At(b[:]), 0
}

// nibbles sets w[i] to the low nibble of qs[i] plus off and w[i+16] to its
// high nibble plus off.
func nibbles(qs *[qk / 2]byte, w *[qk]int8, off int8) {
	for i, v := range qs {
		w[i] = int8(v&15) + off
		w[i+16] = int8(v>>4) + off
	}
}

// fifthBits adds 16 to w[e] where bit e of the little-endian qh is set.
func fifthBits(qh []byte, w *[qk]int8) {
	h := uint32(qh[0]) | uint32(qh[1])<<8 | uint32(qh[2])<<16 | uint32(qh[3])<<24
	for e := range w {
		w[e] += int8(h >> e & 1 << 4)
	}
}

func decodeQ4_0(blk []byte, w *[qk]int8) (d, m float32) {
	b := (*[sizeQ4_0]byte)(blk)
	nibbles((*[qk / 2]byte)(b[2:]), w, -8)
	return f16At(b[:]), 0
}

func decodeQ4_1(blk []byte, w *[qk]int8) (d, m float32) {
	b := (*[sizeQ4_1]byte)(blk)
	nibbles((*[qk / 2]byte)(b[4:]), w, 0)
	return f16At(b[:]), f16At(b[2:])
}

func decodeQ5_0(blk []byte, w *[qk]int8) (d, m float32) {
	b := (*[sizeQ5_0]byte)(blk)
	nibbles((*[qk / 2]byte)(b[6:]), w, -16)
	fifthBits(b[2:6], w)
	return f16At(b[:]), 0
}

func decodeQ5_1(blk []byte, w *[qk]int8) (d, m float32) {
	b := (*[sizeQ5_1]byte)(blk)
	nibbles((*[qk / 2]byte)(b[8:]), w, 0)
	fifthBits(b[4:8], w)
	return f16At(b[:]), f16At(b[2:])
}

// acts32Acc accumulates blocks in the order every Layout32 kernel shares.
type acts32Acc struct {
	lane [8]float32
	min  float32
}

// block adds one block: the weight quants w with scale d against
// activation block b of a.
func (acc *acts32Acc) block(w *[qk]int8, d float32, a *Acts, b int) {
	q := (*[qk]int8)(a.q[b*qk:])
	f := d * a.d[b]
	for l := range acc.lane {
		s := int32(w[4*l])*int32(q[4*l]) + int32(w[4*l+1])*int32(q[4*l+1]) +
			int32(w[4*l+2])*int32(q[4*l+2]) + int32(w[4*l+3])*int32(q[4*l+3])
		acc.lane[l] += float32(f * float32(s))
	}
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

// dotActs32Go is the portable single-token kernel of a Layout32 type.
func dotActs32Go(row []byte, a *Acts, f *acts32Format) float32 {
	var acc acts32Acc
	var w [qk]int8
	for b := range a.d {
		d, m := f.decode(row[b*f.size:(b+1)*f.size], &w)
		acc.block(&w, d, a, b)
		if f.hasMin {
			acc.min += float32(m * a.sum[b])
		}
	}
	return acc.total(f.hasMin)
}

// dotQ8_0ActsGo is the portable integer Q8_0 kernel.
func dotQ8_0ActsGo(row []byte, a *Acts) float32 { return dotActs32Go(row, a, &formatQ8_0) }

// dotQ4_0ActsGo is the portable integer Q4_0 kernel.
func dotQ4_0ActsGo(row []byte, a *Acts) float32 { return dotActs32Go(row, a, &formatQ4_0) }

// dotQ4_1ActsGo is the portable integer Q4_1 kernel.
func dotQ4_1ActsGo(row []byte, a *Acts) float32 { return dotActs32Go(row, a, &formatQ4_1) }

// dotQ5_0ActsGo is the portable integer Q5_0 kernel.
func dotQ5_0ActsGo(row []byte, a *Acts) float32 { return dotActs32Go(row, a, &formatQ5_0) }

// dotQ5_1ActsGo is the portable integer Q5_1 kernel.
func dotQ5_1ActsGo(row []byte, a *Acts) float32 { return dotActs32Go(row, a, &formatQ5_1) }

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
			var w [qk]int8
			for b := range group[0].d {
				d, m := f.decode(row[b*f.size:(b+1)*f.size], &w)
				for i := range group {
					a := &group[i]
					acc[i].block(&w, d, a, b)
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
