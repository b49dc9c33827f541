//go:build amd64 && !purego

#include "textflag.h"

// The block kernels of the Layout256 weight types. Each takes
//
//	row *byte, nb int, q *[4]*int8, bs *[4]*int16, nt int, out *int32
//
// and, for each of the nb blocks at row and each of the nt tokens whose
// quants and block sums start at q[t] and bs[t], writes the block's two
// int32 sums s0 and s1 (see dotacts256.go) to out, block after block and
// token after token within a block. A weight block is decoded once into
// registers and multiplied with every token.

// K4SCALES unpacks the 6-bit scales and mins of the Q4_K or Q5_K block at
// SI: it stores the eight scales as int16 pairs (sc, sc) at 0(SP) and
// leaves the mins in Y14 as int16 (m0, m0, m1, m1, ..., m7, m7), the
// multipliers of the sixteen block sums. Clobbers AX, BX, DX, R11, R12,
// Y8-Y11.
#define K4SCALES \
	MOVL       4(SI), AX           \
	MOVL       8(SI), BX           \
	MOVL       12(SI), DX          \
	MOVL       AX, R11             \
	ANDL       $0x3f3f3f3f, R11    \
	MOVL       DX, R12             \
	ANDL       $0x0f0f0f0f, R12    \
	SHRL       $6, AX              \
	ANDL       $0x03030303, AX     \
	SHLL       $4, AX              \
	ORL        AX, R12             \
	SHLQ       $32, R12            \
	ORQ        R12, R11            \
	VMOVQ      R11, X8             \
	MOVL       BX, R11             \
	ANDL       $0x3f3f3f3f, R11    \
	SHRL       $4, DX              \
	ANDL       $0x0f0f0f0f, DX     \
	SHRL       $6, BX              \
	ANDL       $0x03030303, BX     \
	SHLL       $4, BX              \
	ORL        BX, DX              \
	SHLQ       $32, DX             \
	ORQ        DX, R11             \
	VPINSRQ    $1, R11, X8, X8     \
	VPMOVZXBW  X8, Y8              \
	VPUNPCKLWD Y8, Y8, Y9          \
	VPUNPCKHWD Y8, Y8, Y10         \
	VPERM2I128 $0x20, Y10, Y9, Y11 \
	VPERM2I128 $0x31, Y10, Y9, Y14 \
	VMOVDQU    Y11, 0(SP)

// K4PRODUCT adds to Y8 the products of the 32 unsigned quants in register
// w with the activations at off(AX), summed in pairs and multiplied by
// the scale pair at soff(SP). Clobbers Y9 and Y10.
#define K4PRODUCT(w, off, soff) \
	VPMADDUBSW   off(AX), w, Y10 \
	VPBROADCASTD soff(SP), Y9    \
	VPMADDWD     Y9, Y10, Y10    \
	VPADDD       Y10, Y8, Y8

// K4TOKENS multiplies the decoded Q4_K or Q5_K block in Y0-Y7 (sub-block
// j in Y(j), unsigned) with each token and writes s0 and s1 to out (DI);
// R8 and R9 point at the tokens' quant and block-sum pointers, R10 is the
// token count and R13 the block's offset in the activations (b*256).
#define K4TOKENS(label) \
	XORQ         BX, BX                \
label:                                 \
	MOVQ         (R8)(BX*8), AX        \
	ADDQ         R13, AX               \
	MOVQ         (R9)(BX*8), DX        \
	MOVQ         R13, R11              \
	SHRQ         $3, R11               \
	ADDQ         R11, DX               \
	VPMADDUBSW   0(AX), Y0, Y8         \
	VPBROADCASTD 0(SP), Y9             \
	VPMADDWD     Y9, Y8, Y8            \
	K4PRODUCT(Y1, 32, 4)               \
	K4PRODUCT(Y2, 64, 8)               \
	K4PRODUCT(Y3, 96, 12)              \
	K4PRODUCT(Y4, 128, 16)             \
	K4PRODUCT(Y5, 160, 20)             \
	K4PRODUCT(Y6, 192, 24)             \
	K4PRODUCT(Y7, 224, 28)             \
	VPMADDWD     0(DX), Y14, Y11       \
	VPHADDD      Y11, Y8, Y8           \
	VEXTRACTI128 $1, Y8, X9            \
	VPADDD       X9, X8, X8            \
	VPHADDD      X8, X8, X8            \
	VMOVQ        X8, 0(DI)             \
	ADDQ         $8, DI                \
	INCQ         BX                    \
	CMPQ         BX, R10               \
	JLT          label

// K256ARGS loads the arguments and sets Y15 to bytes of 0x0f.
#define K256ARGS \
	MOVQ         row+0(FP), SI  \
	MOVQ         nb+8(FP), CX   \
	MOVQ         q+16(FP), R8   \
	MOVQ         bs+24(FP), R9  \
	MOVQ         nt+32(FP), R10 \
	MOVQ         out+40(FP), DI \
	XORQ         R13, R13       \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X15        \
	VPBROADCASTD X15, Y15

// Q5HIGH sets bit 4 of the bytes of register w to bit 4 of the bytes of
// Y12 (the fifth bits) shifted by shift (VPSLLW or VPSRLW) n. Clobbers Y8.
#define Q5HIGH(shift, n, w) \
	shift $n, Y12, Y8 \
	VPAND Y13, Y8, Y8 \
	VPOR  Y8, w, w

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

// Q6SCALES stores at 0(SP) eight vectors of int16 scales for the Q6_K
// block at SI: vector m holds the scale of sub-block 2m in its low half and
// of 2m+1 in its high half. Y12 holds the byte shuffle [0 2 4 ... 14 1 3
// ... 15]. It leaves the sixteen scales in Y14 as int16. Clobbers AX,
// Y8-Y11.
#define Q6SCALES \
	VMOVDQU      192(SI), X8   \
	VPMOVSXBW    X8, Y14       \
	VPSHUFB      X12, X8, X8   \
	VPMOVSXBW    X8, Y8        \
	MOVL         $0x01000100, AX \
	VMOVD        AX, X9        \
	VPBROADCASTD X9, Y9        \
	MOVL         $0x02020202, AX \
	VMOVD        AX, X10       \
	VPBROADCASTD X10, Y10      \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 0(SP)    \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 32(SP)   \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 64(SP)   \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 96(SP)   \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 128(SP)  \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 160(SP)  \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 192(SP)  \
	VPADDB       Y10, Y9, Y9   \
	VPSHUFB      Y9, Y8, Y11   \
	VMOVDQU      Y11, 224(SP)

// Q6PRODUCT adds to Y8 the products of the 32 unsigned quants in w with
// the activations at off(AX), summed in pairs and multiplied by the scales
// at off(SP). Clobbers Y10.
#define Q6PRODUCT(w, off) \
	VPMADDUBSW off(AX), w, Y10  \
	VPMADDWD   off(SP), Y10, Y10 \
	VPADDD     Y10, Y8, Y8

// func q4KActsAVX2(row *byte, nb int, q *[4]*int8, bs *[4]*int16, nt int, out *int32)
//
// A Q4_K block is d, dmin, 12 bytes of scales and mins, and 128 bytes of
// nibbles: byte l of chunk c holds element 64c+l in its low nibble and
// 64c+32+l in its high one.
TEXT ·q4KActsAVX2(SB), NOSPLIT, $32-48
	K256ARGS

q4kblock:
	K4SCALES
	VMOVDQU 16(SI), Y0
	VMOVDQU 48(SI), Y2
	VMOVDQU 80(SI), Y4
	VMOVDQU 112(SI), Y6
	VPSRLW  $4, Y0, Y1
	VPSRLW  $4, Y2, Y3
	VPSRLW  $4, Y4, Y5
	VPSRLW  $4, Y6, Y7
	VPAND   Y15, Y0, Y0
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VPAND   Y15, Y3, Y3
	VPAND   Y15, Y4, Y4
	VPAND   Y15, Y5, Y5
	VPAND   Y15, Y6, Y6
	VPAND   Y15, Y7, Y7
	K4TOKENS(q4ktok)
	ADDQ    $144, SI
	ADDQ    $256, R13
	DECQ    CX
	JNZ     q4kblock
	VZEROUPPER
	RET

// func q5KActsAVX2(row *byte, nb int, q *[4]*int8, bs *[4]*int16, nt int, out *int32)
//
// A Q5_K block is a Q4_K block with 32 bytes of fifth bits before the
// nibbles: bit 2c of byte l for element 64c+l, bit 2c+1 for 64c+32+l.
TEXT ·q5KActsAVX2(SB), NOSPLIT, $32-48
	K256ARGS
	MOVL         $0x10101010, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13

q5kblock:
	K4SCALES
	VMOVDQU 16(SI), Y12
	VMOVDQU 48(SI), Y0
	VMOVDQU 80(SI), Y2
	VMOVDQU 112(SI), Y4
	VMOVDQU 144(SI), Y6
	VPSRLW  $4, Y0, Y1
	VPSRLW  $4, Y2, Y3
	VPSRLW  $4, Y4, Y5
	VPSRLW  $4, Y6, Y7
	VPAND   Y15, Y0, Y0
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VPAND   Y15, Y3, Y3
	VPAND   Y15, Y4, Y4
	VPAND   Y15, Y5, Y5
	VPAND   Y15, Y6, Y6
	VPAND   Y15, Y7, Y7
	Q5HIGH(VPSLLW, 4, Y0)
	Q5HIGH(VPSLLW, 3, Y1)
	Q5HIGH(VPSLLW, 2, Y2)
	Q5HIGH(VPSLLW, 1, Y3)
	VPAND   Y13, Y12, Y8
	VPOR    Y8, Y4, Y4
	Q5HIGH(VPSRLW, 1, Y5)
	Q5HIGH(VPSRLW, 2, Y6)
	Q5HIGH(VPSRLW, 3, Y7)
	K4TOKENS(q5ktok)
	ADDQ    $176, SI
	ADDQ    $256, R13
	DECQ    CX
	JNZ     q5kblock
	VZEROUPPER
	RET

// func q6KActsAVX2(row *byte, nb int, q *[4]*int8, bs *[4]*int16, nt int, out *int32)
//
// A Q6_K block is 128 bytes of low nibbles, 64 bytes of high bit pairs, 16
// int8 scales (one per 16 elements) and d. The quants are multiplied
// unsigned (q in 0..63) and 32 times the scaled block sums subtracted.
TEXT ·q6KActsAVX2(SB), NOSPLIT, $256-48
	K256ARGS
	MOVL         $0x30303030, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	MOVQ         $0x0e0c0a0806040200, AX
	MOVQ         $0x0f0d0b0907050301, DX
	VMOVQ        AX, X12
	VPINSRQ      $1, DX, X12, X12

q6kblock:
	Q6SCALES
	Q6HALF(0, 128, Y0, Y1, Y2, Y3)
	Q6HALF(64, 160, Y4, Y5, Y6, Y7)
	XORQ BX, BX

q6ktok:
	MOVQ         (R8)(BX*8), AX
	ADDQ         R13, AX
	MOVQ         (R9)(BX*8), DX
	MOVQ         R13, R11
	SHRQ         $3, R11
	ADDQ         R11, DX
	VPMADDUBSW   0(AX), Y0, Y8
	VPMADDWD     0(SP), Y8, Y8
	Q6PRODUCT(Y1, 32)
	Q6PRODUCT(Y2, 64)
	Q6PRODUCT(Y3, 96)
	Q6PRODUCT(Y4, 128)
	Q6PRODUCT(Y5, 160)
	Q6PRODUCT(Y6, 192)
	Q6PRODUCT(Y7, 224)
	VPMADDWD     0(DX), Y14, Y11
	VPSLLD       $5, Y11, Y11
	VPSUBD       Y11, Y8, Y8
	VEXTRACTI128 $1, Y8, X9
	VPADDD       X9, X8, X8
	VPHADDD      X8, X8, X8
	VPHADDD      X8, X8, X8
	VMOVD        X8, 0(DI)
	MOVL         $0, 4(DI)
	ADDQ         $8, DI
	INCQ         BX
	CMPQ         BX, R10
	JLT          q6ktok

	ADDQ $210, SI
	ADDQ $256, R13
	DECQ CX
	JNZ  q6kblock
	VZEROUPPER
	RET
