//go:build amd64 && !purego

#include "textflag.h"

// The dot kernels of the Layout256 weight types. Each takes
//
//	row *byte, nb int, p *k256Args, nt int, sums *[4]float32
//
// and adds to sums[t] the product of the nb blocks at row with each of the
// nt (1 to 4) tokens whose quants, block sums and scales start at p.q[t],
// p.bs[t] and p.d[t]. A weight block is decoded once into registers and
// multiplied with every token. The integer sums s0 and s1 of a block are
// exact, and they are scaled and added with the scalar operations of
// k256Combine in its order, so the results equal the portable kernel's bit
// for bit.

// K256ARGS loads the arguments and sets Y15 to bytes of 0x0f.
#define K256ARGS \
	MOVQ         row+0(FP), SI   \
	MOVQ         nb+8(FP), CX    \
	MOVQ         p+16(FP), R8    \
	MOVQ         nt+24(FP), R10  \
	MOVQ         sums+32(FP), R9 \
	XORQ         R13, R13        \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X15         \
	VPBROADCASTD X15, Y15

// OFFSETS sets DI and R12 to the offsets of the current block's sums and
// scale in the activations' arrays, from R13, its offset in the quants
// (b*256), and BX to the first token.
#define OFFSETS \
	MOVQ R13, DI \
	SHRQ $3, DI  \
	MOVQ R13, R12 \
	SHRQ $6, R12 \
	XORQ BX, BX

// TOKEN sets AX to the quants and DX to the block sums of token BX in the
// current block.
#define TOKEN \
	MOVQ (R8)(BX*8), AX   \
	ADDQ R13, AX          \
	MOVQ 32(R8)(BX*8), DX \
	ADDQ DI, DX

// ADDTOKEN adds X8 times the activation scale of token BX in the current
// block to sums[BX] (R9). Clobbers AX.
#define ADDTOKEN \
	MOVQ   64(R8)(BX*8), AX    \
	VMULSS (AX)(R12*1), X8, X8 \
	VADDSS (R9)(BX*4), X8, X8  \
	VMOVSS X8, (R9)(BX*4)

// K4TAIL finishes a token of a Q4_K or Q5_K block: Y8 holds the scaled
// products and Y11 the mins times the block sums, eight int32 each, and X12
// the block's d and dmin. It adds da*(d*s0 - dmin*s1) to the token's sum.
#define K4TAIL \
	VPHADDD      Y11, Y8, Y8 \
	VEXTRACTI128 $1, Y8, X9  \
	VPADDD       X9, X8, X8  \
	VPHADDD      X8, X8, X8  \
	VCVTDQ2PS    X8, X8      \
	VMULPS       X12, X8, X8 \
	VMOVSHDUP    X8, X9      \
	VSUBSS       X9, X8, X8  \
	ADDTOKEN

// Q6TAIL finishes a token of a Q6_K block: Y8 holds its integer products
// (eight int32) and X11 the block's d. It adds da*(d*s0) to the token's
// sum.
#define Q6TAIL \
	VEXTRACTI128 $1, Y8, X9 \
	VPADDD       X9, X8, X8 \
	VPHADDD      X8, X8, X8 \
	VPHADDD      X8, X8, X8 \
	VCVTDQ2PS    X8, X8     \
	VMULSS       X11, X8, X8 \
	ADDTOKEN

// NEXTBLOCK advances to the next block of size bytes and loops to label.
#define NEXTBLOCK(size, label) \
	ADDQ $size, SI \
	ADDQ $256, R13 \
	DECQ CX        \
	JNZ  label

// k4scales* are the constants of K4SCALES: byte shuffles that gather the
// packed scales' low bits (scales 0-3, 4-7, mins 0-3, 4-7) and high bits,
// the shift that brings the high nibbles of the bytes of mins 4-7 down, and
// the masks of the low bits.
DATA k4scaleslo<>+0(SB)/8, $0x0b0a090803020100
DATA k4scaleslo<>+8(SB)/8, $0x0b0a090807060504
GLOBL k4scaleslo<>(SB), RODATA|NOPTR, $16
DATA k4scaleshi<>+0(SB)/8, $0x0302010080808080
DATA k4scaleshi<>+8(SB)/8, $0x0706050480808080
GLOBL k4scaleshi<>(SB), RODATA|NOPTR, $16
DATA k4scalesshift<>+0(SB)/8, $0
DATA k4scalesshift<>+8(SB)/8, $0x0000000400000000
GLOBL k4scalesshift<>(SB), RODATA|NOPTR, $16
DATA k4scalesmask<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA k4scalesmask<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL k4scalesmask<>(SB), RODATA|NOPTR, $16
DATA k4scales30<>+0(SB)/8, $0x3030303030303030
DATA k4scales30<>+8(SB)/8, $0x3030303030303030
GLOBL k4scales30<>(SB), RODATA|NOPTR, $16

// K4SCALES unpacks the 6-bit scales and mins of the Q4_K or Q5_K block at
// SI: scale j is s[j]&63 for j < 4 and s[j+4]&15 | (s[j-4]>>6)<<4 for
// j >= 4, min j the same one dword further. It stores the eight scales as
// int16 pairs (sc, sc) at 0(SP), leaves the mins in Y14 as int16 (m0, m0,
// m1, m1, ..., m7, m7), the multipliers of the sixteen block sums, and in
// Y9 and Y10 the scales and mins as int16 pairs (sc0..sc3 | m0..m3) and
// (sc4..sc7 | m4..m7). Clobbers Y8 and Y11.
#define K4SCALES \
	VMOVDQU    4(SI), X8                      \
	VPSHUFB    k4scaleslo<>(SB), X8, X9       \
	VPSHUFB    k4scaleshi<>(SB), X8, X10      \
	VPSRLVD    k4scalesshift<>(SB), X9, X9    \
	VPAND      k4scalesmask<>(SB), X9, X9     \
	VPSRLW     $2, X10, X10                   \
	VPAND      k4scales30<>(SB), X10, X10     \
	VPOR       X10, X9, X8                    \
	VPMOVZXBW  X8, Y8                         \
	VPUNPCKLWD Y8, Y8, Y9                     \
	VPUNPCKHWD Y8, Y8, Y10                    \
	VPERM2I128 $0x20, Y10, Y9, Y11            \
	VPERM2I128 $0x31, Y10, Y9, Y14            \
	VMOVDQU    Y11, 0(SP)

// K4DMIN loads the block's d and dmin into X12 as float32.
#define K4DMIN \
	VMOVD     0(SI), X12 \
	VCVTPH2PS X12, X12

// Q4DECODE decodes the nibbles of the Q4_K block at SI: sub-block j into
// Y(j), unsigned bytes.
#define Q4DECODE \
	VMOVDQU 16(SI), Y0  \
	VMOVDQU 48(SI), Y2  \
	VMOVDQU 80(SI), Y4  \
	VMOVDQU 112(SI), Y6 \
	VPSRLW  $4, Y0, Y1  \
	VPSRLW  $4, Y2, Y3  \
	VPSRLW  $4, Y4, Y5  \
	VPSRLW  $4, Y6, Y7  \
	VPAND   Y15, Y0, Y0 \
	VPAND   Y15, Y1, Y1 \
	VPAND   Y15, Y2, Y2 \
	VPAND   Y15, Y3, Y3 \
	VPAND   Y15, Y4, Y4 \
	VPAND   Y15, Y5, Y5 \
	VPAND   Y15, Y6, Y6 \
	VPAND   Y15, Y7, Y7

// Q5HIGH sets bit 4 of the bytes of register w to the fifth bits in Y12
// shifted by shift (VPSLLW or VPSRLW) n and masked by Y13 (bytes of 0x10).
// Clobbers Y8.
#define Q5HIGH(shift, n, w) \
	shift $n, Y12, Y8 \
	VPAND Y13, Y8, Y8 \
	VPOR  Y8, w, w

// Q5DECODE decodes the quants of the Q5_K block at SI: sub-block j into
// Y(j), unsigned bytes. Y13 holds bytes of 0x10. Clobbers Y8 and Y12.
#define Q5DECODE \
	VMOVDQU 16(SI), Y12   \
	VMOVDQU 48(SI), Y0    \
	VMOVDQU 80(SI), Y2    \
	VMOVDQU 112(SI), Y4   \
	VMOVDQU 144(SI), Y6   \
	VPSRLW  $4, Y0, Y1    \
	VPSRLW  $4, Y2, Y3    \
	VPSRLW  $4, Y4, Y5    \
	VPSRLW  $4, Y6, Y7    \
	VPAND   Y15, Y0, Y0   \
	VPAND   Y15, Y1, Y1   \
	VPAND   Y15, Y2, Y2   \
	VPAND   Y15, Y3, Y3   \
	VPAND   Y15, Y4, Y4   \
	VPAND   Y15, Y5, Y5   \
	VPAND   Y15, Y6, Y6   \
	VPAND   Y15, Y7, Y7   \
	Q5HIGH(VPSLLW, 4, Y0) \
	Q5HIGH(VPSLLW, 3, Y1) \
	Q5HIGH(VPSLLW, 2, Y2) \
	Q5HIGH(VPSLLW, 1, Y3) \
	VPAND   Y13, Y12, Y8  \
	VPOR    Y8, Y4, Y4    \
	Q5HIGH(VPSRLW, 1, Y5) \
	Q5HIGH(VPSRLW, 2, Y6) \
	Q5HIGH(VPSRLW, 3, Y7)

// K4PRODUCT adds to Y8 the products of the 32 unsigned quants in register
// w with the activations at off(AX), summed in pairs and multiplied by
// the scale pair at soff(SP). Clobbers Y9 and Y10.
#define K4PRODUCT(w, off, soff) \
	VPMADDUBSW   off(AX), w, Y10 \
	VPBROADCASTD soff(SP), Y9    \
	VPMADDWD     Y9, Y10, Y10    \
	VPADDD       Y10, Y8, Y8

// K4TOKENS multiplies the decoded Q4_K or Q5_K block in Y0-Y7 with each
// token (AVX2).
#define K4TOKENS(label) \
	OFFSETS                      \
label:                           \
	TOKEN                        \
	VPMADDUBSW   0(AX), Y0, Y8   \
	VPBROADCASTD 0(SP), Y9       \
	VPMADDWD     Y9, Y8, Y8      \
	K4PRODUCT(Y1, 32, 4)         \
	K4PRODUCT(Y2, 64, 8)         \
	K4PRODUCT(Y3, 96, 12)        \
	K4PRODUCT(Y4, 128, 16)       \
	K4PRODUCT(Y5, 160, 20)       \
	K4PRODUCT(Y6, 192, 24)       \
	K4PRODUCT(Y7, 224, 28)       \
	VPMADDWD     0(DX), Y14, Y11 \
	K4TAIL                       \
	INCQ         BX              \
	CMPQ         BX, R10         \
	JLT          label

// VNNIPAIR adds to Y8 the products of the unsigned quants in wa and wb
// with the activations at off(AX) and off+32(AX), summed in fours
// (VPDPBUSD), packed to int16 and multiplied by the int16 scales in sv in
// pairs (VPDPWSSD). The sums of four fit in int16: |q*a| <= 63*127.
// Clobbers Y16 and Y17.
#define VNNIPAIR(wa, wb, off, sv) \
	VPXORD    Y16, Y16, Y16        \
	VPXORD    Y17, Y17, Y17        \
	VPDPBUSD  off(AX), wa, Y16     \
	VPDPBUSD  off+32(AX), wb, Y17  \
	VPACKSSDW Y17, Y16, Y16        \
	VPDPWSSD  sv, Y16, Y8

// K4SCALESVNNI sets Y20-Y23 to the scales of chunks 0-3 for VNNIPAIR from
// Y9 and Y10 of K4SCALES: the low four words of each 128-bit half hold the
// scale of sub-block 2c, the high four that of 2c+1. Clobbers Y16.
#define K4SCALESVNNI \
	VPERMQ     $0x44, Y9, Y16     \
	VPUNPCKLDQ Y16, Y16, Y20      \
	VPUNPCKHDQ Y16, Y16, Y21      \
	VPERMQ     $0x44, Y10, Y16    \
	VPUNPCKLDQ Y16, Y16, Y22      \
	VPUNPCKHDQ Y16, Y16, Y23

// K4TOKENSVNNI multiplies the decoded Q4_K or Q5_K block in Y0-Y7 with
// each token (AVX-512 VNNI).
#define K4TOKENSVNNI(label) \
	OFFSETS                        \
label:                             \
	TOKEN                          \
	VPXOR    Y8, Y8, Y8            \
	VNNIPAIR(Y0, Y1, 0, Y20)       \
	VNNIPAIR(Y2, Y3, 64, Y21)      \
	VNNIPAIR(Y4, Y5, 128, Y22)     \
	VNNIPAIR(Y6, Y7, 192, Y23)     \
	VPMADDWD 0(DX), Y14, Y11       \
	K4TAIL                         \
	INCQ     BX                    \
	CMPQ     BX, R10               \
	JLT      label

// Q6HALF decodes the 128 quants of half h of the Q6_K block at SI (low
// nibbles at lo and lo+32, high bit pairs at hi) into w0-w3, unsigned
// (0..63): w(k) holds elements 128h+32k+l. Y15 holds bytes of 0x0f, Y13
// bytes of 0x30. Clobbers Y8-Y10.
#define Q6HALF(lo, hi, w0, w1, w2, w3) \
	VMOVDQU lo(SI), Y8     \
	VMOVDQU lo+32(SI), Y9  \
	VMOVDQU hi(SI), Y10    \
	VPSRLW  $4, Y8, w2     \
	VPSRLW  $4, Y9, w3     \
	VPAND   Y15, Y8, w0    \
	VPAND   Y15, Y9, w1    \
	VPAND   Y15, w2, w2    \
	VPAND   Y15, w3, w3    \
	VPSLLW  $4, Y10, Y8    \
	VPSLLW  $2, Y10, Y9    \
	VPAND   Y13, Y8, Y8    \
	VPAND   Y13, Y9, Y9    \
	VPOR    Y8, w0, w0     \
	VPOR    Y9, w1, w1     \
	VPSRLW  $2, Y10, Y8    \
	VPAND   Y13, Y10, Y9   \
	VPAND   Y13, Y8, Y8    \
	VPOR    Y9, w2, w2     \
	VPOR    Y8, w3, w3

// Q6D loads the Q6_K block's d into X11 as float32. Clobbers AX.
#define Q6D \
	MOVWLZX   208(SI), AX \
	VMOVD     AX, X11     \
	VCVTPH2PS X11, X11

// Q6SCALES stores at 0(SP) eight vectors of int16 scales for the Q6_K
// block at SI: vector m holds the scale of sub-block 2m in its low half and
// of 2m+1 in its high half. Y12 holds the byte shuffle [0 2 4 ... 14 1 3
// ... 15]. It leaves the sixteen scales in Y14 as int16. Clobbers AX,
// Y8-Y11.
#define Q6SCALES \
	VMOVDQU      192(SI), X8     \
	VPMOVSXBW    X8, Y14         \
	VPSHUFB      X12, X8, X8     \
	VPMOVSXBW    X8, Y8          \
	MOVL         $0x01000100, AX \
	VMOVD        AX, X9          \
	VPBROADCASTD X9, Y9          \
	MOVL         $0x02020202, AX \
	VMOVD        AX, X10         \
	VPBROADCASTD X10, Y10        \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 0(SP)      \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 32(SP)     \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 64(SP)     \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 96(SP)     \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 128(SP)    \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 160(SP)    \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 192(SP)    \
	VPADDB       Y10, Y9, Y9     \
	VPSHUFB      Y9, Y8, Y11     \
	VMOVDQU      Y11, 224(SP)

// Q6PRODUCT adds to Y8 the products of the 32 unsigned quants in w with
// the activations at off(AX), summed in pairs and multiplied by the scales
// at off(SP). Clobbers Y10.
#define Q6PRODUCT(w, off) \
	VPMADDUBSW off(AX), w, Y10   \
	VPMADDWD   off(SP), Y10, Y10 \
	VPADDD     Y10, Y8, Y8

// Q6BSUMS subtracts from Y8 32 times the scales (Y14) times the block sums
// of the token (DX): the products were of q, not q-32. Clobbers Y9.
#define Q6BSUMS \
	VPMADDWD 0(DX), Y14, Y9 \
	VPSLLD   $5, Y9, Y9     \
	VPSUBD   Y9, Y8, Y8

// Q6CONSTS sets Y13 to bytes of 0x30 and X12 to the byte shuffle of
// Q6SCALES. Clobbers AX and DX.
#define Q6CONSTS \
	MOVL         $0x30303030, AX         \
	VMOVD        AX, X13                 \
	VPBROADCASTD X13, Y13                \
	MOVQ         $0x0e0c0a0806040200, AX \
	MOVQ         $0x0f0d0b0907050301, DX \
	VMOVQ        AX, X12                 \
	VPINSRQ      $1, DX, X12, X12

// MASK10 sets Y13 to bytes of 0x10. Clobbers AX.
#define MASK10 \
	MOVL         $0x10101010, AX \
	VMOVD        AX, X13         \
	VPBROADCASTD X13, Y13

// QROUND rounds the eight products in register v to int32 away from zero
// and clamps them to [-127, 127]: Y14 holds the sign bit, Y13 0.5, Y12 127
// and Y11 -127. Clobbers Y8.
#define QROUND(v) \
	VANDPS     Y14, v, Y8 \
	VORPS      Y13, Y8, Y8 \
	VADDPS     Y8, v, v    \
	VCVTTPS2DQ v, v        \
	VPMINSD    Y12, v, v   \
	VPMAXSD    Y11, v, v

// func q4KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
//
// A Q4_K block is d, dmin, 12 bytes of scales and mins, and 128 bytes of
// nibbles: byte l of chunk c holds element 64c+l in its low nibble and
// 64c+32+l in its high one.
TEXT ·q4KActsAVX2(SB), NOSPLIT, $32-40
	K256ARGS

q4kblock:
	K4SCALES
	Q4DECODE
	K4DMIN
	K4TOKENS(q4ktok)
	NEXTBLOCK(144, q4kblock)
	VZEROUPPER
	RET

// func q4KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
TEXT ·q4KActsVNNI(SB), NOSPLIT, $32-40
	K256ARGS

q4kvblock:
	K4SCALES
	K4SCALESVNNI
	Q4DECODE
	K4DMIN
	K4TOKENSVNNI(q4kvtok)
	NEXTBLOCK(144, q4kvblock)
	VZEROUPPER
	RET

// func q5KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
//
// A Q5_K block is a Q4_K block with 32 bytes of fifth bits before the
// nibbles: bit 2c of byte l for element 64c+l, bit 2c+1 for 64c+32+l.
TEXT ·q5KActsAVX2(SB), NOSPLIT, $32-40
	K256ARGS
	MASK10

q5kblock:
	K4SCALES
	Q5DECODE
	K4DMIN
	K4TOKENS(q5ktok)
	NEXTBLOCK(176, q5kblock)
	VZEROUPPER
	RET

// func q5KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
TEXT ·q5KActsVNNI(SB), NOSPLIT, $32-40
	K256ARGS
	MASK10

q5kvblock:
	K4SCALES
	K4SCALESVNNI
	Q5DECODE
	K4DMIN
	K4TOKENSVNNI(q5kvtok)
	NEXTBLOCK(176, q5kvblock)
	VZEROUPPER
	RET

// func q6KActsAVX2(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
//
// A Q6_K block is 128 bytes of low nibbles, 64 bytes of high bit pairs, 16
// int8 scales (one per 16 elements) and d. The quants are multiplied
// unsigned (q in 0..63) and 32 times the scaled block sums subtracted.
TEXT ·q6KActsAVX2(SB), NOSPLIT, $256-40
	K256ARGS
	Q6CONSTS

q6kblock:
	Q6SCALES
	Q6HALF(0, 128, Y0, Y1, Y2, Y3)
	Q6HALF(64, 160, Y4, Y5, Y6, Y7)
	Q6D
	OFFSETS

q6ktok:
	TOKEN
	VPMADDUBSW 0(AX), Y0, Y8
	VPMADDWD   0(SP), Y8, Y8
	Q6PRODUCT(Y1, 32)
	Q6PRODUCT(Y2, 64)
	Q6PRODUCT(Y3, 96)
	Q6PRODUCT(Y4, 128)
	Q6PRODUCT(Y5, 160)
	Q6PRODUCT(Y6, 192)
	Q6PRODUCT(Y7, 224)
	Q6BSUMS
	Q6TAIL
	INCQ       BX
	CMPQ       BX, R10
	JLT        q6ktok

	NEXTBLOCK(210, q6kblock)
	VZEROUPPER
	RET

// q6kvnniidx is the word permutation (VPERMW) of the sixteen Q6_K scales
// for the products of sub-blocks 0-3 in VNNIPAIR: scales 0 and 2 in the low
// half, 1 and 3 in the high one, each four times.
DATA q6kvnniidx<>+0(SB)/8, $0x0000000000000000
DATA q6kvnniidx<>+8(SB)/8, $0x0002000200020002
DATA q6kvnniidx<>+16(SB)/8, $0x0001000100010001
DATA q6kvnniidx<>+24(SB)/8, $0x0003000300030003
GLOBL q6kvnniidx<>(SB), RODATA|NOPTR, $32

// func q6KActsVNNI(row *byte, nb int, p *k256Args, nt int, sums *[4]float32)
//
// The scales of sub-blocks 4p..4p+3 for VNNIPAIR are in Y20+p.
TEXT ·q6KActsVNNI(SB), NOSPLIT, $0-40
	K256ARGS
	Q6CONSTS
	VMOVDQU64    q6kvnniidx<>(SB), Y24
	MOVL         $0x00040004, AX
	VPBROADCASTD AX, Y28
	VPADDW       Y28, Y24, Y25
	VPADDW       Y28, Y25, Y26
	VPADDW       Y28, Y26, Y27

q6kvblock:
	VPMOVSXBW 192(SI), Y14
	VPERMW    Y14, Y24, Y20
	VPERMW    Y14, Y25, Y21
	VPERMW    Y14, Y26, Y22
	VPERMW    Y14, Y27, Y23
	Q6HALF(0, 128, Y0, Y1, Y2, Y3)
	Q6HALF(64, 160, Y4, Y5, Y6, Y7)
	Q6D
	OFFSETS

q6kvtok:
	TOKEN
	VPXOR Y8, Y8, Y8
	VNNIPAIR(Y0, Y1, 0, Y20)
	VNNIPAIR(Y2, Y3, 64, Y21)
	VNNIPAIR(Y4, Y5, 128, Y22)
	VNNIPAIR(Y6, Y7, 192, Y23)
	Q6BSUMS
	Q6TAIL
	INCQ  BX
	CMPQ  BX, R10
	JLT   q6kvtok

	NEXTBLOCK(210, q6kvblock)
	VZEROUPPER
	RET

// func quantize256AVX2(x *float32, q *int8, d *float32, bsums *int16, nb int) int
//
// It quantizes nb > 0 blocks of 256 float32 at x as quantizeActs256 does,
// bit for bit, and returns nb, or the index of the first block holding a
// NaN, which it leaves to the portable code. The largest magnitude is the
// integer maximum of the magnitudes' bits (NaNs are the bit patterns above
// that of +Inf); a quant is trunc(v*id + copysign(0.5, v)) clamped to
// [-127, 127], which is roundAway's result for every v (an Inf or NaN
// product gives the integer indefinite, as Go's conversion does, clamped to
// -127).
TEXT ·quantize256AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ bsums+24(FP), R9
	MOVQ nb+32(FP), CX
	XORQ R10, R10

	MOVL         $0x80000000, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x3f000000, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $127, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	MOVL         $-127, AX
	VMOVD        AX, X11
	VPBROADCASTD X11, Y11
	MOVQ         $0x0000000400000000, AX
	MOVQ         $0x0000000500000001, DX
	VMOVQ        AX, X10
	VPINSRQ      $1, DX, X10, X10
	MOVQ         $0x0000000600000002, AX
	MOVQ         $0x0000000700000003, DX
	VMOVQ        AX, X8
	VPINSRQ      $1, DX, X8, X8
	VINSERTI128  $1, X8, Y10, Y10
	MOVL         $0x00010001, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9

qblock:
	// The largest magnitude, as bits.
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	XORQ  AX, AX

qmax:
	VPANDN  0(SI)(AX*1), Y14, Y4
	VPANDN  32(SI)(AX*1), Y14, Y5
	VPANDN  64(SI)(AX*1), Y14, Y6
	VPANDN  96(SI)(AX*1), Y14, Y7
	VPMAXSD Y4, Y0, Y0
	VPMAXSD Y5, Y1, Y1
	VPMAXSD Y6, Y2, Y2
	VPMAXSD Y7, Y3, Y3
	ADDQ    $128, AX
	CMPQ    AX, $1024
	JLT     qmax

	VPMAXSD      Y1, Y0, Y0
	VPMAXSD      Y3, Y2, Y2
	VPMAXSD      Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMAXSD      X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPMAXSD      X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPMAXSD      X1, X0, X0
	VMOVD        X0, AX
	CMPL         AX, $0x7f800000
	JHI          qnan

	// d = amax/127; id = 1/d, or 0 where d is 0.
	MOVL   $0x42fe0000, AX
	VMOVD  AX, X1
	VDIVSS X1, X0, X0
	VMOVSS X0, (R8)
	VXORPS X15, X15, X15
	VMOVD  X0, AX
	TESTL  AX, AX
	JZ     qzero
	MOVL   $0x3f800000, AX
	VMOVD  AX, X1
	VDIVSS X0, X1, X15

qzero:
	VBROADCASTSS X15, Y15
	MOVQ         $4, DX

qchunk:
	// 64 quants and their four block sums.
	VMULPS     0(SI), Y15, Y0
	VMULPS     32(SI), Y15, Y1
	VMULPS     64(SI), Y15, Y2
	VMULPS     96(SI), Y15, Y3
	VMULPS     128(SI), Y15, Y4
	VMULPS     160(SI), Y15, Y5
	VMULPS     192(SI), Y15, Y6
	VMULPS     224(SI), Y15, Y7
	QROUND(Y0)
	QROUND(Y1)
	QROUND(Y2)
	QROUND(Y3)
	QROUND(Y4)
	QROUND(Y5)
	QROUND(Y6)
	QROUND(Y7)
	VPACKSSDW    Y1, Y0, Y0
	VPACKSSDW    Y3, Y2, Y2
	VPACKSSDW    Y5, Y4, Y4
	VPACKSSDW    Y7, Y6, Y6
	VPMADDWD     Y9, Y0, Y1
	VPMADDWD     Y9, Y2, Y3
	VPMADDWD     Y9, Y4, Y5
	VPMADDWD     Y9, Y6, Y7
	VPACKSSWB    Y2, Y0, Y0
	VPACKSSWB    Y6, Y4, Y4
	VPERMD       Y0, Y10, Y0
	VPERMD       Y4, Y10, Y4
	VMOVDQU      Y0, 0(DI)
	VMOVDQU      Y4, 32(DI)
	VPHADDD      Y3, Y1, Y1
	VPHADDD      Y7, Y5, Y5
	VPHADDD      Y5, Y1, Y1
	VEXTRACTI128 $1, Y1, X3
	VPADDD       X3, X1, X1
	VPACKSSDW    X1, X1, X1
	VMOVQ        X1, 0(R9)
	ADDQ         $256, SI
	ADDQ         $64, DI
	ADDQ         $8, R9
	DECQ         DX
	JNZ          qchunk

	ADDQ $4, R8
	INCQ R10
	CMPQ R10, CX
	JLT  qblock

qnan:
	MOVQ R10, ret+40(FP)
	VZEROUPPER
	RET
