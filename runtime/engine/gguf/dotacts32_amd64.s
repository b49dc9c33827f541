//go:build amd64 && !purego

#include "textflag.h"

// Integer kernels of the Layout32 family (see dotacts32.go for the order
// of the float additions, which every kernel shares with the portable one).
//
// Per block the weight quants w (one byte each, in element order) meet the
// activation quants q (int8 in [-127, 127]) in eight int32 lanes of four
// elements each: signed weights through the sign trick, |w| (unsigned)
// times q*sign(w) with VPMADDUBSW and VPMADDWD, or VPDPBUSD; unsigned ones
// (the types with a minimum) directly. No pair of products can saturate
// the int16 sums of VPMADDUBSW: |w| <= 128 and |q| <= 127.

// acts32Shuf broadcasts byte i/8 of a 32-bit word to byte i.
DATA acts32Shuf<>+0(SB)/8, $0x0000000000000000
DATA acts32Shuf<>+8(SB)/8, $0x0101010101010101
DATA acts32Shuf<>+16(SB)/8, $0x0202020202020202
DATA acts32Shuf<>+24(SB)/8, $0x0303030303030303
GLOBL acts32Shuf<>(SB), RODATA|NOPTR, $32

// acts32Consts: the bit mask that keeps all but bit i%8 of byte i, then
// single bytes to broadcast: 0x0f, 0xf0, 0x10, 0x08.
DATA acts32Consts<>+0(SB)/8, $0x7fbfdfeff7fbfdfe
DATA acts32Consts<>+8(SB)/1, $0x0f
DATA acts32Consts<>+9(SB)/1, $0xf0
DATA acts32Consts<>+10(SB)/1, $0x10
DATA acts32Consts<>+11(SB)/1, $0x08
GLOBL acts32Consts<>(SB), RODATA|NOPTR, $16

// acts32QConsts for the quantizer: the abs mask, the sign mask, 0.5, 127.0,
// 1.0, the int32 bounds 127 and -127, then the dword order that undoes the
// lane interleaving of VPACKSSDW and VPACKSSWB.
DATA acts32QConsts<>+0(SB)/4, $0x7fffffff
DATA acts32QConsts<>+4(SB)/4, $0x80000000
DATA acts32QConsts<>+8(SB)/4, $0x3f000000
DATA acts32QConsts<>+12(SB)/4, $0x42fe0000
DATA acts32QConsts<>+16(SB)/4, $0x3f800000
DATA acts32QConsts<>+20(SB)/4, $127
DATA acts32QConsts<>+24(SB)/4, $-127
DATA acts32QConsts<>+32(SB)/4, $0
DATA acts32QConsts<>+36(SB)/4, $4
DATA acts32QConsts<>+40(SB)/4, $1
DATA acts32QConsts<>+44(SB)/4, $5
DATA acts32QConsts<>+48(SB)/4, $2
DATA acts32QConsts<>+52(SB)/4, $6
DATA acts32QConsts<>+56(SB)/4, $3
DATA acts32QConsts<>+60(SB)/4, $7
GLOBL acts32QConsts<>(SB), RODATA|NOPTR, $64

// ONES16 sets Y15 to int16 ones (for VPMADDWD).
#define ONES16 \
	VPCMPEQW Y15, Y15, Y15; \
	VPSRLW   $15, Y15, Y15

// NIBBLES(off) sets Y1 to the 32 nibbles of the 16 bytes at off(SI): the
// low nibbles (elements 0..15), then the high ones (16..31). Y13 holds
// bytes 0x0f; it clobbers Y2.
#define NIBBLES(off) \
	VMOVDQU     off(SI), X1; \
	VPSRLW      $4, X1, X2; \
	VINSERTI128 $1, X2, Y1, Y1; \
	VPAND       Y13, Y1, Y1

// FIFTHBITS(off) sets byte e of Y3 to 0xff where bit e of the 32-bit word
// at off(SI) is set, 0 otherwise. Y12 holds acts32Shuf, Y11 the bit mask,
// Y10 all ones.
#define FIFTHBITS(off) \
	VPBROADCASTD off(SI), Y3; \
	VPSHUFB      Y12, Y3, Y3; \
	VPOR         Y11, Y3, Y3; \
	VPCMPEQB     Y10, Y3, Y3

// SIGNDOT(w, q) sets w to the eight int32 lane sums of the signed bytes w
// times the signed bytes q; it clobbers q.
#define SIGNDOT(w, q) \
	VPSIGNB    w, q, q; \
	VPABSB     w, w; \
	VPMADDUBSW q, w, w; \
	VPMADDWD   Y15, w, w

// ACC32(lanes) adds the int32 lanes, as float32 times dw*da, to Y0, with
// dw the half at 0(SI) and da the float32 at (R8); it clobbers Y2.
#define ACC32(lanes) \
	VCVTDQ2PS    lanes, lanes; \
	MOVWLZX      0(SI), AX; \
	VMOVSS       (R10)(AX*4), X2; \
	VMULSS       (R8)(BX*1), X2, X2; \
	VBROADCASTSS X2, Y2; \
	VMULPS       Y2, lanes, lanes; \
	VADDPS       lanes, Y0, Y0

// MIN32 adds the minimum (the half at 2(SI)) times the float32 at (R9) to
// X14.
#define MIN32 \
	MOVWLZX 2(SI), AX; \
	VMOVSS  (R10)(AX*4), X4; \
	VMULSS  (R9)(BX*1), X4, X4; \
	VADDSS  X4, X14, X14

// REDUCE(y, x, t) sums the eight float32 of y into the low element of x
// as ((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7)); it clobbers t.
#define REDUCE(y, x, t) \
	VEXTRACTF128 $1, y, t; \
	VADDPS       t, x, x; \
	VHADDPS      x, x, x; \
	VHADDPS      x, x, x

// ARGS32 loads the arguments of a single-token kernel and sets Y0 and X14
// to zero and Y15 to int16 ones.
#define ARGS32 \
	MOVQ   row+0(FP), SI; \
	MOVQ   q+8(FP), DI; \
	MOVQ   d+16(FP), R8; \
	MOVQ   sum+24(FP), R9; \
	MOVQ   nb+32(FP), CX; \
	SHLQ   $2, CX; \
	XORQ   BX, BX; \
	MOVQ   tab+40(FP), R10; \
	VXORPS Y0, Y0, Y0; \
	VXORPS X14, X14, X14; \
	ONES16

// NEXT32(size) advances to the next block of size bytes: SI by the
// size, the index BX (into the scales at R8 and R9, and times 8 into the
// quants at DI) by 4 up to CX = 4*nb.
#define NEXT32(size) \
	ADDQ $size, SI; \
	ADDQ $4, BX; \
	CMPQ BX, CX

// Four-token kernels. Registers: SI the row, DI, R11, R12, R13 the tokens'
// quants and R8, R9, DX, CX their scales, all indexed by BX (4 per block,
// times 8 for the quants) up to 4*nb (kept in nb's argument slot), Y0..Y3
// the accumulators, X6 the block's weight scale, Y4 and Y5 the decoded
// weights.

// ARGS4 loads the arguments of a four-token kernel and zeroes the
// accumulators.
#define ARGS4 \
	MOVQ   row+0(FP), SI; \
	MOVQ   q+8(FP), AX; \
	MOVQ   0(AX), DI; \
	MOVQ   8(AX), R11; \
	MOVQ   16(AX), R12; \
	MOVQ   24(AX), R13; \
	MOVQ   d+16(FP), AX; \
	MOVQ   0(AX), R8; \
	MOVQ   8(AX), R9; \
	MOVQ   16(AX), DX; \
	MOVQ   24(AX), CX; \
	SHLQ   $2, nb+24(FP); \
	XORQ   BX, BX; \
	MOVQ   tab+32(FP), R10; \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	ONES16

// WSCALE loads the block's weight scale into X6.
#define WSCALE \
	MOVWLZX 0(SI), AX; \
	VMOVSS  (R10)(AX*4), X6

// TOKACC(lanes, dp, acc) adds the int32 lanes, as float32 times X6 times
// the float32 at (dp), to acc; it clobbers Y8.
#define TOKACC(lanes, dp, acc) \
	VCVTDQ2PS    lanes, lanes; \
	VMULSS       (dp)(BX*1), X6, X8; \
	VBROADCASTSS X8, Y8; \
	VMULPS       Y8, lanes, lanes; \
	VADDPS       lanes, acc, acc

// TOKSIGN(qp, dp, acc) multiplies the signed weights (Y4 = w, Y5 = |w|)
// with the token's quants at (qp) and accumulates; it clobbers Y7, Y8.
#define TOKSIGN(qp, dp, acc) \
	VMOVDQU    (qp)(BX*8), Y7; \
	VPSIGNB    Y4, Y7, Y7; \
	VPMADDUBSW Y7, Y5, Y7; \
	VPMADDWD   Y15, Y7, Y7; \
	TOKACC(Y7, dp, acc)

// TOKSIGNV is TOKSIGN with VPDPBUSD.
#define TOKSIGNV(qp, dp, acc) \
	VMOVDQU  (qp)(BX*8), Y7; \
	VPSIGNB  Y4, Y7, Y7; \
	VPXOR    Y9, Y9, Y9; \
	VPDPBUSD Y7, Y5, Y9; \
	TOKACC(Y9, dp, acc)

// TOKOFFV(qp, dp, acc) multiplies the unsigned weights Y4 with the
// token's quants, less the offset (bytes in Y10) times them, with
// VPDPBUSD.
#define TOKOFFV(qp, dp, acc) \
	VPXOR    Y7, Y7, Y7; \
	VPDPBUSD (qp)(BX*8), Y4, Y7; \
	VPXOR    Y9, Y9, Y9; \
	VPDPBUSD (qp)(BX*8), Y10, Y9; \
	VPSUBD   Y9, Y7, Y7; \
	TOKACC(Y7, dp, acc)

// NEXT4(size) advances to the next block of size bytes.
#define NEXT4(size) \
	ADDQ $size, SI; \
	ADDQ $4, BX; \
	CMPQ BX, nb+24(FP)

// STORE4 reduces the four accumulators into out.
#define STORE4 \
	MOVQ  out+40(FP), AX; \
	REDUCE(Y0, X0, X8); \
	REDUCE(Y1, X1, X8); \
	REDUCE(Y2, X2, X8); \
	REDUCE(Y3, X3, X8); \
	VZEROUPPER; \
	MOVSS X0, 0(AX); \
	MOVSS X1, 4(AX); \
	MOVSS X2, 8(AX); \
	MOVSS X3, 12(AX)

// func dotQ8_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
TEXT ·dotQ8_0ActsAVX2(SB), NOSPLIT, $0-52
	ARGS32

a32q80loop:
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI)(BX*8), Y3
	SIGNDOT(Y1, Y3)
	ACC32(Y1)
	NEXT32(34)
	JNZ     a32q80loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ4_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// w = nibble - 8.
TEXT ·dotQ4_0ActsAVX2(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+11(SB), Y9

a32q40loop:
	NIBBLES(2)
	VPSUBB  Y9, Y1, Y1
	VMOVDQU (DI)(BX*8), Y3
	SIGNDOT(Y1, Y3)
	ACC32(Y1)
	NEXT32(18)
	JNZ     a32q40loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ4_1ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// w = nibble, unsigned; the minimum times the activations' sum goes to X14.
TEXT ·dotQ4_1ActsAVX2(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13

a32q41loop:
	NIBBLES(4)
	VPMADDUBSW (DI)(BX*8), Y1, Y1
	VPMADDWD   Y15, Y1, Y1
	ACC32(Y1)
	MIN32
	NEXT32(20)
	JNZ        a32q41loop

	REDUCE(Y0, X0, X1)
	VADDSS X14, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func dotQ5_0ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// w = (nibble | fifth bit << 4) - 16, as the nibble ORed with 0xf0 where
// the fifth bit is clear.
TEXT ·dotQ5_0ActsAVX2(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VMOVDQU      acts32Shuf<>(SB), Y12
	VPBROADCASTQ acts32Consts<>+0(SB), Y11
	VPCMPEQB     Y10, Y10, Y10
	VPBROADCASTB acts32Consts<>+9(SB), Y9

a32q50loop:
	FIFTHBITS(2)
	VPANDN  Y9, Y3, Y3
	NIBBLES(6)
	VPOR    Y3, Y1, Y1
	VMOVDQU (DI)(BX*8), Y3
	SIGNDOT(Y1, Y3)
	ACC32(Y1)
	NEXT32(22)
	JNZ     a32q50loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ5_1ActsAVX2(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// w = nibble | fifth bit << 4, unsigned; the minimum as for Q4_1.
TEXT ·dotQ5_1ActsAVX2(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VMOVDQU      acts32Shuf<>(SB), Y12
	VPBROADCASTQ acts32Consts<>+0(SB), Y11
	VPCMPEQB     Y10, Y10, Y10
	VPBROADCASTB acts32Consts<>+10(SB), Y9

a32q51loop:
	FIFTHBITS(4)
	VPAND      Y9, Y3, Y3
	NIBBLES(8)
	VPOR       Y3, Y1, Y1
	VPMADDUBSW (DI)(BX*8), Y1, Y1
	VPMADDWD   Y15, Y1, Y1
	ACC32(Y1)
	MIN32
	NEXT32(24)
	JNZ        a32q51loop

	REDUCE(Y0, X0, X1)
	VADDSS X14, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func dotQ8_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// As dotQ8_0ActsAVX2 with VPDPBUSD (AVX512_VNNI, AVX512VL) for the lanes.
TEXT ·dotQ8_0ActsVNNI(SB), NOSPLIT, $0-52
	ARGS32

a32v80loop:
	VMOVDQU  2(SI), Y1
	VMOVDQU  (DI)(BX*8), Y3
	VPSIGNB  Y1, Y3, Y3
	VPABSB   Y1, Y1
	VPXOR    Y4, Y4, Y4
	VPDPBUSD Y3, Y1, Y4
	ACC32(Y4)
	NEXT32(34)
	JNZ      a32v80loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ5_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// The unsigned quants u = nibble + 16*fifth bit (a masked byte add, with
// AVX512BW) meet q in VPDPBUSD, and 16 times the sums of q come off:
// (u-16)*q summed exactly as the AVX2 kernel does.
TEXT ·dotQ5_0ActsVNNI(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+10(SB), Y9

a32v50loop:
	MOVL     2(SI), AX
	KMOVD    AX, K1
	NIBBLES(6)
	VPADDB   Y9, Y1, K1, Y1
	VPXOR    Y4, Y4, Y4
	VPDPBUSD (DI)(BX*8), Y1, Y4
	VPXOR    Y5, Y5, Y5
	VPDPBUSD (DI)(BX*8), Y9, Y5
	VPSUBD   Y5, Y4, Y4
	ACC32(Y4)
	NEXT32(22)
	JNZ      a32v50loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ8_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ8_0ActsAVX2x4(SB), NOSPLIT, $0-48
	ARGS4

a32q80x4loop:
	VMOVDQU 2(SI), Y4
	VPABSB  Y4, Y5
	WSCALE
	TOKSIGN(DI, R8, Y0)
	TOKSIGN(R11, R9, Y1)
	TOKSIGN(R12, DX, Y2)
	TOKSIGN(R13, CX, Y3)
	NEXT4(34)
	JNZ     a32q80x4loop

	STORE4
	RET

// func dotQ5_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ5_0ActsAVX2x4(SB), NOSPLIT, $0-48
	ARGS4
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VMOVDQU      acts32Shuf<>(SB), Y12
	VPBROADCASTQ acts32Consts<>+0(SB), Y11
	VPCMPEQB     Y10, Y10, Y10
	VPBROADCASTB acts32Consts<>+9(SB), Y14

a32q50x4loop:
	VPBROADCASTD 2(SI), Y9
	VPSHUFB      Y12, Y9, Y9
	VPOR         Y11, Y9, Y9
	VPCMPEQB     Y10, Y9, Y9
	VPANDN       Y14, Y9, Y9
	VMOVDQU      6(SI), X4
	VPSRLW       $4, X4, X7
	VINSERTI128  $1, X7, Y4, Y4
	VPAND        Y13, Y4, Y4
	VPOR         Y9, Y4, Y4
	VPABSB       Y4, Y5
	WSCALE
	TOKSIGN(DI, R8, Y0)
	TOKSIGN(R11, R9, Y1)
	TOKSIGN(R12, DX, Y2)
	TOKSIGN(R13, CX, Y3)
	NEXT4(22)
	JNZ          a32q50x4loop

	STORE4
	RET

// func dotQ8_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ8_0ActsVNNIx4(SB), NOSPLIT, $0-48
	ARGS4

a32v80x4loop:
	VMOVDQU 2(SI), Y4
	VPABSB  Y4, Y5
	WSCALE
	TOKSIGNV(DI, R8, Y0)
	TOKSIGNV(R11, R9, Y1)
	TOKSIGNV(R12, DX, Y2)
	TOKSIGNV(R13, CX, Y3)
	NEXT4(34)
	JNZ     a32v80x4loop

	STORE4
	RET

// func dotQ5_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ5_0ActsVNNIx4(SB), NOSPLIT, $0-48
	ARGS4
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+10(SB), Y10

a32v50x4loop:
	MOVL        2(SI), AX
	KMOVD       AX, K1
	VMOVDQU     6(SI), X4
	VPSRLW      $4, X4, X7
	VINSERTI128 $1, X7, Y4, Y4
	VPAND       Y13, Y4, Y4
	VPADDB      Y10, Y4, K1, Y4
	WSCALE
	TOKOFFV(DI, R8, Y0)
	TOKOFFV(R11, R9, Y1)
	TOKOFFV(R12, DX, Y2)
	TOKOFFV(R13, CX, Y3)
	NEXT4(22)
	JNZ         a32v50x4loop

	STORE4
	RET

// func dotQ4_0ActsAVX2x4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ4_0ActsAVX2x4(SB), NOSPLIT, $0-48
	ARGS4
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+11(SB), Y14

a32q40x4loop:
	VMOVDQU     2(SI), X4
	VPSRLW      $4, X4, X7
	VINSERTI128 $1, X7, Y4, Y4
	VPAND       Y13, Y4, Y4
	VPSUBB      Y14, Y4, Y4
	VPABSB      Y4, Y5
	WSCALE
	TOKSIGN(DI, R8, Y0)
	TOKSIGN(R11, R9, Y1)
	TOKSIGN(R12, DX, Y2)
	TOKSIGN(R13, CX, Y3)
	NEXT4(18)
	JNZ         a32q40x4loop

	STORE4
	RET

// func dotQ4_0ActsVNNIx4(row *byte, q *[4]*int8, d *[4]*float32, nb int, tab *float32, out *[4]float32)
TEXT ·dotQ4_0ActsVNNIx4(SB), NOSPLIT, $0-48
	ARGS4
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+11(SB), Y10

a32v40x4loop:
	VMOVDQU     2(SI), X4
	VPSRLW      $4, X4, X7
	VINSERTI128 $1, X7, Y4, Y4
	VPAND       Y13, Y4, Y4
	WSCALE
	TOKOFFV(DI, R8, Y0)
	TOKOFFV(R11, R9, Y1)
	TOKOFFV(R12, DX, Y2)
	TOKOFFV(R13, CX, Y3)
	NEXT4(18)
	JNZ         a32v40x4loop

	STORE4
	RET

// func dotQ4_0ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
//
// The nibbles (unsigned) meet q in VPDPBUSD, and 8 times the sums of q come
// off.
TEXT ·dotQ4_0ActsVNNI(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+11(SB), Y9

a32v40loop:
	NIBBLES(2)
	VPXOR    Y4, Y4, Y4
	VPDPBUSD (DI)(BX*8), Y1, Y4
	VPXOR    Y5, Y5, Y5
	VPDPBUSD (DI)(BX*8), Y9, Y5
	VPSUBD   Y5, Y4, Y4
	ACC32(Y4)
	NEXT32(18)
	JNZ      a32v40loop

	REDUCE(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotQ4_1ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
TEXT ·dotQ4_1ActsVNNI(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13

a32v41loop:
	NIBBLES(4)
	VPXOR    Y4, Y4, Y4
	VPDPBUSD (DI)(BX*8), Y1, Y4
	ACC32(Y4)
	MIN32
	NEXT32(20)
	JNZ      a32v41loop

	REDUCE(Y0, X0, X1)
	VADDSS X14, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func dotQ5_1ActsVNNI(row *byte, q *int8, d, sum *float32, nb int, tab *float32) float32
TEXT ·dotQ5_1ActsVNNI(SB), NOSPLIT, $0-52
	ARGS32
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+10(SB), Y9

a32v51loop:
	MOVL     4(SI), AX
	KMOVD    AX, K1
	NIBBLES(8)
	VPADDB   Y9, Y1, K1, Y1
	VPXOR    Y4, Y4, Y4
	VPDPBUSD (DI)(BX*8), Y1, Y4
	ACC32(Y4)
	MIN32
	NEXT32(24)
	JNZ      a32v51loop

	REDUCE(Y0, X0, X1)
	VADDSS X14, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func quantizeActs32AVX2(x *float32, q *int8, d, sum *float32, nb int)
//
// Per block: the largest magnitude as the largest of the magnitudes' bit
// patterns (so a NaN wins, as in max), sc = amax/127, id = 1/sc or 0, each
// x*id plus 0.5 with the sign of x*id truncated (CVTTPS2DQ gives the same
// 0x80000000 as Go's conversion for NaNs and infinities), clamped to
// [-127, 127], summed, and packed to bytes.
TEXT ·quantizeActs32AVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         d+16(FP), R8
	MOVQ         sum+24(FP), R9
	MOVQ         nb+32(FP), CX
	VPBROADCASTD acts32QConsts<>+0(SB), Y15
	VPBROADCASTD acts32QConsts<>+4(SB), Y14
	VPBROADCASTD acts32QConsts<>+8(SB), Y13
	VPBROADCASTD acts32QConsts<>+20(SB), Y12
	VPBROADCASTD acts32QConsts<>+24(SB), Y11
	VMOVDQU      acts32QConsts<>+32(SB), Y10
	VMOVSS       acts32QConsts<>+12(SB), X9

a32quant:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7
	VPMAXSD Y5, Y4, Y4
	VPMAXSD Y7, Y6, Y6
	VPMAXSD Y6, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPMAXSD X5, X4, X4

	// sc = amax/127 in X8; id = sc != 0 ? 1/sc : 0 in Y6.
	VDIVSS       X9, X4, X8
	VMOVSS       acts32QConsts<>+16(SB), X6
	VDIVSS       X8, X6, X6
	VXORPS       X7, X7, X7
	VCMPSS       $4, X7, X8, X7
	VANDPS       X7, X6, X6
	VBROADCASTSS X6, Y6

	VMULPS Y6, Y0, Y0
	VMULPS Y6, Y1, Y1
	VMULPS Y6, Y2, Y2
	VMULPS Y6, Y3, Y3
	VANDPS Y14, Y0, Y4
	VANDPS Y14, Y1, Y5
	VANDPS Y14, Y2, Y6
	VANDPS Y14, Y3, Y7
	VORPS  Y13, Y4, Y4
	VORPS  Y13, Y5, Y5
	VORPS  Y13, Y6, Y6
	VORPS  Y13, Y7, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPMINSD Y12, Y0, Y0
	VPMINSD Y12, Y1, Y1
	VPMINSD Y12, Y2, Y2
	VPMINSD Y12, Y3, Y3
	VPMAXSD Y11, Y0, Y0
	VPMAXSD Y11, Y1, Y1
	VPMAXSD Y11, Y2, Y2
	VPMAXSD Y11, Y3, Y3

	// sum = sc * float32(Σq).
	VPADDD       Y1, Y0, Y4
	VPADDD       Y3, Y2, Y5
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VCVTDQ2PS    X4, X4
	VMULSS       X8, X4, X4
	VMOVSS       X8, (R8)
	VMOVSS       X4, (R9)

	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y10, Y0
	VMOVDQU   Y0, (DI)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ  a32quant

	VZEROUPPER
	RET

// Tile kernels: four rows by four tokens per call (AVX-512 F, BW, VL and
// VNNI). The weights of a block are made unsigned, u = w + o with o = 128
// (Q8_0), 16 (Q5_0) or 8 (Q4_0), and meet each token's quants in one
// VPDPBUSD whose accumulator starts at -o*Σq per lane, so every lane ends
// with the exact integer sum Σw*q that the single-token kernels compute.
// The sixteen products of the rows' and tokens' scales of a block come
// from one 512-bit multiplication, and each (row, token) takes its own
// from memory as a broadcast operand. The lanes are scaled and added in
// the single-token kernels' order, so the results are theirs bit for bit.
//
// packActs32x4 lays out the four tokens once for all the rows, 320 bytes
// per block: the quants of tokens 0 to 3 (32 bytes each); their -o*Σq
// lanes (int32, 32 bytes each); their scales [d0 d1 d2 d3] four times.

// unpack…4 decode nb > 0 blocks of four rows, the first at rows and each
// the next stride bytes on, once for all the tokens, 192 bytes per block
// at dst: each row's 32 weights made unsigned (w + o), then each row's
// scale as float32 (from the half table at tab) four times.

// UNPACKT(decode, size, label) is the loop of an unpack function: decode
// sets Y1 to the unsigned weights of the block at its argument.
// Each unpack function has loaded SI with rows 0 and 1, R14
// with the stride, R13 with rows 2 and 3, CX with nb, R10 with tab and
// DI with dst.
//
// It also prefetches the same block of the next four rows (R11 and R12)
// into the second-level cache (the packed tokens fill the first), which
// the caller unpacks after this tile's products: those take long enough
// for the lines to arrive.
#define UNPACKT(decode, size, label) \
	LEAQ       (SI)(R14*4), R11; \
	LEAQ       (R13)(R14*4), R12; \
label: \
	PREFETCHT1 (R11); \
	PREFETCHT1 (R11)(R14*1); \
	PREFETCHT1 (R12); \
	PREFETCHT1 (R12)(R14*1); \
	decode(0(SI), 2(SI), 6(SI)); \
	VMOVDQU Y1, 0(DI); \
	decode(0(SI)(R14*1), 2(SI)(R14*1), 6(SI)(R14*1)); \
	VMOVDQU Y1, 32(DI); \
	decode(0(R13), 2(R13), 6(R13)); \
	VMOVDQU Y1, 64(DI); \
	decode(0(R13)(R14*1), 2(R13)(R14*1), 6(R13)(R14*1)); \
	VMOVDQU Y1, 96(DI); \
	MOVWLZX      0(SI), AX; \
	VBROADCASTSS (R10)(AX*4), X1; \
	VMOVUPS      X1, 128(DI); \
	MOVWLZX      0(SI)(R14*1), AX; \
	VBROADCASTSS (R10)(AX*4), X1; \
	VMOVUPS      X1, 144(DI); \
	MOVWLZX      0(R13), AX; \
	VBROADCASTSS (R10)(AX*4), X1; \
	VMOVUPS      X1, 160(DI); \
	MOVWLZX      0(R13)(R14*1), AX; \
	VBROADCASTSS (R10)(AX*4), X1; \
	VMOVUPS      X1, 176(DI); \
	ADDQ    $size, SI; \
	ADDQ    $size, R13; \
	ADDQ    $size, R11; \
	ADDQ    $size, R12; \
	ADDQ    $192, DI; \
	DECQ    CX; \
	JNZ     label; \
	VZEROUPPER; \
	RET

// DEC8(d, a, b): Q8_0 weights plus 128 (Y9 bytes 0x80).
#define DEC8(d, a, b) \
	VMOVDQU a, Y1; \
	VPXOR   Y9, Y1, Y1

// DEC4(d, a, b): Q4_0 nibbles, low then high (Y13 bytes 0x0f).
#define DEC4(d, a, b) \
	VMOVDQU     a, X1; \
	VPSRLW      $4, X1, X2; \
	VINSERTI128 $1, X2, Y1, Y1; \
	VPAND       Y13, Y1, Y1

// DEC5(d, a, b): Q5_0 nibbles plus 16 where the fifth bit (at a) is set
// (Y9 bytes 0x10).
#define DEC5(d, a, b) \
	MOVL        a, AX; \
	KMOVD       AX, K1; \
	VMOVDQU     b, X1; \
	VPSRLW      $4, X1, X2; \
	VINSERTI128 $1, X2, Y1, Y1; \
	VPAND       Y13, Y1, Y1; \
	VPADDB      Y9, Y1, K1, Y1

// TILETOK(t, q, negc, fo, acc) adds token t's lanes for the row (weights
// in Y22, the (row, token) scale product at fo(R8)) to acc, with temp t.
#define TILETOK(t, q, negc, fo, acc) \
	VMOVDQA64   negc, t; \
	VPDPBUSD    q, Y22, t; \
	VCVTDQ2PS   t, t; \
	VMULPS.BCST fo(R8), t, t; \
	VADDPS      t, acc, acc

// TILEROW(woff, fo0, fo1, fo2, fo3, a0, a1, a2, a3) takes the unpacked
// row whose weights are at woff(SI) into accumulators a0..a3.
#define TILEROW(woff, fo0, fo1, fo2, fo3, a0, a1, a2, a3) \
	VMOVDQU64 woff(SI), Y22; \
	TILETOK(Y24, Y16, Y20, fo0, a0); \
	TILETOK(Y25, Y17, Y21, fo1, a1); \
	TILETOK(Y26, Y18, Y28, fo2, a2); \
	TILETOK(Y27, Y19, Y29, fo3, a3)

// TILEREDUCE(y, x, dst) reduces accumulator y into dst as REDUCE does;
// it clobbers X24.
#define TILEREDUCE(y, x, dst) \
	VEXTRACTF32X4 $1, y, X24; \
	VADDPS        X24, x, x; \
	VHADDPS       x, x, x; \
	VHADDPS       x, x, x; \
	VMOVSS        x, dst

// TILEROWOUT(y0, x0, y1, x1, y2, x2, y3, x3) stores one row's four
// results at R9 (the token stride in DX), then moves R9 to the next row
// (stride BX).
#define TILEROWOUT(y0, x0, y1, x1, y2, x2, y3, x3) \
	LEAQ (R9)(DX*2), R11; \
	TILEREDUCE(y0, x0, (R9)); \
	TILEREDUCE(y1, x1, (R9)(DX*1)); \
	TILEREDUCE(y2, x2, (R11)); \
	TILEREDUCE(y3, x3, (R11)(DX*1)); \
	ADDQ BX, R9

// func packActs32x4(q *[4]*int8, d *[4]*float32, nb, o int, dst *byte)
TEXT ·packActs32x4(SB), NOSPLIT, $0-40
	MOVQ         q+0(FP), AX
	MOVQ         0(AX), DI
	MOVQ         8(AX), R8
	MOVQ         16(AX), R9
	MOVQ         24(AX), R11
	MOVQ         d+8(FP), AX
	MOVQ         0(AX), R12
	MOVQ         8(AX), DX
	MOVQ         16(AX), CX
	MOVQ         24(AX), R10
	MOVQ         nb+16(FP), R13
	SHLQ         $2, R13
	MOVQ         o+24(FP), AX
	VPBROADCASTB AX, Z30
	MOVQ         dst+32(FP), SI
	XORQ         BX, BX
	MOVL         $0x2222, AX
	KMOVW        AX, K2
	MOVL         $0x4444, AX
	KMOVW        AX, K3
	MOVL         $0x8888, AX
	KMOVW        AX, K4
	VPXORD       Z31, Z31, Z31

a32packloop:
	VMOVDQU64    (DI)(BX*8), Y16
	VINSERTI64X4 $1, (R8)(BX*8), Z16, Z16
	VMOVDQU64    (R9)(BX*8), Y17
	VINSERTI64X4 $1, (R11)(BX*8), Z17, Z17
	VMOVDQU64    Z16, 0(SI)
	VMOVDQU64    Z17, 64(SI)
	VPXORD       Z18, Z18, Z18
	VPDPBUSD     Z16, Z30, Z18
	VPSUBD       Z18, Z31, Z18
	VPXORD       Z19, Z19, Z19
	VPDPBUSD     Z17, Z30, Z19
	VPSUBD       Z19, Z31, Z19
	VMOVDQU64    Z18, 128(SI)
	VMOVDQU64    Z19, 192(SI)
	VBROADCASTSS (R12)(BX*1), Z20
	VBROADCASTSS (DX)(BX*1), K2, Z20
	VBROADCASTSS (CX)(BX*1), K3, Z20
	VBROADCASTSS (R10)(BX*1), K4, Z20
	VMOVUPS      Z20, 256(SI)
	ADDQ         $320, SI
	ADDQ         $4, BX
	CMPQ         BX, R13
	JNZ          a32packloop

	VZEROUPPER
	RET

// func unpackQ8_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)
TEXT ·unpackQ8_0x4(SB), NOSPLIT, $0-40
	MOVQ rows+0(FP), SI
	MOVQ stride+8(FP), R14
	LEAQ (SI)(R14*2), R13
	MOVQ nb+16(FP), CX
	MOVQ tab+24(FP), R10
	MOVQ dst+32(FP), DI
	MOVL         $0x80, AX
	VPBROADCASTB AX, Y9
	UNPACKT(DEC8, 34, a32u80loop)

// func unpackQ4_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)
TEXT ·unpackQ4_0x4(SB), NOSPLIT, $0-40
	MOVQ rows+0(FP), SI
	MOVQ stride+8(FP), R14
	LEAQ (SI)(R14*2), R13
	MOVQ nb+16(FP), CX
	MOVQ tab+24(FP), R10
	MOVQ dst+32(FP), DI
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	UNPACKT(DEC4, 18, a32u40loop)

// func unpackQ5_0x4(rows *byte, stride, nb int, tab *float32, dst *byte)
TEXT ·unpackQ5_0x4(SB), NOSPLIT, $0-40
	MOVQ rows+0(FP), SI
	MOVQ stride+8(FP), R14
	LEAQ (SI)(R14*2), R13
	MOVQ nb+16(FP), CX
	MOVQ tab+24(FP), R10
	MOVQ dst+32(FP), DI
	VPBROADCASTB acts32Consts<>+8(SB), Y13
	VPBROADCASTB acts32Consts<>+10(SB), Y9
	UNPACKT(DEC5, 22, a32u50loop)

// func dotActs32Tile(w, pk *byte, nb, groups int, out *float32, rowStride, tokStride int, fs *byte)
//
// The tile kernel: four rows unpacked at w by an unpack function, times
// groups > 0 groups of four tokens packed one after the other at pk by
// packActs32x4 (with the rows' type's offset); fs is 64 bytes of scratch
// for the scale products. Registers: SI the rows' block, DI the tokens'
// block, CX the blocks left, R8 fs; Y(4r+t) accumulates row r and token
// t; Y16..Y19 hold the tokens' quants, Y20, Y21, Y28, Y29 their -o*Σq,
// Y22 a row's weights, Y24..Y27 temps.
TEXT ·dotActs32Tile(SB), NOSPLIT, $0-64
	MOVQ pk+8(FP), DI
	MOVQ fs+56(FP), R8

a32tgroup:
	MOVQ   w+0(FP), SI
	MOVQ   nb+16(FP), CX
	VPXORD Y0, Y0, Y0
	VPXORD Y1, Y1, Y1
	VPXORD Y2, Y2, Y2
	VPXORD Y3, Y3, Y3
	VPXORD Y4, Y4, Y4
	VPXORD Y5, Y5, Y5
	VPXORD Y6, Y6, Y6
	VPXORD Y7, Y7, Y7
	VPXORD Y8, Y8, Y8
	VPXORD Y9, Y9, Y9
	VPXORD Y10, Y10, Y10
	VPXORD Y11, Y11, Y11
	VPXORD Y12, Y12, Y12
	VPXORD Y13, Y13, Y13
	VPXORD Y14, Y14, Y14
	VPXORD Y15, Y15, Y15

a32tloop:
	// The scale products, dw_r*da_t at 4*(4r+t)(R8).
	VMOVUPS   128(SI), Z30
	VMULPS    256(DI), Z30, Z30
	VMOVUPS   Z30, (R8)
	VMOVDQU64 0(DI), Y16
	VMOVDQU64 32(DI), Y17
	VMOVDQU64 64(DI), Y18
	VMOVDQU64 96(DI), Y19
	VMOVDQU64 128(DI), Y20
	VMOVDQU64 160(DI), Y21
	VMOVDQU64 192(DI), Y28
	VMOVDQU64 224(DI), Y29
	TILEROW(0, 0, 4, 8, 12, Y0, Y1, Y2, Y3)
	TILEROW(32, 16, 20, 24, 28, Y4, Y5, Y6, Y7)
	TILEROW(64, 32, 36, 40, 44, Y8, Y9, Y10, Y11)
	TILEROW(96, 48, 52, 56, 60, Y12, Y13, Y14, Y15)
	ADDQ      $192, SI
	ADDQ      $320, DI
	DECQ      CX
	JNZ       a32tloop

	// Store the sixteen results, row r and token t at out + r*rowStride +
	// t*tokStride, and move out on by four tokens, to the next group.
	MOVQ out+32(FP), R9
	MOVQ rowStride+40(FP), BX
	MOVQ tokStride+48(FP), DX
	TILEROWOUT(Y0, X0, Y1, X1, Y2, X2, Y3, X3)
	TILEROWOUT(Y4, X4, Y5, X5, Y6, X6, Y7, X7)
	TILEROWOUT(Y8, X8, Y9, X9, Y10, X10, Y11, X11)
	TILEROWOUT(Y12, X12, Y13, X13, Y14, X14, Y15, X15)
	SHLQ $2, DX
	ADDQ DX, out+32(FP)
	DECQ groups+24(FP)
	JNZ  a32tgroup
	VZEROUPPER
	RET
