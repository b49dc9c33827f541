package gguf

import "fmt"

// Integer dot products on quantized activations.
//
// A matrix-vector product with quantized weights quantizes its input
// vector once (Acts.Quantize) to 8-bit integers in blocks, each with its
// own scale, and then takes each row's dot product with integer
// multiply-adds (DotRowActs): per block, the sum of products of the
// weight's integer quants with the activation's, scaled once by both
// blocks' scales. Two layouts of activations serve the weight types:
//
//	Layout32:  blocks of 32 (as Q8_0): one scale d and the scaled sum
//	           d*Σq per block (what the types with a minimum need):
//	           Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 weights;
//	Layout256: blocks of 256 (as Q8_K): one scale per block and the sum
//	           of each 16 quants: Q4_K, Q5_K, Q6_K weights.
//
// The result differs from DotRow on the float activations by the rounding
// of the activations to 8 bits (a relative error of at most 1/254 of each
// block's largest magnitude per element); the kernels themselves add
// integers exactly, so every kernel of a type (vector or portable) gives
// the same integer block sums and differs from another only in the order
// of the float additions over blocks. (The kernels of the Layout32 types
// share one order too, so they agree bit for bit: see dotacts32.go.)

// ActLayout is the block layout of quantized activations.
type ActLayout uint8

const (
	// LayoutNone means a weight type has no integer kernel: its products
	// take float activations (DotRow).
	LayoutNone ActLayout = iota
	// Layout32 is blocks of 32 quants with a scale and a scaled sum each.
	Layout32
	// Layout256 is blocks of 256 quants with a scale each and the sum of
	// each 16 quants.
	Layout256
)

func (l ActLayout) String() string {
	switch l {
	case Layout32:
		return "32"
	case Layout256:
		return "256"
	}
	return "none"
}

// blockLen is the number of elements per block of the layout.
func (l ActLayout) blockLen() int {
	if l == Layout256 {
		return qkK
	}
	return qk
}

// Acts is a vector quantized for the integer kernels. The zero value is
// ready to use; Quantize reuses its buffers, so a matmul loop that keeps one
// Acts per input vector does not allocate once they have grown.
type Acts struct {
	n      int
	layout ActLayout
	q      []int8    // n quants
	d      []float32 // one scale per block
	sum    []float32 // Layout32: d*Σq per block
	bsums  []int16   // Layout256: Σq of each 16 quants
}

// Len returns the number of elements quantized.
func (a *Acts) Len() int { return a.n }

// Layout returns the layout of the last Quantize.
func (a *Acts) Layout() ActLayout { return a.layout }

// Quantize quantizes x in layout l; len(x) must be a multiple of the
// layout's block length (it panics otherwise, a programming error). Each
// block's scale is its largest magnitude / 127, and each quant x/d rounded
// to nearest (ties away from zero), as llama.cpp quantizes activations.
func (a *Acts) Quantize(x []float32, l ActLayout) {
	bl := l.blockLen()
	if l == LayoutNone || len(x)%bl != 0 {
		panic(fmt.Sprintf("gguf: Acts.Quantize: %d elements in layout %s", len(x), l))
	}
	n, nb := len(x), len(x)/bl
	a.n, a.layout = n, l
	a.q = grow(a.q, n)
	a.d = grow(a.d, nb)
	if l == Layout32 {
		a.sum = grow(a.sum, nb)
		quantizeActs32Fast(x, a.q, a.d, a.sum)
	} else {
		a.bsums = grow(a.bsums, n/16)
		quantize256(x, a.q, a.d, a.bsums)
	}
	a.flushTiny(bl)
}

// minActScale is the smallest block scale Quantize keeps. Below it the
// scale's reciprocal overflows and the quants come out of an overflowing
// conversion, which differs between platforms; such a block (every
// magnitude under 127 * 2^-100) is stored as zeros, which it is to
// within 1e-28.
const minActScale = 0x1p-100

// flushTiny stores the blocks whose scale is under minActScale as zeros.
func (a *Acts) flushTiny(bl int) {
	for b, d := range a.d {
		if d == 0 || !(d < minActScale) {
			continue
		}
		a.d[b] = 0
		clear(a.q[b*bl : (b+1)*bl])
		if a.layout == Layout32 {
			a.sum[b] = 0
		} else {
			clear(a.bsums[b*bl/16 : (b+1)*bl/16])
		}
	}
}

func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// blockScale returns the scale of a block of activations, its largest
// magnitude / 127, and the scale's reciprocal (0 for a zero block).
func blockScale(xs []float32) (sc, id float32) {
	var amax float32
	for _, v := range xs {
		amax = max(amax, abs32(v))
	}
	sc = amax / 127
	if sc != 0 {
		id = 1 / sc
	}
	return sc, id
}

// quantizeActs32 is the portable Layout32 quantizer.
func quantizeActs32(x []float32, q []int8, d, sum []float32) {
	for b := range d {
		xs := x[b*qk : (b+1)*qk]
		qs := q[b*qk : (b+1)*qk]
		sc, id := blockScale(xs)
		var s int32
		for i, v := range xs {
			// float32() rounds the product (no fused multiply-add where
			// the compiler could fuse), so finite inputs quantize alike
			// on every platform and in the vector quantizer.
			qv := roundAway(float32(v * id))
			qs[i] = int8(qv)
			s += qv
		}
		d[b] = sc
		sum[b] = sc * float32(s)
	}
}

// quantizeActs256 is the portable Layout256 quantizer.
func quantizeActs256(x []float32, q []int8, d []float32, bsums []int16) {
	for b := range d {
		xs := x[b*qkK : (b+1)*qkK]
		qs := q[b*qkK : (b+1)*qkK]
		sc, id := blockScale(xs)
		for j := range qkK / 16 {
			var s int32
			for i := j * 16; i < (j+1)*16; i++ {
				// The conversion rounds the product, so that no compiler
				// fuses it with roundAway's addition (GOAMD64=v3 would):
				// the vector quantizer rounds it too.
				qv := roundAway(float32(xs[i] * id))
				qs[i] = int8(qv)
				s += qv
			}
			bsums[b*qkK/16+j] = int16(s)
		}
		d[b] = sc
	}
}

// roundAway rounds v (|v| <= 127 plus rounding slack) to the nearest
// integer, ties away from zero, clamped to [-127, 127].
func roundAway(v float32) int32 {
	var r int32
	if v >= 0 {
		r = int32(v + 0.5)
	} else {
		r = int32(v - 0.5)
	}
	return min(max(r, -127), 127)
}

// actKernel is an integer dot kernel of one weight type: the dot product
// of one row (RowSize(t, a.Len()) bytes) with a, quantized in the type's
// layout.
type actKernel func(row []byte, a *Acts) float32

// actKernelN is a multi-token integer kernel: out[i*stride] = the dot
// product of row with acts[i], for every i. It decodes each weight block
// once for all the tokens (prefill).
type actKernelN func(row []byte, acts []Acts, out []float32, stride int)

// actKernels, actLayouts and actSizes map a weight type to its integer
// kernel, the layout it takes and its bytes per block. Each family of types registers its kernels in its
// file's init (registerActKernel), the vector variants where the CPU has
// them, the portable ones otherwise.
var (
	actKernels  [64]actKernel
	actLayouts  [64]ActLayout
	actSizes    [64]int
	actKernelsN [64]actKernelN // optional; nil: one kernel call per token
	actKernelsR [64]actKernelR // optional; nil: one multi-token call per row
)

// actKernelR is a tile kernel: out[r*rowStride+i*tokStride] = the dot
// product of row r of rows (nrows rows of rowSize bytes, back to back)
// with acts[i], for every r and i. It decodes each weight block once for
// several tokens and loads each token's block once for several rows.
type actKernelR func(rows []byte, rowSize, nrows int, acts []Acts, out []float32, rowStride, tokStride int)

// registerActKernelR installs k as the tile kernel of t, whose
// multi-token kernel must be registered first.
func registerActKernelR(t Type, k actKernelR) {
	if actKernelsN[t] == nil {
		panic(fmt.Sprintf("gguf: tile kernel of %s without a multi-token one", t))
	}
	actKernelsR[t] = k
}

// registerActKernel installs k as the integer kernel of t.
func registerActKernel(t Type, l ActLayout, k actKernel) {
	if t.BlockSize() != l.blockLen() {
		panic(fmt.Sprintf("gguf: %s blocks of %d do not fit activations in layout %s", t, t.BlockSize(), l))
	}
	actKernels[t], actLayouts[t], actSizes[t] = k, l, t.TypeSize()
}

// registerActKernelN installs k as the multi-token kernel of t, whose
// single-token kernel must be registered first.
func registerActKernelN(t Type, k actKernelN) {
	if actKernels[t] == nil {
		panic(fmt.Sprintf("gguf: multi-token kernel of %s without a single-token one", t))
	}
	actKernelsN[t] = k
}

// ActLayoutOf returns the activation layout that the integer kernel of
// weight type t takes, or LayoutNone when t has none (its products take
// float activations through DotRow).
func ActLayoutOf(t Type) ActLayout {
	if int(t) >= len(actLayouts) {
		return LayoutNone
	}
	return actLayouts[t]
}

// DotRowActs returns the dot product of one row of type t with the
// quantized vector a. t must have an integer kernel, a must be quantized
// in its layout and row must hold RowSize(t, a.Len()) bytes; violating any
// is a programming error and panics. It does not allocate.
func DotRowActs(t Type, row []byte, a *Acts) float32 {
	l := ActLayoutOf(t)
	if l == LayoutNone || a.layout != l {
		panic(fmt.Sprintf("gguf: DotRowActs: type %s with activations in layout %s", t, a.layout))
	}
	if want := a.n / l.blockLen() * actSizes[t]; len(row) != want {
		panic(fmt.Sprintf("gguf: DotRowActs: %s row of %d elements has %d bytes, want %d", t, a.n, len(row), want))
	}
	return actKernels[t](row, a)
}

// DotRowActsN sets out[i*stride] to the dot product of one row of type t
// with acts[i], for every i: the product of a row with a block of tokens.
// Its results equal DotRowActs's for each token, bit for bit. The
// requirements of DotRowActs hold for every acts[i]; out must reach index
// (len(acts)-1)*stride.
func DotRowActsN(t Type, row []byte, acts []Acts, out []float32, stride int) {
	if len(acts) == 0 {
		return
	}
	l := ActLayoutOf(t)
	for i := range acts {
		a := &acts[i]
		if l == LayoutNone || a.layout != l || a.n != acts[0].n {
			panic(fmt.Sprintf("gguf: DotRowActsN: type %s with activations %d of %d elements in layout %s", t, i, a.n, a.layout))
		}
	}
	if want := acts[0].n / l.blockLen() * actSizes[t]; len(row) != want {
		panic(fmt.Sprintf("gguf: DotRowActsN: %s row of %d elements has %d bytes, want %d", t, acts[0].n, len(row), want))
	}
	_ = out[(len(acts)-1)*stride]
	if k := actKernelsN[t]; k != nil {
		k(row, acts, out, stride)
		return
	}
	k := actKernels[t]
	for i := range acts {
		out[i*stride] = k(row, &acts[i])
	}
}

// DotRowsActsN sets out[r*rowStride+i*tokStride] to the dot product of row
// r of rows, nrows rows of type t back to back, with acts[i], for every r
// and i: the product of a block of rows with a block of tokens. Its results
// equal DotRowActs's for each row and token, bit for bit. The requirements
// of DotRowActsN hold for every row; rows must hold nrows rows and out must
// reach every index written.
func DotRowsActsN(t Type, rows []byte, nrows int, acts []Acts, out []float32, rowStride, tokStride int) {
	if len(acts) == 0 || nrows <= 0 {
		return
	}
	l := ActLayoutOf(t)
	for i := range acts {
		a := &acts[i]
		if l == LayoutNone || a.layout != l || a.n != acts[0].n {
			panic(fmt.Sprintf("gguf: DotRowsActsN: type %s with activations %d of %d elements in layout %s", t, i, a.n, a.layout))
		}
	}
	rs := acts[0].n / l.blockLen() * actSizes[t]
	if len(rows) != nrows*rs {
		panic(fmt.Sprintf("gguf: DotRowsActsN: %d %s rows of %d elements in %d bytes, want %d", nrows, t, acts[0].n, len(rows), nrows*rs))
	}
	if rowStride < 0 || tokStride < 0 {
		panic(fmt.Sprintf("gguf: DotRowsActsN: strides %d and %d", rowStride, tokStride))
	}
	_ = out[(nrows-1)*rowStride+(len(acts)-1)*tokStride]
	if k := actKernelsR[t]; k != nil {
		k(rows, rs, nrows, acts, out, rowStride, tokStride)
		return
	}
	for r := range nrows {
		DotRowActsN(t, rows[r*rs:(r+1)*rs], acts, out[r*rowStride:], tokStride)
	}
}
