//go:build amd64 && !purego

package gguf

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveActs32AVX2 reports whether the Layout32 integer kernels and the
// quantizer can use AVX2; haveActs32VNNI whether the kernels can use
// VPDPBUSD on 256-bit registers (AVX-512 VNNI with VL, and BW for
// the byte masks).
var (
	haveActs32AVX2 = cpu.X86.HasAVX2
	haveActs32VNNI = haveActs32AVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL &&
		cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
)

// The single-token kernels take nb > 0 blocks of the row at row, the
// activations' quants q, scales d and scaled sums sum (read only by the
// types with a minimum), and tab, which maps a half to its float32 value.
// They add in the order dotacts32.go describes.

//go:noescape
func dotQ8_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ4_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ4_1ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ5_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ5_1ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ8_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ5_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ4_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ4_1ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

//go:noescape
func dotQ5_1ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

// The four-token kernels take nb > 0 blocks of the row at row and four
// tokens' quants q[i] and scales d[i], and set out[i] to what the
// single-token kernel returns for token i.

//go:noescape
func dotQ8_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

//go:noescape
func dotQ5_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

//go:noescape
func dotQ8_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

//go:noescape
func dotQ4_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

//go:noescape
func dotQ4_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

//go:noescape
func dotQ5_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)

// packActs32x4 lays out nb > 0 blocks of four tokens' quants q[i] and
// scales d[i] for the tile kernels at dst (tileBlockBytes per block), with
// the weights' offset o.
//
//go:noescape
func packActs32x4(q *[4]*int8, d *[4]*float32, nb, o int, dst *byte)

// The unpack functions decode nb > 0 blocks of four rows of their type,
// the first at rows and each the next stride bytes on, into
// tileUnpackBytes per block at dst for dotActs32Tile.

//go:noescape
func unpackQ8_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)

//go:noescape
func unpackQ5_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)

//go:noescape
func unpackQ4_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)

// dotActs32Tile multiplies four rows unpacked at w with groups > 0 groups
// of four tokens packed one after the other at pk by packActs32x4 with the
// rows' type's offset, and stores what the single-token kernel returns for
// row r and token t of group g at out + r*rowStride + (4g+t)*tokStride
// (strides in bytes). fs is 64 bytes of scratch.
//
//go:noescape
func dotActs32Tile(w, pk *byte, nb, groups int, out *float32, rowStride, tokStride int, fs *byte)

// haveActs32Tile reports whether the tile kernels can run: they use
// 512-bit registers.
var haveActs32Tile = haveActs32VNNI && cpu.X86.HasAVX512BW

// tileBlockBytes is the size of one block of four packed tokens,
// tileUnpackBytes that of one block of four unpacked rows.
const (
	tileBlockBytes  = 320
	tileUnpackBytes = 192
)

// tileScratch holds the packed tokens of callActs32Tile, one *[]byte
// per goroutine at a time.
var tileScratch = sync.Pool{New: func() any { return new([]byte) }}

// The tile kernels of callActs32Tile.
const (
	kQ8_0VNNI4x4 = iota
	kQ5_0VNNI4x4
	kQ4_0VNNI4x4
)

// tileOffsets maps a tile kernel to the offset that makes its weights
// unsigned.
var tileOffsets = [...]int{kQ8_0VNNI4x4: 128, kQ5_0VNNI4x4: 16, kQ4_0VNNI4x4: 8}

// callActs32Tile runs the tile kernel k (a k… constant) on each four rows
// and four tokens, packing each four tokens once for all the rows, and the
// multi-token kernel kn on the rows and tokens left over.
func callActs32Tile(k int, kn actKernelN, rows []byte, rowSize, nrows int, acts []Acts, out []float32, rowStride, tokStride int) {
	nb := len(acts[0].d)
	if len(acts) == 1 && nb > 0 {
		callActs32Rows(k, rows, rowSize, nrows, &acts[0], out, rowStride)
		return
	}
	tiles, groups := nrows/4, len(acts)/4
	if nb == 0 || tiles == 0 || groups == 0 {
		for r := range nrows {
			kn(rows[r*rowSize:(r+1)*rowSize], acts, out[r*rowStride:], tokStride)
		}
		return
	}
	sp := tileScratch.Get().(*[]byte)
	gb := nb * tileBlockBytes // bytes per group of four tokens
	ub := nb * tileUnpackBytes
	need := groups*gb + ub + 64 + 64
	if cap(*sp) < need {
		*sp = make([]byte, need)
	}
	buf := (*sp)[:need]
	// Align the blocks to cache lines.
	buf = buf[(64-int(uintptr(unsafe.Pointer(&buf[0]))%64))%64:]
	var q [4]*int8
	var d [4]*float32
	for g := range groups {
		for j := range 4 {
			a := &acts[4*g+j]
			q[j], d[j] = unsafe.SliceData(a.q), unsafe.SliceData(a.d)
		}
		packActs32x4(&q, &d, nb, tileOffsets[k], &buf[g*gb])
	}
	// Each four rows are decoded once, for all the tokens, and stay in
	// the first-level cache. The kernel stores within out: the last
	// element it writes, (4*tiles-1)*rowStride + (4*groups-1)*tokStride,
	// is at most the last one DotRowsActsN checked.
	w, fs := &buf[groups*gb], &buf[groups*gb+ub]
	rs, ts := 4*rowStride, 4*tokStride
	for t := range tiles {
		r := 4 * t
		rp := unsafe.SliceData(rows[r*rowSize:])
		switch k {
		case kQ8_0VNNI4x4:
			unpackQ8_0x4(rp, rowSize, nb, &f16Table[0], w)
		case kQ5_0VNNI4x4:
			unpackQ5_0x4(rp, rowSize, nb, &f16Table[0], w)
		case kQ4_0VNNI4x4:
			unpackQ4_0x4(rp, rowSize, nb, &f16Table[0], w)
		}
		dotActs32Tile(w, &buf[0], nb, groups, &out[r*rowStride], rs, ts, fs)
	}
	tileScratch.Put(sp)
	if i := 4 * groups; i < len(acts) {
		for r := range 4 * tiles {
			kn(rows[r*rowSize:(r+1)*rowSize], acts[i:], out[r*rowStride+i*tokStride:], tokStride)
		}
	}
	for r := 4 * tiles; r < nrows; r++ {
		kn(rows[r*rowSize:(r+1)*rowSize], acts, out[r*rowStride:], tokStride)
	}
}

// callActs32Rows is callActs32Tile for one token (decode): the rows one
// after the other, in one stream through memory, each through the
// single-token kernel of k's type called directly.
func callActs32Rows(k int, rows []byte, rowSize, nrows int, a *Acts, out []float32, rowStride int) {
	var k1 acts32Asm
	switch k {
	case kQ8_0VNNI4x4:
		k1 = dotQ8_0ActsVNNI
	case kQ5_0VNNI4x4:
		k1 = dotQ5_0ActsVNNI
	default:
		k1 = dotQ4_0ActsVNNI
	}
	q, d, sum, nb := unsafe.SliceData(a.q), unsafe.SliceData(a.d), unsafe.SliceData(a.sum), len(a.d)
	_ = out[(nrows-1)*rowStride]
	for r := range nrows {
		out[r*rowStride] = k1(&rows[r*rowSize], q, d, sum, nb, &f16Table[0])
	}
}

func q8_0ActsTile(rows []byte, rowSize, nrows int, acts []Acts, out []float32, rowStride, tokStride int) {
	callActs32Tile(kQ8_0VNNI4x4, q8_0ActsNVNNI, rows, rowSize, nrows, acts, out, rowStride, tokStride)
}

func q5_0ActsTile(rows []byte, rowSize, nrows int, acts []Acts, out []float32, rowStride, tokStride int) {
	callActs32Tile(kQ5_0VNNI4x4, q5_0ActsNVNNI, rows, rowSize, nrows, acts, out, rowStride, tokStride)
}

func q4_0ActsTile(rows []byte, rowSize, nrows int, acts []Acts, out []float32, rowStride, tokStride int) {
	callActs32Tile(kQ4_0VNNI4x4, q4_0ActsNVNNI, rows, rowSize, nrows, acts, out, rowStride, tokStride)
}

// acts32Tile returns the tile kernel of Layout32 type t that this CPU
// runs, or nil.
func acts32Tile(t Type) actKernelR {
	if !haveActs32Tile {
		return nil
	}
	switch t {
	case TypeQ8_0:
		return q8_0ActsTile
	case TypeQ5_0:
		return q5_0ActsTile
	case TypeQ4_0:
		return q4_0ActsTile
	}
	return nil
}

// quantizeActs32AVX2 quantizes nb > 0 blocks of 32 float32 at x as
// quantizeActs32 does, bit for bit.
//
//go:noescape
func quantizeActs32AVX2(x *float32, q *int8, d, sum *float32, nb int)

// acts32Asm is the signature of the single-token kernels above.
type acts32Asm func(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32

// callActs32 runs the single-token kernel k on row and a.
func callActs32(k acts32Asm, row []byte, a *Acts) float32 {
	if len(a.d) == 0 {
		return 0
	}
	return k(unsafe.SliceData(row), unsafe.SliceData(a.q), unsafe.SliceData(a.d), unsafe.SliceData(a.sum), len(a.d), &f16Table[0])
}

// The four-token kernels of callActs32N. They are called directly, not
// through function values, so that their arguments stay on the stack.
const (
	kQ8_0AVX2x4 = iota
	kQ5_0AVX2x4
	kQ8_0VNNIx4
	kQ5_0VNNIx4
	kQ4_0AVX2x4
	kQ4_0VNNIx4
)

// callActs32N runs the four-token kernel k4 (a k… constant) on row and
// each four of acts, and the single-token kernel k on the rest.
func callActs32N(k4 int, k acts32Asm, row []byte, acts []Acts, out []float32, stride int) {
	nb := len(acts[0].d)
	if nb == 0 {
		for i := range acts {
			out[i*stride] = 0
		}
		return
	}
	var q [4]*int8
	var d [4]*float32
	var r [4]float32
	i := 0
	for ; i+4 <= len(acts); i += 4 {
		for j := range 4 {
			q[j], d[j] = unsafe.SliceData(acts[i+j].q), unsafe.SliceData(acts[i+j].d)
		}
		w := unsafe.SliceData(row)
		switch k4 {
		case kQ8_0AVX2x4:
			dotQ8_0ActsAVX2x4(w, &q, &d, nb, &f16Table[0], &r)
		case kQ5_0AVX2x4:
			dotQ5_0ActsAVX2x4(w, &q, &d, nb, &f16Table[0], &r)
		case kQ8_0VNNIx4:
			dotQ8_0ActsVNNIx4(w, &q, &d, nb, &f16Table[0], &r)
		case kQ5_0VNNIx4:
			dotQ5_0ActsVNNIx4(w, &q, &d, nb, &f16Table[0], &r)
		case kQ4_0AVX2x4:
			dotQ4_0ActsAVX2x4(w, &q, &d, nb, &f16Table[0], &r)
		case kQ4_0VNNIx4:
			dotQ4_0ActsVNNIx4(w, &q, &d, nb, &f16Table[0], &r)
		}
		for j, v := range r {
			out[(i+j)*stride] = v
		}
	}
	for ; i < len(acts); i++ {
		out[i*stride] = callActs32(k, row, &acts[i])
	}
}

func q8_0ActsAVX2(row []byte, a *Acts) float32 { return callActs32(dotQ8_0ActsAVX2, row, a) }
func q4_0ActsAVX2(row []byte, a *Acts) float32 { return callActs32(dotQ4_0ActsAVX2, row, a) }
func q4_1ActsAVX2(row []byte, a *Acts) float32 { return callActs32(dotQ4_1ActsAVX2, row, a) }
func q5_0ActsAVX2(row []byte, a *Acts) float32 { return callActs32(dotQ5_0ActsAVX2, row, a) }
func q5_1ActsAVX2(row []byte, a *Acts) float32 { return callActs32(dotQ5_1ActsAVX2, row, a) }
func q8_0ActsVNNI(row []byte, a *Acts) float32 { return callActs32(dotQ8_0ActsVNNI, row, a) }
func q5_0ActsVNNI(row []byte, a *Acts) float32 { return callActs32(dotQ5_0ActsVNNI, row, a) }
func q4_0ActsVNNI(row []byte, a *Acts) float32 { return callActs32(dotQ4_0ActsVNNI, row, a) }
func q4_1ActsVNNI(row []byte, a *Acts) float32 { return callActs32(dotQ4_1ActsVNNI, row, a) }
func q5_1ActsVNNI(row []byte, a *Acts) float32 { return callActs32(dotQ5_1ActsVNNI, row, a) }

func q8_0ActsNAVX2(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ8_0AVX2x4, dotQ8_0ActsAVX2, row, acts, out, stride)
}

func q5_0ActsNAVX2(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ5_0AVX2x4, dotQ5_0ActsAVX2, row, acts, out, stride)
}

func q8_0ActsNVNNI(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ8_0VNNIx4, dotQ8_0ActsVNNI, row, acts, out, stride)
}

func q5_0ActsNVNNI(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ5_0VNNIx4, dotQ5_0ActsVNNI, row, acts, out, stride)
}

func q4_0ActsNAVX2(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ4_0AVX2x4, dotQ4_0ActsAVX2, row, acts, out, stride)
}

func q4_0ActsNVNNI(row []byte, acts []Acts, out []float32, stride int) {
	callActs32N(kQ4_0VNNIx4, dotQ4_0ActsVNNI, row, acts, out, stride)
}

// acts32Vector returns the vector kernels of Layout32 type t that this
// CPU runs, slowest first.
func acts32Vector(t Type) []acts32Variant {
	var vs []acts32Variant
	if !haveActs32AVX2 {
		return nil
	}
	switch t {
	case TypeQ8_0:
		vs = append(vs, acts32Variant{"avx2", q8_0ActsAVX2, q8_0ActsNAVX2})
		if haveActs32VNNI {
			vs = append(vs, acts32Variant{"vnni", q8_0ActsVNNI, q8_0ActsNVNNI})
		}
	case TypeQ4_0:
		vs = append(vs, acts32Variant{"avx2", q4_0ActsAVX2, q4_0ActsNAVX2})
		if haveActs32VNNI {
			vs = append(vs, acts32Variant{"vnni", q4_0ActsVNNI, q4_0ActsNVNNI})
		}
	case TypeQ4_1:
		vs = append(vs, acts32Variant{"avx2", q4_1ActsAVX2, nil})
		if haveActs32VNNI {
			vs = append(vs, acts32Variant{"vnni", q4_1ActsVNNI, nil})
		}
	case TypeQ5_0:
		vs = append(vs, acts32Variant{"avx2", q5_0ActsAVX2, q5_0ActsNAVX2})
		if haveActs32VNNI {
			vs = append(vs, acts32Variant{"vnni", q5_0ActsVNNI, q5_0ActsNVNNI})
		}
	case TypeQ5_1:
		vs = append(vs, acts32Variant{"avx2", q5_1ActsAVX2, nil})
		if haveActs32VNNI {
			vs = append(vs, acts32Variant{"vnni", q5_1ActsVNNI, nil})
		}
	}
	return vs
}

// quantizeActs32Fast is the Layout32 quantizer Acts.Quantize uses.
var quantizeActs32Fast = quantizeActs32Vector

// quantizeActs32Vector picks the AVX2 quantizer where the CPU has AVX2.
func quantizeActs32Vector(x []float32, q []int8, d, sum []float32) {
	if !haveActs32AVX2 || len(d) == 0 {
		quantizeActs32(x, q, d, sum)
		return
	}
	_, _ = x[len(d)*qk-1], q[len(d)*qk-1]
	_ = sum[len(d)-1]
	quantizeActs32AVX2(unsafe.SliceData(x), unsafe.SliceData(q), unsafe.SliceData(d), unsafe.SliceData(sum), len(d))
}
