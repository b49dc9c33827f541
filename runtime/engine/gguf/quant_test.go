package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestF16ToF32(t *testing.T) {
	tests := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},       // 1365/4096
		{0x7bff, 65504},                // largest finite
		{0x0400, 1.0 / 16384},          // smallest normal 2^-14
		{0x0001, 1.0 / (1 << 24)},      // smallest subnormal 2^-24
		{0x03ff, 1023.0 / (1 << 24)},   // largest subnormal
		{0x8001, -1.0 / (1 << 24)},     // negative subnormal
		{0x7c00, float32(math.Inf(1))}, // +inf
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, tc := range tests {
		if got := F16ToF32(tc.bits); got != tc.want {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", tc.bits, got, tc.want)
		}
	}
	if got := F16ToF32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("F16ToF32(0x8000) = %g, want -0", got)
	}
	for _, nan := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		if got := F16ToF32(nan); !math.IsNaN(float64(got)) {
			t.Errorf("F16ToF32(%#04x) = %g, want NaN", nan, got)
		}
	}
}

func TestF32ToF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519, 0x7bff},                   // rounds down to the largest finite
		{65520, 0x7c00},                   // halfway to 2^16 rounds to even: infinity
		{1e10, 0x7c00},                    // overflow
		{-1e10, 0xfc00},                   // negative overflow
		{1 + 1.0/2048, 0x3c00},            // tie between 0x3c00 and 0x3c01: even
		{1 + 3.0/2048, 0x3c02},            // tie between 0x3c01 and 0x3c02: even
		{1 + 1.0/2048 + 1.0/8192, 0x3c01}, // above the tie
		{1.0 / (1 << 24), 0x0001},         // smallest subnormal
		{1.0 / (1 << 25), 0x0000},         // tie between 0 and 2^-24: even (0)
		{1.5 / (1 << 25), 0x0001},         // above the tie
		{3.0 / (1 << 25), 0x0002},         // 1.5 * 2^-24: tie between 1 and 2: even
		{1023.0 / (1 << 24), 0x03ff},      // largest subnormal
		{1023.5 / (1 << 24), 0x0400},      // rounds up into the normal range
		{1e-10, 0x0000},                   // underflow
		{-1e-10, 0x8000},                  // negative underflow keeps the sign
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, tc := range tests {
		if got := F32ToF16(tc.in); got != tc.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	if got := F32ToF16(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("F32ToF16(NaN) = %#04x, want a NaN", got)
	}
	// Every binary16 value converts to float32 and back unchanged.
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		back := F32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		bits uint16
		want float32
	}{
		{0x3f80, 1},
		{0xc000, -2},
		{0x4049, 3.140625},
		{0x0001, float32(math.Ldexp(1, -133))}, // smallest subnormal
		{0x7f80, float32(math.Inf(1))},
		{0xff80, float32(math.Inf(-1))},
	}
	for _, tc := range tests {
		if got := BF16ToF32(tc.bits); got != tc.want {
			t.Errorf("BF16ToF32(%#04x) = %g, want %g", tc.bits, got, tc.want)
		}
		if got := F32ToBF16(tc.want); got != tc.bits {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", tc.want, got, tc.bits)
		}
	}
	if !math.IsNaN(float64(BF16ToF32(0x7fc0))) {
		t.Error("BF16ToF32(0x7fc0) is not NaN")
	}
	// A NaN whose payload lies only in the low 16 bits must stay NaN.
	if got := F32ToBF16(math.Float32frombits(0x7f800001)); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("F32ToBF16(signalling NaN) = %#04x, want a NaN", got)
	}
	round := []struct {
		in   uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to infinity
	}
	for _, tc := range round {
		if got := F32ToBF16(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

// TestDequantizeHandVectors decodes blocks assembled byte by byte from the
// block layouts documented in quant.go and compares with values worked out
// by hand.
func TestDequantizeHandVectors(t *testing.T) {
	type check struct {
		i    int
		want float32
	}
	tests := []struct {
		name   string
		typ    Type
		n      int
		block  func() []byte
		checks []check
		rest   func(i int) float32 // expected value of every unchecked element
	}{
		{
			name: "F32", typ: TypeF32, n: 2,
			block:  func() []byte { return []byte{0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x20, 0xc1} }, // 0x3fc00000, 0xc1200000
			checks: []check{{0, 1.5}, {1, -10}},
		},
		{
			name: "F16", typ: TypeF16, n: 6,
			// 0x3c00=1, 0x0001=2^-24, 0x7c00=+inf, 0x7bff=65504, 0xb800=-0.5, 0x0200=2^-15 (subnormal 512*2^-24)
			block:  func() []byte { return []byte{0x00, 0x3c, 0x01, 0x00, 0x00, 0x7c, 0xff, 0x7b, 0x00, 0xb8, 0x00, 0x02} },
			checks: []check{{0, 1}, {1, 1.0 / (1 << 24)}, {2, float32(math.Inf(1))}, {3, 65504}, {4, -0.5}, {5, 1.0 / (1 << 15)}},
		},
		{
			name: "BF16", typ: TypeBF16, n: 4,
			// 0x3f80=1, 0x4049=3.140625, 0xff80=-inf, 0x0001=2^-133
			block:  func() []byte { return []byte{0x80, 0x3f, 0x49, 0x40, 0x80, 0xff, 0x01, 0x00} },
			checks: []check{{0, 1}, {1, 3.140625}, {2, float32(math.Inf(-1))}, {3, float32(math.Ldexp(1, -133))}},
		},
		{
			// d = 0x3800 = 0.5; x[i] = 0.5*qs[i].
			name: "Q8_0", typ: TypeQ8_0, n: 32,
			block: func() []byte {
				b := make([]byte, 34)
				b[0], b[1] = 0x00, 0x38
				b[2], b[3], b[4], b[5] = 1, 0xfe, 127, 0x80 // 1, -2, 127, -128
				b[33] = 7
				return b
			},
			checks: []check{{0, 0.5}, {1, -1}, {2, 63.5}, {3, -64}, {31, 3.5}},
			rest:   func(int) float32 { return 0 },
		},
		{
			// d = 0x4000 = 2; x[i] = 2*(lo-8), x[i+16] = 2*(hi-8).
			name: "Q4_0", typ: TypeQ4_0, n: 32,
			block: func() []byte {
				b := make([]byte, 18)
				b[0], b[1] = 0x00, 0x40
				for i := 2; i < 18; i++ {
					b[i] = 0x88 // both nibbles 8 -> 0
				}
				b[2] = 0x9f  // x0 = 2*(15-8) = 14, x16 = 2*(9-8) = 2
				b[3] = 0x08  // x1 = 0, x17 = 2*(0-8) = -16
				b[17] = 0x38 // x15 = 0, x31 = 2*(3-8) = -10
				return b
			},
			checks: []check{{0, 14}, {16, 2}, {1, 0}, {17, -16}, {31, -10}},
			rest:   func(int) float32 { return 0 },
		},
		{
			// d = 1, dmin = 0.5; sc = [1 2 3 63 17 4 5 6], m = [0 1 2 3 4 33 5 6].
			// x = d*sc[j]*q - dmin*m[j] for sub-block j = element/32.
			name: "Q4_K", typ: TypeQ4_K, n: 256,
			block: func() []byte {
				b := make([]byte, 144)
				b[0], b[1] = 0x00, 0x3c // d = 1
				b[2], b[3] = 0x00, 0x38 // dmin = 0.5
				copy(b[4:16], []byte{
					0x41, // sc0=1 | (sc4>>4=1)<<6
					0x02, // sc1=2
					0x03, // sc2=3
					0x3f, // sc3=63
					0x00, // m0=0
					0x81, // m1=1 | (m5>>4=2)<<6
					0x02, // m2=2
					0x03, // m3=3
					0x41, // sc4&15=1 | (m4&15=4)<<4
					0x14, // sc5&15=4 | (m5&15=1)<<4
					0x55, // sc6=5 | m6=5<<4
					0x66, // sc7=6 | m7=6<<4
				})
				qs := b[16:]
				qs[0] = 0x21   // x0: q=1 (sb0), x32: q=2 (sb1)
				qs[32] = 0xf3  // x64: q=3 (sb2), x96: q=15 (sb3)
				qs[64] = 0x45  // x128: q=5 (sb4), x160: q=4 (sb5)
				qs[127] = 0x7f // x223: q=15 (sb6), x255: q=7 (sb7)
				return b
			},
			checks: []check{
				{0, 1},      // 1*1*1 - 0.5*0
				{32, 3.5},   // 2*2 - 0.5*1
				{64, 8},     // 3*3 - 0.5*2
				{96, 943.5}, // 63*15 - 0.5*3
				{128, 83},   // 17*5 - 0.5*4
				{160, -0.5}, // 4*4 - 0.5*33
				{223, 72.5}, // 5*15 - 0.5*5
				{255, 39},   // 6*7 - 0.5*6
			},
			// q = 0 elsewhere: -dmin*m[j].
			rest: func(i int) float32 { return -0.5 * float32([]int{0, 1, 2, 3, 4, 33, 5, 6}[i/32]) },
		},
		{
			// d = 2; scales[j] = j+1 except scales[1] = -1, scales[15] = -128.
			// x = d*scales[e/16]*(q-32).
			name: "Q6_K", typ: TypeQ6_K, n: 256,
			block: func() []byte {
				b := make([]byte, 210)
				ql, qh, sc := b[0:128], b[128:192], b[192:208]
				for j := range sc {
					sc[j] = byte(int8(j + 1))
				}
				sc[1] = 0xff  // -1
				sc[15] = 0x80 // -128
				b[208], b[209] = 0x00, 0x40
				ql[0] = 0x5a   // x0 low 4 bits 10, x64 low 4 bits 5
				ql[32] = 0xc0  // x32 low 0, x96 low 12
				qh[0] = 0xe7   // high bits: x0=3, x32=1, x64=2, x96=3
				ql[127] = 0xf0 // second half, l=31: x191 low 0, x255 low 15
				qh[63] = 0xc0  // x255 high bits 3
				return b
			},
			checks: []check{
				{0, 52},      // q=10|3<<4=58 -> 26; 2*1*26
				{32, -96},    // q=0|1<<4=16 -> -16; 2*3*-16
				{64, 50},     // q=5|2<<4=37 -> 5; 2*5*5
				{96, 392},    // q=12|3<<4=60 -> 28; 2*7*28
				{17, 64},     // q=0 -> -32; 2*-1*-32
				{255, -7936}, // q=15|3<<4=63 -> 31; 2*-128*31
			},
			rest: func(i int) float32 {
				sc := []float32{1, -1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -128}
				return 2 * sc[i/16] * -32
			},
		},
		{
			// d = 2, m = -1; x[i] = 2*lo - 1, x[i+16] = 2*hi - 1.
			name: "Q4_1", typ: TypeQ4_1, n: 32,
			block: func() []byte {
				b := make([]byte, 20)
				b[0], b[1], b[2], b[3] = 0x00, 0x40, 0x00, 0xbc
				b[4] = 0x3a // x0 = 2*10-1 = 19, x16 = 2*3-1 = 5
				return b
			},
			checks: []check{{0, 19}, {16, 5}},
			rest:   func(int) float32 { return -1 },
		},
		{
			// d = 1, qh = 0x80010001 (fifth bits of x0, x16, x31); x = q-16.
			name: "Q5_0", typ: TypeQ5_0, n: 32,
			block: func() []byte {
				b := make([]byte, 22)
				b[0], b[1] = 0x00, 0x3c
				b[2], b[3], b[4], b[5] = 0x01, 0x00, 0x01, 0x80
				b[6] = 0x21  // x0 = (1|16)-16 = 1, x16 = (2|16)-16 = 2
				b[21] = 0xf0 // x15 = 0-16, x31 = (15|16)-16 = 15
				return b
			},
			checks: []check{{0, 1}, {16, 2}, {15, -16}, {31, 15}},
			rest:   func(int) float32 { return -16 },
		},
		{
			// d = 0.5, m = 2, qh = 2 (fifth bit of x1); x = 0.5*q + 2.
			name: "Q5_1", typ: TypeQ5_1, n: 32,
			block: func() []byte {
				b := make([]byte, 24)
				b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x40
				b[4] = 0x02
				b[9] = 0x0f // x1 = 0.5*(15|16)+2 = 17.5, x17 = 2
				return b
			},
			checks: []check{{1, 17.5}, {17, 2}},
			rest:   func(int) float32 { return 2 },
		},
		{
			// Scales and mins as in the Q4_K case: sc = [1 2 3 63 17 4 5 6],
			// m = [0 1 2 3 4 33 5 6], d = 1, dmin = 0.5.
			name: "Q5_K", typ: TypeQ5_K, n: 256,
			block: func() []byte {
				b := make([]byte, 176)
				b[0], b[1], b[2], b[3] = 0x00, 0x3c, 0x00, 0x38
				copy(b[4:16], []byte{0x41, 0x02, 0x03, 0x3f, 0x00, 0x81, 0x02, 0x03, 0x41, 0x14, 0x55, 0x66})
				qh, qs := b[16:48], b[48:176]
				qh[0] = 0x05   // fifth bit of x0 (bit 0) and x64 (bit 2)
				qh[5] = 0x80   // fifth bit of x229 = 192+32+5 (bit 7)
				qs[0] = 0x21   // x0 = 1|16 = 17, x32 = 2
				qs[32] = 0x03  // x64 = 3|16 = 19
				qs[101] = 0xf0 // x229 = 15|16 = 31
				return b
			},
			checks: []check{
				{0, 17},    // 1*17 - 0
				{32, 3.5},  // 2*2 - 0.5*1
				{64, 56},   // 3*19 - 0.5*2
				{229, 183}, // 6*31 - 0.5*6
			},
			rest: func(i int) float32 { return -0.5 * float32([]int{0, 1, 2, 3, 4, 33, 5, 6}[i/32]) },
		},
		{
			// d = 2, dmin = 0.5; scales[0] = 0x21 (sc 1, m 2), scales[2] = 0x03
			// (sc 3, m 0), scales[15] = 0xf7 (sc 7, m 15), others 0.
			// x = d*sc*q - dmin*m.
			name: "Q2_K", typ: TypeQ2_K, n: 256,
			block: func() []byte {
				b := make([]byte, 84)
				b[0], b[2], b[15] = 0x21, 0x03, 0xf7
				b[16] = 0x0b    // x0: q=3, x32: q=2
				b[16+63] = 0xc0 // x255 = 128+96+31: q=3
				b[80], b[81] = 0x00, 0x40
				b[82], b[83] = 0x00, 0x38
				return b
			},
			checks: []check{
				{0, 5},      // 2*1*3 - 0.5*2
				{32, 12},    // 2*3*2 - 0
				{255, 34.5}, // 2*7*3 - 0.5*15
			},
			rest: func(i int) float32 {
				switch i / 16 {
				case 0:
					return -1
				case 15:
					return -7.5
				}
				return 0
			},
		},
		{
			// d = 2; scale bytes b[0] = 0x21, b[8] = 0xe6 give the 6-bit
			// scales s[0] = 1|2<<4 = 33, s[4] = 0|1<<4 = 16, s[8] = 2|2<<4 = 34,
			// s[12] = 0|3<<4 = 48, others 0; values s-32 = 1, -16, 2, 16, -32.
			// x = d*(s-32)*(q - (hmask bit ? 0 : 4)).
			name: "Q3_K", typ: TypeQ3_K, n: 256,
			block: func() []byte {
				b := make([]byte, 110)
				hmask, qs, sc := b[0:32], b[32:96], b[96:108]
				hmask[0] = 0x11 // high bits of x0 (bit 0) and x128 (bit 4)
				qs[0] = 0x03    // x0: 3, x32: 0, x64: 0
				qs[32] = 0x02   // x128: 2, x192: 0
				sc[0], sc[8] = 0x21, 0xe6
				b[108], b[109] = 0x00, 0x40
				return b
			},
			checks: []check{
				{0, 6},      // 2*1*3
				{32, 256},   // 2*-32*(0-4)
				{64, 128},   // 2*-16*(0-4)
				{128, 8},    // 2*2*2
				{192, -128}, // 2*16*(0-4)
			},
			rest: func(i int) float32 {
				s := map[int]float32{0: 1, 4: -16, 8: 2, 12: 16}
				v, ok := s[i/16]
				if !ok {
					v = -32
				}
				return 2 * v * -4
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.block()
			got := make([]float32, tc.n)
			if err := Dequantize(tc.typ, src, got); err != nil {
				t.Fatal(err)
			}
			checked := map[int]bool{}
			for _, c := range tc.checks {
				checked[c.i] = true
				if got[c.i] != c.want {
					t.Errorf("element %d = %g, want %g", c.i, got[c.i], c.want)
				}
			}
			if tc.rest != nil {
				for i, v := range got {
					if !checked[i] && v != tc.rest(i) {
						t.Errorf("element %d = %g, want %g", i, v, tc.rest(i))
					}
				}
			}
			// DotRow with a one-hot vector picks the same element.
			if tc.typ.BlockSize() > 1 {
				for _, c := range tc.checks {
					x := make([]float32, tc.n)
					x[c.i] = 1
					if d := DotRow(tc.typ, src, x); d != c.want {
						t.Errorf("DotRow one-hot %d = %g, want %g", c.i, d, c.want)
					}
				}
			}
		})
	}
}

var computeTypes = []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_K, TypeQ6_K}

func gaussian(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// relRMS returns rms(got-want)/rms(want).
func relRMS(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

// TestQuantizeRoundTripError quantizes gaussian data and bounds the relative
// RMS error of the round trip per type.
func TestQuantizeRoundTripError(t *testing.T) {
	bounds := map[Type]float64{
		TypeF32:  0,
		TypeF16:  0.0005, // 11-bit significand: 2^-12 relative per value
		TypeBF16: 0.004,  // 8-bit significand: 2^-9
		TypeQ8_0: 0.01,
		TypeQ4_0: 0.10,
		TypeQ4_K: 0.075, // an exhaustive float-scale search reaches 0.069 on this data
		TypeQ6_K: 0.02,
	}
	x := gaussian(64*256, 42)
	for _, typ := range computeTypes {
		t.Run(typ.String(), func(t *testing.T) {
			q, err := Quantize(typ, x)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := RowSize(typ, len(x)); len(q) != want {
				t.Fatalf("Quantize produced %d bytes, want %d", len(q), want)
			}
			y := make([]float32, len(x))
			if err := Dequantize(typ, q, y); err != nil {
				t.Fatal(err)
			}
			e := relRMS(y, x)
			t.Logf("%s relative RMS error %.5f (bound %.4f)", typ, e, bounds[typ])
			if e > bounds[typ] {
				t.Errorf("%s relative RMS error %.5f exceeds %.4f", typ, e, bounds[typ])
			}
			// Quantizing the dequantized values is (nearly) lossless: the
			// levels are representable.
			q2, err := Quantize(typ, y)
			if err != nil {
				t.Fatal(err)
			}
			z := make([]float32, len(x))
			if err := Dequantize(typ, q2, z); err != nil {
				t.Fatal(err)
			}
			if e2 := relRMS(z, y); e2 > bounds[typ]/2 {
				t.Errorf("requantization error %.5f, want below %.5f", e2, bounds[typ]/2)
			}
		})
	}
}

func TestQuantizeEdgeCases(t *testing.T) {
	for _, typ := range computeTypes {
		t.Run(typ.String(), func(t *testing.T) {
			n := typ.BlockSize() * 2
			if n < 32 {
				n = 32
			}
			// All zeros dequantize to zeros.
			q, err := Quantize(typ, make([]float32, n))
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, n)
			if err := Dequantize(typ, q, y); err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if v != 0 {
					t.Fatalf("zero input: element %d = %g", i, v)
				}
			}
			// A constant block (positive and negative) stays close.
			for _, c := range []float32{3, -3} {
				x := make([]float32, n)
				for i := range x {
					x[i] = c
				}
				q, err := Quantize(typ, x)
				if err != nil {
					t.Fatal(err)
				}
				if err := Dequantize(typ, q, y); err != nil {
					t.Fatal(err)
				}
				for i, v := range y {
					if math.Abs(float64(v-c)) > 0.01*3 {
						t.Fatalf("constant %g: element %d = %g", c, i, v)
					}
				}
			}
			if typ.BlockSize() > 1 {
				x := make([]float32, n)
				x[3] = float32(math.NaN())
				if _, err := Quantize(typ, x); err == nil {
					t.Error("Quantize accepted NaN")
				}
				x[3] = 1e30
				if _, err := Quantize(typ, x); err == nil {
					t.Error("Quantize accepted 1e30")
				}
				// The largest accepted magnitude still round-trips finitely.
				x[3] = quantLimit[typ]
				q, err := Quantize(typ, x)
				if err != nil {
					t.Fatal(err)
				}
				if err := Dequantize(typ, q, y); err != nil {
					t.Fatal(err)
				}
				if v := y[3]; math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) || math.Abs(float64(v-x[3])) > 0.2*float64(x[3]) {
					t.Errorf("limit %g came back as %g", x[3], v)
				}
				if _, err := Quantize(typ, make([]float32, n+1)); err == nil {
					t.Error("Quantize accepted a partial block")
				}
			}
		})
	}
	for _, typ := range []Type{TypeQ5_K, TypeQ4_1, TypeIQ2_XXS, Type(99)} {
		if _, err := Quantize(typ, make([]float32, 256)); err == nil {
			t.Errorf("Quantize accepted %s", typ)
		}
	}
}

func TestDequantizeSizeErrors(t *testing.T) {
	tests := []struct {
		typ    Type
		nbytes int
		n      int
	}{
		{TypeQ8_0, 34, 31},   // not a block multiple
		{TypeQ8_0, 33, 32},   // short source
		{TypeQ4_K, 145, 256}, // long source
		{TypeF16, 3, 2},
		{TypeIQ2_XXS, 66, 256}, // unsupported
		{Type(99), 4, 1},       // unknown
	}
	for _, tc := range tests {
		if err := Dequantize(tc.typ, make([]byte, tc.nbytes), make([]float32, tc.n)); err == nil {
			t.Errorf("Dequantize(%s, %d bytes, %d elements) succeeded", tc.typ, tc.nbytes, tc.n)
		}
	}
}

func TestDotRowPanicsOnBadSize(t *testing.T) {
	for _, tc := range []struct {
		typ Type
		row int
		n   int
	}{{TypeQ8_0, 33, 32}, {TypeQ4_K, 144, 255}, {TypeF32, 4, 2}, {TypeIQ2_XXS, 66, 256}, {TypeQ5_K, 175, 256}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DotRow(%s, %d bytes, %d elements) did not panic", tc.typ, tc.row, tc.n)
				}
			}()
			DotRow(tc.typ, make([]byte, tc.row), make([]float32, tc.n))
		}()
	}
}

// TestDotRowMatchesDequantize compares DotRow with a float64 dot product of
// the dequantized row. The error is measured relative to sum |w_i*x_i|, the
// scale float32 rounding errors are proportional to.
func TestDotRowMatchesDequantize(t *testing.T) {
	for _, n := range []int{256, 4096, 256 * 11} {
		w := gaussian(n, 7)
		x := gaussian(n, 8)
		for _, typ := range computeTypes {
			row, err := Quantize(typ, w)
			if err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, n)
			if err := Dequantize(typ, row, deq); err != nil {
				t.Fatal(err)
			}
			var ref, mag float64
			for i := range deq {
				p := float64(deq[i]) * float64(x[i])
				ref += p
				mag += math.Abs(p)
			}
			got := DotRow(typ, row, x)
			if rel := math.Abs(float64(got)-ref) / mag; rel > 1e-4 {
				t.Errorf("%s n=%d: DotRow = %g, reference %g (relative error %.2e)", typ, n, got, ref, rel)
			}
			if allocs := testing.AllocsPerRun(10, func() { DotRow(typ, row, x) }); allocs != 0 {
				t.Errorf("%s: DotRow allocates %.0f times", typ, allocs)
			}
		}
	}
	// The read-only formats: random blocks with finite scales.
	r := rand.New(rand.NewPCG(5, 6))
	f16Fields := map[Type][]int{TypeQ4_1: {0, 2}, TypeQ5_0: {0}, TypeQ5_1: {0, 2}, TypeQ5_K: {0, 2}, TypeQ2_K: {80, 82}, TypeQ3_K: {108}}
	for typ, fields := range f16Fields {
		const n = 1024
		rs, _ := RowSize(typ, n)
		row := make([]byte, rs)
		for i := range row {
			row[i] = byte(r.Uint32())
		}
		for b := 0; b < rs; b += typ.TypeSize() {
			for _, f := range fields {
				binary.LittleEndian.PutUint16(row[b+f:], F32ToF16(float32(r.NormFloat64()*0.01)))
			}
		}
		x := gaussian(n, 9)
		deq := make([]float32, n)
		if err := Dequantize(typ, row, deq); err != nil {
			t.Fatal(err)
		}
		var ref, mag float64
		for i := range deq {
			ref += float64(deq[i]) * float64(x[i])
			mag += math.Abs(float64(deq[i]) * float64(x[i]))
		}
		if got := DotRow(typ, row, x); math.Abs(float64(got)-ref)/mag > 1e-4 {
			t.Errorf("%s: DotRow = %g, reference %g", typ, got, ref)
		}
		if !CanDequantize(typ) || CanQuantize(typ) != (typ == TypeQ5_0) {
			t.Errorf("%s: CanDequantize/CanQuantize wrong", typ)
		}
	}
	// Odd lengths for the per-element types exercise the tail loops.
	w, x := gaussian(7, 1), gaussian(7, 2)
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16} {
		row, _ := Quantize(typ, w)
		deq := make([]float32, 7)
		_ = Dequantize(typ, row, deq)
		var ref float64
		for i := range deq {
			ref += float64(deq[i]) * float64(x[i])
		}
		if got := DotRow(typ, row, x); math.Abs(float64(got)-ref) > 1e-5 {
			t.Errorf("%s n=7: DotRow = %g, want %g", typ, got, ref)
		}
	}
}

// BenchmarkDotRow measures one 4096-wide row; the reported throughput is in
// bytes of encoded weights read per second.
func BenchmarkDotRow(b *testing.B) {
	const n = 4096
	w, x := gaussian(n, 3), gaussian(n, 4)
	for _, typ := range computeTypes {
		row, err := Quantize(typ, w)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			var sink float32
			for b.Loop() {
				sink += DotRow(typ, row, x)
			}
			_ = sink
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	const n = 4096
	w := gaussian(n, 3)
	y := make([]float32, n)
	for _, typ := range computeTypes {
		row, _ := Quantize(typ, w)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				_ = Dequantize(typ, row, y)
			}
		})
	}
}

func ExampleDotRow() {
	w := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	row, _ := Quantize(TypeQ8_0, w)
	x := make([]float32, 32)
	x[31] = 1
	fmt.Printf("%.2f\n", DotRow(TypeQ8_0, row, x))
	// Output: 32.00
}

// refQuantQ5_0 is the reference Q5_0 quantizer as published with the
// format: d = max/-16 for the element max of largest magnitude, and
// q = min(31, trunc(x/d + 16.5)).
func refQuantQ5_0(x []float32) []byte {
	out := make([]byte, 0, len(x)/32*22)
	for b := 0; b < len(x)/32; b++ {
		xs := x[32*b : 32*b+32]
		var amax, mx float32
		for _, v := range xs {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, mx = a, v
			}
		}
		d := mx / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		blk := make([]byte, 22)
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		var qh uint32
		for j := range 16 {
			q0 := min(31, int(int8(xs[j]*id+16.5)))
			q1 := min(31, int(int8(xs[j+16]*id+16.5)))
			blk[6+j] = byte(q0&15 | (q1&15)<<4)
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
		}
		binary.LittleEndian.PutUint32(blk[2:], qh)
		out = append(out, blk...)
	}
	return out
}

func TestQuantizeQ5_0(t *testing.T) {
	x := gaussian(64*256, 7)
	q, err := Quantize(TypeQ5_0, x)
	if err != nil {
		t.Fatal(err)
	}
	ref := refQuantQ5_0(x)
	if len(q) != len(ref) {
		t.Fatalf("Quantize produced %d bytes, reference %d", len(q), len(ref))
	}
	// Quantize scales by the reciprocal of the f16-rounded scale and rounds
	// to nearest, the reference by the exact scale with truncation of
	// x+16.5: a quant may differ by one where x/d lies within rounding of a
	// half. Compare the dequantized values.
	y, z := make([]float32, len(x)), make([]float32, len(x))
	if err := Dequantize(TypeQ5_0, q, y); err != nil {
		t.Fatal(err)
	}
	if err := Dequantize(TypeQ5_0, ref, z); err != nil {
		t.Fatal(err)
	}
	var differ int
	for b := 0; b < len(x)/32; b++ {
		if !bytes.Equal(q[22*b:22*b+2], ref[22*b:22*b+2]) {
			t.Fatalf("block %d: scale % x, reference % x", b, q[22*b:22*b+2], ref[22*b:22*b+2])
		}
		d := float64(f16At(q[22*b:]))
		for i := 32 * b; i < 32*b+32; i++ {
			if y[i] != z[i] {
				differ++
				if math.Abs(float64(y[i]-z[i])) > math.Abs(d)*1.001 {
					t.Fatalf("element %d: %g, reference %g (scale %g)", i, y[i], z[i], d)
				}
			}
		}
	}
	if differ > len(x)/1000 {
		t.Errorf("%d of %d elements differ from the reference", differ, len(x))
	}
	if e := relRMS(y, x); e > 0.05 {
		t.Errorf("relative RMS error %.4f, want at most 0.05", e)
	}
	t.Logf("relative RMS error %.4f; %d elements differ from the reference by one step", relRMS(y, x), differ)
}
