package gguf

// Decoding of further block formats found in published GGUF files (as
// fallbacks for rows that are not a multiple of 256, or in low-bit
// variants). They can be read and multiplied; of these only Q5_0 can be
// produced (by Quantize):
//
//	Q4_1 (32 elements, 20 bytes):  d f16 | m f16 | qs [16]byte;
//	     x[i] = d*(qs[i]&15) + m, x[i+16] = d*(qs[i]>>4) + m
//	Q5_0 (32 elements, 22 bytes):  d f16 | qh uint32 | qs [16]byte; the fifth
//	     bit of element e is bit e of qh; x = d*(q-16)
//	Q5_1 (32 elements, 24 bytes):  d f16 | m f16 | qh uint32 | qs [16]byte; x = d*q + m
//	Q5_K (256 elements, 176 bytes): d f16 | dmin f16 | scales [12]byte | qh [32]byte | qs [128]byte;
//	     scales and mins as Q4_K; element 64c+l (l < 32) is the low nibble of
//	     qs[32c+l] plus bit 2c of qh[l] as its fifth bit, element 64c+32+l the
//	     high nibble plus bit 2c+1; x = d*sc[j]*q - dmin*m[j], j = element/32
//	Q2_K (256 elements, 84 bytes): scales [16]byte | qs [64]byte | d f16 | dmin f16;
//	     element e = 128h + 32k + l is (qs[32h+l] >> 2k) & 3;
//	     x = d*(scales[e/16]&15)*q - dmin*(scales[e/16]>>4)
//	Q3_K (256 elements, 110 bytes): hmask [32]byte | qs [64]byte | scales [12]byte | d f16;
//	     low bits as Q2_K, and 4 is subtracted unless bit e/32 of hmask[e%32]
//	     is set; sixteen 6-bit scales s[i] (value s-32): for i < 4 with
//	     b = scales: s[i] = b[i]&15 | (b[8+i]&3)<<4, s[4+i] = b[4+i]&15 | (b[8+i]>>2&3)<<4,
//	     s[8+i] = b[i]>>4 | (b[8+i]>>4&3)<<4, s[12+i] = b[4+i]>>4 | (b[8+i]>>6)<<4;
//	     x = d*(s[e/16]-32)*q

const (
	sizeQ4_1 = 4 + qk/2
	sizeQ5_0 = 2 + 4 + qk/2
	sizeQ5_1 = 4 + 4 + qk/2
	sizeQ5_K = 4 + 12 + qkK/8 + qkK/2
	sizeQ2_K = qkK/16 + qkK/4 + 4
	sizeQ3_K = qkK/8 + qkK/4 + 12 + 2
)

// blockDecoder decodes one block into y (BlockSize elements).
type blockDecoder func(blk []byte, y []float32)

// extraTypes maps the read-only block formats to their decoders.
var extraTypes = map[Type]blockDecoder{
	TypeQ4_1: dequantQ4_1,
	TypeQ5_0: dequantQ5_0,
	TypeQ5_1: dequantQ5_1,
	TypeQ5_K: dequantQ5K,
	TypeQ2_K: dequantQ2K,
	TypeQ3_K: dequantQ3K,
}

func dequantQ4_1(blk []byte, y []float32) {
	d, m := f16At(blk[0:]), f16At(blk[2:])
	for i := 0; i < qk/2; i++ {
		q := blk[4+i]
		y[i] = d*float32(q&15) + m
		y[i+16] = d*float32(q>>4) + m
	}
}

func q5(blk []byte, y []float32, d, m float32, qhOff int, center int) {
	qh := uint32(blk[qhOff]) | uint32(blk[qhOff+1])<<8 | uint32(blk[qhOff+2])<<16 | uint32(blk[qhOff+3])<<24
	qs := blk[qhOff+4:]
	for i := 0; i < qk/2; i++ {
		lo := int(qs[i]&15) | int(qh>>i&1)<<4
		hi := int(qs[i]>>4) | int(qh>>(i+16)&1)<<4
		y[i] = d*float32(lo-center) + m
		y[i+16] = d*float32(hi-center) + m
	}
}

func dequantQ5_0(blk []byte, y []float32) { q5(blk, y, f16At(blk), 0, 2, 16) }
func dequantQ5_1(blk []byte, y []float32) { q5(blk, y, f16At(blk), f16At(blk[2:]), 4, 0) }

func dequantQ5K(blk []byte, y []float32) {
	d, dmin := f16At(blk[0:]), f16At(blk[2:])
	scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
	for c := 0; c < 4; c++ {
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, o1 := d*float32(sc1), dmin*float32(m1)
		d2, o2 := d*float32(sc2), dmin*float32(m2)
		for l := 0; l < 32; l++ {
			q := qs[32*c+l]
			lo := int(q&15) | int(qh[l]>>(2*c)&1)<<4
			hi := int(q>>4) | int(qh[l]>>(2*c+1)&1)<<4
			y[64*c+l] = d1*float32(lo) - o1
			y[64*c+32+l] = d2*float32(hi) - o2
		}
	}
}

func dequantQ2K(blk []byte, y []float32) {
	scales, qs := blk[0:16], blk[16:80]
	d, dmin := f16At(blk[80:]), f16At(blk[82:])
	for e := 0; e < qkK; e++ {
		h, k, l := e/128, e%128/32, e%32
		q := qs[32*h+l] >> (2 * k) & 3
		s := scales[e/16]
		y[e] = d*float32(s&15)*float32(q) - dmin*float32(s>>4)
	}
}

func dequantQ3K(blk []byte, y []float32) {
	hmask, qs, b := blk[0:32], blk[32:96], blk[96:108]
	d := f16At(blk[108:])
	var s [16]float32
	for i := 0; i < 4; i++ {
		s[i] = float32(int(b[i]&15|(b[8+i]&3)<<4) - 32)
		s[4+i] = float32(int(b[4+i]&15|(b[8+i]>>2&3)<<4) - 32)
		s[8+i] = float32(int(b[i]>>4|(b[8+i]>>4&3)<<4) - 32)
		s[12+i] = float32(int(b[4+i]>>4|(b[8+i]>>6)<<4) - 32)
	}
	for e := 0; e < qkK; e++ {
		h, k, l := e/128, e%128/32, e%32
		q := int(qs[32*h+l] >> (2 * k) & 3)
		if hmask[e%32]>>(e/32)&1 == 0 {
			q -= 4
		}
		y[e] = d * s[e/16] * float32(q)
	}
}

// dotExtra computes DotRow for the read-only formats by decoding one block
// at a time into a stack buffer.
func dotExtra(t Type, dec blockDecoder, row []byte, x []float32) float32 {
	bs, ts := t.BlockSize(), t.TypeSize()
	checkBlocks(t, row, len(x), bs, ts)
	var buf [qkK]float32
	y := buf[:bs]
	var sum float32
	for b := 0; b < len(x)/bs; b++ {
		dec(row[b*ts:(b+1)*ts], y)
		xs := x[b*bs : (b+1)*bs]
		var s0, s1 float32
		for i := 0; i+1 < len(y) && i+1 < len(xs); i += 2 {
			s0 += y[i] * xs[i]
			s1 += y[i+1] * xs[i+1]
		}
		sum += s0 + s1
	}
	return sum
}
