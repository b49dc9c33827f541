//go:build amd64 && !purego

package gguf

import "golang.org/x/sys/cpu"

// k256Variants lists the kernel implementations this machine can run, the
// portable one first; k256Use is the one in use, the last of them (tests
// switch it to compare them).
var (
	k256Variants = availableK256()
	k256Use      = k256Variants[len(k256Variants)-1]
)

func availableK256() []k256Variant {
	v := []k256Variant{k256Go}
	if haveF16C {
		v = append(v, k256AVX2)
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
			v = append(v, k256VNNI)
		}
	}
	return v
}

// k256Args holds, for each token, pointers to its quants, block sums and
// block scales from the first block a kernel multiplies on.
type k256Args struct {
	q  [k256MaxTok]*int8
	bs [k256MaxTok]*int16
	d  [k256MaxTok]*float32
}

// The assembly kernels add to sums[t] the product of nb > 0 blocks of their
// type at row with each of nt (1 to k256MaxTok) tokens given by p: AVX2
// (VPMADDUBSW, VPMADDWD) and AVX-512 VNNI (VPDPBUSD, VPDPWSSD on 256-bit
// registers). They need F16C for the block scales.

//go:noescape
func q4KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

//go:noescape
func q4KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

//go:noescape
func q5KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

//go:noescape
func q5KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

//go:noescape
func q6KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

//go:noescape
func q6KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[k256MaxTok]float32)

// k256Dot adds to sums[i] the product of row (type t) with tk[i], for
// every i, with the kernels of k256Use, and reports whether it had one.
func k256Dot(t Type, row []byte, tk []Acts, sums *[k256MaxTok]float32) bool {
	if k256Use == k256Go || len(row) == 0 {
		return false
	}
	var p k256Args
	for i := range tk {
		p.q[i], p.bs[i], p.d[i] = &tk[i].q[0], &tk[i].bsums[0], &tk[i].d[0]
	}
	vnni := k256Use == k256VNNI
	switch t {
	case TypeQ4_K:
		if vnni {
			q4KActsVNNI(&row[0], len(row)/sizeQ4_K, &p, len(tk), sums)
		} else {
			q4KActsAVX2(&row[0], len(row)/sizeQ4_K, &p, len(tk), sums)
		}
	case TypeQ5_K:
		if vnni {
			q5KActsVNNI(&row[0], len(row)/sizeQ5_K, &p, len(tk), sums)
		} else {
			q5KActsAVX2(&row[0], len(row)/sizeQ5_K, &p, len(tk), sums)
		}
	case TypeQ6_K:
		if vnni {
			q6KActsVNNI(&row[0], len(row)/sizeQ6_K, &p, len(tk), sums)
		} else {
			q6KActsAVX2(&row[0], len(row)/sizeQ6_K, &p, len(tk), sums)
		}
	default:
		return false
	}
	return true
}

// quantize256AVX2 quantizes nb > 0 blocks as quantizeActs256 does, bit for
// bit, up to the first block that holds a NaN; it returns the number of
// blocks it quantized.
//
//go:noescape
func quantize256AVX2(x *float32, q *int8, d *float32, bsums *int16, nb int) int

// quantize256 is the Layout256 quantizer of Acts.Quantize: the AVX2 one
// where the kernels use vector code, the portable one for blocks with NaNs
// and otherwise.
func quantize256(x []float32, q []int8, d []float32, bsums []int16) {
	if k256Use == k256Go {
		quantizeActs256(x, q, d, bsums)
		return
	}
	for b := 0; b < len(d); {
		b += quantize256AVX2(&x[b*qkK], &q[b*qkK], &d[b], &bsums[b*qkK/16], len(d)-b)
		if b < len(d) {
			quantizeActs256(x[b*qkK:(b+1)*qkK], q[b*qkK:(b+1)*qkK], d[b:b+1], bsums[b*qkK/16:(b+1)*qkK/16])
			b++
		}
	}
}
