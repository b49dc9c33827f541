//go:build amd64 && !purego

package gguf

import "golang.org/x/sys/cpu"

// k256Variants lists the block kernel implementations this machine can run,
// the portable one first; k256Use is the one in use, the last of them
// (tests switch it to compare them).
var (
	k256Variants = availableK256()
	k256Use      = k256Variants[len(k256Variants)-1]
)

func availableK256() []k256Variant {
	v := []k256Variant{k256Go}
	if cpu.X86.HasAVX2 {
		v = append(v, k256AVX2)
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
			v = append(v, k256VNNI)
		}
	}
	return v
}

// q4KActsAVX2, q5KActsAVX2 and q6KActsAVX2 set the integer sums of nb > 0
// blocks of their type at row with nt (1 to 4) tokens, whose quants and
// block sums from the first block on q[t] and bs[t] point to: s0 and s1 of
// block b and token t at out[2*(b*nt+t)].
//
//go:noescape
func q4KActsAVX2(row *byte, nb int, q *[k256MaxTok]*int8, bs *[k256MaxTok]*int16, nt int, out *int32)

//go:noescape
func q5KActsAVX2(row *byte, nb int, q *[k256MaxTok]*int8, bs *[k256MaxTok]*int16, nt int, out *int32)

//go:noescape
func q6KActsAVX2(row *byte, nb int, q *[k256MaxTok]*int8, bs *[k256MaxTok]*int16, nt int, out *int32)

// k256Blocks sets the integer sums of the blocks in row (blocks b0 on of
// the activations) with every token in tk, with the kernels of k256Use.
func k256Blocks(t Type, row []byte, tk []Acts, b0 int, out *k256Sums) {
	if k256Use == k256Go || len(row) == 0 {
		k256BlocksGo(t, row, tk, b0, out)
		return
	}
	q, bs := k256Ptrs(tk, b0)
	switch t {
	case TypeQ4_K:
		q4KActsAVX2(&row[0], len(row)/sizeQ4_K, &q, &bs, len(tk), &out[0])
	case TypeQ5_K:
		q5KActsAVX2(&row[0], len(row)/sizeQ5_K, &q, &bs, len(tk), &out[0])
	case TypeQ6_K:
		q6KActsAVX2(&row[0], len(row)/sizeQ6_K, &q, &bs, len(tk), &out[0])
	}
}
