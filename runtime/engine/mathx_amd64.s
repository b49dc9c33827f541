//go:build amd64 && !purego

#include "textflag.h"

// EXP8 sets Y1 to exp32 of the eight float32 in Y0, with the operations of
// exp32 in its order (no fused multiply-adds); clobbers Y2-Y5.
#define EXP8 \
	VMULPS    exp_log2e<>(SB), Y0, Y2; \
	VADDPS    exp_round<>(SB), Y2, Y2; \
	VSUBPS    exp_round<>(SB), Y2, Y3; \
	VMULPS    exp_ln2hi<>(SB), Y3, Y4; \
	VSUBPS    Y4, Y0, Y4; \
	VMULPS    exp_ln2lo<>(SB), Y3, Y5; \
	VSUBPS    Y5, Y4, Y4; \
	VMULPS    exp_c0<>(SB), Y4, Y5; \
	VADDPS    exp_c1<>(SB), Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VADDPS    exp_c2<>(SB), Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VADDPS    exp_c3<>(SB), Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VADDPS    exp_c4<>(SB), Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VADDPS    exp_c5<>(SB), Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VMULPS    Y4, Y5, Y5; \
	VADDPS    Y4, Y5, Y5; \
	VADDPS    exp_one<>(SB), Y5, Y5; \
	VADDPS    Y5, Y5, Y5; \
	VPSUBD    exp_bias<>(SB), Y2, Y2; \
	VPSLLD    $23, Y2, Y2; \
	VMULPS    Y2, Y5, Y1; \
	VCMPPS    $0x11, exp_min<>(SB), Y0, Y3; \
	VANDNPS   Y1, Y3, Y1; \
	VCMPPS    $0x1d, exp_over<>(SB), Y0, Y3; \
	VBLENDVPS Y3, exp_inf<>(SB), Y1, Y1

// func siluMulAVX2(x, u *float32, n int)
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ u+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y6, Y6, Y6

loop:
	VMOVUPS (DI), Y7
	VSUBPS  Y7, Y6, Y0 // -g
	EXP8
	VADDPS  exp_one<>(SB), Y1, Y1
	VDIVPS  Y1, Y7, Y7
	VMULPS  (SI), Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     loop
	VZEROUPPER
	RET

// func expShiftAVX2(s *float32, n int, mx float32)
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-20
	MOVQ         s+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS mx+16(FP), Y6

loop:
	VMOVUPS (DI), Y0
	VSUBPS  Y6, Y0, Y0 // s - mx
	EXP8
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     loop
	VZEROUPPER
	RET

DATA exp_log2e<>+0(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA exp_log2e<>+8(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA exp_log2e<>+16(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA exp_log2e<>+24(SB)/8, $0x3fb8aa3b3fb8aa3b
GLOBL exp_log2e<>(SB), RODATA|NOPTR, $32
DATA exp_round<>+0(SB)/8, $0x4b4000004b400000
DATA exp_round<>+8(SB)/8, $0x4b4000004b400000
DATA exp_round<>+16(SB)/8, $0x4b4000004b400000
DATA exp_round<>+24(SB)/8, $0x4b4000004b400000
GLOBL exp_round<>(SB), RODATA|NOPTR, $32
DATA exp_ln2hi<>+0(SB)/8, $0x3f3180003f318000
DATA exp_ln2hi<>+8(SB)/8, $0x3f3180003f318000
DATA exp_ln2hi<>+16(SB)/8, $0x3f3180003f318000
DATA exp_ln2hi<>+24(SB)/8, $0x3f3180003f318000
GLOBL exp_ln2hi<>(SB), RODATA|NOPTR, $32
DATA exp_ln2lo<>+0(SB)/8, $0xb95e8083b95e8083
DATA exp_ln2lo<>+8(SB)/8, $0xb95e8083b95e8083
DATA exp_ln2lo<>+16(SB)/8, $0xb95e8083b95e8083
DATA exp_ln2lo<>+24(SB)/8, $0xb95e8083b95e8083
GLOBL exp_ln2lo<>(SB), RODATA|NOPTR, $32
DATA exp_c0<>+0(SB)/8, $0x3950696739506967
DATA exp_c0<>+8(SB)/8, $0x3950696739506967
DATA exp_c0<>+16(SB)/8, $0x3950696739506967
DATA exp_c0<>+24(SB)/8, $0x3950696739506967
GLOBL exp_c0<>(SB), RODATA|NOPTR, $32
DATA exp_c1<>+0(SB)/8, $0x3ab743ce3ab743ce
DATA exp_c1<>+8(SB)/8, $0x3ab743ce3ab743ce
DATA exp_c1<>+16(SB)/8, $0x3ab743ce3ab743ce
DATA exp_c1<>+24(SB)/8, $0x3ab743ce3ab743ce
GLOBL exp_c1<>(SB), RODATA|NOPTR, $32
DATA exp_c2<>+0(SB)/8, $0x3c0889083c088908
DATA exp_c2<>+8(SB)/8, $0x3c0889083c088908
DATA exp_c2<>+16(SB)/8, $0x3c0889083c088908
DATA exp_c2<>+24(SB)/8, $0x3c0889083c088908
GLOBL exp_c2<>(SB), RODATA|NOPTR, $32
DATA exp_c3<>+0(SB)/8, $0x3d2aa9c13d2aa9c1
DATA exp_c3<>+8(SB)/8, $0x3d2aa9c13d2aa9c1
DATA exp_c3<>+16(SB)/8, $0x3d2aa9c13d2aa9c1
DATA exp_c3<>+24(SB)/8, $0x3d2aa9c13d2aa9c1
GLOBL exp_c3<>(SB), RODATA|NOPTR, $32
DATA exp_c4<>+0(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA exp_c4<>+8(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA exp_c4<>+16(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA exp_c4<>+24(SB)/8, $0x3e2aaaaa3e2aaaaa
GLOBL exp_c4<>(SB), RODATA|NOPTR, $32
DATA exp_c5<>+0(SB)/8, $0x3f0000003f000000
DATA exp_c5<>+8(SB)/8, $0x3f0000003f000000
DATA exp_c5<>+16(SB)/8, $0x3f0000003f000000
DATA exp_c5<>+24(SB)/8, $0x3f0000003f000000
GLOBL exp_c5<>(SB), RODATA|NOPTR, $32
DATA exp_one<>+0(SB)/8, $0x3f8000003f800000
DATA exp_one<>+8(SB)/8, $0x3f8000003f800000
DATA exp_one<>+16(SB)/8, $0x3f8000003f800000
DATA exp_one<>+24(SB)/8, $0x3f8000003f800000
GLOBL exp_one<>(SB), RODATA|NOPTR, $32
DATA exp_min<>+0(SB)/8, $0xc2adf5c3c2adf5c3
DATA exp_min<>+8(SB)/8, $0xc2adf5c3c2adf5c3
DATA exp_min<>+16(SB)/8, $0xc2adf5c3c2adf5c3
DATA exp_min<>+24(SB)/8, $0xc2adf5c3c2adf5c3
GLOBL exp_min<>(SB), RODATA|NOPTR, $32
DATA exp_over<>+0(SB)/8, $0x42b1721842b17218
DATA exp_over<>+8(SB)/8, $0x42b1721842b17218
DATA exp_over<>+16(SB)/8, $0x42b1721842b17218
DATA exp_over<>+24(SB)/8, $0x42b1721842b17218
GLOBL exp_over<>(SB), RODATA|NOPTR, $32
DATA exp_inf<>+0(SB)/8, $0x7f8000007f800000
DATA exp_inf<>+8(SB)/8, $0x7f8000007f800000
DATA exp_inf<>+16(SB)/8, $0x7f8000007f800000
DATA exp_inf<>+24(SB)/8, $0x7f8000007f800000
GLOBL exp_inf<>(SB), RODATA|NOPTR, $32
DATA exp_bias<>+0(SB)/8, $0x4b3fff824b3fff82
DATA exp_bias<>+8(SB)/8, $0x4b3fff824b3fff82
DATA exp_bias<>+16(SB)/8, $0x4b3fff824b3fff82
DATA exp_bias<>+24(SB)/8, $0x4b3fff824b3fff82
GLOBL exp_bias<>(SB), RODATA|NOPTR, $32
