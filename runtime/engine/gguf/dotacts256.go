package gguf

import "unsafe"

// Integer kernels of the weight types with 256-element super-blocks (Q4_K,
// Q5_K, Q6_K) against activations in Layout256.
//
// Every variant (portable, AVX2, AVX-512 VNNI) computes the same exact
// integers per weight block and token:
//
//	Q4_K, Q5_K: s0 = Σ_j sc_j * Σ_{i in sub-block j} q_i*a_i,
//	            s1 = Σ_j m_j * (the sum of the activations of sub-block j),
//	            the block's product being da*(d*s0 - dmin*s1);
//	Q6_K:       s0 = Σ_j sc_j * Σ_{i in sub-block j} (q_i-32)*a_i,
//	            the block's product being da*d*s0;
//
// and scales and adds them with the same float32 operations in the same
// order (k256Combine, block after block), so every variant gives the same
// result bit for bit, and so does the multi-token kernel for each of its
// tokens. The vector kernels live in dotacts256_amd64.s; k256Use picks one
// at init from the CPU's features.

const (
	// k256Batch is the number of blocks whose integer sums one call of a
	// block kernel produces.
	k256Batch = 16
	// k256MaxTok is the number of tokens one call of a block kernel
	// multiplies each decoded weight block with.
	k256MaxTok = 4
)

// k256Sums holds the integer sums of a block kernel call: s0 and s1 of
// block b and token t at index 2*(b*tokens+t).
type k256Sums [2 * k256Batch * k256MaxTok]int32

// k256Variant names an implementation of the block kernels.
type k256Variant uint8

const (
	// k256Go is the portable implementation.
	k256Go k256Variant = iota
	// k256AVX2 uses VPMADDUBSW and VPMADDWD.
	k256AVX2
	// k256VNNI uses VPDPBUSD on 256-bit registers (AVX-512 VNNI and VL).
	k256VNNI
)

func (v k256Variant) String() string {
	switch v {
	case k256AVX2:
		return "avx2"
	case k256VNNI:
		return "vnni"
	}
	return "go"
}

func init() {
	registerActKernel(TypeQ4_K, Layout256, dotQ4KActs)
	registerActKernel(TypeQ5_K, Layout256, dotQ5KActs)
	registerActKernel(TypeQ6_K, Layout256, dotQ6KActs)
	registerActKernelN(TypeQ4_K, dotQ4KActsN)
	registerActKernelN(TypeQ5_K, dotQ5KActsN)
	registerActKernelN(TypeQ6_K, dotQ6KActsN)
}

// dotQ4KActs, dotQ5KActs and dotQ6KActs are the integer kernels of their
// types (actKernel).
func dotQ4KActs(row []byte, a *Acts) float32 {
	var out [1]float32
	dotK256(TypeQ4_K, row, unsafe.Slice(a, 1), out[:], 1)
	return out[0]
}

func dotQ5KActs(row []byte, a *Acts) float32 {
	var out [1]float32
	dotK256(TypeQ5_K, row, unsafe.Slice(a, 1), out[:], 1)
	return out[0]
}

func dotQ6KActs(row []byte, a *Acts) float32 {
	var out [1]float32
	dotK256(TypeQ6_K, row, unsafe.Slice(a, 1), out[:], 1)
	return out[0]
}

// dotQ4KActsN, dotQ5KActsN and dotQ6KActsN are the multi-token kernels of
// their types (actKernelN).
func dotQ4KActsN(row []byte, acts []Acts, out []float32, stride int) {
	dotK256(TypeQ4_K, row, acts, out, stride)
}

func dotQ5KActsN(row []byte, acts []Acts, out []float32, stride int) {
	dotK256(TypeQ5_K, row, acts, out, stride)
}

func dotQ6KActsN(row []byte, acts []Acts, out []float32, stride int) {
	dotK256(TypeQ6_K, row, acts, out, stride)
}

// dotK256 sets out[i*stride] to the product of the row of type t (Q4_K,
// Q5_K or Q6_K) with acts[i], for every i. It hands the tokens to the
// kernels k256MaxTok at a time; the portable one works k256Batch blocks at
// a time and scales and adds their integer sums per token in block order.
func dotK256(t Type, row []byte, acts []Acts, out []float32, stride int) {
	size, dOff, hasMin := sizeQ4_K, 0, true
	switch t {
	case TypeQ5_K:
		size = sizeQ5_K
	case TypeQ6_K:
		size, dOff, hasMin = sizeQ6_K, 208, false
	}
	nb := acts[0].n / qkK
	var ints k256Sums
	for t0 := 0; t0 < len(acts); t0 += k256MaxTok {
		tk := acts[t0:min(t0+k256MaxTok, len(acts))]
		var sums [k256MaxTok]float32
		if !k256Dot(t, row, tk, &sums) {
			for b0 := 0; b0 < nb; b0 += k256Batch {
				n := min(k256Batch, nb-b0)
				k256BlocksGo(t, row[b0*size:(b0+n)*size], tk, b0, &ints)
				for b := range n {
					blk := row[(b0+b)*size:]
					d := f16At(blk[dOff:])
					var dmin float32
					if hasMin {
						dmin = f16At(blk[2:])
					}
					for i := range tk {
						s := (*[2]int32)(ints[2*(b*len(tk)+i):])
						sums[i] += k256Combine(tk[i].d[b0+b], d, dmin, s[0], s[1])
					}
				}
			}
		}
		for i := range tk {
			out[(t0+i)*stride] = sums[i]
		}
	}
}

// k256Combine is the product of one weight block with one activation block
// from their integer sums s0 and s1: da*(d*s0 - dmin*s1). The explicit
// conversions round every step, so that no compiler fuses them; the
// assembly kernels do the same operations.
func k256Combine(da, d, dmin float32, s0, s1 int32) float32 {
	return float32(da * (float32(d*float32(s0)) - float32(dmin*float32(s1))))
}

// k256BlocksGo is the portable block kernel: it sets the integer sums of
// the blocks in row (blocks b0 on of the activations) with every token in
// tk, s0 and s1 of block b and token i at out[2*(b*len(tk)+i)].
func k256BlocksGo(t Type, row []byte, tk []Acts, b0 int, out *k256Sums) {
	switch t {
	case TypeQ4_K:
		for b := range len(row) / sizeQ4_K {
			blk := (*[sizeQ4_K]byte)(row[b*sizeQ4_K:])
			sc, mn := k4Scales((*[12]byte)(blk[4:]))
			for i := range tk {
				qa, bs := actsBlock(&tk[i], b0+b)
				s := (*[2]int32)(out[2*(b*len(tk)+i):])
				s[0] = q4KSumGo(blk, &sc, qa)
				s[1] = k4MinSum(&mn, bs)
			}
		}
	case TypeQ5_K:
		for b := range len(row) / sizeQ5_K {
			blk := (*[sizeQ5_K]byte)(row[b*sizeQ5_K:])
			sc, mn := k4Scales((*[12]byte)(blk[4:]))
			for i := range tk {
				qa, bs := actsBlock(&tk[i], b0+b)
				s := (*[2]int32)(out[2*(b*len(tk)+i):])
				s[0] = q5KSumGo(blk, &sc, qa)
				s[1] = k4MinSum(&mn, bs)
			}
		}
	case TypeQ6_K:
		for b := range len(row) / sizeQ6_K {
			blk := (*[sizeQ6_K]byte)(row[b*sizeQ6_K:])
			for i := range tk {
				qa, bs := actsBlock(&tk[i], b0+b)
				s := (*[2]int32)(out[2*(b*len(tk)+i):])
				s[0], s[1] = q6KSumGo(blk, qa, bs), 0
			}
		}
	}
}

// actsBlock returns the quants and block sums of block b of a.
func actsBlock(a *Acts, b int) (*[qkK]int8, *[qkK / 16]int16) {
	return (*[qkK]int8)(a.q[b*qkK:]), (*[qkK / 16]int16)(a.bsums[b*qkK/16:])
}

// k4Scales unpacks the eight 6-bit scales and mins of a Q4_K or Q5_K block.
func k4Scales(s *[12]byte) (sc, mn [8]uint8) {
	for j := range 4 {
		sc[j] = s[j] & 63
		mn[j] = s[j+4] & 63
		sc[j+4] = s[j+8]&15 | (s[j]>>6)<<4
		mn[j+4] = s[j+8]>>4 | (s[j+4]>>6)<<4
	}
	return sc, mn
}

// k4MinSum returns Σ_j mn[j] times the sum of the activations of sub-block
// j (32 elements, two block sums).
func k4MinSum(mn *[8]uint8, bs *[qkK / 16]int16) int32 {
	var s int32
	for j, m := range mn {
		s += int32(m) * (int32(bs[2*j]) + int32(bs[2*j+1]))
	}
	return s
}

// q4KSumGo returns Σ_j sc[j] * Σ q*a over the sub-blocks of a Q4_K block.
func q4KSumGo(blk *[sizeQ4_K]byte, sc *[8]uint8, qa *[qkK]int8) int32 {
	var s int32
	for c := range 4 {
		q := (*[32]byte)(blk[16+32*c:])
		a1 := (*[32]int8)(qa[64*c:])
		a2 := (*[32]int8)(qa[64*c+32:])
		var s1, s2, s3, s4 int32
		for l := 0; l < 32; l += 2 {
			v, w := q[l], q[l+1]
			s1 += int32(v&15) * int32(a1[l])
			s2 += int32(v>>4) * int32(a2[l])
			s3 += int32(w&15) * int32(a1[l+1])
			s4 += int32(w>>4) * int32(a2[l+1])
		}
		s += int32(sc[2*c])*(s1+s3) + int32(sc[2*c+1])*(s2+s4)
	}
	return s
}

// q5KSumGo returns Σ_j sc[j] * Σ q*a over the sub-blocks of a Q5_K block.
func q5KSumGo(blk *[sizeQ5_K]byte, sc *[8]uint8, qa *[qkK]int8) int32 {
	qh := (*[32]byte)(blk[16:])
	var s int32
	for c := range 4 {
		q := (*[32]byte)(blk[48+32*c:])
		a1 := (*[32]int8)(qa[64*c:])
		a2 := (*[32]int8)(qa[64*c+32:])
		var s1, s2, s3, s4 int32
		for l := 0; l < 32; l += 2 {
			v, w := q[l], q[l+1]
			h, k := qh[l]>>(2*c), qh[l+1]>>(2*c)
			s1 += int32(v&15|(h&1)<<4) * int32(a1[l])
			s2 += int32(v>>4|(h&2)<<3) * int32(a2[l])
			s3 += int32(w&15|(k&1)<<4) * int32(a1[l+1])
			s4 += int32(w>>4|(k&2)<<3) * int32(a2[l+1])
		}
		s += int32(sc[2*c])*(s1+s3) + int32(sc[2*c+1])*(s2+s4)
	}
	return s
}

// q6KSumGo returns Σ_j sc[j] * Σ (q-32)*a over the sixteen sub-blocks of a
// Q6_K block, as Σ_j sc[j] * (Σ q*a - 32*bs[j]).
func q6KSumGo(blk *[sizeQ6_K]byte, qa *[qkK]int8, bs *[qkK / 16]int16) int32 {
	sc := (*[16]byte)(blk[192:])
	var s int32
	for h := range 2 {
		for g := range 2 {
			ql := (*[16]byte)(blk[64*h+16*g:])
			ql2 := (*[16]byte)(blk[64*h+32+16*g:])
			qh := (*[16]byte)(blk[128+32*h+16*g:])
			a1 := (*[16]int8)(qa[128*h+16*g:])
			a2 := (*[16]int8)(qa[128*h+32+16*g:])
			a3 := (*[16]int8)(qa[128*h+64+16*g:])
			a4 := (*[16]int8)(qa[128*h+96+16*g:])
			var p1, p2, p3, p4 int32
			for l := range 16 {
				lo, hi, hb := ql[l], ql2[l], qh[l]
				p1 += int32(lo&15|hb<<4&0x30) * int32(a1[l])
				p2 += int32(hi&15|hb<<2&0x30) * int32(a2[l])
				p3 += int32(lo>>4|hb&0x30) * int32(a3[l])
				p4 += int32(hi>>4|hb>>2&0x30) * int32(a4[l])
			}
			j := 8*h + g
			s += int32(int8(sc[j]))*(p1-32*int32(bs[j])) + int32(int8(sc[j+2]))*(p2-32*int32(bs[j+2])) +
				int32(int8(sc[j+4]))*(p3-32*int32(bs[j+4])) + int32(int8(sc[j+6]))*(p4-32*int32(bs[j+6]))
		}
	}
	return s
}
